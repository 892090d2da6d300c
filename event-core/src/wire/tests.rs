//! Property and unit tests of the frame codec.

use super::*;
use bytes::Bytes;
use futures_util::FutureExt;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sample {
    index: u64,
    payload: Vec<u8>,
    text: String,
}

const MAX: usize = 1 << 20;

impl EventNameRef<'_> {
    fn to_owned_name(self) -> String {
        match self {
            EventNameRef::Inline(name) => format!("inline {name}"),
            EventNameRef::Id(id) => format!("id {id}"),
        }
    }
}

fn strip_prefix(frame: &Bytes) -> Bytes {
    let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(
        len,
        frame.len() - 4,
        "length prefix must count the rest of the frame"
    );
    frame.slice(4..)
}

fn arb_sample() -> impl Strategy<Value = Sample> {
    (
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..512),
        ".{0,40}",
    )
        .prop_map(|(index, payload, text)| Sample {
            index,
            payload,
            text,
        })
}

proptest! {
    #[test]
    fn event_frames_round_trip(name in "[a-zA-Z0-9_.:]{1,80}", id in proptest::option::of(any::<u64>()), sample in arb_sample()) {
        let frame = event(&name, id, &sample, MAX).unwrap();
        match decode(strip_prefix(&frame)).unwrap() {
            Message::Event { name: EventName::Inline(got), request_id, body } => {
                prop_assert_eq!(got.as_str(), name.as_str());
                prop_assert_eq!(request_id, id);
                prop_assert_eq!(postcard::from_bytes::<Sample>(&body).unwrap(), sample);
            }
            other => prop_assert!(false, "decoded {:?}", other),
        }
    }

    #[test]
    fn response_frames_round_trip(id in any::<u64>(), name in "[a-z.]{1,40}", sample in arb_sample()) {
        let frame = response(id, &name, &postcard::to_stdvec(&sample).unwrap(), MAX).unwrap();
        match decode(strip_prefix(&frame)).unwrap() {
            Message::Response { request_id, name: got, body } => {
                prop_assert_eq!(request_id, id);
                prop_assert_eq!(got.as_str(), name.as_str());
                prop_assert_eq!(postcard::from_bytes::<Sample>(&body).unwrap(), sample);
            }
            other => prop_assert!(false, "decoded {:?}", other),
        }
    }

    #[test]
    fn control_frames_round_trip(name in ".{0,60}", names in proptest::collection::vec((".{0,30}", any::<u64>()), 0..20), id in any::<u64>()) {
        let names: Vec<(String, crate::schema::Fingerprint)> = names
            .into_iter()
            .map(|(name, fingerprint)| (name, crate::schema::Fingerprint(fingerprint)))
            .collect();
        let cases = [
            (hello(&name, MAX).unwrap(), Message::Hello(Hello { magic: MAGIC, protocol: PROTOCOL_VERSION, name: name.clone(), max_frame_size: MAX as u32 })),
            (welcome(&name, names.clone(), MAX).unwrap(), Message::Welcome(Welcome { name: name.clone(), subscriptions: names.clone(), max_frame_size: MAX as u32 })),
            (reject(&name, MAX).unwrap(), Message::Reject(name.clone())),
            (subscriptions(&names, MAX).unwrap(), Message::Subscriptions(names.clone())),
            (request_dropped(id, MAX).unwrap(), Message::RequestDropped(id)),
        ];
        for (frame, expected) in cases {
            prop_assert_eq!(decode(strip_prefix(&frame)).unwrap(), expected);
        }
    }

    #[test]
    fn interned_event_frames_and_their_definitions_round_trip(
        name in "[a-zA-Z0-9_.:]{1,80}",
        number in any::<u32>(),
        id in proptest::option::of(any::<u64>()),
        sample in arb_sample(),
    ) {
        let define = define_name(number, &name, MAX).unwrap();
        prop_assert_eq!(
            decode(strip_prefix(&define)).unwrap(),
            Message::DefineName { id: number, name: Name(Bytes::copy_from_slice(name.as_bytes())) }
        );
        let mut frame = bytes::BytesMut::new();
        put_event(&mut frame, NameRef::Id(number), id, &postcard::to_stdvec(&sample).unwrap());
        let frame = frame.freeze();
        // The 4-byte number replaces the 2-byte length and the name.
        let inline = event(&name, id, &sample, MAX).unwrap();
        prop_assert_eq!(inline.len() as i64 - frame.len() as i64, name.len() as i64 + 2 - 4);
        match decode(strip_prefix(&frame)).unwrap() {
            Message::Event { name: EventName::Id(got), request_id, body } => {
                prop_assert_eq!(got, number);
                prop_assert_eq!(request_id, id);
                prop_assert_eq!(postcard::from_bytes::<Sample>(&body).unwrap(), sample);
            }
            other => prop_assert!(false, "decoded {:?}", other),
        }
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(Bytes::from(bytes));
    }

    /// Reading an EVENT where it lies gives what decoding it whole gives, for any bytes:
    /// the same event, the same error, or (another kind) nothing.
    #[test]
    fn events_read_in_place_agree_with_whole_decoding(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..96),
            // Mostly EVENTs, well formed or not.
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..96)).prop_map(|(flags, rest)| {
                let mut frame = vec![5, flags & 3];
                frame.extend(rest);
                frame
            }),
            (".{0,20}", proptest::option::of(any::<u64>()), proptest::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(name, id, body)| strip_prefix(&event(&name, id, &body, MAX).unwrap()).to_vec()),
        ]
    ) {
        let whole = decode(Bytes::from(bytes.clone()));
        match (decode_event(&bytes), whole) {
            (None, _) if bytes.first() == Some(&5) => {
                prop_assert!(false, "an EVENT frame was not read in place")
            }
            (None, _) => {}
            (Some(Ok(event)), Ok(Message::Event { name, request_id, body })) => {
                let name = match name {
                    EventName::Inline(name) => EventNameRef::Inline(name.as_str()).to_owned_name(),
                    EventName::Id(id) => EventNameRef::Id(id).to_owned_name(),
                };
                prop_assert_eq!(event.name.to_owned_name(), name);
                prop_assert_eq!(event.request_id, request_id);
                prop_assert_eq!(event.body, &body[..]);
            }
            (Some(Err(in_place)), Err(whole)) => prop_assert_eq!(in_place.to_string(), whole.to_string()),
            (in_place, whole) => prop_assert!(false, "in place {:?}, whole {:?}", in_place, whole),
        }
    }

    /// A stream of valid frames, split at arbitrary points, reads back whole and in order,
    /// whichever way each frame is read (split off, lent in place, lent then split off,
    /// lent then read ahead of, up to a bound, before the next).
    #[test]
    fn frames_survive_arbitrary_splits(samples in proptest::collection::vec(arb_sample(), 1..20), cuts in proptest::collection::vec(1usize..64, 1..50), modes in proptest::collection::vec(0u8..4, 20), ahead in 1usize..300) {
        let mut stream = Vec::new();
        for (index, sample) in samples.iter().enumerate() {
            stream.extend_from_slice(&event("x", Some(index as u64), sample, MAX).unwrap());
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let decoded = runtime.block_on(async {
            let mut builder = tokio_test_io(&stream, &cuts);
            let mut reader = FrameReader::new(&mut builder, MAX, std::time::Duration::from_secs(5));
            let mut out = Vec::new();
            for mode in modes.iter().cycle() {
                let frame = match mode {
                    0 => reader.next().await.unwrap(),
                    1 => reader.next_ref().await.unwrap().map(Bytes::copy_from_slice),
                    3 => {
                        let frame = reader.next_ref().await.unwrap().map(Bytes::copy_from_slice);
                        // Ready at once (the stream is in memory) until the bound or the
                        // end: then it must stay pending, not spin.
                        let before = reader.buffered();
                        let mut reads = 0;
                        while reader.read_ahead(ahead).now_or_never().is_some() {
                            reads += 1;
                            assert!(reads <= stream.len(), "read ahead past the end");
                        }
                        assert!(reader.buffered() <= before.max(ahead), "read ahead past the bound");
                        frame
                    }
                    _ => reader
                        .next_ref()
                        .await
                        .unwrap()
                        .is_some()
                        .then(|| reader.take_lent()),
                };
                let Some(frame) = frame else { break };
                out.push(frame);
            }
            out
        });
        prop_assert_eq!(decoded.len(), samples.len());
        for (frame, sample) in decoded.into_iter().zip(&samples) {
            match decode(frame).unwrap() {
                Message::Event { body, .. } => prop_assert_eq!(&postcard::from_bytes::<Sample>(&body).unwrap(), sample),
                other => prop_assert!(false, "decoded {:?}", other),
            }
        }
    }

    /// A stream cut short anywhere inside a frame is reported as truncated, never as a frame.
    #[test]
    fn truncation_is_detected(sample in arb_sample(), keep in 1usize..40) {
        let frame = event("x", None, &sample, MAX).unwrap();
        let keep = keep.min(frame.len() - 1);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let result = runtime.block_on(async {
            let mut bytes = &frame[..keep];
            FrameReader::new(&mut bytes, MAX, std::time::Duration::from_secs(5)).next().await
        });
        prop_assert!(matches!(result, Err(WireError::Truncated { .. })), "{:?}", result);
        // The same when the end was seen while reading ahead.
        let ahead = runtime.block_on(async {
            let mut bytes = &frame[..keep];
            let mut reader = FrameReader::new(&mut bytes, MAX, std::time::Duration::from_secs(5));
            while reader.read_ahead(usize::MAX).now_or_never().is_some() {}
            reader.next().await
        });
        prop_assert!(matches!(ahead, Err(WireError::Truncated { .. })), "{:?}", ahead);
    }
}

