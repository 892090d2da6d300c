//! Bad input over real sockets: raw `UnixStream`s write hand-built frames at a served
//! endpoint. Each case closes (or drops the frame of) the offending connection only;
//! a well-behaved connection carries on and loses nothing.

mod support;

use event_bus_tests::{Counter, Ping};
use event_core::{ConnectionConfig, Endpoint, EndpointOptions, Event};
use futures_util::StreamExt;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;
use support::{eventually, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

#[derive(Serialize)]
struct Hello {
    magic: [u8; 4],
    protocol: u32,
    name: String,
    max_frame_size: u32,
}

/// The protocol version these frames are written in.
const PROTOCOL: u32 = 2;

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = ((payload.len() + 1) as u32).to_le_bytes().to_vec();
    frame.push(kind);
    frame.extend_from_slice(payload);
    frame
}

fn hello_with(magic: [u8; 4], protocol: u32, name: &str) -> Vec<u8> {
    let payload = postcard::to_stdvec(&Hello {
        magic,
        protocol,
        name: name.into(),
        max_frame_size: 1 << 20,
    })
    .unwrap();
    frame(1, &payload)
}

fn hello(name: &str) -> Vec<u8> {
    hello_with(*b"EVB1", PROTOCOL, name)
}

fn event_frame(name: &str, request_id: Option<u64>, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    match request_id {
        Some(id) => {
            payload.push(1);
            payload.extend_from_slice(&id.to_le_bytes());
        }
        None => payload.push(0),
    }
    payload.extend_from_slice(&(name.len() as u16).to_le_bytes());
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(body);
    frame(5, &payload)
}

fn counter(index: u64) -> Vec<u8> {
    let body = postcard::to_stdvec(&Counter {
        index,
        payload: vec![1, 2, 3],
    })
    .unwrap();
    event_frame(Counter::NAME, None, &body)
}

/// Reads one frame: `(kind, payload)`, or `None` when the endpoint closed the socket.
async fn read_frame(stream: &mut UnixStream) -> Option<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some((body[0], body[1..].to_vec()))
}

