//! Splitting a byte stream into frames.
//!
//! [`FrameDecoder`] is the rule, synchronous (after tokio-util's `Decoder`): it takes
//! whole frames off the front of a buffer and refuses an oversized one as soon as its
//! length prefix is in, before any of its bytes are read. [`FrameReader`] is the thin async
//! part: it reads into the buffer and adds the one timing rule. An idle connection may
//! wait for its next frame forever; once a frame has started, the rest must arrive within
//! the frame timeout, so a peer that trickles bytes cannot hold the connection (and its
//! memory) forever.

use super::message::*;
use bytes::Bytes;
use bytes::{Buf, BufMut, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much room a read offers: many small frames per system call.
const READ_CHUNK: usize = 64 * 1024;

/// Takes frames off the front of a buffer.
#[derive(Debug, Clone)]
pub(crate) struct FrameDecoder {
    max: usize,
}

impl FrameDecoder {
    pub(crate) fn new(max: usize) -> FrameDecoder {
        FrameDecoder { max }
    }

    /// Changes the largest frame accepted (the handshake uses a small one).
    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// The next whole frame (without its length prefix), `None` if `buf` does not hold
    /// one yet. Room is not reserved by the announced length: a peer that announces a
    /// large frame and sends nothing costs nothing.
    pub(crate) fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, WireError> {
        let Some(len) = self.whole_frame(buf)? else {
            return Ok(None);
        };
        buf.advance(LEN_PREFIX);
        Ok(Some(buf.split_to(len).freeze()))
    }

    /// The length of the frame at the front of `buf` (without its prefix) if `buf`
    /// holds all of it; the same checks as [`decode`](Self::decode), taking nothing.
    fn whole_frame(&self, buf: &[u8]) -> Result<Option<usize>, WireError> {
        let Some(len) = announced_len(buf) else {
            return Ok(None);
        };
        if len > self.max {
            return Err(WireError::TooLarge {
                size: len,
                max: self.max,
            });
        }
        Ok((buf.len() >= LEN_PREFIX + len).then_some(len))
    }

    /// The stream ended with `buf` left over: a clean end if it is empty, a truncated
    /// frame otherwise.
    pub(crate) fn end(&self, buf: &BytesMut) -> Result<(), WireError> {
        if buf.is_empty() {
            return Ok(());
        }
        let want = LEN_PREFIX + announced_len(buf).unwrap_or(0);
        Err(WireError::Truncated {
            have: buf.len(),
            want,
        })
    }
}

fn announced_len(buf: &[u8]) -> Option<usize> {
    let prefix: [u8; LEN_PREFIX] = buf.get(..LEN_PREFIX)?.try_into().ok()?;
    Some(u32::from_le_bytes(prefix) as usize)
}

/// A [`FrameDecoder`] over an async byte stream, with the frame timeout.
pub(crate) struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    decoder: FrameDecoder,
    frame_timeout: Duration,
    /// The bytes at the front of `buf` of the frame [`next_ref`](Self::next_ref) lent
    /// out: taken off at the next call.
    lent: usize,
    /// How the stream ended, if [`read_ahead`](Self::read_ahead) saw it end: reported
    /// once the frames read before it are taken.
    ended: Option<StreamEnd>,
}

/// The end of a stream, seen while reading ahead.
enum StreamEnd {
    Clean,
    Failed(std::io::Error),
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(inner: R, max: usize, frame_timeout: Duration) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(READ_CHUNK),
            decoder: FrameDecoder::new(max),
            frame_timeout,
            lent: 0,
            ended: None,
        }
    }

    /// Changes the largest frame accepted.
    pub(crate) fn set_max(&mut self, max: usize) {
        self.decoder.set_max(max);
    }

    /// The next frame (without its length prefix), or `None` at a clean end of stream.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, WireError> {
        let lent = self.next_ref().await?.is_some();
        Ok(lent.then(|| self.take_lent()))
    }

    /// [`next`](Self::next), lent where it lies in the read buffer until the next call:
    /// no reference count, no copy.
    pub(crate) async fn next_ref(&mut self) -> Result<Option<&[u8]>, WireError> {
        let Some(len) = self.next_len().await? else {
            return Ok(None);
        };
        self.lent = LEN_PREFIX + len;
        Ok(Some(&self.buf[LEN_PREFIX..self.lent]))
    }

    /// The frame [`next_ref`](Self::next_ref) lent, split off the buffer as shared bytes
    /// (no copy) for a message that keeps parts of it.
    pub(crate) fn take_lent(&mut self) -> Bytes {
        debug_assert!(self.lent >= LEN_PREFIX, "no frame lent");
        let len = std::mem::take(&mut self.lent);
        self.buf.advance(LEN_PREFIX.min(len));
        self.buf.split_to(len.saturating_sub(LEN_PREFIX)).freeze()
    }

    /// The bytes in the buffer behind the frame lent out.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.lent
    }

    /// Reads what the stream has into the buffer, behind the frames already there, while
    /// less than `limit` bytes wait behind the frame lent out (the one being delivered);
    /// never past that bound, and once it is reached (or the stream ended) it never
    /// completes. For a reader whose frame waits to be delivered: the peer sees its bytes
    /// taken. A read-ahead is never lost (it completes whole or not at all, so it may be
    /// cancelled), and the frame lent out stays where it is.
    pub(crate) async fn read_ahead(&mut self, limit: usize) {
        let held = self.buf.len() - self.lent;
        if self.ended.is_some() || held >= limit {
            return std::future::pending().await;
        }
        let room = limit - held;
        self.make_room(room.min(READ_CHUNK));
        match self.inner.read_buf(&mut (&mut self.buf).limit(room)).await {
            Ok(0) => self.ended = Some(StreamEnd::Clean),
            Ok(_) => {}
            Err(error) => self.ended = Some(StreamEnd::Failed(error)),
        }
    }

    /// Grows the buffer by `wanted` bytes when less than a page is left to read into.
    fn make_room(&mut self, wanted: usize) {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(wanted);
        }
    }

    /// Reads until a whole frame is at the front of the buffer; its length without the
    /// prefix, or `None` at a clean end of stream.
    async fn next_len(&mut self) -> Result<Option<usize>, WireError> {
        self.buf.advance(std::mem::take(&mut self.lent));
        let mut deadline = None;
        loop {
            if let Some(len) = self.decoder.whole_frame(&self.buf)? {
                return Ok(Some(len));
            }
            if matches!(self.ended, Some(StreamEnd::Clean)) {
                return self.decoder.end(&self.buf).map(|()| None);
            }
            if let Some(StreamEnd::Failed(error)) = self.ended.take() {
                return Err(WireError::Io(error));
            }
            self.make_room(READ_CHUNK);
            let read = if self.buf.is_empty() {
                self.inner.read_buf(&mut self.buf).await
            } else {
                let deadline = *deadline
                    .get_or_insert_with(|| tokio::time::Instant::now() + self.frame_timeout);
                match tokio::time::timeout_at(deadline, self.inner.read_buf(&mut self.buf)).await {
                    Ok(read) => read,
                    Err(_) => return Err(WireError::Stalled(self.frame_timeout)),
                }
            };
            match read {
                Ok(0) => return self.decoder.end(&self.buf).map(|()| None),
                Ok(_) => {}
                Err(error) => return Err(WireError::Io(error)),
            }
        }
    }
}
