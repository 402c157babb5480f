//! Counters shared by both servers.
