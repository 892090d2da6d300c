//! devp2p capabilities: the `(name, version)` subprotocol pairs peers advertise.
//!
//! In the devp2p `Hello` handshake each side lists the subprotocols it speaks,
//! such as `eth/68` or `snap/1`. Trinity models the list as a tuple of
//! `(name, version)` pairs; here it is [`Capabilities`], a newtype over
//! `Vec<Capability>` with lookup helpers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::ParseError;

/// One subprotocol a peer supports: a name and a version, written `eth/68`.
///
/// `FromStr` parses the same `name/version` form; the name must be non-empty
/// and must not contain `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Capability {
    /// Subprotocol name, e.g. `eth`, `snap`, `les`.
    pub name: String,
    /// Subprotocol version, e.g. `68`.
    pub version: u32,
}

impl Capability {
    /// Creates a capability from a name and a version.
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Capability {
            name: name.into(),
            version,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

impl FromStr for Capability {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || ParseError::MalformedCapability {
            input: s.to_string(),
        };
        let (name, version) = s.split_once('/').ok_or_else(malformed)?;
        if name.is_empty() || version.contains('/') {
            return Err(malformed());
        }
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::InvalidCapabilityVersion {
                version: version.to_string(),
            });
        }
        let version = version
            .parse()
            .map_err(|_| ParseError::InvalidCapabilityVersion {
                version: version.to_string(),
            })?;
        Ok(Capability::new(name, version))
    }
}

/// The list of capabilities a peer advertised, in the order it advertised them.
///
/// A transparent newtype over `Vec<Capability>` (it serializes as a plain
/// sequence) with helpers for the common questions: does the peer speak a
/// protocol, and which is the highest version it speaks.
/// `Display` joins the entries with `, `, e.g. `eth/67, eth/68, snap/1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Capabilities(Vec<Capability>);

impl Capabilities {
    /// An empty list.
    pub fn new() -> Self {
        Capabilities(Vec::new())
    }

    /// Appends a capability.
    pub fn push(&mut self, capability: Capability) {
        self.0.push(capability);
    }

    /// The number of capabilities.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no capabilities.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the capabilities in advertised order.
    pub fn iter(&self) -> std::slice::Iter<'_, Capability> {
        self.0.iter()
    }

    /// The capabilities as a slice.
    pub fn as_slice(&self) -> &[Capability] {
        &self.0
    }

    /// Unwraps the underlying vector.
    pub fn into_vec(self) -> Vec<Capability> {
        self.0
    }

    /// Whether exactly `name/version` is present.
    pub fn contains(&self, name: &str, version: u32) -> bool {
        self.0
            .iter()
            .any(|c| c.name == name && c.version == version)
    }

    /// Whether any version of the protocol `name` is present.
    pub fn supports(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.name == name)
    }

    /// The highest advertised version of the protocol `name`, if any.
    pub fn highest_version(&self, name: &str) -> Option<u32> {
        self.0
            .iter()
            .filter(|c| c.name == name)
            .map(|c| c.version)
            .max()
    }
}

impl From<Vec<Capability>> for Capabilities {
    fn from(capabilities: Vec<Capability>) -> Self {
        Capabilities(capabilities)
    }
}

impl From<Capabilities> for Vec<Capability> {
    fn from(capabilities: Capabilities) -> Self {
        capabilities.0
    }
}

impl AsRef<[Capability]> for Capabilities {
    fn as_ref(&self) -> &[Capability] {
        &self.0
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        Capabilities(iter.into_iter().collect())
    }
}

impl Extend<Capability> for Capabilities {
    fn extend<I: IntoIterator<Item = Capability>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for Capabilities {
    type Item = Capability;
    type IntoIter = std::vec::IntoIter<Capability>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Capabilities {
    type Item = &'a Capability;
    type IntoIter = std::slice::Iter<'a, Capability>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, capability) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{capability}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_and_parse() {
        let eth = Capability::new("eth", 68);
        assert_eq!(eth.to_string(), "eth/68");
        assert_eq!("eth/68".parse::<Capability>(), Ok(eth));
        assert_eq!(
            "snap/1".parse::<Capability>(),
            Ok(Capability::new("snap", 1))
        );
    }

    #[test]
    fn parse_rejects_malformed() {
        for input in ["eth", "/68", "eth/68/1", ""] {
            let err = input.parse::<Capability>().unwrap_err();
            assert_eq!(
                err,
                ParseError::MalformedCapability {
                    input: input.into()
                }
            );
            assert!(err.to_string().contains("name>/<version"), "{err}");
        }
        for (input, version) in [
            ("eth/", ""),
            ("eth/x", "x"),
            ("eth/+1", "+1"),
            ("eth/4294967296", "4294967296"),
        ] {
            let err = input.parse::<Capability>().unwrap_err();
            assert_eq!(
                err,
                ParseError::InvalidCapabilityVersion {
                    version: version.into()
                }
            );
            assert!(err.to_string().contains("version"), "{err}");
        }
    }

    #[test]
    fn capabilities_helpers() {
        let caps: Capabilities = ["eth/67", "eth/68", "snap/1"]
            .iter()
            .map(|s| s.parse::<Capability>().unwrap())
            .collect();
        assert_eq!(caps.len(), 3);
        assert!(!caps.is_empty());
        assert!(caps.contains("eth", 67));
        assert!(!caps.contains("eth", 66));
        assert!(caps.supports("snap"));
        assert!(!caps.supports("les"));
        assert_eq!(caps.highest_version("eth"), Some(68));
        assert_eq!(caps.highest_version("les"), None);
        assert_eq!(caps.to_string(), "eth/67, eth/68, snap/1");
        assert_eq!(caps.iter().count(), 3);
        assert_eq!((&caps).into_iter().count(), 3);
        assert_eq!(caps.as_slice()[2], Capability::new("snap", 1));

        let mut more = Capabilities::new();
        assert!(more.is_empty());
        assert_eq!(more.to_string(), "");
        more.push(Capability::new("les", 4));
        more.extend(caps.clone());
        assert_eq!(more.len(), 4);
        assert_eq!(Vec::from(caps.clone()), caps.clone().into_vec());
        assert_eq!(Capabilities::from(caps.clone().into_vec()), caps);
    }

    proptest! {
        #[test]
        fn capability_display_parse_round_trip(name in "[a-z0-9]{1,8}", version in any::<u32>()) {
            let capability = Capability::new(name, version);
            prop_assert_eq!(capability.to_string().parse::<Capability>(), Ok(capability));
        }

        #[test]
        fn capability_parse_never_panics(s in any::<String>()) {
            let _ = s.parse::<Capability>();
        }
    }
}
