//! An encoded body as JSON and back, through the schema its sender published.
//!
//! The wire codec (postcard) is not self-describing: a body is only bytes in the order of
//! the type's fields. A published [`SchemaFormat`] says what those fields are, so a tool
//! that has never seen the Rust type can decode a body to JSON ([`decode`]) and build one
//! from JSON ([`encode`]). Both go through postcard's own serializer and deserializer, so
//! the bytes are those the typed code reads and writes.
//!
//! The JSON is serde_json's rendering of the same value (objects with their keys in text
//! order, as serde_json's own): a struct is an object, a tuple
//! or tuple struct an array, a newtype its content, a unit `null`, an enum variant
//! `"Name"` or `{"Name": content}`, a map with non-string keys an object whose keys are
//! the keys' JSON text. Two differences: a byte string ([`Shape::Bytes`], from
//! `serde_bytes` or `bytes::Bytes`) is a `"0x…"` hex string (an array of numbers is also
//! taken), and a 128-bit integer beyond 64 bits is a decimal string.

use event_core::schema::{Container, Field, SchemaFormat, Shape, Variant, VariantContent};
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, SeqAccess, VariantAccess};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, SerializeTuple, Serializer};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Why a body could not be decoded or encoded.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The body does not decode as the schema says.
    #[error("the body does not match its schema: {0}")]
    Decode(String),
    /// The JSON does not fit the schema.
    #[error("{0}")]
    Encode(String),
}

thread_local! {
    /// The message of the last error raised here: postcard's errors keep no message.
    static MESSAGE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// How many more values a decode may make: a schema comes from another process, and
    /// one whose elements take no bytes (`Vec<()>`, `[(); N]`) would otherwise turn a
    /// ten-byte body into billions of values.
    static BUDGET: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The most values a decode makes: a million, plus 64 for every byte of the body.
fn budget_for(body: &[u8]) -> usize {
    1_000_000usize.saturating_add(body.len().saturating_mul(64))
}

fn spend<E: de::Error>() -> Result<(), E> {
    BUDGET.with(|budget| match budget.get().checked_sub(1) {
        Some(left) => {
            budget.set(left);
            Ok(())
        }
        None => Err(de_error(
            "more values than a body of this size can hold (a schema whose elements take no bytes?)",
        )),
    })
}

/// Keeps the first message of an error on its way out through postcard.
fn said(message: String) -> String {
    MESSAGE.with(|kept| {
        kept.borrow_mut().get_or_insert_with(|| message.clone());
    });
    message
}

fn de_error<E: de::Error>(message: impl fmt::Display) -> E {
    E::custom(said(message.to_string()))
}

fn ser_error<E: ser::Error>(message: impl fmt::Display) -> E {
    E::custom(said(message.to_string()))
}

/// The message kept by [`said`], or postcard's own.
fn message(error: postcard::Error) -> String {
    MESSAGE
        .with(|kept| kept.borrow_mut().take())
        .unwrap_or_else(|| error.to_string())
}

/// Decodes `body` as the schema `format` describes.
pub fn decode(format: &SchemaFormat, body: &[u8]) -> Result<Value, JsonError> {
    MESSAGE.with(|kept| kept.borrow_mut().take());
    BUDGET.with(|budget| budget.set(budget_for(body)));
    let mut deserializer = postcard::Deserializer::from_bytes(body);
    let value = ShapeSeed {
        shape: &format.root,
        format,
        depth: 0,
    }
    .deserialize(&mut deserializer)
    .map_err(|error| JsonError::Decode(message(error)))?;
    let rest = deserializer
        .finalize()
        .map_err(|error| JsonError::Decode(message(error)))?;
    if !rest.is_empty() {
        return Err(JsonError::Decode(format!(
            "{} bytes left over after the value",
            rest.len()
        )));
    }
    Ok(value)
}

/// Encodes `value` as the schema `format` describes.
pub fn encode(format: &SchemaFormat, value: &Value) -> Result<Vec<u8>, JsonError> {
    MESSAGE.with(|kept| kept.borrow_mut().take());
    let shaped = Shaped {
        shape: &format.root,
        format,
        value,
        path: String::new(),
        depth: 0,
    };
    postcard::to_stdvec(&shaped).map_err(|error| JsonError::Encode(message(error)))
}

/// How deeply a value may nest (a schema may be recursive through `Option` or `Vec`).
const MAX_DEPTH: usize = 256;

fn container<'f>(format: &'f SchemaFormat, name: &str) -> Option<&'f Container> {
    format.containers.get(name)
}

