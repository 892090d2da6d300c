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
//! **Direct writes.** A request or a control frame of up to 64 KiB that finds the
//! connection idle (both lanes empty, the writer not in the middle of a write) is written
//! by the sender itself, without waiting (a non-blocking write, still under the lock, so
//! nothing can overtake it). If the socket takes none of it, it waits in its lane for the
//! writer, which is woken; if the socket takes part of it, the rest moves to the front of
//! the control lane, which the writer writes first, so no other frame can land in the
//! middle of a frame on the wire.
//! A question asked now and then thus costs one system call, not a hand-over to the
//! writer task and a wake-up; a burst still goes out in batches, since everything
//! appended while a write is on its way waits for the writer. Events always go through the
//! writer: a broadcast loop that wrote each event itself would pay one system call per
//! event where the writer pays one per batch.
//!
//! Closing comes in two forms: [`finish`](Outbox::finish) refuses new frames but lets the
//! writer send what is queued (a graceful stop: nothing accepted is lost), and
//! [`close`](Outbox::close) drops everything (the connection is gone). A control lane
//! that grows past [`CONTROL_LIMIT`] means the peer reads nothing at all: the outbox
//! closes itself, and the connection with it.

use crate::backend::link::{Outgoing, Refused};
use crate::sync;
use crate::transport::TryWrite;
use crate::wire::{self, NameRef};
use bytes::{Buf, BytesMut};
use rustc_hash::FxHasher;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Name numbers below this are kept in a bit set (the core numbers names from 0, so in
/// practice all of them): an event's look-up is then a shift and a mask, not a hash.
const DENSE_NAMES: u32 = 1 << 16;

/// The most control bytes that may wait for one peer.
pub(crate) const CONTROL_LIMIT: usize = 32 * 1024 * 1024;

/// The largest frame a sender writes itself: a larger one goes to the writer, so that
/// nobody copies much into the socket while holding the outbox's lock.
const DIRECT_WRITE_MAX: usize = 64 * 1024;

#[derive(Default)]
struct Lanes {
    control: BytesMut,
    data: BytesMut,
    /// No new frames, nothing more to write.
    closed: bool,
    /// No new frames; what is queued is still written.
    finishing: bool,
    /// The name numbers already defined on this connection (see `wire`: DEFINE_NAME).
    defined: DefinedNames,
    /// The socket, for direct writes: set once the writer runs, unset when it ends.
    socket: Option<Arc<dyn TryWrite>>,
    /// The writer took bytes and has not written them all yet.
    writing: bool,
}

/// The name numbers defined on one connection.
#[derive(Default)]
struct DefinedNames {
    /// Bit `n` is number `n`, for numbers below [`DENSE_NAMES`].
    dense: Vec<u64>,
    sparse: HashSet<u32, BuildHasherDefault<FxHasher>>,
}

impl DefinedNames {
    fn contains(&self, id: u32) -> bool {
        if id < DENSE_NAMES {
            let word = self.dense.get((id / 64) as usize).copied().unwrap_or(0);
            word & (1 << (id % 64)) != 0
        } else {
            self.sparse.contains(&id)
        }
    }

    fn insert(&mut self, id: u32) {
        if id < DENSE_NAMES {
            let index = (id / 64) as usize;
            if self.dense.len() <= index {
                self.dense.resize(index + 1, 0);
            }
            self.dense[index] |= 1 << (id % 64);
        } else {
            self.sparse.insert(id);
        }
    }
}

impl Lanes {
    /// Whether a frame appended now may be written at once: nothing is queued or on its
    /// way, so it overtakes nothing.
    fn idle(&self) -> bool {
        self.socket.is_some() && !self.writing && self.control.is_empty() && self.data.is_empty()
    }

    /// Writes the frame just appended to `lane` (the only bytes queued: see
    /// [`idle`](Self::idle)) if the socket takes it now; `true` when it took all of it.
    ///
    /// A frame larger than [`DIRECT_WRITE_MAX`] is left to the writer. If the socket takes
    /// part of a data frame, the rest moves to the control lane, which the writer writes
    /// first: a control frame appended meanwhile must not land in the middle of it. A
    /// failure leaves the bytes for the writer, which meets it too and ends the
    /// connection.
    fn write_now(&mut self, lane: Lane) -> bool {
        let Some(socket) = &self.socket else {
            return false;
        };
        let buf = match lane {
            Lane::Control => &mut self.control,
            Lane::Data => &mut self.data,
        };
        if buf.len() > DIRECT_WRITE_MAX {
            return false;
        }
        let mut started = false;
        while !buf.is_empty() {
            match socket.try_write_vectored(&[IoSlice::new(buf)]) {
                Ok(0) | Err(_) => break,
                Ok(written) => {
                    buf.advance(written);
                    started = true;
                }
            }
        }
        if buf.is_empty() {
            return true;
        }
        if started && matches!(lane, Lane::Data) {
            // The control lane is empty (the connection was idle).
            std::mem::swap(&mut self.control, &mut self.data);
        }
        false
    }
}

#[derive(Clone, Copy)]
enum Lane {
    Control,
    Data,
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
            let idle = lanes.idle();
            let writer_notified = !lanes.control.is_empty() || !lanes.data.is_empty();
            lanes.control.extend_from_slice(frame);
            if (idle && lanes.write_now(Lane::Control)) || writer_notified {
                return Ok(());
            }
        }
        self.queued.notify_one();
        Ok(())
    }

    /// Appends an EVENT frame unless the lane is full, preceded by the DEFINE_NAME of its
    /// name number if this connection has not seen it yet (atomically: under the same
    /// lock). A frame larger than the limit is accepted into an empty lane, so that no
    /// frame is refused forever. A request that finds the connection idle is written at
    /// once (see the module docs).
    pub(crate) fn try_push_event(&self, event: &Outgoing<'_>) -> Result<(), Refused> {
        let name = NameRef::Id(event.name_id);
        {
            let mut lanes = self.lock();
            if lanes.closed || lanes.finishing {
                return Err(Refused::Closed);
            }
            let define = !lanes.defined.contains(event.name_id);
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
            let direct = event.request_id.is_some() && lanes.idle();
            if define {
                wire::put_define_name(&mut lanes.data, event.name_id, event.name);
                lanes.defined.insert(event.name_id);
            }
            wire::put_event(&mut lanes.data, name, event.request_id, event.body);
            if (direct && lanes.write_now(Lane::Data)) || writer_notified {
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
                // The writer is back for more: what it took before is written.
                lanes.writing = false;
                if !lanes.control.is_empty() || !lanes.data.is_empty() {
                    std::mem::swap(&mut lanes.control, control);
                    let took_data = !lanes.data.is_empty();
                    std::mem::swap(&mut lanes.data, data);
                    lanes.writing = true;
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

    /// Lets senders write through `socket` directly while the writer is idle (the writer
    /// calls it when it starts).
    pub(crate) fn attach_socket(&self, socket: Arc<dyn TryWrite>) {
        let mut lanes = self.lock();
        if !lanes.closed {
            lanes.socket = Some(socket);
        }
    }

    /// Refuses further frames; what is queued is still handed to the writer.
    pub(crate) fn finish(&self) {
        self.lock().finishing = true;
        self.queued.notify_one();
        self.room.notify_waiters();
    }

    /// Called by the writer when it has written its last bytes (or will write no more).
    /// Nobody writes to the socket after this, so dropping the writer's handle on it
    /// closes it.
    pub(crate) fn writer_finished(&self) {
        self.lock().socket = None;
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
            lanes.socket = None;
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

    /// Every message in `bytes`, which must hold whole frames only.
    fn messages(mut bytes: BytesMut) -> Vec<Message> {
        let decoder = FrameDecoder::new(1 << 20);
        let mut messages = Vec::new();
        while let Some(frame) = decoder.decode(&mut bytes).unwrap() {
            messages.push(crate::wire::decode(frame).unwrap());
        }
        decoder.end(&bytes).unwrap();
        messages
    }

    fn taken() -> (BytesMut, BytesMut) {
        (BytesMut::new(), BytesMut::new())
    }

    fn request(body: &[u8]) -> Outgoing<'_> {
        Outgoing {
            request_id: Some(9),
            ..event(1, body)
        }
    }

    async fn attached() -> (Outbox, crate::transport::Peer) {
        let (write, far) = crate::transport::pair();
        let outbox = Outbox::new(1 << 20);
        outbox.attach_socket(Arc::new(write));
        (outbox, far)
    }

    #[tokio::test]
    async fn a_request_or_answer_on_an_idle_connection_is_written_by_its_sender() {
        let (outbox, far) = attached().await;
        outbox.try_push_event(&request(b"ask")).unwrap();
        outbox
            .push_control(&wire::request_dropped(3, 1 << 20).unwrap())
            .unwrap();
        // No writer ran: the senders wrote their frames themselves, and nothing is queued.
        let messages = messages(BytesMut::from(&far.read_now()[..]));
        assert!(
            matches!(
                &messages[..],
                [
                    Message::DefineName { id: 1, .. },
                    Message::Event { request_id: Some(9), body, .. },
                    Message::RequestDropped(3),
                ] if &body[..] == b"ask"
            ),
            "{messages:?}"
        );
        let lanes = outbox.lock();
        assert!(lanes.control.is_empty() && lanes.data.is_empty());
    }

    #[tokio::test]
    async fn events_and_frames_behind_a_write_in_progress_wait_for_the_writer() {
        let (outbox, far) = attached().await;
        // An event is never written by its sender: it waits for the writer.
        outbox.try_push_event(&event(1, b"e1")).unwrap();
        assert!(far.read_now().is_empty());
        // The writer took it and is writing: a request must not overtake it.
        let (mut control, mut data) = taken();
        assert!(outbox.take(&mut control, &mut data).await);
        outbox.try_push_event(&request(b"ask")).unwrap();
        assert!(far.read_now().is_empty());
        // Behind a queued frame, a request waits too.
        outbox.try_push_event(&request(b"ask again")).unwrap();
        let (mut control2, mut data2) = taken();
        assert!(outbox.take(&mut control2, &mut data2).await);
        let bodies: Vec<_> = frames(data2).into_iter().map(|frame| frame.2).collect();
        assert_eq!(bodies, vec![b"ask".to_vec(), b"ask again".to_vec()]);
        assert_eq!(frames(data).last().unwrap().2, b"e1".to_vec());
    }

    #[tokio::test]
    async fn what_a_full_socket_does_not_take_stays_first_in_line_for_the_writer() {
        let (write, far) = crate::transport::pair();
        // Fill the socket until it takes nothing more.
        let filler = vec![0u8; 64 * 1024];
        let mut filled = 0;
        loop {
            match write.try_write_vectored(&[std::io::IoSlice::new(&filler)]) {
                Ok(n) => filled += n,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => panic!("{error}"),
            }
        }
        let outbox = Outbox::new(1 << 20);
        outbox.attach_socket(Arc::new(write));
        outbox.try_push_event(&request(b"first")).unwrap();
        outbox.try_push_event(&request(b"second")).unwrap();
        // Both wait, whole and in order, for the writer.
        let (mut control, mut data) = taken();
        assert!(outbox.take(&mut control, &mut data).await);
        let bodies: Vec<_> = frames(data).into_iter().map(|frame| frame.2).collect();
        assert_eq!(bodies, vec![vec![], b"first".to_vec(), b"second".to_vec()]);
        assert!(filled > 0);
        drop(far);
    }

    #[tokio::test]
    async fn a_frame_the_socket_takes_in_part_is_finished_before_any_other() {
        let (outbox, far) = attached().await;
        // Larger than the socket's buffer, so the direct write can only be partial, but
        // not larger than a sender writes itself.
        let body = vec![7u8; DIRECT_WRITE_MAX - 100];
        let mut requests = 0;
        // Fill until a request is written only in part (what the peer has not read
        // stays in the socket).
        loop {
            outbox.try_push_event(&request(&body)).unwrap();
            requests += 1;
            let lanes = outbox.lock();
            if !lanes.control.is_empty() || !lanes.data.is_empty() {
                break;
            }
            assert!(requests < 1000, "the socket never filled");
        }
        // An answer queued now must come after the whole request on the wire.
        let answer = wire::request_dropped(3, 1 << 20).unwrap();
        outbox.push_control(&answer).unwrap();
        let (mut control, mut data) = taken();
        assert!(outbox.take(&mut control, &mut data).await);
        // What the peer reads: the socket's bytes, then what the writer writes (control,
        // then data).
        let mut wire_bytes = BytesMut::from(&far.read_now()[..]);
        wire_bytes.extend_from_slice(&control);
        wire_bytes.extend_from_slice(&data);
        let messages = messages(wire_bytes);
        assert!(matches!(messages[0], Message::DefineName { .. }));
        let events = messages[1..messages.len() - 1].iter();
        assert_eq!(events.len(), requests);
        for message in events {
            assert!(
                matches!(message, Message::Event { body: got, .. } if got[..] == body[..]),
                "a request was cut: {message:?}"
            );
        }
        assert_eq!(messages.last(), Some(&Message::RequestDropped(3)));
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

    #[test]
    fn defined_names_hold_exactly_the_numbers_inserted() {
        let mut defined = DefinedNames::default();
        let ids = [0, 63, 64, 65, DENSE_NAMES - 1, DENSE_NAMES, u32::MAX];
        for &id in &ids {
            assert!(!defined.contains(id));
            defined.insert(id);
            assert!(defined.contains(id));
        }
        for id in [
            1,
            62,
            66,
            127,
            128,
            DENSE_NAMES - 2,
            DENSE_NAMES + 1,
            u32::MAX - 1,
        ] {
            assert!(!defined.contains(id), "{id} was never defined");
        }
        assert!(ids.iter().all(|&id| defined.contains(id)));
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
