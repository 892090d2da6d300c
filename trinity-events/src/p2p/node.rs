//! A devp2p node and its `enode://` URI form.
//!
//! An enode URI names a node by its public key and its network endpoints:
//!
//! ```text
//! enode://<128 hex chars>@<ip>:<tcp port>[?discport=<udp port>]
//! ```
//!
//! IPv6 addresses are enclosed in brackets (`enode://…@[::1]:30303`). When
//! `?discport` is absent the UDP discovery port equals the TCP port. Host
//! names are not accepted: the host must be a literal IP address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{ParseError, PortKind};
use super::public_key::PublicKey;

const SCHEME: &str = "enode";
const DISCPORT: &str = "discport";

/// A devp2p node: public key, IP address, TCP (RLPx) port and UDP (discovery) port.
///
/// Its textual form is an enode URI,
/// `enode://<128 hex chars>@<ip>:<tcp port>[?discport=<udp port>]`, with IPv6
/// addresses in brackets (`enode://…@[::1]:30303`); without `?discport` the
/// UDP port equals the TCP port. The host must be a literal IP address.
///
/// Parse one from an enode URI with [`str::parse`] and print it back with
/// `Display`, which always yields the canonical form: lower-case hex, IPv6 in
/// brackets, and `?discport=` only when the UDP port differs from the TCP port.
///
/// ```
/// use trinity_events::Node;
///
/// let uri = "enode://d860a01f9722d78051619d1e2351aba3f43f943f6f00718d1b9baa4101932a1f5011f16bb2b1bb35db20d6fe28fa0bf09636d26a87d31de9ec6203eeedb1f666@18.138.108.67:30303";
/// let node: Node = uri.parse().unwrap();
/// assert_eq!(node.tcp_port(), 30303);
/// assert_eq!(node.udp_port(), 30303);
/// assert_eq!(node.to_string(), uri);
/// ```
///
/// # Serde
///
/// Serialized as a struct with the fields `pubkey` (see [`PublicKey`]: a hex
/// string in human-readable formats, 64 bytes in binary ones), `ip`,
/// `tcp_port` and `udp_port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Node {
    pubkey: PublicKey,
    ip: IpAddr,
    tcp_port: u16,
    udp_port: u16,
}

impl Node {
    /// Creates a node from its public key, IP address, TCP port and UDP port.
    pub fn new(pubkey: PublicKey, ip: IpAddr, tcp_port: u16, udp_port: u16) -> Self {
        Node {
            pubkey,
            ip,
            tcp_port,
            udp_port,
        }
    }

    /// The node's 64-byte secp256k1 public key.
    pub fn pubkey(&self) -> &PublicKey {
        &self.pubkey
    }

    /// The node's IP address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The TCP port the node accepts RLPx connections on.
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }

    /// The UDP port the node runs the discovery protocol on.
    pub fn udp_port(&self) -> u16 {
        self.udp_port
    }

    /// The TCP (RLPx) socket address.
    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.tcp_port)
    }

    /// The UDP (discovery) socket address.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.udp_port)
    }

    /// The devp2p node id: keccak256 of the 64 public-key bytes.
    pub fn node_id(&self) -> [u8; 32] {
        self.pubkey.node_id()
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}://{}@", self.pubkey)?;
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}")?,
            IpAddr::V6(ip) => write!(f, "[{ip}]")?,
        }
        write!(f, ":{}", self.tcp_port)?;
        if self.udp_port != self.tcp_port {
            write!(f, "?{DISCPORT}={}", self.udp_port)?;
        }
        Ok(())
    }
}

impl FromStr for Node {
    type Err = ParseError;

