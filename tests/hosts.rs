//! Across hosts for real: three network namespaces joined by veth links, a zenoh router
//! on host A, the peer-pool server on host B, a proxy on host C. Requests and peer events
//! cross; then C's link is cut (its pending request fails promptly, the server carries
//! on) and restored (C rejoins).
//!
//! Needs root (`ip netns`). Run as another user it says it was skipped and why; with
//! `EVB_REQUIRE_NETNS=1` (as `.ci/run` sets) skipping is a failure. The test talks only to
//! the addresses it gives its own namespaces.

mod support;

use std::process::Command as StdCommand;
use support::{within, PeerProcess};

/// The namespaces and links of one run; removed when dropped.
struct Hosts {
    names: [String; 3],
}

impl Hosts {
    fn create() -> Hosts {
        let id = std::process::id();
        let names = [
            format!("evb{id}a"),
            format!("evb{id}b"),
            format!("evb{id}c"),
        ];
        let hosts = Hosts { names };
        let [a, b, c] = &hosts.names;
        for name in [a, b, c] {
            ip(&["netns", "add", name]);
            ip(&["-n", name, "link", "set", "lo", "up"]);
        }
        // A-B on 10.77.1.0/24, A-C on 10.77.2.0/24: B and C reach each other only
        // through the router on A.
        for (peer, net, ours, theirs) in [(b, 1, "eb", "ab"), (c, 2, "ec", "ac")] {
            ip(&[
                "-n", a, "link", "add", theirs, "type", "veth", "peer", "name", ours, "netns", peer,
            ]);
            ip(&[
                "-n",
                a,
                "addr",
                "add",
                &format!("10.77.{net}.1/24"),
                "dev",
                theirs,
            ]);
            ip(&[
                "-n",
                peer,
                "addr",
                "add",
                &format!("10.77.{net}.2/24"),
                "dev",
                ours,
            ]);
            ip(&["-n", a, "link", "set", theirs, "up"]);
            ip(&["-n", peer, "link", "set", ours, "up"]);
        }
        hosts
    }

    /// Takes C's link down (`up == false`) or up again.
    fn set_c_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.names[2], "link", "set", "ec", state]);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = StdCommand::new("ip").args(["netns", "del", name]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let status = StdCommand::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {}", args.join(" "));
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_peer_events_cross_hosts_and_a_cut_host_fails_fast_then_rejoins() {
    if !is_root() {
        let required = std::env::var("EVB_REQUIRE_NETNS").is_ok_and(|value| value == "1");
        assert!(
            !required,
            "EVB_REQUIRE_NETNS=1 but not root: the network-namespace test cannot run"
        );
        eprintln!("SKIPPED: building hosts as network namespaces needs root (ip netns)");
        return;
    }
    let hosts = Hosts::create();
    let [a, b, c] = hosts.names.clone();
    let program = env!("CARGO_BIN_EXE_bus-peer");
    let dir = tempfile::tempdir().unwrap();

    // Host A: the router.
    let mut router = tokio::process::Command::new("ip")
        .args(["netns", "exec", &a, program, "zenoh-router"])
        .args(["--listen", "tcp/0.0.0.0:7447", "--lease-ms", "1000"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = router.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let started = within("the router", lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(started.contains("listening"), "{started}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let on = |host: String, router: &'static str| {
        move |command: &mut tokio::process::Command| {
            // `ip netns exec HOST bus-peer NAME DIR`: the harness appends NAME and DIR.
            let program = command.as_std().get_program().to_owned();
            *command = tokio::process::Command::new("ip");
            command
                .args(["netns", "exec", &host])
                .arg(program)
                .env("BUS_PEER_ZENOH", router)
                .env("BUS_PEER_BUS", "hosts");
        }
    };
    // Host B: the peer-pool server (endpoint "networking"). Host C: a proxy ("sync").
    let mut networking = PeerProcess::start_with(
        "networking",
        dir.path(),
        on(b.clone(), "tcp/10.77.1.1:7447"),
    )
    .await;
    networking.expect("pool-serve", "pool-serving").await;
    networking.expect("hold", "serving-pings hold").await;
    let mut sync =
        PeerProcess::start_with("sync", dir.path(), on(c.clone(), "tcp/10.77.2.1:7447")).await;
    sync.expect("wait-connected networking", "connected networking")
        .await;
    sync.expect("proxy networking", "proxying networking").await;

    // A peer joins on B: C hears of it (an event) and asks for the count (a request).
    let joined = networking.ask("pool-join 1").await;
    assert!(joined.starts_with("pool-joined"), "{joined}");
    sync.expect_eventually("proxy-known", "proxy-known 1").await;
    sync.expect("proxy-count", "peer-count 1").await;

    // C asks B something B holds, then C's link goes down: the request fails within
    // seconds (the lease), and B carries on.
    sync.expect("wait-subscribed networking ping", "seen networking ping")
        .await;
    sync.send("request 5").await;
    networking.expect_eventually("held", "held 1").await;
    let cut = std::time::Instant::now();
    hosts.set_c_link(false);
    let failed = sync.line().await;
    assert!(failed.starts_with("error RemoteDisconnected"), "{failed}");
    eprintln!("the cut host's request failed after {:?}", cut.elapsed());
    let joined = networking.ask("pool-join 2").await;
    assert!(joined.starts_with("pool-joined"), "{joined}");
    networking.expect("pool-count", "pool-count 2").await;

    // Restored, C rejoins and follows the pool again.
    hosts.set_c_link(true);
    sync.expect("wait-connected networking", "connected networking")
        .await;
    within("the proxy to answer again", async {
        while sync.ask("proxy-count").await != "peer-count 2" {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    drop(hosts);
}
