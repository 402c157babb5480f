//! A client that stops reading must not hold its answers in the server's memory: once the
//! socket has taken nothing of the queued output for `write_stall_timeout`, the event-loop
//! server drops the connection.

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::{connect, start_event_loop_with};
use pushpull::server::event_loop::EventLoopConfig;

/// Requests for the 17 KB chat page: far more answer bytes than loopback buffers hold.
const PIPELINED: usize = 1000;

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_write_stall_timeout() {
    let server = start_event_loop_with(EventLoopConfig {
        quiet: true,
        write_stall_timeout: Duration::from_millis(300),
        ..EventLoopConfig::default()
    });
    let stats = server.stats();
    let mut stalled = connect(server.local_addr());
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(PIPELINED);
    stalled.write_all(&request).unwrap();

    // Never read. The server fills the socket, waits, then gives up on us.
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.connections_closed.load(Ordering::Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "the server kept a connection that took none of its output"
        );
        thread::sleep(Duration::from_millis(20));
    }
    server.shutdown().unwrap();
}
