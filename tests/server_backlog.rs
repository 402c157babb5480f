//! The accept queue that `--backlog` sets (`pushpull::server::listen`): connections the
//! kernel has completed wait there until the server accepts them; once it is full, Linux
//! drops new handshakes and the clients wait for retransmissions.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use pushpull::server::listen;

/// Long enough for a loopback handshake, far shorter than the 1 s SYN retransmission.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// Connect `count` clients to a listener that never accepts; return how many got in.
fn completed_connections(backlog: u32, count: usize) -> usize {
    let listener = listen("127.0.0.1:0".parse().unwrap(), backlog).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let mut open = Vec::new();
    for _ in 0..count {
        if let Ok(stream) = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            open.push(stream);
        }
    }
    open.len()
}

#[test]
fn a_full_accept_queue_turns_new_connections_away() {
    // Linux queues backlog + 1 completed connections before it drops handshakes.
    assert_eq!(completed_connections(2, 6), 3);
}

#[test]
fn a_longer_accept_queue_takes_the_same_burst() {
    assert_eq!(completed_connections(64, 6), 6);
}
