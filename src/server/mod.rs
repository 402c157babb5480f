//! I/O shells around the protocol core.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

pub mod event_loop;
pub mod out_queue;
pub mod page;
pub mod threaded;

/// Default length of the kernel's accept queue for both servers: mio's own default, and
/// far above the 128 that `std::net::TcpListener::bind` asks for. Linux caps it at
/// `net.core.somaxconn` (4096 on current kernels).
pub const DEFAULT_BACKLOG: u32 = 1024;

/// How long a shutting-down server waits for its connections to end well: WebSocket peers
/// to answer our 1001 Close (RFC 6455 §7.1.2), clients to take their last responses,
/// requests in progress to be answered. What is left then is dropped, so a peer that never
/// answers cannot hold the server up.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A listening socket on `addr` whose accept queue holds `backlog` connections.
///
/// Connections the kernel has completed but the server has not yet accepted wait in
/// that queue; once it is full, Linux drops the client's final handshake ACK and counts a
/// listen overflow, and the client waits for retransmissions (seconds, not milliseconds).
/// A small queue is what makes a polling server stall when many clients connect at once,
/// so the experiment can set it. `SO_REUSEADDR` lets a restarted server bind its port
/// while old connections sit in TIME_WAIT, as std's `bind` does on Unix.
pub fn listen(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}