// -- decoding --------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct ShapeSeed<'f> {
    shape: &'f Shape,
    format: &'f SchemaFormat,
    depth: usize,
}

impl<'f> ShapeSeed<'f> {
    fn at(&self, shape: &'f Shape) -> ShapeSeed<'f> {
        ShapeSeed {
            shape,
            format: self.format,
            depth: self.depth + 1,
        }
    }
}

impl<'de> DeserializeSeed<'de> for ShapeSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.depth > MAX_DEPTH {
            return Err(de_error("nested too deeply"));
        }
        spend()?;
        let visitor = ShapeVisitor(self);
        match self.shape {
            Shape::Unit => deserializer.deserialize_unit(visitor),
            Shape::Bool => deserializer.deserialize_bool(visitor),
            Shape::I8 => deserializer.deserialize_i8(visitor),
            Shape::I16 => deserializer.deserialize_i16(visitor),
            Shape::I32 => deserializer.deserialize_i32(visitor),
            Shape::I64 => deserializer.deserialize_i64(visitor),
            Shape::I128 => deserializer.deserialize_i128(visitor),
            Shape::U8 => deserializer.deserialize_u8(visitor),
            Shape::U16 => deserializer.deserialize_u16(visitor),
            Shape::U32 => deserializer.deserialize_u32(visitor),
            Shape::U64 => deserializer.deserialize_u64(visitor),
            Shape::U128 => deserializer.deserialize_u128(visitor),
            Shape::F32 => deserializer.deserialize_f32(visitor),
            Shape::F64 => deserializer.deserialize_f64(visitor),
            Shape::Char => deserializer.deserialize_char(visitor),
            Shape::Str => deserializer.deserialize_string(visitor),
            Shape::Bytes => deserializer.deserialize_byte_buf(visitor),
            Shape::Option(_) => deserializer.deserialize_option(visitor),
            Shape::Seq(_) => deserializer.deserialize_seq(visitor),
            Shape::Map { .. } => deserializer.deserialize_map(visitor),
            Shape::Tuple(shapes) => deserializer.deserialize_tuple(shapes.len(), visitor),
            Shape::Array(_, len) => deserializer.deserialize_tuple(*len, visitor),
            Shape::Named(name) => match container(self.format, name) {
                None => Err(de_error(format!(
                    "the schema names `{name}` but does not describe it"
                ))),
                // postcard writes a struct as the tuple of its fields, and a unit struct
                // as nothing.
                Some(Container::Unit) => deserializer.deserialize_unit(visitor),
                Some(Container::Newtype(_)) => deserializer.deserialize_newtype_struct("", visitor),
                Some(Container::Tuple(shapes)) => {
                    deserializer.deserialize_tuple(shapes.len(), visitor)
                }
                Some(Container::Struct(fields)) => {
                    deserializer.deserialize_tuple(fields.len(), visitor)
                }
                Some(Container::Enum(_)) => deserializer.deserialize_enum("", &[], visitor),
                Some(_) => Err(de_error(format!(
                    "`{name}` is a kind of container this tool does not know"
                ))),
            },
            _ => Err(de_error("a kind of shape this tool does not know")),
        }
    }
}

struct ShapeVisitor<'f>(ShapeSeed<'f>);

