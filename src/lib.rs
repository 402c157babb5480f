//! pushpull: HTTP polling and WebSockets built from scratch, side by side.
//!
//! Map of the crate (protocol core apart from I/O):
//!
//! | module        | what lives there                                              |
//! |---------------|---------------------------------------------------------------|
//! | [`http`]      | sans-I/O HTTP/1.1: request and response parsers, encoding     |
//! | [`websocket`] | sans-I/O RFC 6455: handshake, frames, masking, messages, close |
//! | [`chat`]      | the chat room: message JSON, bounded log, polling endpoints   |
//! | [`stats`]     | counters both servers share and the windowed stats printer    |
//! | [`server`]    | I/O shells: the single-threaded mio loop, the threaded server |
//! | [`client`]    | chat clients for both transports                              |
//! | [`explain`]   | `pushpull explain`: bytes and captures annotated with the RFC |
//! | [`compare`]   | the experiment: runs, measures, tables, results.json, charts  |
//! | [`demo`]      | `pushpull demo`: scripted exchanges for teaching and captures |
#![forbid(unsafe_code)]

pub mod chat;
pub mod client;
pub mod compare;
pub mod demo;
pub mod explain;
pub mod http;
pub mod server;
pub mod stats;
pub mod websocket;