/// Reads until the endpoint closes the socket; fails the test if it does not.
async fn assert_closed(stream: &mut UnixStream) {
    within("the endpoint to close the connection", async {
        let mut sink = [0u8; 1024];
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
}

struct Target {
    bus: Endpoint,
    counters: event_core::EventStream<Counter>,
    friend: Endpoint,
    next: u64,
    _dir: tempfile::TempDir,
}

impl Target {
    async fn start(options: EndpointOptions) -> Target {
        let dir = tempfile::tempdir().unwrap();
        let bus = Endpoint::serve_with(ConnectionConfig::from_name("target", dir.path()), options)
            .await
            .unwrap();
        let counters = bus.stream::<Counter>();
        let friend = Endpoint::new("friend").unwrap();
        friend
            .connect_to_endpoints(&[ConnectionConfig::from_name("target", dir.path())])
            .await
            .unwrap();
        within(
            "subscription",
            friend.wait_until_endpoint_subscribed_to::<Counter>("target"),
        )
        .await;
        let mut target = Target {
            bus,
            counters,
            friend,
            next: 0,
            _dir: dir,
        };
        target.friend_still_works().await;
        target
    }

    fn path(&self) -> std::path::PathBuf {
        self._dir.path().join("target.ipc")
    }

    async fn raw(&self) -> UnixStream {
        UnixStream::connect(self.path()).await.unwrap()
    }

    /// A handshaken raw connection called `name`.
    async fn raw_peer(&self, name: &str) -> UnixStream {
        let mut stream = self.raw().await;
        stream.write_all(&hello(name)).await.unwrap();
        let (kind, _) = within("WELCOME", read_frame(&mut stream))
            .await
            .expect("WELCOME");
        assert_eq!(kind, 2, "expected WELCOME");
        within(
            "the raw peer to register",
            self.bus.wait_until_connected_to(name),
        )
        .await;
        stream
    }

    /// The friend's next broadcast arrives, in sequence: nothing before it was lost.
    async fn friend_still_works(&mut self) {
        self.friend
            .broadcast(Counter {
                index: self.next,
                payload: vec![],
            })
            .await
            .unwrap();
        let got = within("the friend's event", self.counters.next())
            .await
            .unwrap();
        assert_eq!(got.index, self.next);
        self.next += 1;
        assert!(self.friend.is_connected_to("target"));
    }
}

fn options() -> EndpointOptions {
    EndpointOptions::default()
        .max_frame_size(64 * 1024)
        .handshake_timeout(Duration::from_millis(300))
        .frame_timeout(Duration::from_millis(300))
}

#[tokio::test]
async fn garbage_instead_of_a_handshake_closes_that_connection_only() {
    let mut target = Target::start(options()).await;
    let mut raw = target.raw().await;
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_closed(&mut raw).await;
    target.friend_still_works().await;
}

#[tokio::test]
async fn an_oversized_length_prefix_is_refused_before_reading_it() {
    let mut target = Target::start(options()).await;
    // At the handshake...
    let mut raw = target.raw().await;
    raw.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
    assert_closed(&mut raw).await;
    // ...and after it.
    let mut raw = target.raw_peer("mallory").await;
    raw.write_all(&(64 * 1024 + 1u32).to_le_bytes())
        .await
        .unwrap();
    assert_closed(&mut raw).await;
    eventually("mallory to be dropped", || {
        !target.bus.is_connected_to("mallory")
    })
    .await;
    target.friend_still_works().await;
}

#[tokio::test]
async fn a_truncated_frame_closes_that_connection_only() {
    let mut target = Target::start(options()).await;
    let mut raw = target.raw_peer("mallory").await;
    let whole = counter(99);
    raw.write_all(&whole[..whole.len() - 3]).await.unwrap();
    raw.shutdown().await.unwrap();
    eventually("mallory to be dropped", || {
        !target.bus.is_connected_to("mallory")
    })
    .await;
    target.friend_still_works().await;
    assert!(
        target.counters.is_empty(),
        "the truncated event must not be delivered"
    );
}

#[tokio::test]
async fn bad_handshakes_are_rejected_with_a_reason() {
    let mut target = Target::start(options()).await;
    let cases: [(Vec<u8>, &str); 4] = [
        (hello_with(*b"HTTP", PROTOCOL, "mallory"), "magic"),
        (hello_with(*b"EVB1", 99, "mallory"), "protocol version 99"),
        (hello("target"), "own name"),
        (hello("friend"), "already connected"),
    ];
    for (hello, expected) in cases {
        let mut raw = target.raw().await;
        raw.write_all(&hello).await.unwrap();
        let (kind, payload) = within("REJECT", read_frame(&mut raw))
            .await
            .expect("a REJECT frame");
        assert_eq!(kind, 3, "expected REJECT for {expected}");
        let reason: String = postcard::from_bytes(&payload).unwrap();
        assert!(
            reason.contains(expected),
            "reason `{reason}` should mention `{expected}`"
        );
        assert_closed(&mut raw).await;
    }
    // A frame that is not HELLO first.
    let mut raw = target.raw().await;
    raw.write_all(&counter(0)).await.unwrap();
    let (kind, _) = within("REJECT", read_frame(&mut raw))
        .await
        .expect("a REJECT frame");
    assert_eq!(kind, 3);
    target.friend_still_works().await;
}

#[tokio::test]
async fn an_unknown_event_name_or_an_undecodable_body_drops_that_frame_only() {
    let mut target = Target::start(options()).await;
    let mut raw = target.raw_peer("mallory").await;
    raw.write_all(&event_frame("no.such.Event", None, b"whatever"))
        .await
        .unwrap();
    raw.write_all(&event_frame(Counter::NAME, None, &[0xff; 3]))
        .await
        .unwrap();
    raw.write_all(&counter(41)).await.unwrap();
    // The connection survived both bad frames: the valid one after them arrives.
    let got = within("mallory's valid event", target.counters.next())
        .await
        .unwrap();
    assert_eq!(got.index, 41);
    assert!(target.bus.is_connected_to("mallory"));
    target.friend_still_works().await;
}

#[tokio::test]
async fn an_undecodable_request_is_answered_with_request_dropped() {
    let target = Target::start(options()).await;
    let _pings = target.bus.stream_requests::<Ping>();
    let mut raw = target.raw_peer("mallory").await;
    // Skip the control frames the endpoint sends (its subscription updates).
    raw.write_all(&event_frame(Ping::NAME, Some(77), &[0xff]))
        .await
        .unwrap();
    within("REQUEST_DROPPED", async {
        loop {
            let (kind, payload) = read_frame(&mut raw).await.expect("connection open");
            if kind == 7 {
                assert_eq!(postcard::from_bytes::<u64>(&payload).unwrap(), 77);
                return;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn protocol_violations_after_the_handshake_close_the_connection() {
    let mut target = Target::start(options()).await;
    for bad in [frame(42, b"?"), hello("again"), frame(5, &[0b10])] {
        let mut raw = target.raw_peer("mallory").await;
        raw.write_all(&bad).await.unwrap();
        assert_closed(&mut raw).await;
        eventually("mallory to be dropped", || {
            !target.bus.is_connected_to("mallory")
        })
        .await;
    }
    target.friend_still_works().await;
}

#[tokio::test]
async fn silent_and_trickling_connections_time_out() {
    let mut target = Target::start(options()).await;
    // Connects and says nothing: closed after the handshake timeout.
    let mut silent = target.raw().await;
    assert_closed(&mut silent).await;
    // Starts a frame and never finishes it: closed after the frame timeout.
    let mut trickle = target.raw_peer("mallory").await;
    let whole = counter(5);
    trickle.write_all(&whole[..6]).await.unwrap();
    assert_closed(&mut trickle).await;
    eventually("mallory to be dropped", || {
        !target.bus.is_connected_to("mallory")
    })
    .await;
    target.friend_still_works().await;
}

#[tokio::test]
async fn thousands_of_connections_opened_and_closed_leave_nothing_behind() {
    let mut target = Target::start(options()).await;
    for round in 0..2000 {
        let mut raw = target.raw().await;
        if round % 2 == 0 {
            raw.write_all(&hello(&format!("visitor-{round}")))
                .await
                .unwrap();
        }
        drop(raw);
    }
    eventually("every visitor to be gone", || {
        target.bus.connected_endpoints_and_subscriptions().len() == 2
    })
    .await;
    target.friend_still_works().await;
    assert_eq!(target.bus.connection_stats().len(), 1);
}

#[tokio::test]
async fn a_stopped_endpoint_refuses_connections_and_removes_its_socket() {
    let target = Target::start(options()).await;
    let path = target.path();
    target.bus.stop().await;
    assert!(!path.exists());
    assert!(UnixStream::connect(&path).await.is_err());
    eventually("the friend to see the disconnection", || {
        !target.friend.is_connected_to("target")
    })
    .await;
    let _ = Path::new(&path);
}

fn define_name(id: u32, name: &str) -> Vec<u8> {
    let mut payload = id.to_le_bytes().to_vec();
    payload.extend_from_slice(name.as_bytes());
    frame(8, &payload)
}

fn numbered_counter(id: u32, index: u64) -> Vec<u8> {
    let mut payload = vec![2];
    payload.extend_from_slice(&id.to_le_bytes());
    payload.extend_from_slice(
        &postcard::to_stdvec(&Counter {
            index,
            payload: vec![],
        })
        .unwrap(),
    );
    frame(5, &payload)
}

#[tokio::test]
async fn numbered_names_work_and_an_undefined_or_excessive_one_closes_the_connection() {
    let mut target = Target::start(options()).await;
    // Defined, then used: delivered.
    let mut raw = target.raw_peer("numbered").await;
    raw.write_all(&define_name(3, Counter::NAME)).await.unwrap();
    raw.write_all(&numbered_counter(3, 77)).await.unwrap();
    assert_eq!(
        within("the numbered event", target.counters.next())
            .await
            .unwrap()
            .index,
        77
    );
    // A number nobody defined: the connection is closed.
    raw.write_all(&numbered_counter(4, 78)).await.unwrap();
    assert_closed(&mut raw).await;
    eventually("the peer to be dropped", || {
        !target.bus.is_connected_to("numbered")
    })
    .await;
    // More names than a connection may define: closed, without growing without bound.
    let mut flood = target.raw_peer("flood").await;
    let mut batch = Vec::new();
    for id in 0..70_000u32 {
        batch.extend_from_slice(&define_name(id, "x"));
    }
    let _ = flood.write_all(&batch).await;
    assert_closed(&mut flood).await;
    eventually("the flood to be dropped", || {
        !target.bus.is_connected_to("flood")
    })
    .await;
    target.friend_still_works().await;
}

/// No HELLO in time used to close the connection without the REJECT the docs promise.
#[tokio::test]
async fn a_silent_connection_is_told_why_before_it_is_closed() {
    let mut target = Target::start(options()).await;
    let mut silent = target.raw().await;
    let (kind, reason) = within("the REJECT", read_frame(&mut silent))
        .await
        .expect("a REJECT before the close");
    let reason: String = postcard::from_bytes(&reason).unwrap();
    assert_eq!(kind, 3, "REJECT");
    assert!(reason.contains("no HELLO within"), "{reason}");
    assert_closed(&mut silent).await;
    target.friend_still_works().await;
}

/// The DEFINE_NAME limit used to count names, not bytes: one peer could make an endpoint
/// hold 65536 names of up to a frame each.
#[tokio::test]
async fn the_bytes_of_numbered_names_are_bounded() {
    let mut target = Target::start(options()).await;
    let mut hoarder = target.raw_peer("hoarder").await;
    // 75 names of 60 000 bytes: more than the 4 MiB a connection may hold.
    let name = "n".repeat(60_000);
    for id in 0..75u32 {
        if hoarder.write_all(&define_name(id, &name)).await.is_err() {
            break;
        }
    }
    assert_closed(&mut hoarder).await;
    eventually("the hoarder to be dropped", || {
        !target.bus.is_connected_to("hoarder")
    })
    .await;
    target.friend_still_works().await;
}
