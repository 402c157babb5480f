//! Sans-I/O RFC 6455.
//!
//! Bytes read from the socket go in, events and bytes to write come out; no
//! module here touches a socket, so every rule can be tested byte by byte.
//!
//! | file            | what lives there                                          |
//! |-----------------|-----------------------------------------------------------|
//! | `frame.rs`      | opcodes, the frame header (§5.2), encoding a frame        |
//! | `mask.rs`       | XOR masking of payloads (§5.3), resumable at any offset   |
//! | `utf8.rs`       | incremental UTF-8 validation of text (§8.1)               |
//! | `close.rs`      | close status codes and the Close body (§5.5.1, §7.4)      |
//! | `error.rs`      | the rules a peer can break, mapped to close codes         |
//! | `connection.rs` | the state machine: messages, control frames, closing (§7) |

pub mod close;
pub mod connection;
pub mod error;
pub mod frame;
pub mod mask;
pub mod utf8;

pub use close::CloseCode;
pub use connection::{Chunk, Config, Connection, Event, Role, SendError, State};
pub use error::ProtocolError;
pub use frame::{FrameHeader, Opcode, encode_frame};
