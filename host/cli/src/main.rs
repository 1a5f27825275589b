//! `wflow`: run, validate and describe workflows whose steps are WebAssembly
//! components.

mod cli;
mod deploy;
mod describe;
mod draw;
mod output;
mod remote;
mod resume;
mod run;
mod serve;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> ExitCode {
    restore_sigpipe();
    // Before any other thread: what guests and their streams free goes back
    // to the system rather than staying in the heap (a server lives long).
    wflow_server::give_back_large_allocations();
    let args = cli::Cli::parse();
    if args.is_server() {
        // A server outlives the terminal it was started from: a closed
        // stderr must fail a log line, not kill the server.
        ignore_sigpipe();
    }
    let filter = if args.verbose() {
        "wflow=debug,wflow_core=debug,wflow_build=debug,wflow_server=debug,wflow_store=debug,wflow_audit=info"
    } else {
        "wflow=warn,wflow_core=warn,wflow_build=warn,wflow_server=warn,wflow_store=warn,wflow_audit=info"
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let traces = if telemetry::wanted() {
        let _entered = runtime.enter();
        match telemetry::Traces::from_env() {
            Ok(traces) => Some(traces),
            Err(err) => {
                eprintln!("warning: traces are not exported: {err:#}");
                None
            }
        }
    } else {
        None
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // A log line that cannot be written is dropped: reporting it on
        // stderr (the default) would panic where stderr is closed.
        .log_internal_errors(false);
    let logs = if args.json_logs() {
        logs.json().with_filter(filter).boxed()
    } else {
        logs.with_filter(filter).boxed()
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(traces.as_ref().map(telemetry::Traces::layer))
        .init();
    let code = match runtime.block_on(cli::main(args)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    };
    if let Some(traces) = traces {
        traces.shutdown();
    }
    code
}

/// Makes writes to a closed pipe fail (EPIPE) instead of killing the
/// process.
fn ignore_sigpipe() {
    // SAFETY: called in `main` before the async runtime (or any other
    // thread) starts; ignoring a signal has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Lets `wflow describe | head` end quietly: Rust ignores SIGPIPE, which
/// turns a closed pipe into a panic in `println!`; a command-line tool
/// should die of the signal instead, as other Unix tools do.
fn restore_sigpipe() {
    // SAFETY: called first thing in `main`, before any thread exists;
    // setting a signal's disposition to its default has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
