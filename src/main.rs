//! The `baton` binary: argument parsing and wiring only. Each subcommand lives in
//! `cli/`; everything it does is a library call.

mod bench;
mod cli;
mod config;
mod wiring;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: measured in BENCHMARKS.md. It is built
/// without transparent huge pages (`no_thp`): asking the kernel for them made it zero
/// whole 2 MiB pages at first touch, which cost time and resident memory (W4).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Baton: an LLM orchestration server. It plans a task into steps, runs them on the
/// best available models in parallel, checks every result, assembles one answer,
/// and journals everything to a database.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about)]
struct Cli {
    /// A configuration file layered over the shipped defaults (or BATON_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The database URL: sqlite://… or postgres://… (or BATON_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP/SSE server.
    Serve {
        /// The address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Run one prompt and print its progress and answer.
    Run(cli::run::RunArgs),
    /// List or show stored runs.
    Runs {
        #[command(subcommand)]
        command: cli::runs::RunsCommand,
    },
    /// Create the database if needed and apply every migration.
    Migrate,
    /// Check that a running server is ready (for container health checks).
    Health {
        /// The server to check.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Measure the engine and the server on the benchmark workloads (one JSON line each).
    Bench(cli::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            cli::output::error(&format!("could not start the async runtime: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let mut sources = config::Sources {
        file: cli.config,
        database_url: cli.database_url,
        ..config::Sources::default()
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { listen } => {
                sources.listen = listen;
                cli::serve::serve(&sources).await
            }
            Command::Run(args) => cli::run::run(&sources, args).await,
            Command::Runs { command } => cli::runs::runs(&sources, command).await,
            Command::Migrate => cli::migrate::migrate(&sources).await,
            Command::Health { server } => cli::run::health(&server).await,
            Command::Bench(args) => cli::bench::bench(&sources, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            cli::output::error(&format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
