//! The chat room: message JSON, the bounded log, and the polling endpoints.
