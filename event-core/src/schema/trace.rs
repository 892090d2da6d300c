//! Tracing a type's structure through its `Deserialize`, as serde sees it.
//!
//! A [`Deserialize`] impl tells the deserializer what it expects (a `u64`, a struct with
//! these fields, an enum with these variants, ...). The tracer is a deserializer that
//! records each expectation as a [`Shape`] and answers it with a placeholder value (zero,
//! empty, the first element of a sequence), so the impl runs to the end and every part of
//! the type is seen. An enum gives one variant per pass: passes repeat, each choosing a
//! variant not seen yet (or one on the way to an enum with variants not seen yet), until
//! every variant of every enum reached is known.
//!
//! What cannot be traced makes tracing fail, and the schema falls back to the type's
//! version (see the module docs of `schema`): a `Deserialize` that rejects every
//! placeholder tried (empty strings, zero, byte strings of a few common lengths), one
//! that needs a self-describing format (`deserialize_any`), a recursive type, or two
//! different containers under one name.

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The shape of a value as serde sees it. Decoding one (a published schema comes from
/// another process) counts its nesting and stops at [`MAX_SHAPE_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Shape {
    /// `()`.
    Unit,
    /// `bool`.
    Bool,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `i128`.
    I128,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `u128`.
    U128,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `char`.
    Char,
    /// A string.
    Str,
    /// A byte string.
    Bytes,
    /// `Option<T>`.
    Option(#[serde(deserialize_with = "nested")] Box<Shape>),
    /// A sequence of any length (`Vec<T>`, sets).
    Seq(#[serde(deserialize_with = "nested")] Box<Shape>),
    /// A map.
    Map {
        /// The keys' shape.
        #[serde(deserialize_with = "nested")]
        key: Box<Shape>,
        /// The values' shape.
        #[serde(deserialize_with = "nested")]
        value: Box<Shape>,
    },
    /// A tuple.
    Tuple(#[serde(deserialize_with = "nested")] Vec<Shape>),
    /// A fixed-size array `[T; N]`.
    Array(#[serde(deserialize_with = "nested")] Box<Shape>, usize),
    /// A named container (struct or enum), described in the schema's containers.
    Named(String),
}

/// How deeply a received [`Shape`] may nest: a published schema comes from another
/// process, and decoding without a bound would let one frame exhaust the stack.
pub const MAX_SHAPE_DEPTH: usize = 128;

thread_local! {
    static SHAPE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of [`Shape`] decoding, counted while it lives.
struct ShapeLevelGuard;

impl ShapeLevelGuard {
    fn enter<E: de::Error>() -> Result<ShapeLevelGuard, E> {
        SHAPE_DEPTH.with(|depth| {
            if depth.get() >= MAX_SHAPE_DEPTH {
                return Err(E::custom(format!(
                    "a shape nested more than {MAX_SHAPE_DEPTH} levels deep"
                )));
            }
            depth.set(depth.get() + 1);
            Ok(ShapeLevelGuard)
        })
    }
}

impl Drop for ShapeLevelGuard {
    fn drop(&mut self) {
        SHAPE_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Decodes the shapes one level further down.
fn nested<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    let _level = ShapeLevelGuard::enter::<D::Error>()?;
    T::deserialize(deserializer)
}

/// A named container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Container {
    /// `struct Unit;`
    Unit,
    /// `struct Newtype(T);`
    Newtype(Shape),
    /// `struct Tuple(A, B);`
    Tuple(Vec<Shape>),
    /// `struct Named { a: A, b: B }`, fields in order.
    Struct(Vec<Field>),
    /// An enum, its variants in index order.
    Enum(Vec<Variant>),
}

/// A named field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Its name, as serde sees it (after `rename`).
    pub name: String,
    /// Its shape.
    pub shape: Shape,
}

/// An enum variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// Its name, as serde sees it.
    pub name: String,
    /// What it carries.
    pub content: VariantContent,
}

/// What an enum variant carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum VariantContent {
    /// Nothing.
    Unit,
    /// One value.
    Newtype(Shape),
    /// A tuple.
    Tuple(Vec<Shape>),
    /// Named fields.
    Struct(Vec<Field>),
}

/// Why tracing failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TraceError {
    #[error("{0}")]
    Custom(String),
    #[error("needs a self-describing format ({0})")]
    SelfDescribing(&'static str),
    #[error("`{0}` contains itself")]
    Recursive(String),
    #[error("two different containers are named `{0}`")]
    NameClash(String),
    #[error("gave up after {0} passes")]
    TooManyPasses(usize),
}

impl de::Error for TraceError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        TraceError::Custom(message.to_string())
    }
}

