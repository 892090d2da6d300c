//! The three commands: `ls`, `tap` and `request`, each writing to the output it is given.

use crate::bus::{self, Where};
use crate::{json, show, Error};
use event_core::observe::OBSERVE_PREFIX;
use event_core::schema::EventSchema;
use event_core::{BroadcastConfig, Endpoint};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// `evb ls`: every endpoint, what it subscribes to (and observes), and each schema it
/// publishes.
pub async fn ls(at: &Where, name: &str, as_json: bool, out: &mut impl Write) -> Result<(), Error> {
    let tool = bus::open(at, name, None).await?;
    let endpoint = &tool.endpoint;
    bus::settle(endpoint).await;
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

/// The schema `origin` published of `name`, looked up for each message (not cached: a
/// process that restarts with another build publishes another).
fn schema_of(endpoint: &Endpoint, origin: &str, name: &str) -> Option<Arc<EventSchema>> {
    endpoint
        .schemas_of(origin)
        .into_iter()
        .find(|schema| schema.name() == name)
}

/// `evb tap`: every broadcast, request and answer of `events` (all, when empty) that the
/// endpoints send, as it flows; until the bus stops, or `limit` messages were shown.
pub async fn tap(
    at: &Where,
    name: &str,
    events: &[String],
    as_json: bool,
    limit: Option<u64>,
    out: &mut impl Write,
) -> Result<(), Error> {
    let mut tool = bus::open(at, name, Some(events)).await?;
    let mut observation = tool.observation.take().expect("asked for");
    let endpoint = tool.endpoint.clone();
    bus::settle(&endpoint).await;
    eprintln!(
        "tapping {} as {} ({}); Ctrl-C to stop",
        bus::remotes(&endpoint).join(", "),
        endpoint.name(),
        if events.is_empty() {
            "every event".to_owned()
        } else {
            events.join(", ")
        }
    );
    // Newcomers in the directory are connected to by a task of their own, so that a
    // slow connection never keeps the tap from reading.
    let rescan = match at {
        Where::Sockets(dir) => {
            let (endpoint, dir) = (endpoint.clone(), dir.clone());
            Some(tokio::spawn(async move {
                let mut failed = bus::Refused::new();
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    every.tick().await;
                    if bus::connect_new(&endpoint, &dir, &mut failed)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }))
        }
        Where::Zenoh { .. } => None,
    };
    let mut shown = 0u64;
    let result = loop {
        let Some(observed) = observation.next().await else {
            break Ok(());
        };
        let at_time = SystemTime::now();
        let schema = schema_of(&endpoint, &observed.origin, &observed.name);
        let decoded = show::body(&observed, schema.as_deref());
        let written = if as_json {
            writeln!(out, "{}", show::json_line(at_time, &observed, decoded))
        } else {
            writeln!(out, "{}", show::line(at_time, &observed, decoded.as_ref()))
        };
        if let Err(error) = written.and_then(|()| out.flush()) {
            break Err(error.into());
        }
        shown += 1;
        if limit.is_some_and(|limit| shown >= limit) {
            break Ok(());
        }
    };
    if let Some(rescan) = rescan {
        rescan.abort();
    }
    endpoint.stop().await;
    drop(tool);
    result
}

/// What `evb request` got back.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Who answered.
    pub from: String,
    /// The answer's name.
    pub name: String,
    /// The answer, decoded.
    pub body: Value,
    /// The round trip.
    pub rtt: Duration,
}

/// `evb request NAME JSON`: builds the request from JSON through the schema a responder
/// published, sends it (to `to`, or to every subscriber), and decodes the answer.
pub async fn request(
    at: &Where,
    own_name: &str,
    name: &str,
    body: &str,
    to: Option<&str>,
    timeout: Duration,
) -> Result<Answer, Error> {
    let value: Value = serde_json::from_str(body).map_err(Error::BadJson)?;
    let tool = bus::open(at, own_name, None).await?;
    bus::settle(&tool.endpoint).await;
    let answer = ask(&tool.endpoint, name, &value, to, timeout).await;
    tool.endpoint.stop().await;
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
    // One deadline for the whole question: the wait for the schema and the request.
    let deadline = tokio::time::Instant::now() + timeout;
    // Its schemas follow its subscriptions, which were just seen: wait for them, but not
    // for a responder that left meanwhile. (An answer's schema needs no wait: the answer
    // comes after the schemas on the answering connection.)
    tokio::select! {
        () = endpoint.wait_until_schema_published(&responder, name) => {}
        () = endpoint.wait_until_disconnected_from(&responder) => {}
        () = tokio::time::sleep_until(deadline) => {}
    }
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
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let timed_out = || Error::Timeout {
        name: name.to_owned(),
        timeout,
    };
    // The schema wait took it all: a request sent now would go unwaited for.
    if left.is_zero() {
        return Err(timed_out());
    }
    let reply = endpoint
        .request_encoded(name, schema.fingerprint(), &body, config, left)
        .await
        // The user asked for `timeout`, not for what was left of it after the schema wait.
        .map_err(|error| match error {
            event_core::Error::Timeout { .. } => timed_out(),
            other => other.into(),
        })?;
    let rtt = started.elapsed();
    // An answer that cannot be shown is an error, not a `null`.
    let schema = schema_of(endpoint, &reply.from, &reply.name)
        .filter(|schema| schema.is_traced())
        .ok_or_else(|| Error::NoSchema {
            endpoint: reply.from.clone(),
            name: reply.name.clone(),
        })?;
    let decoded = json::decode(schema.format().expect("traced"), &reply.body)?;
    Ok(Answer {
        from: reply.from,
        name: reply.name,
        body: decoded,
        rtt,
    })
}
