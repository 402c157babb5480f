//! Where a demo's nonces and masking keys come from: the CSPRNG by default,
//! a seeded stream with `--seed` (demonstrations only, see
//! [`SeededKeys`](crate::client::seeded::SeededKeys)).

use crate::client::seeded::SeededKeys;
use crate::websocket::handshake::{ClientHandshake, KEY_LEN};
use crate::websocket::mask::MASK_KEY_LEN;

/// The key source of one demo run.
#[derive(Debug, Clone)]
pub enum DemoKeys {
    /// Fresh keys from the thread-local CSPRNG, as RFC 6455 §10.3 requires.
    Random,
    /// Every key from one seeded stream: the same seed, the same bytes.
    Seeded(SeededKeys),
}

impl DemoKeys {
    pub fn new(seed: Option<u64>) -> Self {
        match seed {
            Some(seed) => Self::Seeded(SeededKeys::new(seed)),
            None => Self::Random,
        }
    }

    pub fn nonce(&mut self) -> [u8; KEY_LEN] {
        match self {
            Self::Random => ClientHandshake::random_key(),
            Self::Seeded(stream) => stream.nonce(),
        }
    }

    pub fn mask_key(&mut self) -> [u8; MASK_KEY_LEN] {
        match self {
            Self::Random => rand::random(),
            Self::Seeded(stream) => stream.mask_key(),
        }
    }
}