/// Placeholder byte strings, tried in turn where a `Deserialize` rejects the previous one
/// (keys, hashes and addresses have fixed lengths).
const BYTE_LENGTHS: [usize; 12] = [0, 1, 4, 8, 16, 20, 32, 33, 48, 64, 65, 128];
/// Placeholder integers, likewise (a non-zero id).
const INTEGERS: [u8; 2] = [0, 1];

/// The most passes for one type.
const MAX_PASSES: usize = 4096;
/// The deepest nesting of containers followed.
const MAX_DEPTH: usize = 64;

/// An enum as seen so far.
struct EnumSeen {
    names: &'static [&'static str],
    variants: BTreeMap<u32, VariantContent>,
}

/// The state of one tracing.
#[derive(Default)]
struct Tracer {
    structs: BTreeMap<String, Container>,
    enums: BTreeMap<String, EnumSeen>,
    /// The name each Rust type's container is recorded under: its serde name, or, when
    /// another type already took that name (`Result<u8, _>` and `Result<User, _>`, two
    /// `Kind` enums of different modules), the serde name and `#2`, `#3`, ... in the order
    /// found. By Rust type, so that two containers of one serde name are never merged.
    names: BTreeMap<&'static str, String>,
    taken: BTreeSet<String>,
    /// Containers being traced right now, innermost last.
    stack: Vec<String>,
    /// Per placeholder position in a pass (by order of appearance): which placeholder to
    /// give there, and the last position given one.
    placeholder: Vec<usize>,
    position: usize,
    last_position: Option<usize>,
    /// A variant was seen for the first time in this pass.
    progress: bool,
}

/// Traces `T`: its root shape and every container it names.
pub(crate) fn trace<T: for<'de> Deserialize<'de>>(
) -> Result<(Shape, BTreeMap<String, Container>), TraceError> {
    let mut tracer = Tracer::default();
    let mut root = Shape::Unit;
    for _pass in 0..MAX_PASSES {
        tracer.position = 0;
        tracer.last_position = None;
        tracer.progress = false;
        tracer.stack.clear();
        let result = T::deserialize(ShapeOf {
            tracer: &mut tracer,
            out: &mut root,
        });
        match result {
            Ok(_) => {}
            Err(error @ TraceError::Custom(_)) => {
                // Rejected a placeholder: try the next one at the last position given one.
                let Some(at) = tracer.last_position else {
                    return Err(error);
                };
                tracer.placeholder[at] += 1;
                if tracer.placeholder[at] >= BYTE_LENGTHS.len() {
                    return Err(error);
                }
                continue;
            }
            Err(error) => return Err(error),
        }
        if tracer.complete() {
            return Ok((root, tracer.into_containers()?));
        }
        if !tracer.progress && tracer.next_unexplored().is_none() {
            return Err(TraceError::TooManyPasses(MAX_PASSES));
        }
    }
    Err(TraceError::TooManyPasses(MAX_PASSES))
}

impl Tracer {
    fn complete(&self) -> bool {
        self.enums
            .values()
            .all(|seen| seen.variants.len() == seen.names.len())
    }

    fn next_unexplored(&self) -> Option<&str> {
        self.enums
            .iter()
            .find(|(_, seen)| seen.variants.len() < seen.names.len())
            .map(|(name, _)| name.as_str())
    }

    fn into_containers(self) -> Result<BTreeMap<String, Container>, TraceError> {
        let mut containers = self.structs;
        for (name, seen) in self.enums {
            let variants = seen
                .variants
                .into_iter()
                .map(|(index, content)| Variant {
                    name: seen.names[index as usize].to_owned(),
                    content,
                })
                .collect();
            if containers
                .insert(name.clone(), Container::Enum(variants))
                .is_some()
            {
                return Err(TraceError::NameClash(name));
            }
        }
        Ok(containers)
    }

    /// The next placeholder position and the placeholder chosen there.
    fn placeholder(&mut self) -> usize {
        let at = self.position;
        self.position += 1;
        if self.placeholder.len() <= at {
            self.placeholder.resize(at + 1, 0);
        }
        self.last_position = Some(at);
        self.placeholder[at]
    }

