//! Chat clients for both transports, and the Autobahn client.
//!
//! The clients are sans-I/O state machines in the style of the protocol core:
//! an I/O shell feeds them timers, connection results and bytes, and drains
//! bytes to write, connect/close requests and events.
//!
//! | file               | what lives there                                             |
//! |--------------------|--------------------------------------------------------------|
//! | [`url`]            | `ws://` and `http://` URLs (no TLS)                          |
//! | [`backoff`]        | reconnect delays: 1 s doubling to 30 s, reset after a drop   |
//! | [`schedule`]       | when messages are sent: script, random gaps, or stdin        |
//! | [`latency`]        | wall-clock helpers and the avg/p50/p99/max summary           |
//! | [`machine`]        | what the client state machines and their driver share        |
//! | [`poller`]         | the HTTP polling chat client state machine                   |
//! | [`ws_client`]      | the WebSocket chat client state machine                      |
//! | [`seeded`]         | `--seed` keys and `--fixed-clock`: reproducible captures only |
//! | [`autobahn`]       | `autobahn-client`: echo client for the fuzzingserver         |
//! | [`driver`]         | one mio loop running many clients: sockets, timers, counters |
//! | [`trace`]          | `chat --trace`: one line per HTTP head and frame, each way   |
//! | [`cli`]            | argument structs and entry points of the subcommands         |
pub mod autobahn;
pub mod backoff;
pub mod cli;
pub mod driver;
pub mod latency;
pub mod machine;
pub mod poller;
pub mod schedule;
pub mod seeded;
pub mod trace;
pub mod url;
pub mod ws_client;
