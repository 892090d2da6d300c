//! The JSON codec against the real thing: for values of rich types, decoding their
//! postcard bytes through their traced schema gives serde_json's own rendering, and
//! encoding that JSON gives the very bytes postcard writes.

use evb::json::{decode, encode};
use event_core::schema::{schema_of, SchemaFormat};
use event_core::Event;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "evb.test.Everything")]
struct Everything {
    unit: (),
    flag: bool,
    small: i8,
    short: i16,
    int: i32,
    long: i64,
    wide: i128,
    byte: u8,
    ushort: u16,
    uint: u32,
    ulong: u64,
    uwide: u128,
    single: f32,
    double: f64,
    letter: char,
    text: String,
    maybe: Option<Inner>,
    list: Vec<Inner>,
    names: BTreeMap<String, u32>,
    numbered: BTreeMap<u32, String>,
    pair: (u8, String),
    array: [u16; 3],
    choice: Choice,
    choices: Vec<Choice>,
    meters: Meters,
    point: Point,
    marker: Marker,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inner {
    id: u64,
    tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Choice {
    Nothing,
    One(u64),
    Two(u8, String),
    Named { on: bool, level: Option<i32> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meters(u32);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point(i16, i16);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Marker;

/// A byte string (serialized with `serialize_bytes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "evb.test.Blob")]
struct Blob {
    rlp: bytes::Bytes,
}

fn format_of<E: Event>() -> SchemaFormat {
    schema_of::<E>().format().expect("traced").clone()
}

fn inner() -> impl Strategy<Value = Inner> {
    (any::<u64>(), prop::collection::vec(".{0,8}", 0..3)).prop_map(|(id, tags)| Inner { id, tags })
}

fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        Just(Choice::Nothing),
        any::<u64>().prop_map(Choice::One),
        (any::<u8>(), ".{0,6}").prop_map(|(a, b)| Choice::Two(a, b)),
        (any::<bool>(), any::<Option<i32>>()).prop_map(|(on, level)| Choice::Named { on, level }),
    ]
}

/// 128-bit integers within 64 bits when `narrow` (serde_json has no wider numbers).
fn everything(narrow: bool) -> impl Strategy<Value = Everything> {
    let wide = if narrow {
        any::<i64>().prop_map(i128::from).boxed()
    } else {
        any::<i128>().boxed()
    };
    let uwide = if narrow {
        any::<u64>().prop_map(u128::from).boxed()
    } else {
        any::<u128>().boxed()
    };
    let numbers = (
        any::<bool>(),
        any::<i8>(),
        any::<i16>(),
        any::<i32>(),
        any::<i64>(),
        wide,
        any::<u8>(),
        any::<u16>(),
        any::<u32>(),
        any::<u64>(),
        uwide,
        (-1e30f32..1e30f32, -1e300f64..1e300f64),
    );
    let rest = (
        any::<char>(),
        ".{0,12}",
        prop::option::of(inner()),
        prop::collection::vec(inner(), 0..3),
        prop::collection::btree_map(".{0,5}", any::<u32>(), 0..3),
        prop::collection::btree_map(any::<u32>(), ".{0,5}", 0..3),
        (any::<u8>(), ".{0,4}"),
        any::<[u16; 3]>(),
        choice(),
        prop::collection::vec(choice(), 0..4),
        (any::<u32>(), any::<(i16, i16)>()),
    );
    (numbers, rest).prop_map(
        |(
            (
                flag,
                small,
                short,
                int,
                long,
                wide,
                byte,
                ushort,
                uint,
                ulong,
                uwide,
                (single, double),
            ),
            (letter, text, maybe, list, names, numbered, pair, array, choice, choices, (m, p)),
        )| Everything {
            unit: (),
            flag,
            small,
            short,
            int,
            long,
            wide,
            byte,
            ushort,
            uint,
            ulong,
            uwide,
            single,
            double,
            letter,
            text,
            maybe,
            list,
            names,
            numbered,
            pair,
            array,
            choice,
            choices,
            meters: Meters(m),
            point: Point(p.0, p.1),
            marker: Marker,
        },
    )
}

proptest! {
    #[test]
    fn decoding_gives_serde_json_and_encoding_gives_postcard(value in everything(true)) {
        let format = format_of::<Everything>();
        let bytes = postcard::to_stdvec(&value).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        prop_assert_eq!(&decode(&format, &bytes).unwrap(), &json);
        prop_assert_eq!(encode(&format, &json).unwrap(), bytes);
    }

    #[test]
    fn every_body_survives_a_round_trip_through_json(value in everything(false)) {
        let format = format_of::<Everything>();
        let bytes = postcard::to_stdvec(&value).unwrap();
        let json = decode(&format, &bytes).unwrap();
        prop_assert_eq!(encode(&format, &json).unwrap(), bytes);
    }

    #[test]
    fn bytes_that_are_no_body_are_refused_without_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..200)
    ) {
        let format = format_of::<Everything>();
        // Either a value or an error, and the same for encoding what was decoded (a
        // NaN decodes to null, which encodes to nothing): never a panic.
        if let Ok(json) = decode(&format, &bytes) {
            let _ = encode(&format, &json);
        }
    }