fn number<E: de::Error>(value: impl Into<Number>) -> Result<Value, E> {
    Ok(Value::Number(value.into()))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("0x");
    for byte in bytes {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

impl<'de> de::Visitor<'de> for ShapeVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value of shape {:?}", self.0.shape)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        number(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        number(v)
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(small) => number(small),
            Err(_) => Ok(Value::String(v.to_string())),
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        match u64::try_from(v) {
            Ok(small) => number(small),
            Err(_) => Ok(Value::String(v.to_string())),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<Value, E> {
        self.visit_f64(f64::from(v))
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::String(hex(v)))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        let Shape::Option(inner) = self.0.shape else {
            return Err(de_error("an option where the schema has none"));
        };
        self.0.at(inner).deserialize(deserializer)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        match self.0.shape {
            Shape::Named(name) => match container(self.0.format, name) {
                Some(Container::Newtype(inner)) => self.0.at(inner).deserialize(deserializer),
                _ => Err(de_error("a newtype where the schema has none")),
            },
            _ => Err(de_error("a newtype where the schema has none")),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let seed = self.0;
        let element = |index: usize| -> Option<&Shape> {
            match seed.shape {
                Shape::Seq(inner) | Shape::Array(inner, _) => Some(inner),
                Shape::Tuple(shapes) => shapes.get(index),
                Shape::Named(name) => match container(seed.format, name)? {
                    Container::Tuple(shapes) => shapes.get(index),
                    Container::Struct(fields) => fields.get(index).map(|field| &field.shape),
                    _ => None,
                },
                _ => None,
            }
        };
        let mut items = Vec::new();
        while let Some(shape) = element(items.len()) {
            match seq.next_element_seed(seed.at(shape))? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        let fields = match seed.shape {
            Shape::Named(name) => match container(seed.format, name) {
                Some(Container::Struct(fields)) => Some(fields),
                _ => None,
            },
            _ => None,
        };
        Ok(match fields {
            Some(fields) => Value::Object(named(fields, items)),
            None => Value::Array(items),
        })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Shape::Map { key, value } = self.0.shape else {
            return Err(de_error("a map where the schema has none"));
        };
        let mut object = Map::new();
        while let Some(k) = map.next_key_seed(self.0.at(key))? {
            let v = map.next_value_seed(self.0.at(value))?;
            let k = match k {
                Value::String(text) => text,
                other => other.to_string(),
            };
            object.insert(k, v);
        }
        Ok(Value::Object(object))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let variants = match self.0.shape {
            Shape::Named(name) => match container(self.0.format, name) {
                Some(Container::Enum(variants)) => variants,
                _ => return Err(de_error("an enum where the schema has none")),
            },
            _ => return Err(de_error("an enum where the schema has none")),
        };
        let (index, access) = data.variant_seed(VariantIndex)?;
        let Some(variant) = variants.get(index as usize) else {
            return Err(de_error(format!(
                "variant {index} of an enum of {} variants",
                variants.len()
            )));
        };
        let content = match &variant.content {
            VariantContent::Unit => {
                access.unit_variant()?;
                return Ok(Value::String(variant.name.clone()));
            }
            VariantContent::Newtype(shape) => access.newtype_variant_seed(self.0.at(shape))?,
            VariantContent::Tuple(shapes) => {
                let tuple = Shape::Tuple(shapes.clone());
                access.tuple_variant(shapes.len(), OwnedVisitor(self.0, tuple))?
            }
            VariantContent::Struct(fields) => {
                let tuple = Shape::Tuple(fields.iter().map(|field| field.shape.clone()).collect());
                let items = access.tuple_variant(fields.len(), OwnedVisitor(self.0, tuple))?;
                match items {
                    Value::Array(items) => Value::Object(named(fields, items)),
                    other => other,
                }
            }
            _ => return Err(de_error("a kind of variant this tool does not know")),
        };
        let mut object = Map::new();
        object.insert(variant.name.clone(), content);
        Ok(Value::Object(object))
    }
}

fn named(fields: &[Field], items: Vec<Value>) -> Map<String, Value> {
    fields
        .iter()
        .zip(items)
        .map(|(field, item)| (field.name.clone(), item))
        .collect()
}

/// A visitor for a shape made on the spot (a variant's fields as a tuple).
struct OwnedVisitor<'f>(ShapeSeed<'f>, Shape);

impl<'de> de::Visitor<'de> for OwnedVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a variant's fields")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        let seed = ShapeSeed {
            shape: &self.1,
            format: self.0.format,
            depth: self.0.depth + 1,
        };
        ShapeVisitor(seed).visit_seq(seq)
    }
}

/// Reads an enum's variant index (postcard gives it as a `u32`).
struct VariantIndex;

impl<'de> DeserializeSeed<'de> for VariantIndex {
    type Value = u32;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u32, D::Error> {
        deserializer.deserialize_u32(self)
    }
}

impl de::Visitor<'_> for VariantIndex {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a variant index")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| de_error("variant index out of range"))
    }

    fn visit_u32<E: de::Error>(self, v: u32) -> Result<u32, E> {
        Ok(v)
    }
}

// -- encoding --------------------------------------------------------------------------------

