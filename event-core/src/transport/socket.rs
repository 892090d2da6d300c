//! The two halves of a connected socket, watched by the runtime for reading only.
//!
//! **Why not tokio's halves.** tokio's `UnixStream` asks epoll for both kinds of
//! readiness for as long as it lives. A socket with room is "writable", and the kernel
//! says so again each time the peer reads bytes this side wrote: every frame this endpoint
//! sends wakes it once more, for nothing, when the peer takes it. On one core, where the
//! woken process takes the core from the peer, that is a context switch in each process
//! on top of the one per round trip the exchange needs (`perf stat` counted 1.9 per
//! process per request for tokio's halves, 1.0 for these), and the benchmark's
//! `ipc-request` p50 went from 19.1 to 13.6 µs.
//!
//! **The price.** When the two processes run on different cores, that spare wake-up
//! happened to start waking a process a little before the answer it waits for arrived,
//! hiding part of an idle core's wake-up time. Back-to-back requests across cores lose
//! that head start (`event-bench --scenario ipc-request --placement unpinned` shows it);
//! requests spaced out in time never had it. And a connection holds two descriptors of
//! its socket instead of one (see below), so a process reaches its descriptor limit
//! with half as many connections.
//!
//! **What these halves do instead.**
//! - The socket is registered for reading only.
//! - A write goes straight to the socket (a non-blocking `sendmsg`), which takes it
//!   whenever it has room, nearly always.
//! - Only a write that finds the socket full asks to hear about room, through [`Room`]:
//!   a registration for writing of a second descriptor of the same socket (made when the
//!   halves are, so that waiting never needs a new descriptor), which lives while the
//!   writer waits and ends once the write went through or failed (a stream write given
//!   up while it waits keeps it until the half is dropped).
//! - One write waits for room at a time: epoll keeps one registration per descriptor.
//!   The handshake's stream writes wait before the connection's writer task exists;
//!   after them, only that task waits.
//!
//! **Guarantees.** Back-pressure is what it was: a writer whose bytes do not fit waits
//! until the socket takes bytes again. No wake-up is lost, because a registration made on
//! a socket that already has room reports it at once. Reads behave as tokio's: a read
//! returns what the socket holds, or waits; an end of stream reads as 0 bytes.
//!
//! **Closing.** Dropping the write half shuts the socket down for writing, so the peer
//! reads an end of stream (as with tokio's halves). The descriptors are closed once both
//! halves and every [`Room`] are gone.

use super::link::{TryWrite, WriteHalf};
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendFlags, Shutdown};
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A connected socket: registered with the runtime for reading, and a second descriptor
/// of it for [`Room`] to register for writing.
struct Socket {
    readable: AsyncFd<Held>,
    second: OwnedFd,
}

impl Socket {
    fn fd(&self) -> &Held {
        self.readable.get_ref()
    }
}

/// The half a connection reads from.
pub(crate) struct SocketReader(Arc<Socket>);

/// The half a connection writes to: directly, from any task ([`TryWrite`]), or as a
/// stream during the handshake ([`AsyncWrite`]).
pub(crate) struct SocketWriter {
    socket: Arc<Socket>,
    /// The watch for room of a stream write that found the socket full.
    room: Option<Room>,
}

/// Splits a connected, non-blocking socket into its halves, registering it for reading.
/// Needs a tokio runtime with I/O enabled.
pub(crate) fn split(socket: OwnedFd) -> io::Result<(SocketReader, SocketWriter)> {
    let second = socket.try_clone()?;
    let readable = register(Held::Own(socket), Interest::READABLE)?;
    let socket = Arc::new(Socket { readable, second });
    let writer = SocketWriter {
        socket: socket.clone(),
        room: None,
    };
    Ok((SocketReader(socket), writer))
}