    /// The name the container of Rust type `rust_type`, serde name `name`, goes by.
    fn container_name(&mut self, name: &'static str, rust_type: &'static str) -> String {
        if let Some(known) = self.names.get(rust_type) {
            return known.clone();
        }
        let mut chosen = name.to_owned();
        let mut n = 2;
        while self.taken.contains(&chosen) {
            chosen = format!("{name}#{n}");
            n += 1;
        }
        self.taken.insert(chosen.clone());
        self.names.insert(rust_type, chosen.clone());
        chosen
    }

    fn enter(&mut self, name: &str) -> Result<(), TraceError> {
        if self.stack.iter().any(|open| open == name) || self.stack.len() >= MAX_DEPTH {
            return Err(TraceError::Recursive(name.to_owned()));
        }
        self.stack.push(name.to_owned());
        Ok(())
    }

    fn leave(&mut self) {
        self.stack.pop();
    }

    fn record_struct(&mut self, name: &str, container: Container) -> Result<(), TraceError> {
        match self.structs.get(name) {
            Some(known) if *known != container => Err(TraceError::NameClash(name.to_owned())),
            _ => {
                self.structs.insert(name.to_owned(), container);
                Ok(())
            }
        }
    }

    /// Which variant of enum `name` to visit: one not seen yet, else one on the way to an
    /// enum with variants not seen yet, else the first.
    fn choose(&mut self, name: &str, variants: &'static [&'static str]) -> u32 {
        let seen = self.enums.entry(name.to_owned()).or_insert(EnumSeen {
            names: variants,
            variants: BTreeMap::new(),
        });
        if let Some(index) =
            (0..variants.len() as u32).find(|index| !seen.variants.contains_key(index))
        {
            return index;
        }
        let contents: Vec<(u32, VariantContent)> = seen
            .variants
            .iter()
            .map(|(index, content)| (*index, content.clone()))
            .collect();
        for (index, content) in contents {
            let mut visited = BTreeSet::new();
            if self.content_leads_to_unexplored(&content, &mut visited) {
                return index;
            }
        }
        0
    }

    fn content_leads_to_unexplored(
        &self,
        content: &VariantContent,
        visited: &mut BTreeSet<String>,
    ) -> bool {
        match content {
            VariantContent::Unit => false,
            VariantContent::Newtype(shape) => self.leads_to_unexplored(shape, visited),
            VariantContent::Tuple(shapes) => shapes
                .iter()
                .any(|shape| self.leads_to_unexplored(shape, visited)),
            VariantContent::Struct(fields) => fields
                .iter()
                .any(|field| self.leads_to_unexplored(&field.shape, visited)),
        }
    }

    fn leads_to_unexplored(&self, shape: &Shape, visited: &mut BTreeSet<String>) -> bool {
        match shape {
            Shape::Option(inner) | Shape::Seq(inner) | Shape::Array(inner, _) => {
                self.leads_to_unexplored(inner, visited)
            }
            Shape::Map { key, value } => {
                self.leads_to_unexplored(key, visited) || self.leads_to_unexplored(value, visited)
            }
            Shape::Tuple(shapes) => shapes
                .iter()
                .any(|shape| self.leads_to_unexplored(shape, visited)),
            Shape::Named(name) => {
                if !visited.insert(name.clone()) {
                    return false;
                }
                if let Some(seen) = self.enums.get(name) {
                    seen.variants.len() < seen.names.len()
                        || seen
                            .variants
                            .values()
                            .any(|content| self.content_leads_to_unexplored(content, visited))
                } else {
                    match self.structs.get(name) {
                        Some(Container::Newtype(shape)) => self.leads_to_unexplored(shape, visited),
                        Some(Container::Tuple(shapes)) => shapes
                            .iter()
                            .any(|shape| self.leads_to_unexplored(shape, visited)),
                        Some(Container::Struct(fields)) => fields
                            .iter()
                            .any(|field| self.leads_to_unexplored(&field.shape, visited)),
                        _ => false,
                    }
                }
            }
            _ => false,
        }
    }
}

/// The deserializer that records the shape of one value into `out`.
struct ShapeOf<'t> {
    tracer: &'t mut Tracer,
    out: &'t mut Shape,
}

