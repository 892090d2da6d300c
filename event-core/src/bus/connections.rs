//! Connection changes as they happen: a remote connected, a remote left, and why.
//!
//! Every [`ConnectionEvents`](crate::ConnectionEvents) stream has its own queue. Changes
//! are rare (a connection made or lost), so the queues are unbounded: a watcher that reads
//! late still sees every change, in the order the core made them (they are queued under
//! the lock that changes the remote table).

use crate::sync;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// A change of the endpoints this one is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// An endpoint of this name is now connected (through any backend).
    Connected {
        /// Its name.
        remote: String,
    },
    /// The endpoint of this name is gone.
    Disconnected {
        /// Its name.
        remote: String,
        /// Why, as its backend or this endpoint's core said ("connection closed",
        /// "stalled", "protocol violation", ...).
        reason: String,
    },
    /// Events from this endpoint were lost on the way (its backend saw a gap in their
    /// sequence numbers, after a router failover say). Never silent: also logged.
    EventsLost {
        /// The sender.
        remote: String,
        /// The event's name.
        event: String,
        /// How many were lost.
        missed: u64,
    },
}

/// The queues of the streams watching connection changes; `None` once the endpoint
/// stopped.
pub(crate) struct Watchers {
    queues: Mutex<Option<Vec<mpsc::UnboundedSender<ConnectionEvent>>>>,
}

impl Default for Watchers {
    fn default() -> Self {
        Watchers {
            queues: Mutex::new(Some(Vec::new())),
        }
    }
}

impl Watchers {
    /// A new queue; one that is already closed if the endpoint stopped.
    pub(crate) fn watch(&self) -> mpsc::UnboundedReceiver<ConnectionEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(queues) = sync::lock(&self.queues).as_mut() {
            queues.push(tx);
        }
        rx
    }

    /// Queues `event` for every watcher still there.
    pub(crate) fn tell(&self, event: ConnectionEvent) {
        if let Some(queues) = sync::lock(&self.queues).as_mut() {
            queues.retain(|queue| queue.send(event.clone()).is_ok());
        }
    }

    /// Ends every stream, and every later one at once.
    pub(crate) fn close(&self) {
        sync::lock(&self.queues).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_watcher_sees_every_change_in_order_and_gone_ones_are_dropped() {
        let watchers = Watchers::default();
        let mut first = watchers.watch();
        let second = watchers.watch();
        drop(second);
        let connected = ConnectionEvent::Connected { remote: "b".into() };
        let left = ConnectionEvent::Disconnected {
            remote: "b".into(),
            reason: "closed".into(),
        };
        watchers.tell(connected.clone());
        watchers.tell(left.clone());
        assert_eq!(sync::lock(&watchers.queues).as_ref().unwrap().len(), 1);
        assert_eq!(first.try_recv().unwrap(), connected);
        assert_eq!(first.try_recv().unwrap(), left);
        watchers.close();
        assert!(first.try_recv().is_err());
        let mut late = watchers.watch();
        assert!(matches!(
            late.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }
}