/// Reading ahead stops at its bound exactly, however much one read could take, and what
/// was read ahead comes out whole and in order.
#[tokio::test]
async fn reading_ahead_stops_at_its_bound_and_loses_nothing() {
    let frames: Vec<Vec<u8>> = (0..100u64)
        .map(|index| {
            event("x", Some(index), &vec![index as u8; 90], MAX)
                .unwrap()
                .to_vec()
        })
        .collect();
    let stream = frames.concat();
    // The first read takes the first frame alone; any later one, all there is.
    let cuts = [frames[0].len(), usize::MAX];
    let mut reader = FrameReader::new(
        tokio_test_io(&stream, &cuts),
        MAX,
        std::time::Duration::from_secs(5),
    );
    let first = reader.next_ref().await.unwrap().map(Bytes::copy_from_slice);
    let limit = 1000;
    while reader.read_ahead(limit).now_or_never().is_some() {}
    // A slice reader gives all it has to one read: only the bound stopped it.
    assert_eq!(reader.buffered(), limit);
    let mut read = vec![first.unwrap()];
    while let Some(frame) = reader.next().await.unwrap() {
        read.push(frame);
    }
    assert_eq!(read.len(), frames.len());
    for (frame, sent) in read.iter().zip(&frames) {
        assert_eq!(&frame[..], &sent[LEN_PREFIX..]);
    }
}

