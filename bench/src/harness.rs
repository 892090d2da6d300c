//! The orchestrator's side of the child processes: spawn this binary in a role, read the
//! JSON lines it prints on stdout, send it commands on stdin.
//!
//! Every wait has a deadline: a child that hangs or dies turns into an error naming it,
//! never into a stuck benchmark. Children still running when a [`Group`] is dropped are
//! killed (by their own pid) and reaped.

use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A harness error: a message naming the child and what went wrong.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How to start children: this executable, and where to pin them.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// This binary (`std::env::current_exe()`).
    pub exe: PathBuf,
    /// The CPU every child pins itself to, or `None` (unpinned).
    pub cpu: Option<usize>,
}

struct Proc {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: VecDeque<String>,
    eof: bool,
}

/// The child processes of one measurement.
pub struct Group {
    launcher: Launcher,
    procs: Vec<Proc>,
    tx: mpsc::Sender<(usize, Option<String>)>,
    rx: mpsc::Receiver<(usize, Option<String>)>,
}

/// Handle of one child in a [`Group`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pid(usize);

impl Group {
    /// An empty group.
    pub fn new(launcher: &Launcher) -> Group {
        let (tx, rx) = mpsc::channel();
        Group {
            launcher: launcher.clone(),
            procs: Vec::new(),
            tx,
            rx,
        }
    }

    /// Starts `event-bench --role ROLE --KEY VALUE... [--cpu N]`; `label` names it in
    /// errors. Its stderr is ours; its stdout is read line by line by a thread.
    pub fn spawn(
        &mut self,
        role: &str,
        label: &str,
        args: &[(&str, String)],
    ) -> Result<Pid, Error> {
        let mut command = Command::new(&self.launcher.exe);
        command.arg("--role").arg(role);
        for (key, value) in args {
            command.arg(format!("--{key}")).arg(value);
        }
        if let Some(cpu) = self.launcher.cpu {
            command.arg("--cpu").arg(cpu.to_string());
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("cannot start {label} ({role}): {error}"))?;
        let stdout = child.stdout.take().ok_or("child without stdout")?;
        let index = self.procs.len();
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((index, Some(line))).is_err() {
                    return;
                }
            }
            let _ = tx.send((index, None));
        });
        self.procs.push(Proc {
            label: label.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines: VecDeque::new(),
            eof: false,
        });
        Ok(Pid(index))
    }

    /// The OS process id of a child.
    #[allow(dead_code)]
    pub fn os_pid(&self, pid: Pid) -> u32 {
        self.procs[pid.0].child.id()
    }

    /// Waits up to `timeout` for the next line of `pid`, which must be a JSON object
    /// with `"kind": kind`. A `"kind": "error"` line, another kind, the child's exit or
    /// the deadline is an error.
    pub fn expect(&mut self, pid: Pid, kind: &str, timeout: Duration) -> Result<Value, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let proc = &mut self.procs[pid.0];
            if let Some(line) = proc.lines.pop_front() {
                let value: Value = serde_json::from_str(&line).map_err(|error| {
                    format!("{}: not a JSON line ({error}): {line}", proc.label)
                })?;
                return match value["kind"].as_str() {
                    Some(found) if found == kind => Ok(value),
                    Some("error") => Err(format!(
                        "{} failed: {}",
                        proc.label,
                        value["message"].as_str().unwrap_or("?")
                    )
                    .into()),
                    _ => Err(format!("{}: expected `{kind}`, got {line}", proc.label).into()),
                };
            }
            if proc.eof {
                let status = match proc.child.try_wait() {
                    Ok(Some(status)) => status.to_string(),
                    _ => "closed its stdout".to_owned(),
                };
                return Err(format!("{} ended before `{kind}` ({status})", proc.label).into());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(
                    format!("{}: no `{kind}` within {timeout:?} (hung?)", proc.label).into(),
                );
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok((index, Some(line))) => self.procs[index].lines.push_back(line),
                Ok((index, None)) => self.procs[index].eof = true,
                Err(_) => {}
            }
        }
    }

    /// Sends one command line to `pid`.
    pub fn send(&mut self, pid: Pid, command: &str) -> Result<(), Error> {
        let proc = &mut self.procs[pid.0];
        let stdin = proc.stdin.as_mut().ok_or("stdin already closed")?;
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|error| format!("{}: cannot send `{command}`: {error}", proc.label).into())
    }

    /// Closes every child's stdin (which tells it to stop), waits up to `timeout` for all
    /// of them to exit, and checks they succeeded.
    pub fn finish(mut self, timeout: Duration) -> Result<(), Error> {
        for proc in &mut self.procs {
            proc.stdin = None;
        }
        let deadline = Instant::now() + timeout;
        while let Some(proc) = self.procs.iter().find(|proc| !proc.eof) {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("{} did not exit within {timeout:?}", proc.label).into());
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok((index, Some(line))) => {
                    let label = &self.procs[index].label;
                    return Err(format!("{label}: unexpected output while stopping: {line}").into());
                }
                Ok((index, None)) => self.procs[index].eof = true,
                Err(_) => {}
            }
        }
        // Every stdout is closed: the children have exited (or are about to).
        for proc in &mut self.procs {
            let status = proc
                .child
                .wait()
                .map_err(|error| format!("{}: {error}", proc.label))?;
            if !status.success() {
                return Err(format!("{} exited with {status}", proc.label).into());
            }
        }
        Ok(())
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        for proc in &mut self.procs {
            proc.stdin = None;
            if let Ok(None) = proc.child.try_wait() {
                let _ = proc.child.kill();
            }
            let _ = proc.child.wait();
        }
    }
}
