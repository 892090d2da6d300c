//! The bytes waiting to be written to one connection.
//!
//! Senders append whole frames; the connection's writer task takes everything queued in
//! one go and writes it with as few system calls as the socket allows. Two lanes:
//!
//! * **control** (subscription sets, answers, drop notices) is unbounded (its volume is
//!   bounded by what the peer asks of us) and written first, so it never waits behind a
//!   flood of events;
//! * **data** (events and requests) is bounded in bytes: a sender that finds it full waits
//!   for the writer to make room (back-pressure), up to a deadline.
//!
//! Frames are appended whole under one lock, so each lane keeps the order in which frames
//! were appended, and a frame is never split between two takes. An event whose name
//! number this connection has not seen yet is preceded by its DEFINE_NAME, under the same
//! lock, so the definition always arrives first.
//!
//! Closing comes in two forms: [`finish`](Outbox::finish) refuses new frames but lets the
//! writer send what is queued (a graceful stop: nothing accepted is lost), and
//! [`close`](Outbox::close) drops everything (the connection is gone). A control lane
//! that grows past [`CONTROL_LIMIT`] means the peer reads nothing at all: the outbox
//! closes itself, and the connection with it.

use crate::backend::link::{Outgoing, Refused};
use crate::sync;
use crate::wire::{self, NameRef};
use bytes::BytesMut;
use rustc_hash::FxHasher;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// The most control bytes that may wait for one peer.
pub(crate) const CONTROL_LIMIT: usize = 32 * 1024 * 1024;

#[derive(Default)]
struct Lanes {
    control: BytesMut,
    data: BytesMut,
    /// No new frames, nothing more to write.
    closed: bool,
    /// No new frames; what is queued is still written.
    finishing: bool,
    /// The name numbers already defined on this connection (see `wire`: DEFINE_NAME).
    defined: HashSet<u32, BuildHasherDefault<FxHasher>>,
}

pub(crate) struct Outbox {
    lanes: Mutex<Lanes>,
    /// Wakes the writer: something was queued (or the outbox closed).
    queued: Notify,
    /// Wakes waiting senders: the writer took the data lane.
    room: Notify,
    /// Set (and announced) when the writer has written its last bytes.
    writer_done: AtomicBool,
    done: Notify,
    data_limit: usize,
}

impl Outbox {
    pub(crate) fn new(data_limit: usize) -> Outbox {
        Outbox {
            lanes: Mutex::new(Lanes::default()),
            queued: Notify::new(),
            room: Notify::new(),
            writer_done: AtomicBool::new(false),
            done: Notify::new(),
            data_limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lanes> {
        sync::lock(&self.lanes)
    }

    pub(crate) fn push_control(&self, frame: &[u8]) -> Result<(), Refused> {
        {
            let mut lanes = self.lock();
            if lanes.closed || lanes.finishing {
                return Err(Refused::Closed);
            }
            if lanes.control.len() + frame.len() > CONTROL_LIMIT {
                // The peer has read nothing for a long while: give the connection up.
                lanes.closed = true;
                lanes.control.clear();
                lanes.data.clear();
                drop(lanes);
                self.queued.notify_one();
                self.room.notify_waiters();
                return Err(Refused::Closed);
            }
            lanes.control.extend_from_slice(frame);
        }
        self.queued.notify_one();
        Ok(())
    }

    /// Appends an EVENT frame unless the lane is full, preceded by the DEFINE_NAME of its
    /// name number if this connection has not seen it yet (atomically: under the same
    /// lock). A frame larger than the limit is accepted into an empty lane, so that no
    /// frame is refused forever.
    pub(crate) fn try_push_event(&self, event: &Outgoing<'_>) -> Result<(), Refused> {
        let name = NameRef::Id(event.name_id);
        {
            let mut lanes = self.lock();
            if lanes.closed || lanes.finishing {
                return Err(Refused::Closed);
            }
            let define = !lanes.defined.contains(&event.name_id);
            let size = wire::event_frame_len(name, event.request_id, event.body.len())
                + if define {
                    wire::define_name_len(event.name)
                } else {
                    0
                };
            if !lanes.data.is_empty() && lanes.data.len() + size > self.data_limit {
                return Err(Refused::Full);
            }
            // Bytes already waiting mean the writer was notified and has not taken them
            // yet (taking empties both lanes): it will take this frame too.
            let writer_notified = !lanes.data.is_empty() || !lanes.control.is_empty();
            if define {
                wire::put_define_name(&mut lanes.data, event.name_id, event.name);
                lanes.defined.insert(event.name_id);
            }
            wire::put_event(&mut lanes.data, name, event.request_id, event.body);
            if writer_notified {
                return Ok(());
            }
        }
        self.queued.notify_one();
        Ok(())
    }

    /// Appends an EVENT frame (see [`try_push_event`](Self::try_push_event)), waiting up
    /// to `timeout` for room.
    pub(crate) async fn push_event(
        &self,
        event: &Outgoing<'_>,
        timeout: Duration,
    ) -> Result<(), Refused> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before trying, so a take between the try and the wait is not missed.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push_event(event) {
                Err(Refused::Full) => {}
                other => return other,
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return self.try_push_event(event);
            }
        }
    }