macro_rules! integer {
    ($method:ident, $visit:ident, $shape:ident, $ty:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
            *self.out = Shape::$shape;
            let choice = self.tracer.placeholder();
            visitor.$visit(INTEGERS[choice.min(INTEGERS.len() - 1)] as $ty)
        }
    };
}

impl<'de> Deserializer<'de> for ShapeOf<'_> {
    type Error = TraceError;

    fn is_human_readable(&self) -> bool {
        // As the wire codec (postcard).
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError::SelfDescribing("deserialize_any"))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError::SelfDescribing("deserialize_ignored_any"))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError::SelfDescribing("deserialize_identifier"))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Bool;
        visitor.visit_bool(false)
    }

    integer!(deserialize_i8, visit_i8, I8, i8);
    integer!(deserialize_i16, visit_i16, I16, i16);
    integer!(deserialize_i32, visit_i32, I32, i32);
    integer!(deserialize_i64, visit_i64, I64, i64);
    integer!(deserialize_i128, visit_i128, I128, i128);
    integer!(deserialize_u8, visit_u8, U8, u8);
    integer!(deserialize_u16, visit_u16, U16, u16);
    integer!(deserialize_u32, visit_u32, U32, u32);
    integer!(deserialize_u64, visit_u64, U64, u64);
    integer!(deserialize_u128, visit_u128, U128, u128);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::F32;
        visitor.visit_f32(0.0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::F64;
        visitor.visit_f64(0.0)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Char;
        visitor.visit_char('a')
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Str;
        visitor.visit_str("")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Str;
        visitor.visit_string(String::new())
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Bytes;
        let choice = self.tracer.placeholder();
        visitor.visit_bytes(&[0; 128][..BYTE_LENGTHS[choice.min(BYTE_LENGTHS.len() - 1)]])
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Bytes;
        let choice = self.tracer.placeholder();
        visitor.visit_byte_buf(vec![0; BYTE_LENGTHS[choice.min(BYTE_LENGTHS.len() - 1)]])
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let mut inner = Shape::Unit;
        let value = visitor.visit_some(ShapeOf {
            tracer: self.tracer,
            out: &mut inner,
        })?;
        *self.out = Shape::Option(Box::new(inner));
        Ok(value)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        *self.out = Shape::Unit;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let name = self
            .tracer
            .container_name(name, std::any::type_name::<V::Value>());
        *self.out = Shape::Named(name.clone());
        let value = visitor.visit_unit()?;
        self.tracer.record_struct(&name, Container::Unit)?;
        Ok(value)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let name = self
            .tracer
            .container_name(name, std::any::type_name::<V::Value>());
        *self.out = Shape::Named(name.clone());
        self.tracer.enter(&name)?;
        let mut inner = Shape::Unit;
        let value = visitor.visit_newtype_struct(ShapeOf {
            tracer: self.tracer,
            out: &mut inner,
        })?;
        self.tracer.leave();
        self.tracer
            .record_struct(&name, Container::Newtype(inner))?;
        Ok(value)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let (value, shapes) = elements(self.tracer, 1, visitor)?;
        let element = shapes.into_iter().next().unwrap_or(Shape::Unit);
        *self.out = Shape::Seq(Box::new(element));
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let (value, shapes) = elements(self.tracer, len, visitor)?;
        *self.out = match shapes.first() {
            Some(first) if len > 1 && shapes.iter().all(|shape| shape == first) => {
                Shape::Array(Box::new(first.clone()), len)
            }
            _ => Shape::Tuple(shapes),
        };
        Ok(value)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let name = self
            .tracer
            .container_name(name, std::any::type_name::<V::Value>());
        *self.out = Shape::Named(name.clone());
        self.tracer.enter(&name)?;
        let (value, shapes) = elements(self.tracer, len, visitor)?;
        self.tracer.leave();
        self.tracer.record_struct(&name, Container::Tuple(shapes))?;
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let (mut key, mut value_shape) = (Shape::Unit, Shape::Unit);
        let value = visitor.visit_map(OneEntry {
            tracer: self.tracer,
            key: Some(&mut key),
            value: Some(&mut value_shape),
        })?;
        *self.out = Shape::Map {
            key: Box::new(key),
            value: Box::new(value_shape),
        };
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let name = self
            .tracer
            .container_name(name, std::any::type_name::<V::Value>());
        *self.out = Shape::Named(name.clone());
        self.tracer.enter(&name)?;
        let (value, shapes) = elements(self.tracer, fields.len(), visitor)?;
        self.tracer.leave();
        let fields = fields
            .iter()
            .zip(shapes)
            .map(|(name, shape)| Field {
                name: (*name).to_owned(),
                shape,
            })
            .collect();
        self.tracer
            .record_struct(&name, Container::Struct(fields))?;
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        if variants.is_empty() {
            return Err(TraceError::Custom(format!("`{name}` has no variants")));
        }
        let name = self
            .tracer
            .container_name(name, std::any::type_name::<V::Value>());
        *self.out = Shape::Named(name.clone());
        self.tracer.enter(&name)?;
        let index = self.tracer.choose(&name, variants);
        let mut content = VariantContent::Unit;
        let value = visitor.visit_enum(OneVariant {
            tracer: self.tracer,
            index,
            content: &mut content,
        })?;
        self.tracer.leave();
        let seen = self
            .tracer
            .enums
            .get_mut(&name)
            .expect("registered by choose");
        if let std::collections::btree_map::Entry::Vacant(entry) = seen.variants.entry(index) {
            entry.insert(content);
            self.tracer.progress = true;
        }
        Ok(value)
    }
}

