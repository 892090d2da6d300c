//! The 64-byte secp256k1 public key that identifies a devp2p node.
//!
//! devp2p identifies nodes by their uncompressed secp256k1 public key without
//! the leading `0x04` byte: 64 bytes, written as 128 hex characters in enode
//! URIs. The discovery protocol's *node id* is the keccak256 hash of those 64
//! bytes (see [`PublicKey::node_id`]).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

use super::error::ParseError;

const PUBLIC_KEY_LEN: usize = 64;

/// A node's 64-byte secp256k1 public key (uncompressed, without the `0x04` prefix).
///
/// `Display` prints 128 lower-case hex characters without a `0x` prefix;
/// `FromStr` accepts exactly that form (upper-case digits are accepted too).
///
/// # Serde
///
/// In human-readable formats (JSON, TOML, ...) the key is serialized as its
/// 128-character lower-case hex string. In binary formats (postcard, bincode,
/// ...) it is serialized as a 64-byte byte string. Deserialization accepts a
/// hex string, a 64-byte byte string or a sequence of 64 `u8`s in any format.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// Length of a public key in bytes (64).
    pub const LEN: usize = PUBLIC_KEY_LEN;

    /// Wraps 64 raw public-key bytes.
    pub const fn new(bytes: [u8; PUBLIC_KEY_LEN]) -> Self {
        PublicKey(bytes)
    }

    /// The raw 64 bytes of the key.
    pub const fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// Consumes the key and returns its raw 64 bytes.
    pub const fn to_bytes(self) -> [u8; PUBLIC_KEY_LEN] {
        self.0
    }

    /// The devp2p node id: keccak256 of the 64 key bytes.
    pub fn node_id(&self) -> [u8; 32] {
        keccak256(&self.0)
    }
}

impl From<[u8; PUBLIC_KEY_LEN]> for PublicKey {
    fn from(bytes: [u8; PUBLIC_KEY_LEN]) -> Self {
        PublicKey(bytes)
    }
}

impl From<PublicKey> for [u8; PUBLIC_KEY_LEN] {
    fn from(key: PublicKey) -> Self {
        key.0
    }
}

impl AsRef<[u8]> for PublicKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl FromStr for PublicKey {
    type Err = ParseError;

    /// Parses exactly 128 hex characters (no `0x` prefix).
    ///
    /// Invalid characters are reported before a wrong length, so the error
    /// names the first non-hex character and its position when there is one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut count = 0usize;
        for (position, character) in s.chars().enumerate() {
            if !character.is_ascii_hexdigit() {
                return Err(ParseError::InvalidHexChar {
                    character,
                    position,
                });
            }
            count += 1;
        }
        if count != 2 * PUBLIC_KEY_LEN {
            return Err(ParseError::WrongKeyLength { found: count });
        }
        // All characters are ASCII hex digits and there are exactly 128 of them.
        let mut bytes = [0u8; PUBLIC_KEY_LEN];
        for (byte, pair) in bytes.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        Ok(PublicKey(bytes))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(PublicKeyVisitor)
        } else {
            deserializer.deserialize_bytes(PublicKeyVisitor)
        }
    }
}

struct PublicKeyVisitor;

impl<'de> Visitor<'de> for PublicKeyVisitor {
    type Value = PublicKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a 64-byte public key as 128 hex characters or 64 bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PublicKey, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<PublicKey, E> {
        <[u8; PUBLIC_KEY_LEN]>::try_from(v)
            .map(PublicKey)
            .map_err(|_| E::invalid_length(v.len(), &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PublicKey, A::Error> {
        let mut bytes = [0u8; PUBLIC_KEY_LEN];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(PUBLIC_KEY_LEN + 1, &self));
        }
        Ok(PublicKey(bytes))
    }
}

/// keccak256 (the pre-standard SHA-3 variant used by Ethereum).
pub(crate) fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// Writes `bytes` as lower-case hex.
pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(buf.len() / 2) {
        for (i, b) in chunk.iter().enumerate() {
            buf[2 * i] = DIGITS[usize::from(b >> 4)];
            buf[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
        }
        // Only ASCII hex digits were written, so this cannot fail.
        let text = std::str::from_utf8(&buf[..2 * chunk.len()]).map_err(|_| fmt::Error)?;
        f.write_str(text)?;
    }
    Ok(())
}

/// Value of an ASCII hex digit; callers must have checked `is_ascii_hexdigit`.
fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{
        BytesDeserializer, Error as ValueError, SeqDeserializer, StrDeserializer,
    };

