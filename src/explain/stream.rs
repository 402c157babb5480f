//! One direction of a conversation: HTTP heads until the upgrade, then
//! frames, explained as each unit becomes complete.

use crate::websocket::{DeflateParams, Role};

use super::deflate::Source;
use super::frame::{FrameContext, explain_frame, frame_extent};
use super::http::{
    Asked, HeadOutcome, explain_request, explain_response, looks_like_request, looks_like_response,
};
use super::layout::Out;

/// What the bytes of this direction are at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing seen yet: HTTP or frames is decided by the first bytes.
    Start,
    Http,
    /// The client sent an upgrade request and waits for the 101.
    AwaitingUpgrade,
    Frames,
    /// A rule was broken; the rest is not explained.
    Stopped,
}

/// What one call to [`StreamExplainer::pump`] learnt for the other direction.
#[derive(Debug, Default)]
pub struct Learnt {
    /// The client's upgrade request: the accept value the server owes.
    pub accept: Option<String>,
    /// The client's upgrade request offers permessage-deflate.
    pub offers_deflate: bool,
    /// The server answered 101: the client's bytes are frames from now on.
    pub upgraded: bool,
    /// The permessage-deflate parameters the 101 agreed to.
    pub deflate: Option<DeflateParams>,
}

/// Explains the bytes one side sends, fed in any pieces.
#[derive(Debug)]
pub struct StreamExplainer {
    sender: Role,
    buf: Vec<u8>,
    phase: Phase,
    frames: FrameContext,
    /// Without the other direction, an upgrade request is taken as accepted.
    standalone: bool,
    /// The accept value the peer's request called for.
    pub accept: Option<String>,
    /// Whether the peer's request offered permessage-deflate, if it is known.
    pub offered_deflate: Option<bool>,
}

impl StreamExplainer {
    pub fn new(sender: Role, standalone: bool) -> Self {
        Self {
            sender,
            buf: Vec::new(),
            phase: Phase::Start,
            frames: FrameContext::new(sender),
            standalone,
            accept: None,
            offered_deflate: None,
        }
    }

    /// Read frames as if permessage-deflate had been agreed with `params`
    /// (`--deflate`), until a handshake in the bytes says otherwise.
    pub fn assume_deflate(&mut self, params: DeflateParams) {
        self.frames.agree(Some(params), Source::Flag);
    }

    /// Append bytes and explain every unit they complete.
    pub fn push(&mut self, bytes: &[u8], note: &str, out: &mut Out) -> Learnt {
        if self.phase != Phase::Stopped {
            self.buf.extend_from_slice(bytes);
        }
        self.pump(note, out)
    }

    /// The server's 101 arrived, agreeing to `deflate`: the client's bytes
    /// are frames now.
    pub fn upgrade(&mut self, deflate: Option<DeflateParams>, note: &str, out: &mut Out) -> Learnt {
        if self.phase == Phase::AwaitingUpgrade {
            self.phase = Phase::Frames;
            self.frames.agree(deflate, Source::Handshake);
        }
        self.pump(note, out)
    }

    /// Explain complete units at the start of the buffer.
    pub fn pump(&mut self, note: &str, out: &mut Out) -> Learnt {
        let mut learnt = Learnt::default();
        loop {
            let used = match self.phase {
                Phase::Start if self.buf.is_empty() => return learnt,
                Phase::Start => {
                    self.phase = self.first_phase();
                    continue;
                }
                Phase::Http => self.next_head(note, out, &mut learnt),
                Phase::Frames => self.next_frame(note, out),
                Phase::AwaitingUpgrade | Phase::Stopped => None,
            };
            match used {
                Some(n) => {
                    self.buf.drain(..n);
                }
                None => return learnt,
            }
        }
    }

    fn first_phase(&self) -> Phase {
        let http = match self.sender {
            Role::Client => looks_like_request(&self.buf),
            Role::Server => looks_like_response(&self.buf),
        };
        if http { Phase::Http } else { Phase::Frames }
    }

    fn next_head(&mut self, note: &str, out: &mut Out, learnt: &mut Learnt) -> Option<usize> {
        let outcome = match self.sender {
            Role::Client => explain_request(&self.buf, note, out),
            Role::Server => {
                let asked = Asked {
                    accept: self.accept.as_deref(),
                    offered_deflate: self.offered_deflate,
                };
                explain_response(&self.buf, asked, note, out)
            }
        };
        match outcome {
            HeadOutcome::Incomplete => None,
            HeadOutcome::Broken => {
                self.stop();
                None
            }
            HeadOutcome::Done {
                len,
                accept,
                upgraded,
                offers_deflate,
                deflate,
            } => {
                self.phase = match (self.sender, upgraded, self.standalone) {
                    (Role::Server, true, _) => {
                        self.frames.agree(deflate, Source::Handshake);
                        Phase::Frames
                    }
                    (Role::Client, true, true) => {
                        self.assume_answer(deflate, out);
                        Phase::Frames
                    }
                    (Role::Client, true, false) => Phase::AwaitingUpgrade,
                    (_, false, _) => Phase::Http,
                };
                out.line("");
                if accept.is_some() {
                    learnt.offers_deflate = offers_deflate;
                }
                learnt.accept = accept.or(learnt.accept.take());
                learnt.upgraded |= upgraded && self.sender == Role::Server;
                learnt.deflate = deflate.filter(|_| self.sender == Role::Server);
                Some(len)
            }
        }
    }

    /// Only the client's request is here: its frames are read as if the
    /// server answered as `pushpull serve` does, which is said.
    fn assume_answer(&mut self, deflate: Option<DeflateParams>, out: &mut Out) {
        self.frames.agree(deflate, Source::OurServersAnswer);
        if deflate.is_some() {
            let what = "no 101 in these bytes: taken as accepting permessage-deflate";
            out.field(2, "assumed", what, "RFC 7692 §7");
        }
    }

    fn next_frame(&mut self, note: &str, out: &mut Out) -> Option<usize> {
        let extent = frame_extent(&self.buf)?;
        let ok = explain_frame(&mut self.frames, &self.buf, note, out);
        match (ok, extent) {
            (true, Ok(len)) => {
                out.line("");
                Some(len)
            }
            _ => {
                self.stop();
                None
            }
        }
    }

    fn stop(&mut self) {
        self.phase = Phase::Stopped;
        self.buf = Vec::new();
    }

    /// Say what is left over when the bytes end.
    pub fn finish(&mut self, label: &str, out: &mut Out) {
        if self.buf.is_empty() || self.phase == Phase::Stopped {
            return;
        }
        if self.phase == Phase::Frames {
            let note = ", cut short by the end of the bytes";
            if !explain_frame(&mut self.frames, &self.buf, note, out) {
                self.stop();
                return;
            }
        }
        let what = match self.phase {
            Phase::Frames => "the start of a frame that is not complete",
            Phase::AwaitingUpgrade => "sent before the server's 101 arrived",
            _ => "an HTTP head or body that is not complete",
        };
        let count = match self.buf.len() {
            1 => "1 byte".to_string(),
            n => format!("{n} bytes"),
        };
        out.line(&format!("{label}{count} left at the end: {what}"));
        out.line("");
    }
}
