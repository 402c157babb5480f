//! A per-connection queue of bytes waiting for the socket.
//!
//! Chunks are kept whole (a broadcast frame is one shared `Arc<[u8]>` in many queues) and
//! flushed with one vectored write per call, so a frame's header and payload, or several
//! queued frames, leave in a single system call instead of meeting Nagle's algorithm one
//! small write at a time. A lone chunk, the usual broadcast case, goes out in a plain write.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

use crate::websocket::Chunk;

/// How many chunks one vectored write hands to the kernel (Linux accepts up to 1024).
const MAX_SLICES_PER_WRITE: usize = 64;

/// Bytes queued for one socket, in order.
#[derive(Default)]
pub struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// How much of the front chunk has already been written.
    front_offset: usize,
    /// Bytes not yet written, across all chunks.
    pending: usize,
}

impl OutQueue {
    /// Append a chunk; empty chunks are dropped.
    pub fn push(&mut self, chunk: Chunk) {
        if chunk.is_empty() {
            return;
        }
        self.pending += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Append owned bytes.
    pub fn push_bytes(&mut self, bytes: Vec<u8>) {
        self.push(Chunk::Owned(bytes));
    }

    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Bytes not yet written.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Write as much as the socket takes, one vectored write per loop turn, until the queue
    /// is empty or the socket says `WouldBlock`. Returns the bytes written; a `WouldBlock`
    /// is not an error here, it just ends the flush.
    pub fn flush_to<W: Write>(&mut self, socket: &mut W) -> io::Result<usize> {
        let mut written = 0;
        while !self.is_empty() {
            match self.write_once(socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    written += n;
                    self.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    fn write_once<W: Write>(&self, socket: &mut W) -> io::Result<usize> {
        // The common case, one broadcast frame: a plain write, with no slice list to build.
        if self.chunks.len() == 1
            && let Some(only) = self.chunks.front()
        {
            return socket.write(&only.as_ref()[self.front_offset..]);
        }
        let mut slices = Vec::with_capacity(self.chunks.len().min(MAX_SLICES_PER_WRITE));
        for (i, chunk) in self.chunks.iter().take(MAX_SLICES_PER_WRITE).enumerate() {
            let bytes = chunk.as_ref();
            let start = if i == 0 { self.front_offset } else { 0 };
            slices.push(IoSlice::new(&bytes[start..]));
        }
        socket.write_vectored(&slices)
    }

    /// Drop `n` written bytes from the front.
    fn advance(&mut self, mut n: usize) {
        self.pending -= n;
        while n > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let left_in_front = front.len() - self.front_offset;
            if n < left_in_front {
                self.front_offset += n;
                return;
            }
            n -= left_in_front;
            self.front_offset = 0;
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer that takes at most `limit` bytes per call, then says WouldBlock once full.
    struct Trickle {
        taken: Vec<u8>,
        per_call: usize,
        capacity: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            let room = self.capacity - self.taken.len();
            if room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut budget = self.per_call.min(room);
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(budget);
                self.taken.extend_from_slice(&b[..take]);
                budget -= take;
                n += take;
            }
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_where_they_stopped_and_keep_order() {
        let mut q = OutQueue::default();
        let shared: Arc<[u8]> = Arc::from(&b"shared"[..]);
        q.push_bytes(b"abc".to_vec());
        q.push(Chunk::Shared(shared));
        q.push_bytes(Vec::new());
        q.push_bytes(b"xyz".to_vec());
        assert_eq!(q.pending(), 12);

        let mut sink = Trickle {
            taken: Vec::new(),
            per_call: 5,
            capacity: 7,
            calls: 0,
        };
        assert_eq!(q.flush_to(&mut sink).unwrap(), 7);
        assert_eq!(q.pending(), 5);

        sink.capacity = 100;
        q.flush_to(&mut sink).unwrap();
        assert!(q.is_empty());
        assert_eq!(sink.taken, b"abcsharedxyz");
    }

    #[test]
    fn a_lone_chunk_written_in_pieces_resumes_at_its_offset() {
        let mut q = OutQueue::default();
        q.push(Chunk::Shared(Arc::from(&b"broadcast"[..])));
        let mut sink = Trickle {
            taken: Vec::new(),
            per_call: 4,
            capacity: 6,
            calls: 0,
        };
        assert_eq!(q.flush_to(&mut sink).unwrap(), 6);
        assert_eq!(q.pending(), 3);

        sink.capacity = 100;
        assert_eq!(q.flush_to(&mut sink).unwrap(), 3);
        assert!(q.is_empty());
        assert_eq!(sink.taken, b"broadcast");
    }

    #[test]
    fn queued_chunks_leave_in_one_vectored_write() {
        let mut q = OutQueue::default();
        q.push_bytes(vec![0x81, 0x05]);
        q.push_bytes(b"Hello".to_vec());
        let mut sink = Trickle {
            taken: Vec::new(),
            per_call: 1 << 20,
            capacity: 1 << 20,
            calls: 0,
        };
        q.flush_to(&mut sink).unwrap();
        assert_eq!(sink.calls, 1);
        assert_eq!(sink.taken, b"\x81\x05Hello");
    }
}
