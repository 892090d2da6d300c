//! The futures that [`Endpoint::broadcast`](super::Endpoint::broadcast) and
//! [`Endpoint::request`](super::Endpoint::request) return.
//!
//! # Why named futures
//!
//! An `async fn broadcast<E: Event>` reports a type that is not an event three times:
//! at the argument, at the call (the returned future's type needs the bound too) and at
//! the `.await` (rust-lang/rust#156080). These types carry no bound, and neither does
//! their `Future` impl: only the method's own bound can fail, so a mistake is reported
//! once, at the argument. The work that needs the event's type is done by a function
//! the method picks while the bound is known, and the future keeps only its pointer.
//!
//! # Semantics
//!
//! The same as the `async fn`s they stand for: nothing happens until the first poll;
//! dropping the future gives up what is left (a broadcast dropped while it waits for
//! room in one remote's queue still reached those that had room); and it is `Send`
//! when the event is.
//!
//! A broadcast that finds room everywhere (the usual case) completes in its first poll
//! without allocating; one that must wait for room puts the waiting in a box. A request
//! always waits for its answer, and is boxed once.

use crate::backend::link::BoxFuture;
use crate::bus::routing::UnfinishedBroadcast;
use crate::bus::Bus;
use crate::config::BroadcastConfig;
use crate::error::Error;
use crate::event::Request;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The part of a broadcast that never waits, for one event type.
type StartBroadcast<E> =
    fn(&Bus, E, &BroadcastConfig) -> Result<Option<UnfinishedBroadcast>, Error>;

/// The future of [`Endpoint::broadcast`](super::Endpoint::broadcast) and
/// [`broadcast_with`](super::Endpoint::broadcast_with): `.await` it.
#[must_use = "a broadcast does nothing unless `.await`ed"]
pub struct BroadcastFuture<'a, E> {
    state: BroadcastState<'a, E>,
}

enum BroadcastState<'a, E> {
    Start {
        bus: &'a Bus,
        event: E,
        config: BroadcastConfig,
        start: StartBroadcast<E>,
    },
    Waiting {
        waiting: BoxFuture<'a, Result<(), Error>>,
    },
    Done,
}

impl<'a, E> BroadcastFuture<'a, E> {
    pub(super) fn new(
        bus: &'a Bus,
        event: E,
        config: BroadcastConfig,
        start: StartBroadcast<E>,
    ) -> BroadcastFuture<'a, E> {
        BroadcastFuture {
            state: BroadcastState::Start {
                bus,
                event,
                config,
                start,
            },
        }
    }
}

// The event is never pinned: it is moved out by value on the first poll, and what waits
// afterwards is pinned in its own box.
impl<E> Unpin for BroadcastFuture<'_, E> {}

impl<E> Future for BroadcastFuture<'_, E> {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match std::mem::replace(&mut this.state, BroadcastState::Done) {
                BroadcastState::Start {
                    bus,
                    event,
                    config,
                    start,
                } => match start(bus, event, &config) {
                    Ok(None) => return Poll::Ready(Ok(())),
                    Err(error) => return Poll::Ready(Err(error)),
                    Ok(Some(unfinished)) => {
                        this.state = BroadcastState::Waiting {
                            waiting: Box::pin(bus.finish_broadcast(unfinished)),
                        };
                    }
                },
                BroadcastState::Waiting { mut waiting } => {
                    return match waiting.as_mut().poll(cx) {
                        Poll::Ready(result) => Poll::Ready(result),
                        Poll::Pending => {
                            this.state = BroadcastState::Waiting { waiting };
                            Poll::Pending
                        }
                    };
                }
                BroadcastState::Done => panic!("`BroadcastFuture` polled after it completed"),
            }
        }
    }
}

impl<E> std::fmt::Debug for BroadcastFuture<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            BroadcastState::Start { .. } => "not started",
            BroadcastState::Waiting { .. } => "waiting for room",
            BroadcastState::Done => "done",
        };
        f.debug_struct("BroadcastFuture")
            .field("state", &state)
            .finish()
    }
}

/// The whole of a request, for one request type (with its response type `T`).
type StartRequest<'a, R, T> =
    fn(&'a Arc<Bus>, R, BroadcastConfig, Option<Duration>) -> BoxFuture<'a, Result<T, Error>>;

/// The future of [`Endpoint::request`](super::Endpoint::request) and its variants:
/// `.await` it for the answer, of type `T` (the request's `Response`).
#[must_use = "a request does nothing unless `.await`ed"]
pub struct RequestFuture<'a, R, T> {
    state: RequestState<'a, R, T>,
}

enum RequestState<'a, R, T> {
    Start {
        bus: &'a Arc<Bus>,
        request: R,
        config: BroadcastConfig,
        timeout: Option<Duration>,
        start: StartRequest<'a, R, T>,
    },
    Asking {
        asking: BoxFuture<'a, Result<T, Error>>,
    },
    Done,
}

impl<'a, R, T> RequestFuture<'a, R, T> {
    pub(super) fn new(
        bus: &'a Arc<Bus>,
        request: R,
        config: BroadcastConfig,
        timeout: Option<Duration>,
        start: StartRequest<'a, R, T>,
    ) -> RequestFuture<'a, R, T> {
        RequestFuture {
            state: RequestState::Start {
                bus,
                request,
                config,
                timeout,
                start,
            },
        }
    }
}

// As for `BroadcastFuture`: the request is moved out on the first poll, never pinned.
impl<R, T> Unpin for RequestFuture<'_, R, T> {}

impl<R, T> Future for RequestFuture<'_, R, T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut asking = match std::mem::replace(&mut this.state, RequestState::Done) {
            RequestState::Start {
                bus,
                request,
                config,
                timeout,
                start,
            } => start(bus, request, config, timeout),
            RequestState::Asking { asking } => asking,
            RequestState::Done => panic!("`RequestFuture` polled after it completed"),
        };
        match asking.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => {
                this.state = RequestState::Asking { asking };
                Poll::Pending
            }
        }
    }
}

impl<R, T> std::fmt::Debug for RequestFuture<'_, R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            RequestState::Start { .. } => "not started",
            RequestState::Asking { .. } => "waiting for the answer",
            RequestState::Done => "done",
        };
        f.debug_struct("RequestFuture")
            .field("state", &state)
            .finish()
    }
}

/// [`StartBroadcast`] for `E`.
pub(super) fn start_broadcast<E: crate::event::Event>(
    bus: &Bus,
    event: E,
    config: &BroadcastConfig,
) -> Result<Option<UnfinishedBroadcast>, Error> {
    bus.start_broadcast(event, config)
}

/// [`StartRequest`] for `R`.
pub(super) fn start_request<'a, R: Request>(
    bus: &'a Arc<Bus>,
    request: R,
    config: BroadcastConfig,
    timeout: Option<Duration>,
) -> BoxFuture<'a, Result<R::Response, Error>> {
    Box::pin(async move {
        let Some(timeout) = timeout else {
            return bus.request(request, &config).await;
        };
        match tokio::time::timeout(timeout, bus.request(request, &config)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                endpoint: bus.name.to_string(),
                event: R::NAME,
                timeout,
            }),
        }
    })
}
