//! How things look: a schema as one line of Rust-like text, an observed message as a line
//! for a terminal or a JSON object.

use crate::json;
use event_core::observe::{Observed, ObservedKind};
use event_core::schema::{Container, EventSchema, Shape, VariantContent};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// A shape as Rust-like text: `u64`, `Vec<String>`, `Option<PeerInfo>`.
pub fn shape(shape: &Shape) -> String {
    match shape {
        Shape::Unit => "()".into(),
        Shape::Bool => "bool".into(),
        Shape::I8 => "i8".into(),
        Shape::I16 => "i16".into(),
        Shape::I32 => "i32".into(),
        Shape::I64 => "i64".into(),
        Shape::I128 => "i128".into(),
        Shape::U8 => "u8".into(),
        Shape::U16 => "u16".into(),
        Shape::U32 => "u32".into(),
        Shape::U64 => "u64".into(),
        Shape::U128 => "u128".into(),
        Shape::F32 => "f32".into(),
        Shape::F64 => "f64".into(),
        Shape::Char => "char".into(),
        Shape::Str => "String".into(),
        Shape::Bytes => "bytes".into(),
        Shape::Option(inner) => format!("Option<{}>", self::shape(inner)),
        Shape::Seq(inner) => format!("Vec<{}>", self::shape(inner)),
        Shape::Map { key, value } => {
            format!("Map<{}, {}>", self::shape(key), self::shape(value))
        }
        Shape::Tuple(shapes) => format!("({})", list(shapes)),
        Shape::Array(inner, len) => format!("[{}; {len}]", self::shape(inner)),
        Shape::Named(name) => name.clone(),
        _ => "?".into(),
    }
}

fn list(shapes: &[Shape]) -> String {
    shapes.iter().map(shape).collect::<Vec<_>>().join(", ")
}

/// A schema's root as one line: `struct PeerJoinedEvent { session: SessionInfo }`, with
/// `untraced (version N)` for a type whose schema could not be traced.
pub fn schema(schema: &EventSchema) -> String {
    let Some(format) = schema.format() else {
        return format!("untraced (version {})", schema.version());
    };
    let root = match &format.root {
        Shape::Named(name) => match format.containers.get(name) {
            Some(container) => self::container(name, container),
            None => name.clone(),
        },
        other => shape(other),
    };
    match schema.response() {
        Some((response, _)) => format!("{root}  -> {response}"),
        None => root,
    }
}

fn container(name: &str, container: &Container) -> String {
    match container {
        Container::Unit => format!("struct {name}"),
        Container::Newtype(inner) => format!("struct {name}({})", shape(inner)),
        Container::Tuple(shapes) => format!("struct {name}({})", list(shapes)),
        Container::Struct(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|field| format!("{}: {}", field.name, shape(&field.shape)))
                .collect();
            format!("struct {name} {{ {} }}", fields.join(", "))
        }
        Container::Enum(variants) => {
            let variants: Vec<String> = variants
                .iter()
                .map(|variant| match &variant.content {
                    VariantContent::Unit => variant.name.clone(),
                    VariantContent::Newtype(inner) => format!("{}({})", variant.name, shape(inner)),
                    VariantContent::Tuple(shapes) => format!("{}({})", variant.name, list(shapes)),
                    VariantContent::Struct(fields) => {
                        let fields: Vec<String> = fields
                            .iter()
                            .map(|field| format!("{}: {}", field.name, shape(&field.shape)))
                            .collect();
                        format!("{} {{ {} }}", variant.name, fields.join(", "))
                    }
                    _ => format!("{}(?)", variant.name),
                })
                .collect();
            format!("enum {name} {{ {} }}", variants.join(", "))
        }
        _ => format!("{name} (?)"),
    }
}

/// An observed body, decoded: JSON through `schema` when there is a traced one, else
/// `None` (the caller shows the size and a hex prefix).
pub fn body(observed: &Observed, schema: Option<&EventSchema>) -> Option<Value> {
    json::decode(schema?.format()?, &observed.body).ok()
}

/// The first bytes of a body, in hex, for one whose schema is not known.
pub fn hex_prefix(body: &[u8]) -> String {
    const SHOWN: usize = 32;
    let mut out: String = body
        .iter()
        .take(SHOWN)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if body.len() > SHOWN {
        out.push('…');
    }
    out
}

/// The time of day (UTC) with milliseconds, `HH:MM:SS.mmm`.
pub fn time_of_day(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        since.subsec_millis()
    )
}

fn kind_text(kind: &ObservedKind) -> String {
    match kind {
        ObservedKind::Broadcast => "event".into(),
        ObservedKind::Request { id } => format!("request #{id}"),
        ObservedKind::Answer { request_id, .. } => format!("answer to #{request_id}"),
        _ => "?".into(),
    }
}

/// One observed message as a terminal line (with a line before it for what was missed).
pub fn line(at: SystemTime, observed: &Observed, decoded: Option<&Value>) -> String {
    let mut out = String::new();
    if observed.missed > 0 {
        out.push_str(&format!(
            "{}  ... missed {} from {}\n",
            time_of_day(at),
            observed.missed,
            observed.origin
        ));
    }
    let target = observed.target.as_deref().unwrap_or("*");
    let body = match decoded {
        Some(value) => value.to_string(),
        None => format!("(no schema) {}", hex_prefix(&observed.body)),
    };
    out.push_str(&format!(
        "{}  {} -> {}  {}  {}  {} B  {}",
        time_of_day(at),
        observed.origin,
        target,
        observed.name,
        kind_text(&observed.kind),
        observed.body.len(),
        body
    ));
    out
}

/// One observed message as a JSON object (one line of `tap --json`).
pub fn json_line(at: SystemTime, observed: &Observed, decoded: Option<Value>) -> Value {
    let unix_ms = at
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis() as u64)
        .unwrap_or_default();
    let mut object = json!({
        "time_ms": unix_ms,
        "origin": observed.origin,
        "target": observed.target,
        "name": observed.name,
        "size": observed.body.len(),
        "missed": observed.missed,
    });
    let fields = object.as_object_mut().expect("an object");
    match &observed.kind {
        ObservedKind::Broadcast => {
            fields.insert("kind".into(), "event".into());
        }
        ObservedKind::Request { id } => {
            fields.insert("kind".into(), "request".into());
            fields.insert("request_id".into(), (*id).into());
        }
        ObservedKind::Answer {
            request_id,
            request,
        } => {
            fields.insert("kind".into(), "answer".into());
            fields.insert("request_id".into(), (*request_id).into());
            fields.insert("request".into(), request.clone().into());
        }
        _ => {}
    }
    match decoded {
        Some(body) => fields.insert("body".into(), body),
        None => fields.insert("raw_hex".into(), hex_prefix(&observed.body).into()),
    };
    object
}
