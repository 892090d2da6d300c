//! The three commands: `ls`, `tap` and `request`, each writing to the output it is given.

use crate::bus::{self, Where};
use crate::{json, show, Error};
use event_core::observe::{Observed, OBSERVE_PREFIX};
use event_core::schema::EventSchema;
use event_core::{BroadcastConfig, Endpoint};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// `evb ls`: every endpoint, what it subscribes to (and observes), and each schema it
/// publishes.
pub async fn ls(at: &Where, as_json: bool, out: &mut impl Write) -> Result<(), Error> {
    let endpoint = bus::open(at, |_| {}).await?;
    bus::settle(&endpoint).await;
    let all = endpoint.connected_endpoints_and_subscriptions();
    let mut listed = Vec::new();
    for (name, subscriptions) in all.into_iter().skip(1) {
        let (observes, subscribes): (Vec<String>, Vec<String>) = subscriptions
            .into_iter()
            .partition(|subscription| subscription.starts_with(OBSERVE_PREFIX));
        let observes: Vec<String> = observes
            .iter()
            .map(|marker| marker[OBSERVE_PREFIX.len()..].to_owned())
            .collect();
        let schemas = endpoint.schemas_of(&name);
        if as_json {
            listed.push(json!({
                "endpoint": name,
                "subscribes": subscribes,
                "observes": observes,
                "schemas": schemas.iter().map(|schema| &**schema).collect::<Vec<_>>(),
            }));
            continue;
        }
        writeln!(out, "{name}")?;
        if !observes.is_empty() {
            writeln!(out, "  observes: {}", observes.join(", "))?;
        }
        writeln!(out, "  subscribes to:")?;
        for subscription in &subscribes {
            writeln!(out, "    {subscription}")?;
        }
        writeln!(out, "  schemas:")?;
        // The bus's own (the observers' copies) are left to `--json`.
        for schema in schemas
            .iter()
            .filter(|schema| !schema.name().starts_with("event_core."))
        {
            writeln!(
                out,
                "    {}  {}  {}",
                schema.name(),
                schema.fingerprint(),
                show::schema(schema)
            )?;
        }
    }
    if as_json {
        writeln!(out, "{}", Value::Array(listed))?;
    }
    out.flush()?;
    endpoint.stop().await;
    Ok(())
}

/// The schemas published by the endpoints a tap hears from, looked up as messages come.
struct Schemas {
    known: HashMap<(String, String), Arc<EventSchema>>,
}

impl Schemas {
    fn of(&mut self, endpoint: &Endpoint, origin: &str, name: &str) -> Option<Arc<EventSchema>> {
        let key = (origin.to_owned(), name.to_owned());
        if let Some(schema) = self.known.get(&key) {
            return Some(schema.clone());
        }
        // Not cached when missing: the schemas of a newcomer may still be on their way.
        let schema = endpoint
            .schemas_of(origin)
            .into_iter()
            .find(|schema| schema.name() == name)?;
        self.known.insert(key, schema.clone());
        Some(schema)
    }
}

/// `evb tap`: every broadcast, request and answer of `events` (all, when empty) that the
/// endpoints send, as it flows; until the bus stops, or `limit` messages were shown.
pub async fn tap(
    at: &Where,
    events: &[String],
    as_json: bool,
    limit: Option<u64>,
    out: &mut impl Write,
) -> Result<(), Error> {
    let mut observation = None;
    let endpoint = bus::open(at, |endpoint| {
        observation = Some(endpoint.observe(events.iter().cloned()));
    })
    .await?;
    let mut observation = observation.expect("made before connecting");
    bus::settle(&endpoint).await;
    let listening: Vec<String> = bus::remotes(&endpoint);
    eprintln!(
        "tapping {} ({}); Ctrl-C to stop",
        listening.join(", "),
        if events.is_empty() {
            "every event".to_owned()
        } else {
            events.join(", ")
        }
    );
    let mut schemas = Schemas {
        known: HashMap::new(),
    };
    let mut rescan = tokio::time::interval(Duration::from_secs(1));
    let mut shown = 0u64;
    loop {
        let observed: Observed = tokio::select! {
            next = observation.next() => match next {
                Some(observed) => observed,
                None => break,
            },
            _ = rescan.tick() => {
                if let Where::Sockets(dir) = at {
                    bus::connect_new(&endpoint, dir).await.ok();
                }
                continue;
            }
        };
        let at_time = SystemTime::now();
        let schema = schemas.of(&endpoint, &observed.origin, &observed.name);
        let decoded = show::body(&observed, schema.as_deref());
        if as_json {
            writeln!(out, "{}", show::json_line(at_time, &observed, decoded))?;
        } else {
            writeln!(out, "{}", show::line(at_time, &observed, decoded.as_ref()))?;
        }
        out.flush()?;
        shown += 1;
        if limit.is_some_and(|limit| shown >= limit) {
            break;
        }
    }
    endpoint.stop().await;
    Ok(())
}

/// What `evb request` got back.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Who answered.
    pub from: String,
    /// The answer's name.
    pub name: String,
    /// The answer, decoded (`None` without a schema).
    pub body: Option<Value>,
    /// The round trip.
    pub rtt: Duration,
}

/// `evb request NAME JSON`: builds the request from JSON through the schema a responder
/// published, sends it (to `to`, or to every subscriber), and decodes the answer.
pub async fn request(
    at: &Where,
    name: &str,
    body: &str,
    to: Option<&str>,
    timeout: Duration,
) -> Result<Answer, Error> {
    let value: Value = serde_json::from_str(body).map_err(Error::BadJson)?;
    let endpoint = bus::open(at, |_| {}).await?;
    bus::settle(&endpoint).await;
    let answer = ask(&endpoint, name, &value, to, timeout).await;
    endpoint.stop().await;
    answer
}

async fn ask(
    endpoint: &Endpoint,
    name: &str,
    value: &Value,
    to: Option<&str>,
    timeout: Duration,
) -> Result<Answer, Error> {
    let all = endpoint.connected_endpoints_and_subscriptions();
    let responder = all
        .iter()
        .skip(1)
        .filter(|(remote, _)| to.is_none_or(|to| to == remote))
        .find(|(_, subscriptions)| subscriptions.contains(name))
        .map(|(remote, _)| remote.clone())
        .ok_or_else(|| Error::NoResponder {
            name: name.to_owned(),
            connected: all
                .iter()
                .skip(1)
                .map(|(remote, _)| remote.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let schema = endpoint
        .schemas_of(&responder)
        .into_iter()
        .find(|schema| schema.name() == name && schema.is_traced())
        .ok_or_else(|| Error::NoSchema {
            endpoint: responder.clone(),
            name: name.to_owned(),
        })?;
    let format = schema.format().expect("traced");
    let body = json::encode(format, value)?;
    let config = match to {
        Some(to) => BroadcastConfig::to_endpoint(to),
        None => BroadcastConfig::default(),
    };
    let started = Instant::now();
    let reply = endpoint
        .request_encoded(name, schema.fingerprint(), &body, config, timeout)
        .await?;
    let rtt = started.elapsed();
    let decoded = endpoint
        .schemas_of(&reply.from)
        .into_iter()
        .find(|schema| schema.name() == reply.name)
        .and_then(|schema| json::decode(schema.format()?, &reply.body).ok());
    Ok(Answer {
        from: reply.from,
        name: reply.name,
        body: decoded,
        rtt,
    })
}