impl AsyncRead for SocketReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let wanted = buf.remaining();
        if wanted == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let mut ready = ready!(self.0.readable.poll_read_ready(cx))?;
            match recv_into(ready.get_inner(), buf) {
                Ok(read) => {
                    // A read that did not fill the room emptied the socket: the next one
                    // waits for new bytes instead of asking the kernel first. (A newer
                    // readiness event than this guard's is kept; an end of stream stays.)
                    if read > 0 && read < wanted {
                        ready.clear_ready();
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => ready.clear_ready(),
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

/// What a registration holds: a descriptor that stays open, and the same, for as long
/// as the registration holds it. [`register`]'s safety rests on every variant doing so:
/// never add one that does not (a borrowed or a raw descriptor). `Socket::readable`
/// always holds `Own` (a `Second` there would keep its own socket alive).
enum Held {
    /// The socket's first descriptor, owned.
    Own(OwnedFd),
    /// The socket's second descriptor, kept open by the `Arc` (see [`Room`]).
    Second(Arc<Socket>),
}

impl AsFd for Held {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Held::Own(fd) => fd.as_fd(),
            Held::Second(socket) => socket.second.as_fd(),
        }
    }
}

impl AsRawFd for Held {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// Registers `socket` with the runtime for `interest`.
///
/// One of the crate's two uses of `unsafe` (the other is [`recv_into`]): tokio's safe
/// constructors are deprecated, because a borrowed descriptor could be closed under the
/// registration.
#[allow(unsafe_code)]
fn register(socket: Held, interest: Interest) -> io::Result<AsyncFd<Held>> {
    // SAFETY: every `Held` owns its descriptor or holds what owns it, so the descriptor
    // stays open, and the same, until the `AsyncFd` drops `socket` (after deregistering
    // it); this module never swaps what an `AsyncFd` holds (no `get_mut`).
    unsafe { AsyncFd::register_with_interest(socket, interest) }.map_err(Into::into)
}

/// Receives into the unfilled part of `buf`, marking what the kernel wrote as filled.
///
/// The crate's other `unsafe`: `ReadBuf` hands out its uninitialised tail only through
/// an unsafe method, and taking bytes as initialised is unsafe too. The alternative,
/// zeroing the tail before each read, costs a memset of the read buffer (64 KiB) per
/// read.
#[allow(unsafe_code)]
fn recv_into(socket: &Held, buf: &mut ReadBuf<'_>) -> io::Result<usize> {
    // SAFETY: `recv` only writes into the slice; nothing in it is de-initialised.
    let unfilled = unsafe { buf.unfilled_mut() };
    // `DONTWAIT`: never a blocked runtime thread, even if the socket were blocking.
    let ((received, _), _) = rustix::net::recv(socket, unfilled, RecvFlags::DONTWAIT)?;
    let read = received.len();
    // SAFETY: rustix returns, as `received`, the first `read` bytes of the slice, written
    // by the kernel.
    unsafe { buf.assume_init(read) };
    buf.advance(read);
    Ok(read)
}

/// Sends what the socket takes now (`DONTWAIT`, as [`recv_into`]). `MSG_NOSIGNAL`: a
/// peer that has gone is an error (`BrokenPipe`), never a signal that would end a process
/// that did not ignore it. Callers pass a few buffers, far below the system's limit
/// (`IOV_MAX`, 1024 on Linux).
fn send(socket: &Socket, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let mut no_control = SendAncillaryBuffer::default();
    Ok(rustix::net::sendmsg(
        socket.fd(),
        bufs,
        &mut no_control,
        SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
    )?)
}

impl TryWrite for SocketWriter {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        send(&self.socket, bufs)
    }
}

impl WriteHalf for SocketWriter {
    /// One caller at a time (the connection's writer task), and not while a stream write
    /// of this half waits or after one was given up while it waited (until the half is
    /// dropped): the socket's second descriptor has one registration at most.
    async fn writable(&self) -> io::Result<()> {
        Room::watch(&self.socket)?.wait().await
    }
}

impl AsyncWrite for SocketWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match send(&self.socket, &[IoSlice::new(bytes)]) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    let this = &mut *self;
                    // Kept across `Pending`, and until a write goes through. A write
                    // given up while it waits (a handshake that timed out) leaves it
                    // until the half is dropped, which follows at once.
                    let room = match &mut this.room {
                        Some(room) => room,
                        None => this.room.insert(Room::watch(&this.socket)?),
                    };
                    if let Err(error) = ready!(room.poll_wait(cx)) {
                        this.room = None;
                        return Poll::Ready(Err(error));
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => {
                    self.room = None;
                    return Poll::Ready(result);
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(shut_down(&self.socket))
    }
}

impl Drop for SocketWriter {
    fn drop(&mut self) {
        // The peer may be gone already (`ENOTCONN`): nothing to report.
        let _ = shut_down(&self.socket);
    }
}

fn shut_down(socket: &Socket) -> io::Result<()> {
    Ok(rustix::net::shutdown(socket.fd(), Shutdown::Write)?)
}

/// A watch for room on a socket that was found full: its second descriptor, registered
/// for writing (epoll keeps one registration per descriptor, so the first one's stays as
/// it is). Dropping it ends the registration; the descriptor stays for the next watch.
struct Room(AsyncFd<Held>);

impl Room {
    fn watch(socket: &Arc<Socket>) -> io::Result<Room> {
        Ok(Room(register(
            Held::Second(socket.clone()),
            Interest::WRITABLE,
        )?))
    }

    /// Resolves once the socket has room (a new registration reports room the socket
    /// already has at once), or failed.
    async fn wait(self) -> io::Result<()> {
        self.0.writable().await.map(drop)
    }

    /// Resolves once the socket has room, or failed. Consumes the readiness it reports,
    /// so that the next poll of the same watch waits for room freed after this one.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.0.poll_write_ready(cx))?.clear_ready();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn connected() -> ((SocketReader, SocketWriter), UnixStream) {
        let (near, far) = UnixStream::pair().unwrap();
        near.set_nonblocking(true).unwrap();
        (split(near.into()).unwrap(), far)
    }

    /// Within a deadline that turns a hang into a failure.
    async fn soon<F: std::future::Future>(what: &str, future: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(10), future)
            .await
            .unwrap_or_else(|_| panic!("{what}: no result within 10 s"))
    }

    #[tokio::test]
    async fn reads_what_arrives_then_the_end_of_stream() {
        let ((mut reader, _writer), mut far) = connected();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let peer = std::thread::spawn(move || {
            use std::io::Write;
            far.write_all(b"first").unwrap();
            rx.blocking_recv().unwrap();
            far.write_all(b"second").unwrap();
        });
        let mut buf = vec![0; 64];
        let read = soon("first read", reader.read(&mut buf)).await.unwrap();
        assert_eq!(&buf[..read], b"first");
        tx.send(()).unwrap();
        let mut rest = Vec::new();
        soon("read to the end", reader.read_to_end(&mut rest))
            .await
            .unwrap();
        assert_eq!(rest, b"second");
        peer.join().unwrap();
    }

    /// Writes directly until the socket takes nothing more; how much it took.
    fn fill(writer: &SocketWriter) -> usize {
        let chunk = vec![7u8; 64 * 1024];
        let mut sent = 0;
        loop {
            match writer.try_write_vectored(&[IoSlice::new(&chunk)]) {
                Ok(written) => sent += written,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return sent,
                Err(error) => panic!("write failed: {error}"),
            }
        }
    }

    /// A thread that reads `len` bytes from `far` once told to, and hands them back with
    /// `far` (still open: an end of stream would wake the writer too).
    fn drain_later(
        mut far: UnixStream,
        len: usize,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<(Vec<u8>, UnixStream)>,
    ) {
        let (go, told) = tokio::sync::oneshot::channel::<()>();
        let drain = std::thread::spawn(move || {
            told.blocking_recv().unwrap();
            far.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = vec![0u8; len];
            far.read_exact(&mut got).unwrap();
            (got, far)
        });
        (go, drain)
    }

    /// A waker that says when it was woken.
    #[derive(Default)]
    struct Woken(tokio::sync::Notify);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.notify_one();
        }
    }

    /// Polls `future` once, with a waker of its own: pending, it must be woken once the
    /// peer drains (told by `go`), and then be done. Polling again without that wake-up
    /// would retry the write and hide a watch for room that never fires.
    async fn woken_when_drained<F: std::future::Future<Output = io::Result<()>>>(
        future: F,
        go: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut future = std::pin::pin!(future);
        let woken = Arc::new(Woken::default());
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(
            future.as_mut().poll(&mut cx).is_pending(),
            "a full socket had room"
        );
        // Nothing drains yet: no wake-up, even once the runtime has looked at its events.
        let early = tokio::time::timeout(Duration::from_millis(50), woken.0.notified()).await;
        assert!(early.is_err(), "woken while the socket was still full");
        go.send(()).unwrap();
        soon("a wake-up once the peer drains", woken.0.notified()).await;
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(result) => result.unwrap(),
            Poll::Pending => panic!("woken, but still waiting"),
        }
    }

    #[tokio::test]
    async fn a_writer_waiting_for_room_is_woken_when_the_peer_drains() {
        let ((_reader, writer), far) = connected();
        let sent = fill(&writer);
        let (go, drain) = drain_later(far, sent);
        woken_when_drained(writer.writable(), go).await;
        writer.try_write_vectored(&[IoSlice::new(b"more")]).unwrap();
        assert!(drain.join().unwrap().0.iter().all(|&byte| byte == 7));
    }

    #[tokio::test]
    async fn a_stream_write_into_a_full_socket_waits_then_goes_through() {
        let ((_reader, mut writer), far) = connected();
        let sent = fill(&writer);
        let (go, drain) = drain_later(far, sent);
        woken_when_drained(writer.write_all(b"after"), go).await;
        let (got, mut far) = drain.join().unwrap();
        assert!(got.iter().all(|&byte| byte == 7));
        let mut after = [0u8; 5];
        far.read_exact(&mut after).unwrap();
        assert_eq!(&after, b"after");
    }

    #[tokio::test]
    async fn a_writer_waits_for_room_again_after_a_wait() {
        let ((_reader, writer), mut far) = connected();
        for round in 0..3 {
            let sent = fill(&writer);
            let (go, drain) = drain_later(far, sent);
            woken_when_drained(writer.writable(), go).await;
            let (got, back) = drain.join().unwrap();
            assert!(got.iter().all(|&byte| byte == 7), "round {round}");
            far = back;
        }
    }

    #[tokio::test]
    async fn a_stream_write_that_waited_leaves_no_watch_behind() {
        let (near, far) = UnixStream::pair().unwrap();
        near.set_nonblocking(true).unwrap();
        let inode = inode_of(&near);
        let (_reader, mut writer) = split(near.into()).unwrap();
        let sent = fill(&writer);
        let (go, drain) = drain_later(far, sent);
        woken_when_drained(writer.write_all(b"after"), go).await;
        let (_, mut far) = drain.join().unwrap();
        far.read_exact(&mut [0u8; 5]).unwrap();
        assert!(
            !watched(inode, EPOLLOUT),
            "the stream write's watch for room outlived it"
        );
        // The next wait for room registers afresh, which a watch left behind would refuse.
        let sent = fill(&writer);
        let (go, drain) = drain_later(far, sent);
        woken_when_drained(writer.writable(), go).await;
        drain.join().unwrap();
    }

    fn inode_of(socket: &UnixStream) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::File::from(OwnedFd::from(socket.try_clone().unwrap()))
            .metadata()
            .unwrap()
            .ino()
    }

    const EPOLLIN: u32 = 0x1;
    const EPOLLOUT: u32 = 0x4;

    /// Whether some epoll registration of the socket `inode` in this process asks for
    /// any of the events in `mask`.
    fn watched(inode: u64, mask: u32) -> bool {
        registrations(inode).iter().any(|events| events & mask != 0)
    }

    /// The event masks of every epoll registration of the socket `inode` in this
    /// process, from `/proc/self/fdinfo` (each epoll descriptor lists its targets; the
    /// runtime holds two descriptors of its epoll, so each registration shows twice).
    fn registrations(inode: u64) -> Vec<u32> {
        let mut masks = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fdinfo").unwrap() {
            let Ok(info) = std::fs::read_to_string(entry.unwrap().path()) else {
                continue;
            };
            for line in info.lines().filter(|line| line.starts_with("tfd:")) {
                let words: Vec<&str> = line.split_whitespace().collect();
                let events = words.iter().position(|word| *word == "events:");
                let ino = words.iter().find_map(|word| word.strip_prefix("ino:"));
                if let (Some(at), Some(ino)) = (events, ino) {
                    if u64::from_str_radix(ino, 16) == Ok(inode) {
                        masks.push(u32::from_str_radix(words[at + 1], 16).unwrap());
                    }
                }
            }
        }
        masks
    }

    #[tokio::test]
    async fn the_socket_is_watched_for_room_only_while_a_write_waits() {
        let (near, mut far) = UnixStream::pair().unwrap();
        near.set_nonblocking(true).unwrap();
        let inode = inode_of(&near);
        let (_reader, writer) = split(near.into()).unwrap();
        assert!(watched(inode, EPOLLIN), "registered for reading");
        assert!(
            !watched(inode, EPOLLOUT),
            "registered for room while nothing waits"
        );
        writer.try_write_vectored(&[IoSlice::new(b"x")]).unwrap();
        far.read_exact(&mut [0; 1]).unwrap();
        let room = Room::watch(&writer.socket).unwrap();
        assert!(watched(inode, EPOLLOUT), "a waiting write watches for room");
        soon("room on an empty socket", room.wait()).await.unwrap();
        assert!(
            !watched(inode, EPOLLOUT),
            "the watch for room outlived the wait"
        );
        assert!(watched(inode, EPOLLIN), "still registered for reading");
    }

    #[tokio::test]
    async fn dropping_the_writer_ends_the_peers_stream() {
        let ((_reader, writer), mut far) = connected();
        far.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        writer.try_write_vectored(&[IoSlice::new(b"bye")]).unwrap();
        drop(writer);
        let mut got = Vec::new();
        far.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bye");
    }

    #[tokio::test]
    async fn a_write_to_a_peer_that_has_gone_is_a_broken_pipe() {
        let ((_reader, writer), far) = connected();
        drop(far);
        let error = writer
            .try_write_vectored(&[IoSlice::new(b"anyone?")])
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }
}