/// Visits `len` elements (of a sequence, tuple, struct or variant) and returns the value
/// with their shapes.
fn elements<'de, V: Visitor<'de>>(
    tracer: &mut Tracer,
    len: usize,
    visitor: V,
) -> Result<(V::Value, Vec<Shape>), TraceError> {
    let mut shapes = Vec::new();
    let value = visitor.visit_seq(Elements {
        tracer,
        left: len,
        shapes: &mut shapes,
    })?;
    Ok((value, shapes))
}

/// The elements of a sequence, tuple or struct: exactly `left` of them.
struct Elements<'t> {
    tracer: &'t mut Tracer,
    left: usize,
    shapes: &'t mut Vec<Shape>,
}

impl<'de> SeqAccess<'de> for Elements<'_> {
    type Error = TraceError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TraceError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut shape = Shape::Unit;
        let value = seed.deserialize(ShapeOf {
            tracer: self.tracer,
            out: &mut shape,
        })?;
        self.shapes.push(shape);
        Ok(Some(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// A map of one entry.
struct OneEntry<'t> {
    tracer: &'t mut Tracer,
    key: Option<&'t mut Shape>,
    value: Option<&'t mut Shape>,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        let Some(out) = self.key.take() else {
            return Ok(None);
        };
        seed.deserialize(ShapeOf {
            tracer: self.tracer,
            out,
        })
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TraceError> {
        let mut unused = Shape::Unit;
        let out = self.value.take().unwrap_or(&mut unused);
        seed.deserialize(ShapeOf {
            tracer: self.tracer,
            out,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(self.key.is_some()))
    }
}

/// The chosen variant of an enum.
struct OneVariant<'t> {
    tracer: &'t mut Tracer,
    index: u32,
    content: &'t mut VariantContent,
}

impl<'de, 't> EnumAccess<'de> for OneVariant<'t> {
    type Error = TraceError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), TraceError> {
        let index: de::value::U32Deserializer<TraceError> = self.index.into_deserializer();
        let variant = seed.deserialize(index)?;
        Ok((variant, self))
    }
}

impl<'de> VariantAccess<'de> for OneVariant<'_> {
    type Error = TraceError;

    fn unit_variant(self) -> Result<(), TraceError> {
        *self.content = VariantContent::Unit;
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, TraceError> {
        let mut shape = Shape::Unit;
        let value = seed.deserialize(ShapeOf {
            tracer: self.tracer,
            out: &mut shape,
        })?;
        *self.content = VariantContent::Newtype(shape);
        Ok(value)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let (value, shapes) = elements(self.tracer, len, visitor)?;
        *self.content = VariantContent::Tuple(shapes);
        Ok(value)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let (value, shapes) = elements(self.tracer, fields.len(), visitor)?;
        *self.content = VariantContent::Struct(
            fields
                .iter()
                .zip(shapes)
                .map(|(name, shape)| Field {
                    name: (*name).to_owned(),
                    shape,
                })
                .collect(),
        );
        Ok(value)
    }
}
