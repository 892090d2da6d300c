//! A zenoh router for hosts without zenohd; see `event_zenoh::router`.
//!
//! ```text
//! event-zenoh-router --listen tcp/0.0.0.0:7447 [--connect tcp/10.0.0.2:7447]... [--config FILE] [--lease-ms MS]
//! ```

fn main() -> std::process::ExitCode {
    match event_zenoh::router::run_from_args(std::env::args().skip(1)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("event-zenoh-router: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
