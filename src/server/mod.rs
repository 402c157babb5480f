//! I/O shells around the protocol core.

pub mod event_loop;
pub mod out_queue;
pub mod page;
pub mod threaded;
