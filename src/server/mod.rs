//! I/O shells around the protocol core.
