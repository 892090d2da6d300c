//! Floods: a large mesh, request storms, and a user that does not belong.
//! (The stalled consumer is in `stalled_consumer.rs`: it measures this process's memory,
//! so it runs alone in its own test binary.)

mod support;

use event_bus_tests::{Counter, Ping, Pong};
use event_core::{ConnectionConfig, Endpoint, Error, Event};
use futures_util::StreamExt;
use support::{connect, driver, eventually, within, PeerProcess};

/// Raises the soft open-files limit (each connection is two sockets in this process).
fn allow_open_files(wanted: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    assert!(
        hard >= wanted,
        "this test needs {wanted} open files; the hard limit is {hard}"
    );
    let current = limit.current.unwrap_or(u64::MAX);
    if current < wanted {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(wanted),
                maximum: limit.maximum,
            },
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_endpoints_in_a_full_mesh_all_receive_every_broadcast() {
    const N: usize = 50;
    allow_open_files(4 * (N * N) as u64);
    let dir = tempfile::tempdir().unwrap();
    let mut endpoints = Vec::new();
    for index in 0..N {
        let name = format!("node-{index:02}");
        let bus = Endpoint::serve(ConnectionConfig::from_name(&name, dir.path()))
            .await
            .unwrap();
        let earlier: Vec<ConnectionConfig> = (0..index)
            .map(|other| ConnectionConfig::from_name(&format!("node-{other:02}"), dir.path()))
            .collect();
        within("connect", bus.connect_to_endpoints(&earlier))
            .await
            .unwrap();
        endpoints.push(bus);
    }
    let mut streams: Vec<_> = endpoints
        .iter()
        .map(|bus| bus.stream::<Counter>())
        .collect();
    for bus in &endpoints {
        within(
            "the mesh to subscribe",
            bus.wait_until_all_endpoints_subscribed_to::<Counter>(),
        )
        .await;
        assert_eq!(bus.connected_endpoints_and_subscriptions().len(), N);
    }
    // Every endpoint broadcasts; every endpoint receives each, in per-sender order.
    for (index, bus) in endpoints.iter().enumerate() {
        for round in 0..4 {
            bus.broadcast(Counter {
                index: (index * 10 + round) as u64,
                payload: vec![],
            })
            .await
            .unwrap();
        }
    }
    for stream in &mut streams {
        let mut last = vec![None::<u64>; N];
        for _ in 0..N * 4 {
            let event = within("a mesh event", stream.next()).await.unwrap();
            let sender = (event.index / 10) as usize;
            let round = event.index % 10;
            assert_eq!(
                last[sender].map_or(0, |r| r + 1),
                round,
                "order from node-{sender:02}"
            );
            last[sender] = Some(round);
        }
        assert!(stream.is_empty());
    }
    for bus in &endpoints {
        bus.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_storm_gives_every_requester_exactly_its_own_answer() {
    let dir = tempfile::tempdir().unwrap();
    let bus = driver(dir.path()).await;
    let mut alice = PeerProcess::start("alice", dir.path()).await;
    let mut bob = PeerProcess::start("bob", dir.path()).await;
    connect(&bus, dir.path(), &["alice", "bob"]).await;
    alice.expect("respond", "serving-pings respond").await;
    bob.expect("respond", "serving-pings respond").await;
    within(
        "alice",
        bus.wait_until_endpoint_subscribed_to::<Ping>("alice"),
    )
    .await;
    within("bob", bus.wait_until_endpoint_subscribed_to::<Ping>("bob")).await;

    const REQUESTERS: u64 = 32;
    const EACH: u64 = 150;
    let mut tasks = Vec::new();
    for requester in 0..REQUESTERS {
        let bus = bus.clone();
        tasks.push(tokio::spawn(async move {
            let mut answered_by = [0u64; 2];
            for round in 0..EACH {
                let value = requester * 1_000_000 + round;
                let Pong { from, echo } = bus.request(Ping { value }).await.unwrap();
                assert_eq!(echo, value, "requester {requester} got another's answer");
                answered_by[usize::from(from == "bob")] += 1;
            }
            answered_by
        }));
    }
    let mut total = [0u64; 2];
    for task in tasks {
        let answered_by = within("a requester", task).await.unwrap();
        total[0] += answered_by[0];
        total[1] += answered_by[1];
    }
    assert_eq!(total[0] + total[1], REQUESTERS * EACH);
    assert_eq!(bus.pending_requests(), 0);
    eprintln!(
        "request storm: alice answered first {} times, bob {}",
        total[0], total[1]
    );
    // And the storm from the other side: a child process requesting while the driver answers.
    let mut pings = bus.stream_requests::<Ping>();
    let answering = tokio::spawn(async move {
        while let Some(request) = pings.next().await {
            let echo = request.value;
            let _ = request
                .respond(Pong {
                    from: "driver".into(),
                    echo,
                })
                .await;
        }
    });
    alice
        .expect("wait-subscribed driver ping", "seen driver ping")
        .await;
    for value in 0..200 {
        let answer = alice.ask(&format!("request {value}")).await;
        assert!(
            answer.starts_with("response ") && answer.ends_with(&format!(" {value}")),
            "{answer}"
        );
    }
    answering.abort();
    assert_eq!(Ping::NAME, "tests.Ping");
}

#[tokio::test]
async fn an_endpoint_of_another_user_is_refused_both_ways() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped: creating a process of another uid needs root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    const NOBODY: u32 = 65534;
    let mut stranger = PeerProcess::start_with("stranger", dir.path(), |command| {
        command.uid(NOBODY).gid(NOBODY);
    })
    .await;
    let stranger_path = dir.path().join("stranger.ipc");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&stranger_path).unwrap().uid(), NOBODY);

    // Root connecting to the stranger: refused by this side's uid check.
    let bus = driver(dir.path()).await;
    let error = bus
        .connect_to_endpoints(&[ConnectionConfig::from_name("stranger", dir.path())])
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ConnectionAttemptRejected { ref reason, .. } if reason.contains("uid")),
        "{error}"
    );
    // The stranger connecting to root: the socket is 0600, so the kernel refuses first;
    // with the mode opened up, the endpoint's own uid check refuses.
    let refused = stranger
        .ask(&format!(
            "connect-path driver {}",
            dir.path().join("driver.ipc").display()
        ))
        .await;
    assert!(
        refused.starts_with("error Io") && refused.contains("ermission denied"),
        "{refused}"
    );
    std::fs::set_permissions(
        dir.path().join("driver.ipc"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let refused = stranger
        .ask(&format!(
            "connect-path driver {}",
            dir.path().join("driver.ipc").display()
        ))
        .await;
    assert!(
        refused.starts_with("error ConnectionAttemptRejected") && refused.contains("uid"),
        "{refused}"
    );
    assert!(!bus.is_connected_to("stranger"));
    eventually("no half-open connection", || {
        bus.connection_stats().is_empty()
    })
    .await;
}