/// A JSON value with the shape it must be written as, and where it is (for errors).
struct Shaped<'a> {
    shape: &'a Shape,
    format: &'a SchemaFormat,
    value: &'a Value,
    path: String,
    depth: usize,
}

impl<'a> Shaped<'a> {
    fn at(&self, shape: &'a Shape, value: &'a Value, step: impl fmt::Display) -> Shaped<'a> {
        Shaped {
            shape,
            format: self.format,
            value,
            path: format!("{}{step}", self.path),
            depth: self.depth + 1,
        }
    }

    fn error<E: ser::Error>(&self, expected: impl fmt::Display) -> E {
        let path = if self.path.is_empty() {
            "the value".to_owned()
        } else {
            format!("`{}`", self.path)
        };
        ser_error(format!(
            "{path}: expected {expected}, found {}",
            found(self.value)
        ))
    }

    fn integer<E: ser::Error>(&self, what: &str) -> Result<i128, E> {
        match self.value {
            Value::Number(number) => number
                .as_i64()
                .map(i128::from)
                .or_else(|| number.as_u64().map(i128::from))
                .ok_or_else(|| self.error(what)),
            Value::String(text) => text.parse().map_err(|_| self.error(what)),
            _ => Err(self.error(what)),
        }
    }

    fn int<T: TryFrom<i128>, E: ser::Error>(&self, what: &str) -> Result<T, E> {
        let wide = self.integer(what)?;
        T::try_from(wide).map_err(|_| self.error(format!("{what} (out of range: {wide})")))
    }

    fn unsigned128<E: ser::Error>(&self) -> Result<u128, E> {
        match self.value {
            Value::String(text) => text.parse().map_err(|_| self.error("a u128")),
            _ => self.int("a u128"),
        }
    }

    fn float<E: ser::Error>(&self) -> Result<f64, E> {
        self.value.as_f64().ok_or_else(|| self.error("a number"))
    }
}

/// Where a map key sorts: numbers before the rest, in their value's order (exactly, for
/// integers), the rest by their text. A total order, as `sort_by` needs.
fn order_key(key: &Value) -> (bool, i128, u64) {
    match key {
        Value::Number(number) => match number
            .as_i64()
            .map(i128::from)
            .or(number.as_u64().map(i128::from))
        {
            Some(integer) => (false, integer, 0),
            // A float: by its integer part, then its bits in a total order.
            None => {
                let float = number.as_f64().unwrap_or_default();
                let bits = float.to_bits();
                let total = if float.is_sign_negative() {
                    !bits
                } else {
                    bits | (1 << 63)
                };
                (false, float.trunc() as i128, total)
            }
        },
        _ => (true, 0, 0),
    }
}

/// Whether a map key of `shape` is text in JSON: a string, a char, or a newtype of one.
fn is_textual(shape: &Shape, format: &SchemaFormat, depth: usize) -> bool {
    match shape {
        Shape::Str | Shape::Char => true,
        Shape::Named(name) if depth < MAX_DEPTH => match container(format, name) {
            Some(Container::Newtype(inner)) => is_textual(inner, format, depth + 1),
            _ => false,
        },
        _ => false,
    }
}