    const KEY_HEX: &str = "d860a01f9722d78051619d1e2351aba3f43f943f6f00718d1b9baa4101932a1f5011f16bb2b1bb35db20d6fe28fa0bf09636d26a87d31de9ec6203eeedb1f666";

    fn hex32(bytes: [u8; 32]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn keccak256_known_vectors() {
        assert_eq!(
            hex32(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            hex32(keccak256(b"abc")),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
        );
    }

    #[test]
    fn node_id_is_keccak_of_key_bytes() {
        let key: PublicKey = KEY_HEX.parse().unwrap();
        assert_eq!(key.node_id(), keccak256(key.as_bytes()));
        assert_ne!(key.node_id(), keccak256(b""));
    }

    #[test]
    fn hex_round_trip_and_case() {
        let key: PublicKey = KEY_HEX.parse().unwrap();
        assert_eq!(key.to_string(), KEY_HEX);
        let upper: PublicKey = KEY_HEX.to_ascii_uppercase().parse().unwrap();
        assert_eq!(upper, key);
        assert_eq!(upper.to_string(), KEY_HEX);
        assert_eq!(format!("{key:?}"), format!("PublicKey({KEY_HEX})"));
        assert_eq!(key.as_bytes()[0], 0xd8);
        assert_eq!(key.to_bytes()[63], 0x66);
    }

    #[test]
    fn rejects_bad_hex_with_position() {
        let mut bad = KEY_HEX.to_string();
        bad.replace_range(5..6, "g");
        let err = bad.parse::<PublicKey>().unwrap_err();
        assert_eq!(
            err,
            ParseError::InvalidHexChar {
                character: 'g',
                position: 5
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("'g'") && msg.contains("position 5"), "{msg}");
    }

    #[test]
    fn rejects_multibyte_char_without_panicking() {
        let err = "ab€d".parse::<PublicKey>().unwrap_err();
        assert_eq!(
            err,
            ParseError::InvalidHexChar {
                character: '€',
                position: 2
            }
        );
    }

    #[test]
    fn rejects_wrong_length() {
        let err = KEY_HEX[..127].parse::<PublicKey>().unwrap_err();
        assert_eq!(err, ParseError::WrongKeyLength { found: 127 });
        assert!(err.to_string().contains("found 127"));
        let long = format!("{KEY_HEX}00");
        assert_eq!(
            long.parse::<PublicKey>().unwrap_err(),
            ParseError::WrongKeyLength { found: 130 }
        );
        assert_eq!(
            "".parse::<PublicKey>().unwrap_err(),
            ParseError::WrongKeyLength { found: 0 }
        );
    }

    #[test]
    fn deserializes_from_hex_bytes_and_seq() {
        let key: PublicKey = KEY_HEX.parse().unwrap();

        let from_str = PublicKey::deserialize(StrDeserializer::<ValueError>::new(KEY_HEX)).unwrap();
        assert_eq!(from_str, key);

        let from_bytes =
            PublicKey::deserialize(BytesDeserializer::<ValueError>::new(key.as_bytes())).unwrap();
        assert_eq!(from_bytes, key);

        let from_seq = PublicKey::deserialize(SeqDeserializer::<_, ValueError>::new(
            key.as_bytes().iter().copied(),
        ))
        .unwrap();
        assert_eq!(from_seq, key);
    }

    #[test]
    fn deserialize_rejects_bad_input() {
        assert!(PublicKey::deserialize(StrDeserializer::<ValueError>::new("zz")).is_err());
        assert!(PublicKey::deserialize(BytesDeserializer::<ValueError>::new(&[0u8; 63])).is_err());
        assert!(
            PublicKey::deserialize(SeqDeserializer::<_, ValueError>::new(std::iter::repeat_n(
                0u8, 65
            )))
            .is_err()
        );
        assert!(
            PublicKey::deserialize(SeqDeserializer::<_, ValueError>::new(std::iter::repeat_n(
                0u8, 10
            )))
            .is_err()
        );
    }
}
