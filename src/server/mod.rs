//! I/O shells around the protocol core.

pub mod threaded;
