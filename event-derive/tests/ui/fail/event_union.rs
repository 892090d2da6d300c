use event_core::Event;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Event)]
pub union Bits {
    pub int: u32,
    pub float: f32,
}

// Hand-written serde impls, so that the only error is the derive's own.
impl Serialize for Bits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // SAFETY: both fields are 4 plain bytes.
        serializer.serialize_u32(unsafe { self.int })
    }
}

impl<'de> Deserialize<'de> for Bits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u32::deserialize(deserializer).map(|int| Bits { int })
    }
}

fn main() {}
