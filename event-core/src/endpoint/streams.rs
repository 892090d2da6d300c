//! What a subscriber holds: [`EventStream`], [`RequestStream`] and [`Subscription`].
//! Each unsubscribes when dropped.

use super::inbound::InboundRequest;
use crate::bus::connections::ConnectionEvent;
use crate::bus::queue::QueueReceiver;
use crate::bus::topics::Delivery;
use crate::bus::Bus;
use crate::event::{Event, Request};
use futures_core::Stream;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Removes a subscriber from its endpoint when dropped.
pub(crate) struct SubscriptionGuard {
    pub bus: Arc<Bus>,
    pub name: &'static str,
    pub id: u64,
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.bus.remove_subscriber(self.name, self.id);
    }
}

/// The events of type `E` delivered to this endpoint, from [`Endpoint::stream`].
///
/// A [`Stream`] of `Arc<E>`: every local subscriber shares the same `Arc`. It is
/// registered when `stream()` returns; dropping it unsubscribes. It ends when the endpoint
/// stops, or when its consumer stalled (see [`overflowed`](Self::overflowed)).
///
/// [`Endpoint::stream`]: crate::Endpoint::stream
pub struct EventStream<E: Event> {
    rx: QueueReceiver<Delivery>,
    overflowed: Arc<AtomicBool>,
    _guard: Option<SubscriptionGuard>,
    _marker: PhantomData<fn() -> E>,
}

impl<E: Event> EventStream<E> {
    pub(crate) fn new(
        rx: QueueReceiver<Delivery>,
        overflowed: Arc<AtomicBool>,
        guard: Option<SubscriptionGuard>,
    ) -> Self {
        EventStream {
            rx,
            overflowed,
            _guard: guard,
            _marker: PhantomData,
        }
    }

    /// `true` when the stream was cut off because its queue stayed full for the stall
    /// timeout: events sent after that point were not delivered to it.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    /// How many events are queued and not yet taken.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl<E: Event> Stream for EventStream<E> {
    type Item = Arc<E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Arc<E>>> {
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(delivery)) => match delivery.event.downcast::<E>() {
                    Ok(event) => return Poll::Ready(Some(event)),
                    Err(_) => {
                        tracing::error!(
                            event = E::NAME,
                            "an event of another type shares this name; skipped"
                        );
                    }
                },
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<E: Event> std::fmt::Debug for EventStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("event", &E::NAME)
            .field("queued", &self.rx.len())
            .finish()
    }
}

/// The requests of type `R` delivered to this endpoint, from
/// [`Endpoint::stream_requests`](crate::Endpoint::stream_requests).
///
/// A [`Stream`] of [`InboundRequest`]s; the same registration, ordering and stall rules as
/// [`EventStream`]. An `R` broadcast as a plain event (not requested) is not yielded here.
pub struct RequestStream<R: Request> {
    inner: EventStream<R>,
}

impl<R: Request> RequestStream<R> {
    pub(crate) fn new(inner: EventStream<R>) -> Self {
        RequestStream { inner }
    }

    /// See [`EventStream::overflowed`].
    pub fn overflowed(&self) -> bool {
        self.inner.overflowed()
    }
}

impl<R: Request> Stream for RequestStream<R> {
    type Item = InboundRequest<R>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<InboundRequest<R>>> {
        loop {
            match self.inner.rx.poll_recv(cx) {
                Poll::Ready(Some(Delivery {
                    event,
                    reply: Some(reply),
                })) => {
                    if let Some(request) = InboundRequest::new(event, reply) {
                        return Poll::Ready(Some(request));
                    }
                    tracing::error!(
                        event = R::NAME,
                        "a request of another type shares this name; skipped"
                    );
                }
                Poll::Ready(Some(Delivery { reply: None, .. })) => {}
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<R: Request> std::fmt::Debug for RequestStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStream")
            .field("request", &R::NAME)
            .field("queued", &self.inner.rx.len())
            .finish()
    }
}

/// A handler registered with [`Endpoint::subscribe`](crate::Endpoint::subscribe). It
/// stays registered until [`unsubscribe`](Self::unsubscribe) or drop.
#[must_use = "dropping a Subscription unsubscribes its handler"]
pub struct Subscription {
    guard: Option<SubscriptionGuard>,
}

impl Subscription {
    pub(crate) fn new(guard: Option<SubscriptionGuard>) -> Self {
        Subscription { guard }
    }

    /// Removes the handler now.
    pub fn unsubscribe(mut self) {
        self.guard.take();
    }

    /// The name of the event subscribed to.
    pub fn event_name(&self) -> Option<&'static str> {
        self.guard.as_ref().map(|guard| guard.name)
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("event", &self.event_name())
            .finish()
    }
}

/// The connection changes of an endpoint, from
/// [`Endpoint::connection_events`](crate::Endpoint::connection_events): a [`Stream`] of
/// [`ConnectionEvent`]s that ends when the endpoint stops.
pub struct ConnectionEvents {
    rx: mpsc::UnboundedReceiver<ConnectionEvent>,
}

impl ConnectionEvents {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<ConnectionEvent>) -> Self {
        ConnectionEvents { rx }
    }
}

impl Stream for ConnectionEvents {
    type Item = ConnectionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnectionEvent>> {
        self.rx.poll_recv(cx)
    }
}

impl std::fmt::Debug for ConnectionEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionEvents").finish_non_exhaustive()
    }
}
