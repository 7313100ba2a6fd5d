//! The bytes a connection has queued for the driver to write.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Queued output, kept as separate buffers so that body chunks are written
/// without a copy and several buffers go out in one `writev`.
#[derive(Debug, Default)]
pub struct WriteQueue {
    bufs: VecDeque<Bytes>,
    len: usize,
    /// What is left of the buffer the last head was written into: heads
    /// are cut from it, so that most cost no allocation.
    head_spare: BytesMut,
    /// The length of the last buffer when it may still be taken back (a
    /// response the machine queued on its own, none of it written); 0
    /// otherwise.
    withdrawable: usize,
}

impl WriteQueue {
    /// Appends bytes to write.
    pub fn push(&mut self, bytes: Bytes) {
        self.withdrawable = 0;
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.bufs.push_back(bytes);
        }
    }

    /// A buffer to write a head into (then given to [`push_head`](Self::push_head)).
    pub(super) fn head_buffer(&mut self) -> BytesMut {
        std::mem::take(&mut self.head_spare)
    }

    /// Queues the head written into `buf`, keeping the rest of `buf` for
    /// the next one.
    pub(super) fn push_head(&mut self, mut buf: BytesMut) {
        let head = buf.split().freeze();
        self.head_spare = buf;
        self.push(head);
    }

    /// Queues a head like [`push_head`](Self::push_head) that
    /// [`withdraw`](Self::withdraw) may take back until any of it is
    /// written or something is queued after it.
    pub(super) fn push_withdrawable_head(&mut self, buf: BytesMut) {
        self.push_head(buf);
        self.withdrawable = self.bufs.back().map_or(0, Bytes::len);
    }

    /// Whether [`withdraw`](Self::withdraw) would take a head back.
    pub(super) fn is_withdrawable(&self) -> bool {
        self.withdrawable != 0
    }

    /// Takes back the head of [`push_withdrawable_head`](Self::push_withdrawable_head)
    /// if none of it was written and nothing follows it; whether it did.
    pub(super) fn withdraw(&mut self) -> bool {
        let n = std::mem::take(&mut self.withdrawable);
        if n == 0 {
            return false;
        }
        self.bufs.pop_back();
        self.len -= n;
        true
    }

    /// How many bytes are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many buffers are queued.
    pub fn buffers(&self) -> usize {
        self.bufs.len()
    }

    /// Fills `dst` with the queued buffers, in order; returns how many.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, buf) in dst.iter_mut().zip(self.bufs.iter()) {
            *slot = IoSlice::new(buf);
            n += 1;
        }
        n
    }

    /// The first queued buffer (for transports without vectored writes).
    pub fn front(&self) -> &[u8] {
        self.bufs.front().map(|b| &b[..]).unwrap_or(&[])
    }

    /// Drops the first `n` bytes, which the driver has written.
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advanced past the queued bytes");
        if n > self.len - self.withdrawable {
            // Written, if only in part: no longer taken back.
            self.withdrawable = 0;
        }
        self.len -= n;
        while n > 0 {
            let front = self.bufs.front_mut().expect("len counts the buffers");
            if n >= front.len() {
                n -= front.len();
                self.bufs.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }

    /// Takes everything queued, as one buffer (tests, fixtures).
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for buf in self.bufs.drain(..) {
            out.extend_from_slice(&buf);
        }
        self.len = 0;
        self.withdrawable = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_crosses_buffer_boundaries() {
        let mut q = WriteQueue::default();
        q.push(Bytes::from_static(b"abc"));
        q.push(Bytes::new());
        q.push(Bytes::from_static(b"defg"));
        assert_eq!(q.len(), 7);
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(q.io_slices(&mut slices), 2);
        q.advance(4);
        assert_eq!(q.front(), b"efg");
        assert_eq!(q.take_all(), b"efg");
        assert!(q.is_empty());
    }

    fn head(bytes: &[u8]) -> BytesMut {
        BytesMut::from(bytes)
    }

    #[test]
    fn a_withdrawable_head_is_taken_back_only_while_unwritten_and_last() {
        let mut q = WriteQueue::default();
        q.push(Bytes::from_static(b"before"));
        q.push_withdrawable_head(head(b"error"));
        q.advance(6);
        assert!(q.withdraw(), "untouched: taken back");
        assert!(q.is_empty());

        q.push_withdrawable_head(head(b"error"));
        q.advance(1);
        assert!(!q.withdraw(), "partly written");
        assert_eq!(q.take_all(), b"rror");

        q.push_withdrawable_head(head(b"error"));
        q.push(Bytes::from_static(b"after"));
        assert!(!q.withdraw(), "something follows it");
        assert_eq!(q.take_all(), b"errorafter");
    }
}