/// A read error met while reading ahead is reported, after the whole frames read before
/// it, as that error: not as an end of stream (a reset socket reads as one afterwards).
#[tokio::test]
async fn a_read_error_met_ahead_is_reported_after_the_frames_before_it() {
    let frames: Vec<u8> = (0..2u64)
        .flat_map(|index| event("x", Some(index), &[1u8; 8], MAX).unwrap().to_vec())
        .collect();
    let mut reader = FrameReader::new(
        FailingReader {
            data: Some(frames),
            failed: false,
        },
        MAX,
        std::time::Duration::from_secs(5),
    );
    while reader.read_ahead(usize::MAX).now_or_never().is_some() {}
    assert!(reader.next().await.unwrap().is_some());
    assert!(reader.next().await.unwrap().is_some());
    match reader.next().await {
        Err(WireError::Io(error)) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset),
        other => panic!("expected the read error, got {other:?}"),
    }
}

/// Gives `data` in one read, then fails once, then reads as a closed stream.
struct FailingReader {
    data: Option<Vec<u8>>,
    failed: bool,
}

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Some(data) = self.data.take() {
            buf.put_slice(&data);
        } else if !self.failed {
            self.failed = true;
            return std::task::Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()));
        }
        std::task::Poll::Ready(Ok(()))
    }
}

/// A reader that returns `data` in chunks of the sizes in `cuts` (cycled).
fn tokio_test_io<'a>(data: &'a [u8], cuts: &'a [usize]) -> ChunkedReader<'a> {
    ChunkedReader {
        data,
        cuts,
        next_cut: 0,
    }
}