    /// Waits until something is queued, then moves it into `control` and `data` (which
    /// must be empty). Returns `false` once the outbox is closed and drained.
    pub(crate) async fn take(&self, control: &mut BytesMut, data: &mut BytesMut) -> bool {
        loop {
            let queued = self.queued.notified();
            tokio::pin!(queued);
            queued.as_mut().enable();
            {
                let mut lanes = self.lock();
                if !lanes.control.is_empty() || !lanes.data.is_empty() {
                    std::mem::swap(&mut lanes.control, control);
                    let took_data = !lanes.data.is_empty();
                    std::mem::swap(&mut lanes.data, data);
                    drop(lanes);
                    if took_data {
                        self.room.notify_waiters();
                    }
                    return true;
                }
                if lanes.closed || lanes.finishing {
                    return false;
                }
            }
            queued.await;
        }
    }

    /// Refuses further frames; what is queued is still handed to the writer.
    pub(crate) fn finish(&self) {
        self.lock().finishing = true;
        self.queued.notify_one();
        self.room.notify_waiters();
    }

    /// Called by the writer when it has written its last bytes (or will write no more).
    pub(crate) fn writer_finished(&self) {
        self.writer_done.store(true, Ordering::SeqCst);
        self.done.notify_waiters();
    }

    /// Waits until the writer has written its last bytes.
    pub(crate) async fn wait_writer_finished(&self) {
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.writer_done.load(Ordering::SeqCst) {
                return;
            }
            done.await;
        }
    }

    /// Refuses further frames and wakes everyone; what is queued is dropped.
    pub(crate) fn close(&self) {
        {
            let mut lanes = self.lock();
            lanes.closed = true;
            lanes.control.clear();
            lanes.data.clear();
        }
        self.queued.notify_one();
        self.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EventName, FrameDecoder, Message};

    fn event(name_id: u32, body: &[u8]) -> Outgoing<'_> {
        Outgoing {
            name: "outbox.Event",
            name_id,
            request_id: None,
            body,
        }
    }

    /// The frames in a taken lane, as (DEFINE_NAME id or EVENT name id, body).
    fn frames(mut lane: BytesMut) -> Vec<(&'static str, u32, Vec<u8>)> {
        let decoder = FrameDecoder::new(1 << 20);
        let mut out = Vec::new();
        while let Some(frame) = decoder.decode(&mut lane).unwrap() {
            match crate::wire::decode(frame).unwrap() {
                Message::DefineName { id, .. } => out.push(("define", id, Vec::new())),
                Message::Event {
                    name: EventName::Id(id),
                    body,
                    ..
                } => out.push(("event", id, body.to_vec())),
                other => panic!("unexpected {other:?}"),
            }
        }
        decoder.end(&lane).unwrap();
        out
    }

    fn taken() -> (BytesMut, BytesMut) {
        (BytesMut::new(), BytesMut::new())
    }

    #[tokio::test]
    async fn frames_come_out_in_order_control_first() {
        let outbox = Outbox::new(1000);
        outbox.try_push_event(&event(1, b"d1")).unwrap();
        outbox.push_control(b"c1").unwrap();
        outbox.try_push_event(&event(1, b"d2")).unwrap();
        let (mut control, mut data) = taken();
        assert!(outbox.take(&mut control, &mut data).await);
        assert_eq!(&control[..], b"c1");
        assert_eq!(
            frames(data),
            vec![
                ("define", 1, vec![]),
                ("event", 1, b"d1".to_vec()),
                ("event", 1, b"d2".to_vec())
            ]
        );
    }

    #[tokio::test]
    async fn a_full_data_lane_pushes_back_until_the_writer_takes() {
        let body = [0u8; 40];
        let outbox = std::sync::Arc::new(Outbox::new(60));
        outbox.try_push_event(&event(1, &body)).unwrap();
        assert_eq!(outbox.try_push_event(&event(1, &body)), Err(Refused::Full));
        // A waiting sender gets in once the writer takes the lane.
        let sender = outbox.clone();
        let waiting = tokio::spawn(async move {
            sender
                .push_event(&event(1, &[5; 40]), Duration::from_secs(10))
                .await
        });
        let (mut control, mut data) = taken();
        assert!(outbox.take(&mut control, &mut data).await);
        assert_eq!(frames(data.split()).len(), 2, "definition and first event");
        waiting.await.unwrap().unwrap();
        assert!(outbox.take(&mut control, &mut data).await);
        assert_eq!(frames(data.split()), vec![("event", 1, vec![5; 40])]);
        // Without a writer, the wait ends at the deadline.
        outbox.try_push_event(&event(1, &body)).unwrap();
        assert_eq!(
            outbox
                .push_event(&event(1, &body), Duration::from_millis(20))
                .await,
            Err(Refused::Full)
        );
    }

    #[tokio::test]
    async fn a_name_is_defined_once_per_connection_before_its_first_use() {
        let outbox = Outbox::new(1000);
        outbox.try_push_event(&event(7, b"e1")).unwrap();
        outbox.try_push_event(&event(7, b"e2")).unwrap();
        let (mut control, mut data) = taken();
        assert!(outbox.take(&mut control, &mut data).await);
        assert_eq!(
            frames(data.split()),
            vec![
                ("define", 7, vec![]),
                ("event", 7, b"e1".to_vec()),
                ("event", 7, b"e2".to_vec())
            ]
        );
        // A full lane refuses the pair whole, and the name stays undefined.
        let outbox = Outbox::new(30);
        outbox.try_push_event(&event(7, &[0; 20])).unwrap();
        assert_eq!(outbox.try_push_event(&event(1, b"e")), Err(Refused::Full));
        assert!(outbox.take(&mut control, &mut data).await);
        data.clear();
        outbox.try_push_event(&event(1, b"e")).unwrap();
        assert!(outbox.take(&mut control, &mut data).await);
        assert_eq!(
            frames(data.split()),
            vec![("define", 1, vec![]), ("event", 1, b"e".to_vec())]
        );
    }

    #[tokio::test]
    async fn finish_hands_over_what_is_queued_then_ends() {
        let outbox = Outbox::new(1000);
        outbox.try_push_event(&event(1, b"last")).unwrap();
        outbox.finish();
        assert_eq!(
            outbox.try_push_event(&event(1, b"late")),
            Err(Refused::Closed)
        );
        let (mut control, mut data) = taken();
        assert!(outbox.take(&mut control, &mut data).await);
        assert_eq!(frames(data.split()).last().unwrap().2, b"last".to_vec());
        assert!(!outbox.take(&mut control, &mut data).await);
    }

    #[tokio::test]
    async fn a_control_lane_nobody_reads_closes_the_outbox() {
        let outbox = Outbox::new(100);
        let frame = vec![0u8; 1024 * 1024];
        let mut pushed = 0;
        while outbox.push_control(&frame).is_ok() {
            pushed += 1;
        }
        assert_eq!(pushed, CONTROL_LIMIT / frame.len());
        assert_eq!(outbox.try_push_event(&event(1, b"x")), Err(Refused::Closed));
    }

    #[tokio::test]
    async fn an_oversized_frame_fits_an_empty_lane_and_close_refuses_everything() {
        let outbox = Outbox::new(4);
        outbox.try_push_event(&event(1, &[0; 100])).unwrap();
        outbox.close();
        assert_eq!(outbox.try_push_event(&event(1, b"x")), Err(Refused::Closed));
        assert_eq!(outbox.push_control(b"x"), Err(Refused::Closed));
        let (mut control, mut data) = taken();
        assert!(!outbox.take(&mut control, &mut data).await);
    }
}