fn found(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let text = value.to_string();
    if text.len() > 40 {
        kind.to_owned()
    } else {
        format!("{kind} ({text})")
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Serialize for Shaped<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.depth > MAX_DEPTH {
            return Err(ser_error("nested too deeply"));
        }
        let value = self.value;
        match self.shape {
            Shape::Unit => match value {
                Value::Null => serializer.serialize_unit(),
                _ => Err(self.error("null")),
            },
            Shape::Bool => match value {
                Value::Bool(b) => serializer.serialize_bool(*b),
                _ => Err(self.error("a boolean")),
            },
            Shape::I8 => serializer.serialize_i8(self.int("an i8")?),
            Shape::I16 => serializer.serialize_i16(self.int("an i16")?),
            Shape::I32 => serializer.serialize_i32(self.int("an i32")?),
            Shape::I64 => serializer.serialize_i64(self.int("an i64")?),
            Shape::I128 => serializer.serialize_i128(self.integer("an i128")?),
            Shape::U8 => serializer.serialize_u8(self.int("a u8")?),
            Shape::U16 => serializer.serialize_u16(self.int("a u16")?),
            Shape::U32 => serializer.serialize_u32(self.int("a u32")?),
            Shape::U64 => serializer.serialize_u64(self.int("a u64")?),
            Shape::U128 => serializer.serialize_u128(self.unsigned128()?),
            Shape::F32 => serializer.serialize_f32(self.float()? as f32),
            Shape::F64 => serializer.serialize_f64(self.float()?),
            Shape::Char => match value.as_str().map(|text| {
                let mut chars = text.chars();
                (chars.next(), chars.next())
            }) {
                Some((Some(c), None)) => serializer.serialize_char(c),
                _ => Err(self.error("a string of one character")),
            },
            Shape::Str => match value {
                Value::String(text) => serializer.serialize_str(text),
                _ => Err(self.error("a string")),
            },
            Shape::Bytes => {
                let bytes = match value {
                    Value::String(text) => unhex(text),
                    Value::Array(items) => items
                        .iter()
                        .map(|item| item.as_u64().and_then(|n| u8::try_from(n).ok()))
                        .collect(),
                    _ => None,
                };
                match bytes {
                    Some(bytes) => serializer.serialize_bytes(&bytes),
                    None => Err(self.error("bytes (a \"0x…\" hex string or an array of numbers)")),
                }
            }
            Shape::Option(inner) => match value {
                Value::Null => serializer.serialize_none(),
                _ => serializer.serialize_some(&self.at(inner, value, "")),
            },
            Shape::Seq(inner) => {
                let Value::Array(items) = value else {
                    return Err(self.error("an array"));
                };
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for (index, item) in items.iter().enumerate() {
                    seq.serialize_element(&self.at(inner, item, format!("[{index}]")))?;
                }
                seq.end()
            }
            Shape::Map { key, value: shape } => {
                let Value::Object(object) = value else {
                    return Err(self.error("an object"));
                };
                let textual = is_textual(key, self.format, 0);
                let mut entries: Vec<(&String, Value, &Value)> = object
                    .iter()
                    .map(|(text, item)| {
                        let key_value = if textual {
                            Value::String(text.clone())
                        } else {
                            serde_json::from_str(text).unwrap_or(Value::String(text.clone()))
                        };
                        (text, key_value, item)
                    })
                    .collect();
                // A JSON object's keys are text, in text order; a map keyed by numbers is
                // written in number order, as a `BTreeMap` of them is.
                entries.sort_by(|a, b| order_key(&a.1).cmp(&order_key(&b.1)).then(a.0.cmp(b.0)));
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (text, key_value, item) in &entries {
                    map.serialize_key(&self.at(key, key_value, format!(" key {text}")))?;
                    map.serialize_value(&self.at(shape, item, format!(".{text}")))?;
                }
                map.end()
            }
            Shape::Tuple(shapes) => self.tuple(serializer, shapes.iter()),
            Shape::Array(inner, len) => self.tuple(serializer, std::iter::repeat_n(&**inner, *len)),
            Shape::Named(name) => match container(self.format, name) {
                None => Err(ser_error(format!(
                    "the schema names `{name}` but does not describe it"
                ))),
                Some(Container::Unit) => match value {
                    Value::Null => serializer.serialize_unit(),
                    _ => Err(self.error("null")),
                },
                Some(Container::Newtype(inner)) => {
                    serializer.serialize_newtype_struct("", &self.at(inner, value, ""))
                }
                Some(Container::Tuple(shapes)) => self.tuple(serializer, shapes.iter()),
                Some(Container::Struct(fields)) => self.fields(serializer, name, fields),
                Some(Container::Enum(variants)) => self.variant(serializer, name, variants),
                Some(_) => Err(ser_error(format!(
                    "`{name}` is a kind of container this tool does not know"
                ))),
            },
            _ => Err(ser_error("a kind of shape this tool does not know")),
        }
    }
}

impl<'a> Shaped<'a> {
    fn tuple<S: Serializer>(
        &self,
        serializer: S,
        shapes: impl ExactSizeIterator<Item = &'a Shape>,
    ) -> Result<S::Ok, S::Error> {
        let len = shapes.len();
        let Value::Array(items) = self.value else {
            return Err(self.error(format!("an array of {len}")));
        };
        if items.len() != len {
            return Err(self.error(format!("an array of {len}")));
        }
        let mut tuple = serializer.serialize_tuple(len)?;
        for (index, (shape, item)) in shapes.zip(items).enumerate() {
            tuple.serialize_element(&self.at(shape, item, format!("[{index}]")))?;
        }
        tuple.end()
    }

