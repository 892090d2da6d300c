//! zenoh's blocking calls, kept off the async runtime.
//!
//! Opening and closing a session block on zenoh's own runtime, which zenoh refuses to do
//! on a current-thread tokio runtime (it panics) and which would stall a worker of a
//! multi-threaded one. Closing also happens implicitly, when the last handle of a session
//! is dropped. So: [`off_runtime`] runs such a call on a thread of its own, and a
//! [`SharedSession`] (the one handle of the session that this crate's tasks, links and
//! callbacks share) drops the session there too.

use std::ops::Deref;

/// Runs `work` on a thread of its own, outside any async runtime.
pub(crate) async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("zenoh-open-close".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .expect("a thread to open or close a zenoh session");
    rx.await.expect("the zenoh open/close thread panicked")
}

/// The endpoint's zenoh session; when the last `Arc` of it goes (on whatever thread),
/// the session is dropped, and so closed, on a thread of its own.
pub(crate) struct SharedSession(Option<zenoh::Session>);

impl SharedSession {
    pub(crate) fn new(session: zenoh::Session) -> SharedSession {
        SharedSession(Some(session))
    }

    /// Closes the session now (the others on the bus see this endpoint leave at once).
    pub(crate) async fn close(&self) {
        let session = (**self).clone();
        let closed = off_runtime(move || zenoh::Wait::wait(session.close())).await;
        if let Err(error) = closed {
            tracing::debug!(%error, "zenoh: closing the session");
        }
    }
}

impl Deref for SharedSession {
    type Target = zenoh::Session;

    fn deref(&self) -> &zenoh::Session {
        self.0
            .as_ref()
            .expect("the session is there until the handle is dropped")
    }
}

impl Drop for SharedSession {
    fn drop(&mut self) {
        if let Some(session) = self.0.take() {
            if let Err(flume::SendError(session)) = closer().send(session) {
                // No thread to close it on: leaked rather than closed here, where zenoh
                // would panic (the process's end closes its sockets).
                tracing::error!("zenoh: no thread to close a session on; left open");
                std::mem::forget(session);
            }
        }
    }
}

/// The thread that drops sessions, started on first use.
fn closer() -> &'static flume::Sender<zenoh::Session> {
    static CLOSER: std::sync::OnceLock<flume::Sender<zenoh::Session>> = std::sync::OnceLock::new();
    CLOSER.get_or_init(|| {
        let (tx, rx) = flume::unbounded::<zenoh::Session>();
        let started = std::thread::Builder::new()
            .name("zenoh-close".into())
            .spawn(move || {
                for session in rx.iter() {
                    drop(session);
                }
            });
        if let Err(error) = started {
            tracing::error!(%error, "zenoh: cannot start the thread that closes sessions");
        }
        tx
    })
}