struct ChunkedReader<'a> {
    data: &'a [u8],
    cuts: &'a [usize],
    next_cut: usize,
}

impl tokio::io::AsyncRead for ChunkedReader<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let cut = self.cuts[self.next_cut % self.cuts.len()];
        self.next_cut += 1;
        let n = cut.min(self.data.len()).min(buf.remaining());
        let (head, tail) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        std::task::Poll::Ready(Ok(()))
    }
}

#[test]
fn oversized_frames_are_refused_on_both_sides() {
    let big = Sample {
        index: 0,
        payload: vec![0; 2048],
        text: String::new(),
    };
    assert!(matches!(
        event("x", None, &big, 1024),
        Err(WireError::TooLarge { max: 1024, .. })
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let frame = event("x", None, &big, MAX).unwrap();
    let result = runtime.block_on(async {
        let mut bytes = &frame[..8];
        FrameReader::new(&mut bytes, 1024, std::time::Duration::from_secs(5))
            .next()
            .await
    });
    assert!(matches!(result, Err(WireError::TooLarge { size, max: 1024 }) if size > 2048));
}

#[test]
fn malformed_frames_say_what_is_wrong() {
    let cases: [(&[u8], &str); 8] = [
        (&[], "empty frame"),
        (&[99], "unknown message kind 99"),
        (&[5, 0, 10, 0, b'a'], "event name of 10 bytes"),
        (&[5, 4], "unknown EVENT flags"),
        (&[5, 2, 1, 0], "EVENT name id"),
        (&[8, 1, 0, 0, 0, 0xff], "DEFINE_NAME name is not UTF-8"),
        (&[5, 0, 2, 0, 0xff, 0xfe], "not UTF-8"),
        (&[6, 1, 2], "RESPONSE request id"),
    ];
    for (bytes, expected) in cases {
        let error = decode(Bytes::copy_from_slice(bytes))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(expected),
            "`{error}` should mention `{expected}`"
        );
    }
}

#[test]
fn the_layout_is_the_documented_one() {
    let frame = event("ab", Some(0x0102), &7u8, MAX).unwrap();
    assert_eq!(
        &frame[..],
        &[15, 0, 0, 0, 5, 1, 2, 1, 0, 0, 0, 0, 0, 0, 2, 0, b'a', b'b', 7]
    );
    let frame = response(3, "ab", &[7], MAX).unwrap();
    assert_eq!(
        &frame[..],
        &[14, 0, 0, 0, 6, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, b'a', b'b', 7]
    );
}

/// The synchronous decoder alone, with no runtime: bytes in, frames out.
#[test]
fn the_frame_decoder_takes_whole_frames_as_bytes_arrive() {
    let first = event("x", Some(1), &1u8, MAX).unwrap();
    let second = event("y", None, &2u8, MAX).unwrap();
    let stream: Vec<u8> = [&first[..], &second[..]].concat();
    let decoder = FrameDecoder::new(MAX);
    let mut buf = bytes::BytesMut::new();
    let mut frames = Vec::new();
    for byte in stream {
        buf.extend_from_slice(&[byte]);
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames, vec![strip_prefix(&first), strip_prefix(&second)]);
    decoder.end(&buf).unwrap();
    // A frame cut short is truncated, and says how much was missing.
    buf.extend_from_slice(&first[..5]);
    assert!(decoder.decode(&mut buf).unwrap().is_none());
    assert!(matches!(
        decoder.end(&buf),
        Err(WireError::Truncated { have: 5, want }) if want == first.len()
    ));
}

/// The bytes of every kind of frame, written out from the layout in the module docs (not
/// from this encoder), so that a change to the wire is a failing test here before it is
/// a misdecoded frame between two separately built endpoints. Each frame is checked both
/// ways: this build encodes exactly these bytes, and decodes them into the message.
mod golden {
    use super::*;
    use crate::schema::Fingerprint;
    use bytes::BytesMut;

    fn name(text: &str) -> Name {
        Name(Bytes::copy_from_slice(text.as_bytes()))
    }

    fn event_frame(name: NameRef<'_>, request_id: Option<u64>, body: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        put_event(&mut buf, name, request_id, body);
        buf.freeze()
    }

    /// `frame` is `golden`, and `golden` decodes into `message`.
    fn check(what: &str, frame: Bytes, golden: &[u8], message: Message) {
        assert_eq!(&frame[..], golden, "{what}: encoded bytes");
        let decoded = decode(strip_prefix(&Bytes::copy_from_slice(golden)))
            .unwrap_or_else(|error| panic!("{what}: {error}"));
        assert_eq!(decoded, message, "{what}: decoded");
    }

    #[test]
    fn every_frame_kind_has_the_documented_bytes() {
        check(
            "HELLO",
            hello("ab", 1024).unwrap(),
            &[
                11, 0, 0, 0, // length
                1, // HELLO
                b'E', b'V', b'B', b'1', // magic
                2,    // protocol (varint)
                2, b'a', b'b', // name
                0x80, 0x08, // max_frame_size 1024 (varint)
            ],
            Message::Hello(Hello {
                magic: *b"EVB1",
                protocol: 2,
                name: "ab".into(),
                max_frame_size: 1024,
            }),
        );
        check(
            "WELCOME",
            welcome("a", vec![("E".into(), Fingerprint(300))], 64).unwrap(),
            &[
                9, 0, 0, 0, // length
                2, // WELCOME
                1, b'a', // name
                1, 1, b'E', 0xAC, 0x02, // one subscription: "E", fingerprint 300
                64,   // max_frame_size
            ],
            Message::Welcome(Welcome {
                name: "a".into(),
                subscriptions: vec![("E".into(), Fingerprint(300))],
                max_frame_size: 64,
            }),
        );
        check(
            "REJECT",
            reject("no", MAX).unwrap(),
            &[4, 0, 0, 0, 3, 2, b'n', b'o'],
            Message::Reject("no".into()),
        );
        check(
            "SUBSCRIPTIONS",
            subscriptions(&[("E".into(), Fingerprint(5))], MAX).unwrap(),
            &[5, 0, 0, 0, 4, 1, 1, b'E', 5],
            Message::Subscriptions(vec![("E".into(), Fingerprint(5))]),
        );
        check(
            "EVENT, inline name",
            event_frame(NameRef::Inline("E"), None, &[0xAA, 0xBB]),
            &[
                7, 0, 0, 0, // length
                5, // EVENT
                0, // flags: no request id, inline name
                1, 0, b'E', // name_len u16le, name
                0xAA, 0xBB, // body
            ],
            Message::Event {
                name: EventName::Inline(name("E")),
                request_id: None,
                body: Bytes::from_static(&[0xAA, 0xBB]),
            },
        );
        check(
            "EVENT, a request with a name number",
            event_frame(NameRef::Id(7), Some(0x0102_0304_0506_0708), &[0x01]),
            &[
                15, 0, 0, 0, // length
                5, // EVENT
                3, // flags: request id, name number
                8, 7, 6, 5, 4, 3, 2, 1, // request_id u64le
                7, 0, 0, 0,    // name_id u32le
                0x01, // body
            ],
            Message::Event {
                name: EventName::Id(7),
                request_id: Some(0x0102_0304_0506_0708),
                body: Bytes::from_static(&[0x01]),
            },
        );
        check(
            "RESPONSE",
            response(9, "R", &[0x05], MAX).unwrap(),
            &[
                13, 0, 0, 0, // length
                6, // RESPONSE
                9, 0, 0, 0, 0, 0, 0, 0, // request_id u64le
                1, 0, b'R', // name_len u16le, name
                0x05, // body
            ],
            Message::Response {
                request_id: 9,
                name: name("R"),
                body: Bytes::from_static(&[0x05]),
            },
        );
        check(
            "REQUEST_DROPPED",
            request_dropped(300, MAX).unwrap(),
            &[3, 0, 0, 0, 7, 0xAC, 0x02],
            Message::RequestDropped(300),
        );
        check(
            "DEFINE_NAME",
            define_name(3, "ab", MAX).unwrap(),
            &[7, 0, 0, 0, 8, 3, 0, 0, 0, b'a', b'b'],
            Message::DefineName {
                id: 3,
                name: name("ab"),
            },
        );
    }

    #[test]
    fn the_protocol_version_is_the_documented_one() {
        // The layout above is version 2's; a change to it must come with a new version
        // (and this test, and the module docs, changed with it).
        assert_eq!(PROTOCOL_VERSION, 2);
        assert_eq!(MAGIC, *b"EVB1");
    }
}
