//! Child `bus-peer` processes driven line by line, and waits that turn a hang into a
//! failure; used by the integration tests and the `stress` command.

use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long any single wait in a test may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test after [`TIMEOUT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {TIMEOUT:?} waiting for {what}"),
    }
}

/// Waits until `condition` holds, re-checking every few milliseconds; fails after
/// [`TIMEOUT`]. For state that has no notification of its own (counters, files).
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// A `bus-peer` child process.
pub struct PeerProcess {
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
}

impl PeerProcess {
    /// Starts `<program> NAME DIR` (the `bus-peer` binary) and waits for `ready`.
    pub async fn start_program(
        program: &Path,
        name: &str,
        dir: &Path,
        adjust: impl FnOnce(&mut Command),
    ) -> PeerProcess {
        let mut command = Command::new(program);
        adjust(&mut command);
        let mut child = command
            .arg(name)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start bus-peer");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = PeerProcess {
            name: name.to_owned(),
            child,
            stdin,
            lines,
        };
        let ready = peer.line().await;
        assert_eq!(ready, "ready", "bus-peer {name} did not start");
        peer
    }

    /// The next line the process prints.
    pub async fn line(&mut self) -> String {
        let name = self.name.clone();
        within(&format!("a line from {name}"), self.lines.recv())
            .await
            .unwrap_or_else(|| panic!("bus-peer {name} exited"))
    }

    /// Sends a command without waiting for its answer (read it later with
    /// [`line`](Self::line)).
    pub async fn send(&mut self, command: &str) {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("write to bus-peer");
        self.stdin.flush().await.expect("flush");
    }

    /// Sends a command and returns its one-line answer.
    pub async fn ask(&mut self, command: &str) -> String {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("write to bus-peer");
        self.stdin.flush().await.expect("flush");
        self.line().await
    }

    /// Sends a command and asserts its answer.
    pub async fn expect(&mut self, command: &str, answer: &str) {
        let got = self.ask(command).await;
        assert_eq!(got, answer, "`{command}` to {}", self.name);
    }

    /// Asks `command` until the answer is `answer`.
    pub async fn expect_eventually(&mut self, command: &str, answer: &str) {
        let name = self.name.clone();
        within(
            &format!("`{command}` to {name} to answer `{answer}`"),
            async {
                while self.ask(command).await != answer {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            },
        )
        .await
    }

    /// Asks `count EVENT` until it reports `n` events, and checks they came in order.
    pub async fn wait_count(&mut self, event: &str, n: u64) {
        let name = self.name.clone();
        within(&format!("{name} to receive {n} {event}"), async {
            loop {
                let answer = self.ask(&format!("count {event}")).await;
                let words: Vec<&str> = answer.split_whitespace().collect();
                let count: u64 = words[2].parse().unwrap();
                assert_eq!(words[3], "true", "{name} received {event} out of order");
                assert!(count <= n, "{name} received {count} {event}, more than {n}");
                if count == n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    }

    /// Waits until the process has received at least `n` of `event` (in order).
    pub async fn wait_count_at_least(&mut self, event: &str, n: u64) -> u64 {
        self.wait_received(event, n, true).await
    }

    /// Waits until the process has received at least `n` of `event`, from any number of
    /// senders (so in no single order).
    pub async fn wait_received_at_least(&mut self, event: &str, n: u64) -> u64 {
        self.wait_received(event, n, false).await
    }

    async fn wait_received(&mut self, event: &str, n: u64, ordered: bool) -> u64 {
        let name = self.name.clone();
        within(&format!("{name} to receive {n} {event}"), async {
            loop {
                let answer = self.ask(&format!("count {event}")).await;
                let words: Vec<&str> = answer.split_whitespace().collect();
                if ordered {
                    assert_eq!(words[3], "true", "{name} received {event} out of order");
                }
                let count: u64 = words[2].parse().unwrap();
                if count >= n {
                    return count;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    }

    /// `(sent, received)` EVENT frames on this process's connection to `remote`.
    pub async fn stats(&mut self, remote: &str) -> (u64, u64) {
        let answer = self.ask(&format!("stats {remote}")).await;
        let words: Vec<&str> = answer.split_whitespace().collect();
        (words[2].parse().unwrap(), words[3].parse().unwrap())
    }

    /// SIGKILL, and reap.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill bus-peer");
    }

    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self, field: &str) -> u64 {
        proc_status_kib(self.id().expect("running"), field)
    }
}

/// A field of `/proc/<pid>/status` in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
