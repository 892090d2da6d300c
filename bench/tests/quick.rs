//! The CI smoke test of the benchmark: `event-bench --quick` runs every scenario and
//! baseline once, at small sizes, with real processes, sockets and zenoh routers. Checked: it exits
//! successfully, every stdout line is a JSON object, every scenario and baseline appears,
//! and every consumer received every event in order (`"complete": true`). No timing is
//! asserted: the machine may be slow or busy.

use serde_json::Value;
use std::process::Command;

#[test]
fn quick_run_covers_every_scenario_and_loses_nothing() {
    let output = Command::new(env!("CARGO_BIN_EXE_event-bench"))
        .arg("--quick")
        .output()
        .expect("cannot run event-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "event-bench --quick failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );

    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))
        })
        .collect();
    for line in &lines {
        assert!(line.is_object(), "not a JSON object: {line}");
        assert_eq!(line["complete"], Value::Bool(true), "incomplete: {line}");
        assert!(line["placement"].is_string(), "no placement: {line}");
        assert!(line["value"].is_number(), "no value: {line}");
        assert!(line["unit"].is_string(), "no unit: {line}");
    }

    let find = |scenario: &str, consumers: Option<u64>, payload: Option<u64>| -> &Value {
        lines
            .iter()
            .find(|line| {
                line["scenario"] == scenario
                    && consumers.is_none_or(|n| line["consumers"] == n)
                    && payload.is_none_or(|p| line["payload_bytes"] == p)
            })
            .unwrap_or_else(|| {
                panic!(
                    "no line for {scenario} consumers={consumers:?} payload={payload:?}:\n{stdout}"
                )
            })
    };
    for (consumers, baseline) in [(1, "stream-floor"), (10, "fanout-floor")] {
        for payload in [16, 1024] {
            let line = find("ipc-broadcast", Some(consumers), Some(payload));
            assert_eq!(line["baseline"], baseline, "{line}");
            assert_eq!(line["unit"], "deliveries/s", "{line}");
            assert!(line["baseline_value"].is_number(), "{line}");
            assert!(line["cpu_ns_per_delivery"].is_number(), "{line}");
            assert!(line["cpu_ratio"].is_number(), "{line}");
            let target = line["target"].as_str().unwrap_or_default();
            if payload == 16 {
                assert_eq!(target, ">= 0.75, cpu_ratio <= 1.4", "{line}");
            }
        }
    }
    for (consumers, baseline) in [(1, "stream-floor"), (10, "fanout-floor")] {
        for payload in [1024, 65536] {
            let line = find("ipc-broadcast-bytes", Some(consumers), Some(payload));
            assert_eq!(line["baseline"], baseline, "{line}");
            assert_eq!(line["payload_type"], "serde_bytes", "{line}");
            assert!(line["baseline_value"].is_number(), "{line}");
            assert!(line["cpu_ns_per_delivery"].is_number(), "{line}");
        }
    }
    for scenario in ["ipc-request", "ipc-request-sporadic"] {
        let request = find(scenario, None, Some(16));
        assert_eq!(request["baseline"], "uds-pingpong", "{request}");
        for key in ["p50_us", "p99_us", "baseline_value", "baseline_p99_us"] {
            assert!(request[key].is_number(), "{key} missing: {request}");
        }
    }
    assert_eq!(
        find("ipc-request-sporadic", None, Some(16))["spacing_us"],
        10_000
    );
    for subscribers in [1, 10] {
        let line = find("local-broadcast", Some(subscribers), None);
        assert_eq!(line["baseline"], "tokio-broadcast", "{line}");
        assert!(line["baseline_value"].is_number(), "{line}");
    }
    let stalled = find("stalled-consumer", None, Some(1024));
    for key in [
        "driver_peak_rss_mib",
        "consumer_peak_rss_mib",
        "broadcasts_ok",
        "longest_broadcast_ms",
        "silently_dropped",
    ] {
        assert!(stalled[key].is_number(), "{key} missing: {stalled}");
    }
    assert!(stalled["errors"].is_object(), "{stalled}");
    for consumers in [1, 10] {
        for payload in [16, 1024] {
            let line = find("zenoh-broadcast", Some(consumers), Some(payload));
            assert_eq!(line["baseline"], "zenoh-put", "{line}");
            assert_eq!(line["unit"], "deliveries/s", "{line}");
            assert!(line["baseline_value"].is_number(), "{line}");
        }
    }
    let request = find("zenoh-request", None, Some(16));
    assert_eq!(request["baseline"], "zenoh-get", "{request}");
    for key in ["p50_us", "p99_us", "baseline_value", "baseline_p99_us"] {
        assert!(request[key].is_number(), "{key} missing: {request}");
    }
    assert_eq!(lines.len(), 18, "one line per measurement:\n{stdout}");
}