    /// Parses an enode URI of the form described on [`Node`].
    ///
    /// The scheme is matched case-insensitively and the hex key may use either
    /// case; everything else must be in the canonical form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s.split_once("://").ok_or(ParseError::MissingScheme)?;
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return Err(ParseError::WrongScheme {
                found: scheme.to_string(),
            });
        }

        let (key, address) = rest.split_once('@').ok_or(ParseError::MissingAt)?;
        let pubkey: PublicKey = key.parse()?;

        let (host_port, query) = match address.split_once('?') {
            Some((host_port, query)) => (host_port, Some(query)),
            None => (address, None),
        };
        let (ip, tcp_port) = parse_host_port(host_port)?;
        let udp_port = match query {
            Some(query) => parse_query(query)?.unwrap_or(tcp_port),
            None => tcp_port,
        };

        Ok(Node::new(pubkey, ip, tcp_port, udp_port))
    }
}

/// Parses `1.2.3.4:30303` or `[::1]:30303`.
fn parse_host_port(s: &str) -> Result<(IpAddr, u16), ParseError> {
    if s.is_empty() {
        return Err(ParseError::MissingHost);
    }

    if let Some(bracketed) = s.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or(ParseError::UnclosedBracket)?;
        let ip = match host.parse::<Ipv6Addr>() {
            Ok(ip) => IpAddr::V6(ip),
            Err(_) if host.is_empty() => return Err(ParseError::MissingHost),
            Err(_) if host.parse::<Ipv4Addr>().is_ok() => {
                return Err(ParseError::BracketedIpv4 {
                    value: host.to_string(),
                })
            }
            Err(_) => {
                return Err(ParseError::InvalidIp {
                    value: host.to_string(),
                })
            }
        };
        let port = match after.strip_prefix(':') {
            Some(port) => port,
            None if after.is_empty() => {
                return Err(ParseError::MissingPort {
                    kind: PortKind::Tcp,
                })
            }
            None => {
                return Err(ParseError::UnexpectedAfterBracket {
                    found: after.to_string(),
                })
            }
        };
        return Ok((ip, parse_port(port, PortKind::Tcp)?));
    }

    match s.matches(':').count() {
        0 => {
            // No port at all; still report a bad host first if there is one.
            if s.parse::<Ipv4Addr>().is_err() {
                return Err(ParseError::InvalidIp {
                    value: s.to_string(),
                });
            }
            Err(ParseError::MissingPort {
                kind: PortKind::Tcp,
            })
        }
        1 => {
            let (host, port) = s.split_once(':').ok_or(ParseError::MissingPort {
                kind: PortKind::Tcp,
            })?;
            if host.is_empty() {
                return Err(ParseError::MissingHost);
            }
            let ip = host
                .parse::<Ipv4Addr>()
                .map_err(|_| ParseError::InvalidIp {
                    value: host.to_string(),
                })?;
            Ok((IpAddr::V4(ip), parse_port(port, PortKind::Tcp)?))
        }
        // Two or more colons outside brackets: an IPv6 address, with or without a port.
        _ => Err(ParseError::UnbracketedIpv6 {
            value: s.to_string(),
        }),
    }
}

/// Parses the query string (without `?`) and returns the `discport`, if given.
fn parse_query(query: &str) -> Result<Option<u16>, ParseError> {
    let mut discport = None;
    for segment in query.split('&') {
        let (name, value) =
            segment
                .split_once('=')
                .ok_or_else(|| ParseError::MalformedQueryParameter {
                    segment: segment.to_string(),
                })?;
        if name.is_empty() {
            return Err(ParseError::MalformedQueryParameter {
                segment: segment.to_string(),
            });
        }
        if name != DISCPORT {
            return Err(ParseError::UnknownQueryParameter {
                name: name.to_string(),
            });
        }
        if discport.is_some() {
            return Err(ParseError::DuplicateQueryParameter {
                name: name.to_string(),
            });
        }
        discport = Some(parse_port(value, PortKind::Discovery)?);
    }
    Ok(discport)
}

