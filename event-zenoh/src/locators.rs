//! The locators an endpoint or a router is given, adjusted so that zenoh keeps the order
//! the bus relies on.
//!
//! The bus relies on zenoh keeping, on each link, the order in which one session sends:
//! a key expression declared before an event that uses it, a subscriber declared before
//! the token that announces it. zenoh's links differ in that:
//!
//! * **`tcp/`**: one ordered stream. zenoh sends higher priorities first, and its
//!   declarations have the highest, so none is ever behind a message sent after it.
//! * **`quic/`**: by default (`multistream=auto`) one QUIC stream per priority, and QUIC
//!   orders nothing across streams. A declaration travels on the control stream and the
//!   event after it on the data stream, so a router can get the first events of a new
//!   sender before the declaration of the key expression they use, and drop them as
//!   addressed to an unknown key. That was seen: a receiver missed the first one to five
//!   events of a sender in a quarter of the runs of the mutual-TLS test, silently (the
//!   first event of a sender sets its sequence baseline). So every `quic/` locator that
//!   does not set `multistream` itself gets `multistream=0`: one stream, ordered as over
//!   TCP, still encrypted. A locator that asks for `multistream=1` keeps it, with a warning.
//! * **`tls/`**: zenoh's TLS link (1.10) reads and writes one rustls connection from two
//!   tasks at once, which rustls does not support (eclipse-zenoh/zenoh#2557). A write that
//!   meets a read in progress fails with "handshake not complete", the link closes and
//!   zenoh opens a new one: what was on its way is lost, and every remote is seen to
//!   leave and come back (one run in twenty of the same test, right after joining). So a
//!   `tls/` locator is accepted with a warning that points to `quic/`, which uses the same
//!   [`Tls`](crate::Tls) settings.
//!
//! The endpoints are rewritten in the final zenoh configuration, so this holds for
//! locators from a zenoh configuration file as for those of the builders.

use crate::config::insert;
use crate::error::Error;
use serde_json::Value;

/// The zenoh configuration keys that hold locators.
const ENDPOINT_KEYS: [&str; 2] = ["connect/endpoints", "listen/endpoints"];

/// Rewrites the `quic/` locators of `config` to one stream each, and warns of locators
/// that can lose events (see the module docs).
pub(crate) fn keep_link_order(config: &mut zenoh::Config) -> Result<(), Error> {
    for key in ENDPOINT_KEYS {
        let Ok(json) = config.get_json(key) else {
            continue;
        };
        let Ok(mut endpoints) = serde_json::from_str::<Value>(&json) else {
            continue;
        };
        let mut changed = false;
        for_each_locator(&mut endpoints, &mut |locator| {
            warn_if_lossy(key, locator);
            if let Some(single) = single_stream(locator) {
                *locator = single;
                changed = true;
            }
        });
        if changed {
            insert(config, key, &endpoints.to_string())?;
        }
    }
    Ok(())
}

/// Calls `each` on every locator of an endpoints value: a list, or a map from a mode
/// (`router`, `peer`, `client`) to a list.
fn for_each_locator(endpoints: &mut Value, each: &mut impl FnMut(&mut String)) {
    match endpoints {
        Value::String(locator) => each(locator),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| for_each_locator(item, each)),
        Value::Object(modes) => modes
            .values_mut()
            .for_each(|item| for_each_locator(item, each)),
        _ => {}
    }
}

/// `locator` with `multistream=0` added, if it is a `quic/` locator that does not say.
fn single_stream(locator: &str) -> Option<String> {
    if !locator.starts_with("quic/") || multistream(locator).is_some() {
        return None;
    }
    let (head, config) = match locator.find('#') {
        Some(at) => locator.split_at(at),
        None => (locator, ""),
    };
    let separator = match head.find('?') {
        None => "?",
        Some(at) if at + 1 == head.len() => "",
        Some(_) => ";",
    };
    Some(format!("{head}{separator}multistream=0{config}"))
}

/// The `multistream` setting of a locator's metadata, if it has one.
fn multistream(locator: &str) -> Option<&str> {
    let before_config = locator.split('#').next().unwrap_or(locator);
    let (_, metadata) = before_config.split_once('?')?;
    metadata
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "multistream")
        .map(|(_, value)| value)
}

fn warn_if_lossy(key: &str, locator: &str) {
    if locator.starts_with("tls/") {
        tracing::warn!(
            %key,
            %locator,
            "zenoh's tls/ link can close under traffic and lose what is on its way \
             (eclipse-zenoh/zenoh#2557); use quic/ for encrypted links"
        );
    } else if locator.starts_with("quic/") && multistream(locator) != Some("0") {
        tracing::warn!(
            %key,
            %locator,
            "a quic/ link with a stream per priority can drop the first events of a sender; \
             leave `multistream` unset (one stream) to keep them"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quic_locators_get_one_stream_and_others_are_left_alone() {
        let cases = [
            ("quic/10.0.0.1:7447", "quic/10.0.0.1:7447?multistream=0"),
            (
                "quic/10.0.0.1:7447?iface=eth0",
                "quic/10.0.0.1:7447?iface=eth0;multistream=0",
            ),
            ("quic/10.0.0.1:7447?", "quic/10.0.0.1:7447?multistream=0"),
            (
                "quic/[::1]:7447#tls_close_link_on_expiration=true",
                "quic/[::1]:7447?multistream=0#tls_close_link_on_expiration=true",
            ),
        ];
        for (given, wanted) in cases {
            assert_eq!(single_stream(given).as_deref(), Some(wanted), "{given}");
        }
        for untouched in [
            "tcp/10.0.0.1:7447",
            "tls/10.0.0.1:7447",
            "quic/10.0.0.1:7447?multistream=1",
            "quic/10.0.0.1:7447?a=b;multistream=auto",
        ] {
            assert_eq!(single_stream(untouched), None, "{untouched}");
        }
    }

    #[test]
    fn the_final_configuration_is_rewritten_in_both_shapes() {
        let mut config = zenoh::Config::default();
        insert(
            &mut config,
            "connect/endpoints",
            r#"["quic/127.0.0.1:7447","tcp/127.0.0.1:7448"]"#,
        )
        .unwrap();
        insert(
            &mut config,
            "listen/endpoints",
            r#"{"router":["quic/0.0.0.0:7447"],"peer":["tcp/0.0.0.0:7448"]}"#,
        )
        .unwrap();
        keep_link_order(&mut config).unwrap();
        let connect = config.get_json("connect/endpoints").unwrap();
        assert!(
            connect.contains("quic/127.0.0.1:7447?multistream=0"),
            "{connect}"
        );
        assert!(connect.contains("\"tcp/127.0.0.1:7448\""), "{connect}");
        let listen = config.get_json("listen/endpoints").unwrap();
        assert!(
            listen.contains("quic/0.0.0.0:7447?multistream=0"),
            "{listen}"
        );
        assert!(listen.contains("\"tcp/0.0.0.0:7448\""), "{listen}");
    }
}