    #[test]
    fn byte_strings_are_hex(rlp in prop::collection::vec(any::<u8>(), 0..64)) {
        let format = format_of::<Blob>();
        let blob = Blob { rlp: rlp.clone().into() };
        let bytes = postcard::to_stdvec(&blob).unwrap();
        let hex: String = rlp.iter().map(|byte| format!("{byte:02x}")).collect();
        let json = decode(&format, &bytes).unwrap();
        prop_assert_eq!(&json, &serde_json::json!({ "rlp": format!("0x{hex}") }));
        prop_assert_eq!(encode(&format, &json).unwrap(), bytes.clone());
        // An array of numbers is taken too.
        let numbers = serde_json::json!({ "rlp": rlp });
        prop_assert_eq!(encode(&format, &numbers).unwrap(), bytes);
    }
}

#[test]
fn json_that_does_not_fit_says_where_and_why() {
    let format = format_of::<Everything>();
    let good = serde_json::to_value(everything_example()).unwrap();
    let cases = [
        (
            "/uint",
            serde_json::json!("seven"),
            "`.uint`: expected a u32, found a string (\"seven\")",
        ),
        (
            "/byte",
            serde_json::json!(300),
            "`.byte`: expected a u8 (out of range: 300)",
        ),
        (
            "/choice",
            serde_json::json!("Three"),
            "`Choice` has no variant `Three` (it has Nothing, One, Two, Named)",
        ),
        (
            "/list/0/id",
            serde_json::json!(null),
            "`.list[0].id`: expected a u64, found null",
        ),
        (
            "/array",
            serde_json::json!([1, 2]),
            "`.array`: expected an array of 3",
        ),
    ];
    for (pointer, replacement, expected) in cases {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).unwrap() = replacement;
        let error = encode(&format, &bad).unwrap_err().to_string();
        assert!(error.contains(expected), "{pointer}: {error}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("text");
    let error = encode(&format, &missing).unwrap_err().to_string();
    assert!(error.contains("needs the field `text`"), "{error}");
    let mut extra = good;
    extra
        .as_object_mut()
        .unwrap()
        .insert("txet".into(), 1.into());
    let error = encode(&format, &extra).unwrap_err().to_string();
    assert!(error.contains("has no field `txet`"), "{error}");
}

fn everything_example() -> Everything {
    Everything {
        unit: (),
        flag: true,
        small: -1,
        short: 2,
        int: -3,
        long: 4,
        wide: -5,
        byte: 6,
        ushort: 7,
        uint: 8,
        ulong: 9,
        uwide: 10,
        single: 1.5,
        double: -2.25,
        letter: 'λ',
        text: "text".into(),
        maybe: None,
        list: vec![Inner {
            id: 1,
            tags: vec!["a".into()],
        }],
        names: BTreeMap::new(),
        numbered: [(1, "one".into())].into(),
        pair: (1, "x".into()),
        array: [1, 2, 3],
        choice: Choice::Two(1, "y".into()),
        choices: vec![Choice::Nothing],
        meters: Meters(3),
        point: Point(1, -1),
        marker: Marker,
    }
}

#[test]
fn a_schema_whose_elements_take_no_bytes_cannot_exhaust_the_decoder() {
    use event_core::schema::Shape;
    // `Vec<()>` of 2^60 elements: a 9-byte body.
    let format = SchemaFormat {
        root: Shape::Seq(Box::new(Shape::Unit)),
        containers: Default::default(),
    };
    let body = postcard::to_stdvec(&(1u64 << 60)).unwrap();
    let error = decode(&format, &body).unwrap_err().to_string();
    assert!(
        error.contains("more values than a body of this size"),
        "{error}"
    );
    // A modest one still decodes.
    let body = postcard::to_stdvec(&vec![(); 1000]).unwrap();
    assert_eq!(
        decode(&format, &body).unwrap(),
        serde_json::json!(vec![(); 1000])
    );
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct UserId(String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "evb.test.Users")]
struct Users {
    by_id: BTreeMap<UserId, u32>,
}

#[test]
fn keys_that_are_newtypes_of_strings_stay_strings() {
    let format = format_of::<Users>();
    let value = Users {
        by_id: [(UserId("123".into()), 1), (UserId("true".into()), 2)].into(),
    };
    let bytes = postcard::to_stdvec(&value).unwrap();
    let json = decode(&format, &bytes).unwrap();
    assert_eq!(json, serde_json::to_value(&value).unwrap());
    assert_eq!(encode(&format, &json).unwrap(), bytes);
}
