//! The Unix domain socket transport.
//!
//! * The socket is bound under a temporary name, made owner-only (0600), then linked into
//!   place (a link never replaces an existing file), so the final path never exists with
//!   looser permissions and two endpoints binding at once cannot both win.
//! * Both sides check the peer's uid (`SO_PEERCRED`) and refuse a different user.
//! * A socket file at the path is probed before binding: if nothing answers it is a
//!   leftover of a crashed process and is replaced; if an endpoint answers, binding fails
//!   (a live socket is never stolen). A file that is not a socket is never removed.
//! * On stop, the file is removed only if it is still the one this endpoint bound.
//! * Probing, replacing and removing take turns per directory (an advisory lock on the
//!   directory), so endpoints racing to serve one name over a stale file make exactly one
//!   winner; the others get `AddressInUse`.

use super::link::{BindError, Link, Listener};
use super::socket::{self, SocketReader, SocketWriter};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::{UnixListener, UnixStream};

/// Identity of a bound socket file (device, inode).
type SocketId = (u64, u64);

/// The socket file a listener was bound to; dropping it removes the file, if it is still
/// the one bound (a later endpoint may have replaced a file this one left).
pub(crate) struct BoundSocket {
    path: PathBuf,
    id: SocketId,
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        remove_socket(&self.path, self.id);
    }
}

/// Holds the directory's lock: endpoints binding (or removing) a socket in one directory
/// take turns, so that two of them can never both find a file stale and both replace it.
/// An advisory lock on the directory itself: no lock file to leave behind, and released
/// by the kernel if the process dies.
fn lock_directory(path: &Path) -> io::Result<std::fs::File> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let lock = std::fs::File::open(dir)?;
    lock.lock()?;
    Ok(lock)
}

/// Binds a listener at `path`, replacing a stale socket file.
pub(crate) fn bind(path: &Path) -> Result<(SocketListener, BoundSocket), BindError> {
    let _turn = lock_directory(path).map_err(BindError::Io)?;
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(BindError::InUse);
            }
            tracing::info!(path = %path.display(), "replacing a stale socket file");
            std::fs::remove_file(path).map_err(BindError::Io)?;
        }
        Ok(_) => {
            return Err(BindError::Io(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            )))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(BindError::Io(error)),
    }
    let temporary = temporary_path(path);
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary).map_err(BindError::Io)?;
    // A hard link, unlike a rename, never replaces: if another endpoint bound the path
    // since the probe above, this one fails instead of stealing it.
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::hard_link(&temporary, path))
        .and_then(|()| std::fs::symlink_metadata(path));
    let _ = std::fs::remove_file(&temporary);
    match placed {
        Ok(metadata) => Ok((
            SocketListener(listener),
            BoundSocket {
                path: path.to_owned(),
                id: (metadata.dev(), metadata.ino()),
            },
        )),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Err(BindError::InUse),
        Err(error) => Err(BindError::Io(error)),
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(".{file}.{}.{nanos}.tmp", std::process::id()))
}

/// Removes the socket file if it is still the one identified by `id`.
fn remove_socket(path: &Path, id: SocketId) {
    let _turn = lock_directory(path);
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if (metadata.dev(), metadata.ino()) == id {
            if let Err(error) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), %error, "cannot remove the socket file");
            }
        }
    }
}

/// Connects to `path`, waiting up to `timeout` for the socket to appear.
pub(crate) async fn connect(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(2);
    loop {
        match UnixStream::connect(path).await {
            Ok(stream) => return Ok(stream),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::WouldBlock
                ) =>
            {
                if started.elapsed() >= timeout {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, error));
                }
                // Polling the file system: there is no notification for "a socket
                // appeared" that works for every directory.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(50));
            }
            Err(error) => return Err(error),
        }
    }
}

impl Link for UnixStream {
    type Read = SocketReader;
    type Write = SocketWriter;

    fn check_peer(&self) -> Result<(), String> {
        check_peer(self)
    }

    /// Moves the socket from tokio's registration (reading and writing) to the halves'
    /// (reading only; see [`socket`]).
    fn split(self) -> io::Result<(SocketReader, SocketWriter)> {
        // `into_std` leaves the socket non-blocking, as the halves need it.
        socket::split(self.into_std()?.into())
    }
}

/// The far end of a [`pair`], read with plain non-blocking system calls.
#[cfg(test)]
pub(crate) struct Peer(std::os::unix::net::UnixStream);

#[cfg(test)]
impl Peer {
    /// Everything that can be read now, without waiting.
    pub(crate) fn read_now(&self) -> Vec<u8> {
        use std::io::Read;
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = (&self.0).read(&mut chunk) {
            bytes.extend_from_slice(&chunk[..n]);
        }
        bytes
    }
}

/// A connected pair, for tests: a write half, and its peer.
#[cfg(test)]
pub(crate) fn pair() -> (SocketWriter, Peer) {
    let (near, far) = std::os::unix::net::UnixStream::pair().unwrap();
    near.set_nonblocking(true).unwrap();
    far.set_nonblocking(true).unwrap();
    let (_read, write) = socket::split(near.into()).unwrap();
    (write, Peer(far))
}

/// The listening socket of a served endpoint.
pub(crate) struct SocketListener(UnixListener);

impl Listener for SocketListener {
    type Link = UnixStream;

    async fn accept(&mut self) -> io::Result<UnixStream> {
        self.0.accept().await.map(|(stream, _)| stream)
    }
}

/// Refuses a peer that runs as another user.
fn check_peer(stream: &UnixStream) -> Result<(), String> {
    let credentials = stream
        .peer_cred()
        .map_err(|error| format!("cannot read peer credentials: {error}"))?;
    let own = rustix::process::geteuid().as_raw();
    if credentials.uid() == own {
        Ok(())
    } else {
        Err(format!(
            "peer runs as uid {} but this endpoint as uid {own}",
            credentials.uid()
        ))
    }
}