/// Parses a decimal port number in `0..=65535`.
fn parse_port(s: &str, kind: PortKind) -> Result<u16, ParseError> {
    if s.is_empty() {
        return Err(ParseError::MissingPort { kind });
    }
    // Check the digits ourselves: `u16::from_str` would also accept a leading '+'.
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::NonNumericPort {
            kind,
            value: s.to_string(),
        });
    }
    s.parse::<u16>().map_err(|_| ParseError::PortOutOfRange {
        kind,
        value: s.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Ethereum mainnet bootnodes from go-ethereum's `params/bootnodes.go`.
    const MAINNET_BOOTNODES: &[&str] = &[
        "enode://d860a01f9722d78051619d1e2351aba3f43f943f6f00718d1b9baa4101932a1f5011f16bb2b1bb35db20d6fe28fa0bf09636d26a87d31de9ec6203eeedb1f666@18.138.108.67:30303",
        "enode://22a8232c3abc76a16ae9d6c3b164f98775fe226f0917b0ca871128a74a8e9630b458460865bab457221f1d448dd9791d24c4e5d88786180ac185df813a68d4de@3.209.45.79:30303",
        "enode://2b252ab6a1d0f971d9722cb839a42cb81db019ba44c08754628ab4a823487071b5695317c8ccd085219c3a03af063495b2f1da8d18218da2d6a82981b45e6ffc@65.108.70.101:30303",
        "enode://4aeb4ab6c14b23e2c4cfdce879c04b0748a20d8e9b59e25ded2a08143e265c6c25936e74cbc8e641e3312ca288673d91f2f93f8e277de3cfa444ecdaaf982052@157.90.35.166:30303",
    ];

    const KEY: &str = "d860a01f9722d78051619d1e2351aba3f43f943f6f00718d1b9baa4101932a1f5011f16bb2b1bb35db20d6fe28fa0bf09636d26a87d31de9ec6203eeedb1f666";

    fn uri(address: &str) -> String {
        format!("enode://{KEY}@{address}")
    }

    fn parse_err(s: &str) -> ParseError {
        match s.parse::<Node>() {
            Ok(node) => panic!("{s:?} unexpectedly parsed as {node:?}"),
            Err(err) => err,
        }
    }

    /// Asserts that the error's Display mentions every one of `needles`.
    fn assert_mentions(err: &ParseError, needles: &[&str]) {
        let msg = err.to_string();
        for needle in needles {
            assert!(msg.contains(needle), "{msg:?} does not mention {needle:?}");
        }
    }

    #[test]
    fn mainnet_bootnodes_round_trip() {
        for &s in MAINNET_BOOTNODES {
            let node: Node = s.parse().unwrap();
            assert_eq!(node.to_string(), s);
            assert_eq!(node.tcp_port(), 30303);
            assert_eq!(node.udp_port(), 30303);
            assert!(node.ip().is_ipv4());
        }
    }

    #[test]
    fn bootnode_fields() {
        let node: Node = MAINNET_BOOTNODES[0].parse().unwrap();
        assert_eq!(node.pubkey().to_string(), KEY);
        assert_eq!(node.ip(), IpAddr::V4(Ipv4Addr::new(18, 138, 108, 67)));
        assert_eq!(node.tcp_addr(), "18.138.108.67:30303".parse().unwrap());
        assert_eq!(node.udp_addr(), "18.138.108.67:30303".parse().unwrap());
        assert_eq!(node.node_id(), node.pubkey().node_id());
    }

    #[test]
    fn ipv6_round_trip() {
        for address in ["[::1]:30303", "[2001:db8::68]:30303", "[::ffff:1.2.3.4]:1"] {
            let s = uri(address);
            let node: Node = s.parse().unwrap();
            assert!(node.ip().is_ipv6());
            assert_eq!(node.to_string(), s);
        }
        let node: Node = uri("[2001:db8::68]:30303").parse().unwrap();
        assert_eq!(node.ip(), "2001:db8::68".parse::<IpAddr>().unwrap());
        assert_eq!(node.tcp_addr(), "[2001:db8::68]:30303".parse().unwrap());
    }

    #[test]
    fn discport_round_trip() {
        let s = uri("18.138.108.67:30303?discport=30301");
        let node: Node = s.parse().unwrap();
        assert_eq!(node.tcp_port(), 30303);
        assert_eq!(node.udp_port(), 30301);
        assert_eq!(node.udp_addr(), "18.138.108.67:30301".parse().unwrap());
        assert_eq!(node.to_string(), s);

        let s6 = uri("[2001:db8::1]:30303?discport=30301");
        assert_eq!(s6.parse::<Node>().unwrap().to_string(), s6);
    }

    #[test]
    fn redundant_discport_is_dropped_on_display() {
        let node: Node = uri("1.2.3.4:30303?discport=30303").parse().unwrap();
        assert_eq!(node.udp_port(), 30303);
        assert_eq!(node.to_string(), uri("1.2.3.4:30303"));
    }

    #[test]
    fn display_lowercases_hex_and_accepts_upper_case_scheme() {
        let upper = format!("ENODE://{}@1.2.3.4:30303", KEY.to_ascii_uppercase());
        let node: Node = upper.parse().unwrap();
        assert_eq!(node.to_string(), uri("1.2.3.4:30303"));
    }

    #[test]
    fn new_and_accessors() {
        let key: PublicKey = KEY.parse().unwrap();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let node = Node::new(key, ip, 30303, 30301);
        assert_eq!(node.pubkey(), &key);
        assert_eq!(node.ip(), ip);
        assert_eq!(node.tcp_port(), 30303);
        assert_eq!(node.udp_port(), 30301);
        assert_eq!(node.to_string(), uri("10.0.0.1:30303?discport=30301"));
    }

    #[test]
    fn rejects_missing_scheme() {
        let err = parse_err(&format!("{KEY}@1.2.3.4:30303"));
        assert_eq!(err, ParseError::MissingScheme);
        assert_mentions(&err, &["enode://", "missing"]);
        assert_eq!(parse_err(""), ParseError::MissingScheme);
    }

    #[test]
    fn rejects_wrong_scheme() {
        let err = parse_err(&format!("enr://{KEY}@1.2.3.4:30303"));
        assert_eq!(
            err,
            ParseError::WrongScheme {
                found: "enr".into()
            }
        );
        assert_mentions(&err, &["enode://", "enr://"]);
    }

    #[test]
    fn rejects_missing_at() {
        let err = parse_err(&format!("enode://{KEY}"));
        assert_eq!(err, ParseError::MissingAt);
        assert_mentions(&err, &["'@'"]);
    }

    #[test]
    fn rejects_bad_hex() {
        let bad_key = format!("{}x{}", &KEY[..10], &KEY[11..]);
        let err = parse_err(&format!("enode://{bad_key}@1.2.3.4:30303"));
        assert_eq!(
            err,
            ParseError::InvalidHexChar {
                character: 'x',
                position: 10
            }
        );
        assert_mentions(&err, &["'x'", "position 10", "hex"]);
    }

    #[test]
    fn rejects_wrong_key_length() {
        let err = parse_err(&format!("enode://{}@1.2.3.4:30303", &KEY[..126]));
        assert_eq!(err, ParseError::WrongKeyLength { found: 126 });
        assert_mentions(&err, &["128", "126"]);
        let err = parse_err("enode://@1.2.3.4:30303");
        assert_eq!(err, ParseError::WrongKeyLength { found: 0 });
    }

    #[test]
    fn rejects_missing_host() {
        for address in ["", ":30303", "[]:30303", "?discport=1"] {
            let err = parse_err(&uri(address));
            assert_eq!(err, ParseError::MissingHost, "{address:?}");
            assert_mentions(&err, &["missing IP address"]);
        }
    }

    #[test]
    fn rejects_missing_port() {
        for address in [
            "1.2.3.4",
            "1.2.3.4:",
            "[::1]",
            "[::1]:",
            "1.2.3.4?discport=30301",
        ] {
            let err = parse_err(&uri(address));
            assert_eq!(
                err,
                ParseError::MissingPort {
                    kind: PortKind::Tcp
                },
                "{address:?}"
            );
            assert_mentions(&err, &["missing TCP port"]);
        }
        let err = parse_err(&uri("1.2.3.4:30303?discport="));
        assert_eq!(
            err,
            ParseError::MissingPort {
                kind: PortKind::Discovery
            }
        );
        assert_mentions(&err, &["missing", "discport"]);
    }

    #[test]
    fn rejects_non_numeric_port() {
        for port in ["abc", "+30303", "-1", "30303/", "3030 3", "0x10"] {
            let err = parse_err(&uri(&format!("1.2.3.4:{port}")));
            assert_eq!(
                err,
                ParseError::NonNumericPort {
                    kind: PortKind::Tcp,
                    value: port.into()
                }
            );
            assert_mentions(&err, &["TCP port", port, "not a number"]);
        }
        let err = parse_err(&uri("1.2.3.4:30303?discport=udp"));
        assert_eq!(
            err,
            ParseError::NonNumericPort {
                kind: PortKind::Discovery,
                value: "udp".into()
            }
        );
        assert_mentions(&err, &["discport", "\"udp\"", "not a number"]);
    }

    #[test]
    fn rejects_port_out_of_range() {
        let err = parse_err(&uri("1.2.3.4:65536"));
        assert_eq!(
            err,
            ParseError::PortOutOfRange {
                kind: PortKind::Tcp,
                value: "65536".into()
            }
        );
        assert_mentions(&err, &["TCP port", "65536", "out of range"]);
        let err = parse_err(&uri("[::1]:30303?discport=99999999999999999999999"));
        assert_eq!(
            err,
            ParseError::PortOutOfRange {
                kind: PortKind::Discovery,
                value: "99999999999999999999999".into()
            }
        );
        assert_mentions(&err, &["discport", "out of range"]);
        // Boundary values are accepted.
        assert_eq!(uri("1.2.3.4:0").parse::<Node>().unwrap().tcp_port(), 0);
        assert_eq!(
            uri("1.2.3.4:65535").parse::<Node>().unwrap().tcp_port(),
            65535
        );
    }

    #[test]
    fn rejects_bad_ip() {
        for host in ["1.2.3", "256.1.1.1", "example.com", "01.2.3.4", "1.2.3.4.5"] {
            let err = parse_err(&uri(&format!("{host}:30303")));
            assert_eq!(
                err,
                ParseError::InvalidIp { value: host.into() },
                "{host:?}"
            );
            assert_mentions(&err, &[host, "not a valid IP address"]);
        }
        let err = parse_err(&uri("[::g]:30303"));
        assert_eq!(
            err,
            ParseError::InvalidIp {
                value: "::g".into()
            }
        );
        let err = parse_err(&uri("localhost"));
        assert_eq!(
            err,
            ParseError::InvalidIp {
                value: "localhost".into()
            }
        );
    }

    #[test]
    fn rejects_unbracketed_ipv6() {
        for address in ["::1:30303", "2001:db8::1:30303", "::1"] {
            let err = parse_err(&uri(address));
            assert_eq!(
                err,
                ParseError::UnbracketedIpv6 {
                    value: address.into()
                }
            );
            assert_mentions(&err, &["IPv6", "brackets", address]);
        }
    }

    #[test]
    fn rejects_bracketed_ipv4() {
        let err = parse_err(&uri("[1.2.3.4]:30303"));
        assert_eq!(
            err,
            ParseError::BracketedIpv4 {
                value: "1.2.3.4".into()
            }
        );
        assert_mentions(&err, &["IPv6", "[1.2.3.4]"]);
    }

    #[test]
    fn rejects_unclosed_bracket() {
        let err = parse_err(&uri("[::1:30303"));
        assert_eq!(err, ParseError::UnclosedBracket);
        assert_mentions(&err, &["unclosed '['"]);
    }

    #[test]
    fn rejects_garbage_after_bracket() {
        let err = parse_err(&uri("[::1]30303"));
        assert_eq!(
            err,
            ParseError::UnexpectedAfterBracket {
                found: "30303".into()
            }
        );
        assert_mentions(&err, &["':'", "']'", "30303"]);
    }

    #[test]
    fn rejects_unknown_query_parameter() {
        let err = parse_err(&uri("1.2.3.4:30303?udpport=30301"));
        assert_eq!(
            err,
            ParseError::UnknownQueryParameter {
                name: "udpport".into()
            }
        );
        assert_mentions(&err, &["unknown query parameter", "udpport", "discport"]);
        // Parameter names are case-sensitive.
        assert!(matches!(
            parse_err(&uri("1.2.3.4:30303?DISCPORT=1")),
            ParseError::UnknownQueryParameter { .. }
        ));
    }

    #[test]
    fn rejects_malformed_query_parameter() {
        for (query, segment) in [("discport", "discport"), ("", ""), ("=1", "=1")] {
            let err = parse_err(&uri(&format!("1.2.3.4:30303?{query}")));
            assert_eq!(
                err,
                ParseError::MalformedQueryParameter {
                    segment: segment.into()
                },
                "{query:?}"
            );
            assert_mentions(&err, &["malformed query parameter", "name=value"]);
        }
        assert_eq!(
            parse_err(&uri("1.2.3.4:30303?discport=1&")),
            ParseError::MalformedQueryParameter { segment: "".into() }
        );
    }

    #[test]
    fn rejects_duplicate_query_parameter() {
        let err = parse_err(&uri("1.2.3.4:30303?discport=1&discport=2"));
        assert_eq!(
            err,
            ParseError::DuplicateQueryParameter {
                name: "discport".into()
            }
        );
        assert_mentions(&err, &["discport", "more than once"]);
    }

    fn arb_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            any::<u128>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
            // Bias towards IPv6 forms with zero runs and embedded IPv4.
            (any::<u16>(), any::<u16>())
                .prop_map(|(a, b)| IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, a, b))),
            (any::<u16>(), any::<u16>())
                .prop_map(|(a, b)| IpAddr::V6(Ipv6Addr::new(a, 0, 0, 0, 0, 0, 0, b))),
        ]
    }

    fn arb_node() -> impl Strategy<Value = Node> {
        (
            prop::collection::vec(any::<u8>(), PublicKey::LEN),
            arb_ip(),
            any::<u16>(),
            prop_oneof![Just(None), any::<u16>().prop_map(Some)],
        )
            .prop_map(|(key, ip, tcp, udp)| {
                let mut bytes = [0u8; PublicKey::LEN];
                bytes.copy_from_slice(&key);
                Node::new(PublicKey::new(bytes), ip, tcp, udp.unwrap_or(tcp))
            })
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(node in arb_node()) {
            let s = node.to_string();
            let parsed: Node = s.parse().unwrap();
            prop_assert_eq!(&parsed, &node);
            prop_assert_eq!(parsed.to_string(), s);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = s.parse::<Node>();
        }

        #[test]
        fn arbitrary_enode_like_strings_never_panic(
            key in "[0-9a-fA-Fg]{0,130}",
            address in "[0-9a-f:.\\[\\]?=&@]{0,40}",
            tail in any::<String>(),
        ) {
            let _ = format!("enode://{key}@{address}").parse::<Node>();
            let _ = format!("enode://{KEY}@{address}{tail}").parse::<Node>();
        }

        #[test]
        fn corrupting_one_char_of_a_valid_uri_never_panics(
            node in arb_node(),
            index in any::<prop::sample::Index>(),
            replacement in any::<char>(),
        ) {
            let mut chars: Vec<char> = node.to_string().chars().collect();
            let i = index.index(chars.len());
            chars[i] = replacement;
            let corrupted: String = chars.into_iter().collect();
            if let Ok(parsed) = corrupted.parse::<Node>() {
                // Whatever still parses must print back canonically and re-parse to itself.
                prop_assert_eq!(parsed.to_string().parse::<Node>().unwrap(), parsed);
            }
        }
    }
}
