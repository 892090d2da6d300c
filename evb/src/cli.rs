//! The `evb` command line ([`run`]); see the crate docs.

use crate::bus::Where;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Look at a live event bus: its endpoints, what flows, and ask it a request.
#[derive(Debug, Parser)]
#[command(name = "evb", version)]
struct Cli {
    /// The socket directory of the bus (where its endpoints' `<name>.ipc` files are).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "zenoh",
        required_unless_present = "zenoh"
    )]
    dir: Option<PathBuf>,
    /// A zenoh router of the bus (`tcp/HOST:PORT`); repeat for several.
    #[arg(long, value_name = "LOCATOR")]
    zenoh: Vec<String>,
    /// The zenoh bus name.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "default",
        requires = "zenoh"
    )]
    bus: String,
    /// A user for a zenoh router that requires one (with --password).
    #[arg(long, value_name = "USER", requires_all = ["zenoh", "password"])]
    user: Option<String>,
    /// The user's password.
    #[arg(long, value_name = "PASSWORD", requires = "user")]
    password: Option<String>,
    /// This tool's endpoint name on the bus (default `evb-<pid>-<nonce>`): one its access
    /// rules allow, on a secured zenoh bus.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every endpoint, what it subscribes to, and each event's schema.
    Ls {
        /// One JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every event, request and answer as it flows (an observer: never a subscriber).
    Tap {
        /// Only these events (by NAME; a request's answers come with it). Repeatable.
        #[arg(long = "event", value_name = "NAME")]
        events: Vec<String>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// Stop after this many messages.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Send a request built from JSON and print the answer as JSON.
    Request {
        /// The request's event name.
        name: String,
        /// The request as JSON (`null` for a unit struct).
        json: String,
        /// Only to this endpoint.
        #[arg(long, value_name = "ENDPOINT")]
        to: Option<String>,
        /// Give up after this many milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        timeout_ms: u64,
    },
}

/// Runs `evb` with these arguments (the first is the program name), as the `evb` binary
/// does with its own.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    // The bus's warnings (a refused connection, a schema disagreement) on stderr.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let at = match cli.dir {
        Some(dir) => Where::Sockets(dir),
        None => Where::Zenoh {
            routers: cli.zenoh,
            bus: cli.bus,
            credentials: cli.user.zip(cli.password),
        },
    };
    let name = cli.name.unwrap_or_else(crate::bus::default_name);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("evb: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let mut out = std::io::stdout().lock();
        match cli.command {
            Command::Ls { json } => crate::commands::ls(&at, &name, json, &mut out).await,
            Command::Tap {
                events,
                json,
                count,
            } => crate::commands::tap(&at, &name, &events, json, count, &mut out).await,
            Command::Request {
                name: request,
                json,
                to,
                timeout_ms,
            } => {
                let timeout = Duration::from_millis(timeout_ms);
                let answer =
                    crate::commands::request(&at, &name, &request, &json, to.as_deref(), timeout)
                        .await?;
                let body = answer.body;
                use std::io::Write;
                writeln!(out, "{body}")?;
                out.flush()?;
                eprintln!(
                    "{} answered {} in {:.3} ms",
                    answer.from,
                    answer.name,
                    answer.rtt.as_secs_f64() * 1e3
                );
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`evb tap | head`): that is the end, not an error.
        Err(crate::Error::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("evb: {error}");
            ExitCode::FAILURE
        }
    }
}