    /// A struct's fields, by name from an object, in the schema's order.
    fn fields<S: Serializer>(
        &self,
        serializer: S,
        name: &str,
        fields: &'a [Field],
    ) -> Result<S::Ok, S::Error> {
        let Value::Object(object) = self.value else {
            return Err(self.error(format!("an object (`{name}`)")));
        };
        if let Some(unknown) = object
            .keys()
            .find(|key| !fields.iter().any(|field| &field.name == *key))
        {
            return Err(ser_error(format!(
                "`{name}` has no field `{unknown}` (it has {})",
                field_list(fields)
            )));
        }
        let mut tuple = serializer.serialize_tuple(fields.len())?;
        for field in fields {
            let Some(item) = object.get(&field.name) else {
                return Err(ser_error(format!(
                    "{}: `{name}` needs the field `{}` (it has {})",
                    if self.path.is_empty() {
                        "the value"
                    } else {
                        &self.path
                    },
                    field.name,
                    field_list(fields)
                )));
            };
            tuple.serialize_element(&self.at(&field.shape, item, format!(".{}", field.name)))?;
        }
        tuple.end()
    }

    /// An enum variant: `"Name"` for a unit variant, `{"Name": content}` for the others.
    fn variant<S: Serializer>(
        &self,
        serializer: S,
        name: &str,
        variants: &'a [Variant],
    ) -> Result<S::Ok, S::Error> {
        let (variant_name, content) = match self.value {
            Value::String(text) => (text.as_str(), None),
            Value::Object(object) if object.len() == 1 => {
                let (key, content) = object.iter().next().expect("one entry");
                (key.as_str(), Some(content))
            }
            _ => {
                return Err(self.error(format!(
                    "a variant of `{name}` (\"Name\" or {{\"Name\": content}})"
                )))
            }
        };
        let Some(index) = variants
            .iter()
            .position(|variant| variant.name == variant_name)
        else {
            let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
            return Err(ser_error(format!(
                "`{name}` has no variant `{variant_name}` (it has {})",
                names.join(", ")
            )));
        };
        let variant = &variants[index];
        let index = u32::try_from(index).map_err(|_| ser_error("too many variants"))?;
        let step = format!(".{variant_name}");
        match (&variant.content, content) {
            (VariantContent::Unit, None | Some(Value::Null)) => {
                serializer.serialize_unit_variant("", index, "")
            }
            (VariantContent::Newtype(shape), Some(content)) => {
                serializer.serialize_newtype_variant("", index, "", &self.at(shape, content, step))
            }
            (VariantContent::Tuple(shapes), Some(content)) => {
                let tuple = Shape::Tuple(shapes.clone());
                let inner = Shaped {
                    shape: &tuple,
                    format: self.format,
                    value: content,
                    path: format!("{}{step}", self.path),
                    depth: self.depth + 1,
                };
                serializer.serialize_newtype_variant("", index, "", &inner)
            }
            (VariantContent::Struct(fields), Some(content)) => {
                let inner = Fields {
                    shaped: Shaped {
                        shape: self.shape,
                        format: self.format,
                        value: content,
                        path: format!("{}{step}", self.path),
                        depth: self.depth + 1,
                    },
                    name: variant_name,
                    fields,
                };
                serializer.serialize_newtype_variant("", index, "", &inner)
            }
            _ => Err(ser_error(format!(
                "{}: the variant `{variant_name}` of `{name}` {}",
                if self.path.is_empty() {
                    "the value"
                } else {
                    &self.path
                },
                match variant.content {
                    VariantContent::Unit => "carries nothing: write \"Name\"",
                    _ => "carries a value: write {\"Name\": content}",
                }
            ))),
        }
    }
}

/// A struct variant's fields (postcard writes a variant's content after its index
/// exactly as a newtype variant of the tuple of its fields).
struct Fields<'a> {
    shaped: Shaped<'a>,
    name: &'a str,
    fields: &'a [Field],
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.shaped.fields(serializer, self.name, self.fields)
    }
}

fn field_list(fields: &[Field]) -> String {
    if fields.is_empty() {
        return "none".to_owned();
    }
    fields
        .iter()
        .map(|field| format!("`{}`", field.name))
        .collect::<Vec<_>>()
        .join(", ")
}
