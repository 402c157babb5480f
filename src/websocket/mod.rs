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
//! | `handshake.rs`  | the opening handshake, server and client side (§4)        |
//! | `deflate.rs`    | permessage-deflate (RFC 7692): negotiation, compression   |
//! | `connection.rs` | the state machine: messages, control frames, closing (§7) |
//! | `trace.rs`      | one-line frame and HTTP head summaries for `--trace` logs |
//!
//! How an I/O shell drives a server-side connection, with a client standing in
//! for the socket:
//!
//! ```
//! use pushpull::websocket::{Config, Connection, Event, Role};
//!
//! let mut client = Connection::new(Role::Client, Config::default());
//! let mut server = Connection::new(Role::Server, Config::default());
//! client.send_text("hi").unwrap();
//!
//! // The shell: bytes read from the socket go in, events come out.
//! while let Some(chunk) = client.take_output() {
//!     server.receive(chunk.as_ref());
//! }
//! while let Some(event) = server.next_event() {
//!     match event {
//!         Event::Text(text) => server.send_text(&text).unwrap(), // echo
//!         Event::Failed(error) => eprintln!("failed: {error}"),
//!         _ => {}
//!     }
//! }
//!
//! // Write what is queued; close TCP when the connection says so.
//! assert!(server.has_output());
//! assert!(!server.should_close_tcp());
//! ```

pub mod close;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod trace;
pub mod utf8;

pub use close::CloseCode;
pub use connection::{Chunk, Config, Connection, Event, Role, SendError, State};
pub use deflate::DeflateParams;
pub use error::ProtocolError;
pub use frame::{FrameHeader, Opcode, encode_frame};
pub use handshake::{ClientHandshake, HandshakeError};
