//! A [`RemoteLink`] for the core's unit tests: it records what it was handed, and can be
//! made full.

use crate::backend::link::{BoxFuture, Outgoing, Refused, RemoteLink};
use crate::sync;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub(crate) struct FakeLink {
    /// Events and requests taken: name and request id.
    pub sent: Mutex<Vec<(&'static str, Option<u64>)>>,
    /// Answers and drop notices, as `respond ID NAME BODY` and `dropped ID`.
    pub control: Mutex<Vec<String>>,
    /// Refuse events with `Refused::Full`.
    pub full: AtomicBool,
}

impl RemoteLink for FakeLink {
    fn try_send(&self, event: &Outgoing<'_>) -> Result<(), Refused> {
        if self.full.load(Ordering::SeqCst) {
            return Err(Refused::Full);
        }
        sync::lock(&self.sent).push((event.name, event.request_id));
        Ok(())
    }

    fn send<'a>(
        &'a self,
        event: &'a Outgoing<'a>,
        _: Duration,
    ) -> BoxFuture<'a, Result<(), Refused>> {
        Box::pin(async move { self.try_send(event) })
    }

    fn respond(&self, request_id: u64, name: &'static str, body: &[u8]) -> Result<(), Refused> {
        sync::lock(&self.control).push(format!("respond {request_id} {name} {body:?}"));
        Ok(())
    }

    fn drop_request(&self, request_id: u64) {
        sync::lock(&self.control).push(format!("dropped {request_id}"));
    }

    fn finish(&self) {}

    fn drained(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn close(&self) {}
}
