//! Chat clients for both transports.
//!
//! | file               | what lives there                                             |
//! |--------------------|--------------------------------------------------------------|
//! | [`url`]            | `ws://` and `http://` URLs (no TLS)                          |
//! | [`http_response`]  | sans-I/O HTTP/1.1 response parser for the polling client     |
//! | [`backoff`]        | reconnect delays: 1 s doubling to 30 s, reset after a drop   |
//! | [`schedule`]       | when messages are sent: script, random gaps, or stdin        |
//! | [`latency`]        | wall-clock helpers and the avg/p50/p99/max summary           |
pub mod backoff;
pub mod http_response;
pub mod latency;
pub mod schedule;
pub mod url;
