//! `evb`: look at a live event bus (see the `evb` crate docs).

fn main() -> std::process::ExitCode {
    evb::cli::run(std::env::args_os())
}
