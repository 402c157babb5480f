//! The systems under comparison, and how to start the server of each.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use super::driver::Transport;
use crate::server::event_loop::{EventLoopConfig, EventLoopHandle, EventLoopServer};
use crate::server::threaded::{ThreadedConfig, ThreadedHandle, ThreadedServer};
use crate::stats::Stats;

/// Which server implementation a system runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// One OS thread per connection (`server::threaded`).
    Threaded,
    /// One mio thread for every connection (`server::event_loop`).
    EventLoop,
}

/// One column of the comparison: a transport against a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// HTTP polling, a new connection per poll, thread-per-connection server.
    #[value(name = "poll-threaded")]
    PollingThreaded,
    /// HTTP polling, a new connection per poll, event-loop server.
    #[value(name = "poll-event-loop")]
    PollingEventLoop,
    /// WebSockets against the event-loop server.
    #[value(name = "ws")]
    WebSocketEventLoop,
    /// HTTP polling over one kept-alive connection per client, threaded server.
    #[value(name = "keep-alive-threaded")]
    KeepAliveThreaded,
    /// HTTP polling over one kept-alive connection per client, event-loop server.
    #[value(name = "keep-alive-event-loop")]
    KeepAliveEventLoop,
}

impl System {
    /// The three systems of the default experiment.
    pub const DEFAULT: [System; 3] = [
        System::PollingThreaded,
        System::PollingEventLoop,
        System::WebSocketEventLoop,
    ];

    /// The systems `--keep-alive` adds.
    pub const KEEP_ALIVE: [System; 2] = [System::KeepAliveThreaded, System::KeepAliveEventLoop];

    pub fn server(self) -> ServerKind {
        match self {
            System::PollingThreaded | System::KeepAliveThreaded => ServerKind::Threaded,
            _ => ServerKind::EventLoop,
        }
    }

    pub fn transport(self) -> Transport {
        match self {
            System::WebSocketEventLoop => Transport::WebSocket,
            _ => Transport::Polling,
        }
    }

    pub fn keep_alive(self) -> bool {
        matches!(self, System::KeepAliveThreaded | System::KeepAliveEventLoop)
    }

    /// A human label for tables and legends.
    pub fn label(self) -> &'static str {
        match self {
            System::PollingThreaded => "polling, threaded server",
            System::PollingEventLoop => "polling, event-loop server",
            System::WebSocketEventLoop => "WebSocket, event-loop server",
            System::KeepAliveThreaded => "polling keep-alive, threaded server",
            System::KeepAliveEventLoop => "polling keep-alive, event-loop server",
        }
    }

    /// A short column heading for the side-by-side summary.
    pub fn short(self) -> &'static str {
        match self {
            System::PollingThreaded => "POLL/THR",
            System::PollingEventLoop => "POLL/EVL",
            System::WebSocketEventLoop => "WS/EVL",
            System::KeepAliveThreaded => "KA/THR",
            System::KeepAliveEventLoop => "KA/EVL",
        }
    }
}

/// A running server, as far as the experiment cares.
pub trait RunningServer: Send {
    fn local_addr(&self) -> SocketAddr;
    fn stats(&self) -> Arc<Stats>;
    /// Stop accepting, close every connection and join the server's threads.
    fn shutdown(self: Box<Self>);
}

/// Starts servers on `127.0.0.1:0`, one per run.
pub trait ServerFactory: Sync {
    fn start(&self, kind: ServerKind) -> io::Result<Box<dyn RunningServer>>;
}

/// Loopback, any free port.
fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl RunningServer for ThreadedHandle {
    fn local_addr(&self) -> SocketAddr {
        ThreadedHandle::local_addr(self)
    }

    fn stats(&self) -> Arc<Stats> {
        ThreadedHandle::stats(self)
    }

    fn shutdown(self: Box<Self>) {
        ThreadedHandle::shutdown(*self)
    }
}

impl RunningServer for EventLoopHandle {
    fn local_addr(&self) -> SocketAddr {
        EventLoopHandle::local_addr(self)
    }

    fn stats(&self) -> Arc<Stats> {
        EventLoopHandle::stats(self)
    }

    fn shutdown(self: Box<Self>) {
        if let Err(err) = EventLoopHandle::shutdown(*self) {
            log::warn!("event-loop server did not shut down cleanly: {err}");
        }
    }
}

/// The crate's own servers, configured as a user runs them, with the per-message log
/// line silenced (it would otherwise print thousands of lines).
#[derive(Debug, Clone, Copy)]
pub struct CrateServers {
    /// Accept-queue length of every server started (`compare --backlog`).
    pub backlog: u32,
}

impl Default for CrateServers {
    fn default() -> Self {
        CrateServers {
            backlog: crate::server::DEFAULT_BACKLOG,
        }
    }
}

impl ServerFactory for CrateServers {
    fn start(&self, kind: ServerKind) -> io::Result<Box<dyn RunningServer>> {
        match kind {
            ServerKind::Threaded => {
                let config = ThreadedConfig {
                    quiet: true,
                    backlog: self.backlog,
                    ..ThreadedConfig::default()
                };
                let handle = ThreadedServer::bind(loopback_any_port(), config)?.spawn()?;
                Ok(Box::new(handle))
            }
            ServerKind::EventLoop => {
                let config = EventLoopConfig {
                    quiet: true,
                    backlog: self.backlog,
                    ..EventLoopConfig::default()
                };
                let handle = EventLoopServer::bind(loopback_any_port(), config)?.spawn()?;
                Ok(Box::new(handle))
            }
        }
    }
}
