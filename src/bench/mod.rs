//! `baton bench`: the workloads of `WORKLOADS.md` (W1 overhead, W2 fan-out, W3
//! throughput, W4 memory, and the HTTP workloads), each measured through the real
//! engine and the real journal on a fresh database, one JSON line per workload.
//!
//! Invariant: nothing here bypasses the journal. A figure is only taken once the
//! engine reports the run ended, which is after its last events were committed.
//!
//! Modules in reading order: the JSON line and what it records about the machine;
//! the statistics; PostgreSQL's own counts of the work; the harness (engine, database, simulated model, graphs); the
//! in-process workloads; the HTTP workloads.

pub(crate) mod db_work;
pub(crate) mod harness;
pub(crate) mod http;
pub(crate) mod line;
pub(crate) mod stats;
pub(crate) mod workloads;

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::bench::line::{Line, Machine, RuntimeInfo};

/// A workload of `WORKLOADS.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Workload {
    /// Every workload below, in this order.
    All,
    /// Per-task overhead on sequential chains, latency 0.
    W1,
    /// Fan-out: 1 planner → N workers → 1 assembler, 50 ms each.
    W2,
    /// Throughput: 200 concurrent 5-task diamond runs, latency 0.
    W3,
    /// Memory: 10,000 tasks in flight in one run, 1 s each.
    W4,
    /// Memory: 10,000 concurrent one-task runs, 1 s each.
    W4runs,
    /// `POST /run` under 64 concurrent connections.
    HttpRun,
    /// Time to the first SSE byte of `POST /stream/run`.
    HttpSse,
    /// 1,000 `GET /runs/{id}/events` streams on one run.
    HttpEvents,
}

impl Workload {
    /// Every workload, in the order `all` runs them.
    pub(crate) const EVERY: [Workload; 8] = [
        Workload::W1,
        Workload::W2,
        Workload::W3,
        Workload::W4,
        Workload::W4runs,
        Workload::HttpRun,
        Workload::HttpSse,
        Workload::HttpEvents,
    ];

    /// The name on the command line and in the JSON line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::All => "all",
            Workload::W1 => "w1",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
            Workload::W4runs => "w4runs",
            Workload::HttpRun => "http-run",
            Workload::HttpSse => "http-sse",
            Workload::HttpEvents => "http-events",
        }
    }

    /// Whether it drives a server over HTTP (which always runs the multi-thread runtime).
    pub(crate) fn is_http(self) -> bool {
        matches!(
            self,
            Workload::HttpRun | Workload::HttpSse | Workload::HttpEvents
        )
    }
}

/// The journal's backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Backend {
    /// A fresh SQLite file in a temporary folder, with the shipped durability
    /// (`synchronous = full`, WAL).
    Sqlite,
    /// A fresh database on the PostgreSQL server `--database-url` names, dropped after.
    Postgres,
}

impl Backend {
    /// The name on the command line and in the JSON line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The tokio runtime the engine runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Flavour {
    /// `multi_thread`, one worker per core.
    Multi,
    /// `current_thread`: one thread runs everything.
    Current,
}

impl Flavour {
    /// The name on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Flavour::Multi => "multi",
            Flavour::Current => "current",
        }
    }

    /// What the JSON line says about a runtime of this flavour on this machine.
    pub(crate) fn info(self) -> RuntimeInfo {
        match self {
            Flavour::Multi => RuntimeInfo {
                flavour: "multi_thread".to_owned(),
                workers: Machine::current().cores,
            },
            Flavour::Current => RuntimeInfo {
                flavour: "current_thread".to_owned(),
                workers: 1,
            },
        }
    }

    /// A runtime of this flavour (all drivers on).
    pub(crate) fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            Flavour::Multi => tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build(),
            Flavour::Current => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
        }
    }
}

/// Where the workloads' databases come from.
#[derive(Clone, Debug)]
pub(crate) struct Setup {
    /// The backend.
    pub(crate) backend: Backend,
    /// The PostgreSQL server's URL (its user creates and drops one database per
    /// workload); unused for SQLite.
    pub(crate) database_url: Option<String>,
    /// A configuration file layered over the shipped defaults (`--config`).
    pub(crate) config_file: Option<PathBuf>,
}

/// How big each workload is, and how often it is repeated.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sizes {
    /// W1's chain lengths; the first is the headline, the others the supplement.
    pub(crate) w1_chains: Vec<usize>,
    /// W1's (warm-up, timed) runs.
    pub(crate) w1_runs: (usize, usize),
    /// W1's (warm-up, timed) runs for chains of 1,000 tasks or more.
    pub(crate) w1_long_runs: (usize, usize),
    /// W2's fan-out widths N.
    pub(crate) w2_widths: Vec<usize>,
    /// W2's (warm-up, timed) runs.
    pub(crate) w2_runs: (usize, usize),
    /// W2's (warm-up, timed) runs for N of 1,000 or more.
    pub(crate) w2_wide_runs: (usize, usize),
    /// W3's concurrent runs per round.
    pub(crate) w3_runs: usize,
    /// W3's (warm-up, timed) rounds.
    pub(crate) w3_rounds: (usize, usize),
    /// W4's tasks in flight (and W4runs' runs).
    pub(crate) w4_tasks: usize,
    /// `http-run`: concurrent connections.
    pub(crate) http_connections: usize,
    /// `http-run`: the measured seconds (after a warm-up of a tenth of it, at least 0.5 s).
    pub(crate) http_seconds: f64,
    /// `http-sse`: (warm-up, timed) requests, one after another.
    pub(crate) sse_requests: (usize, usize),
    /// `http-events`: concurrent event streams on one run.
    pub(crate) event_streams: usize,
    /// `http-events`: how long the run's one task takes, in milliseconds, so every
    /// stream is connected before it ends.
    pub(crate) event_run_ms: u64,
}

impl Sizes {
    /// The sizes `WORKLOADS.md` names.
    pub(crate) fn full() -> Sizes {
        Sizes {
            w1_chains: vec![100, 10, 1_000],
            w1_runs: (3, 30),
            w1_long_runs: (1, 5),
            w2_widths: vec![10, 100, 1_000],
            w2_runs: (1, 7),
            w2_wide_runs: (1, 5),
            w3_runs: 200,
            w3_rounds: (1, 5),
            w4_tasks: 10_000,
            http_connections: 64,
            http_seconds: 30.0,
            sse_requests: (10, 200),
            event_streams: 1_000,
            event_run_ms: 3_000,
        }
    }

    /// Small sizes for a smoke check that every workload still runs (CI): the whole
    /// set takes well under a minute per backend, even on a debug build.
    pub(crate) fn quick() -> Sizes {
        Sizes {
            w1_chains: vec![20],
            w1_runs: (1, 5),
            w1_long_runs: (1, 2),
            w2_widths: vec![10, 100],
            w2_runs: (1, 2),
            w2_wide_runs: (1, 2),
            w3_runs: 20,
            w3_rounds: (1, 2),
            w4_tasks: 500,
            http_connections: 8,
            http_seconds: 2.0,
            sse_requests: (2, 10),
            event_streams: 50,
            event_run_ms: 1_000,
        }
    }

    /// These sizes with the workload's main size replaced by `n` (W1: chain lengths;
    /// W2: widths; W3: runs per round; W4 and W4runs: tasks in flight; http-run:
    /// connections; http-events: streams; http-sse: timed requests).
    pub(crate) fn with_n(mut self, workload: Workload, n: &[usize]) -> Sizes {
        let Some(&first) = n.first() else {
            return self;
        };
        match workload {
            Workload::W1 => self.w1_chains = n.to_vec(),
            Workload::W2 => self.w2_widths = n.to_vec(),
            Workload::W3 => self.w3_runs = first,
            Workload::W4 | Workload::W4runs => self.w4_tasks = first,
            Workload::HttpRun => self.http_connections = first,
            Workload::HttpSse => self.sse_requests.1 = first,
            Workload::HttpEvents => self.event_streams = first,
            Workload::All => {}
        }
        self
    }
}

/// Everything one workload process needs.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    /// The workload.
    pub(crate) workload: Workload,
    /// Its sizes.
    pub(crate) sizes: Sizes,
    /// Whether these are the quick sizes.
    pub(crate) quick: bool,
    /// The database.
    pub(crate) setup: Setup,
    /// The runtime the engine runs on (in-process workloads).
    pub(crate) flavour: Flavour,
    /// The command that reproduces this workload's line.
    pub(crate) command: String,
}

/// Runs one workload on the current runtime and returns its line.
pub(crate) async fn run_workload(spec: &Spec, runtime: RuntimeInfo) -> anyhow::Result<Line> {
    let setup = &spec.setup;
    let sizes = &spec.sizes;
    let (figures, runtime) = match spec.workload {
        Workload::W1 => (workloads::w1(setup, sizes).await?, runtime),
        Workload::W2 => (workloads::w2(setup, sizes).await?, runtime),
        Workload::W3 => (workloads::w3(setup, sizes).await?, runtime),
        Workload::W4 => (workloads::w4(setup, sizes).await?, runtime),
        Workload::W4runs => (workloads::w4runs(setup, sizes).await?, runtime),
        Workload::HttpRun | Workload::HttpSse | Workload::HttpEvents => {
            let mut figures: Map<String, Value> = http::run(spec).await?;
            // The client side's runtime is this one; the figures are the server's.
            figures.insert("client_runtime".into(), serde_json::to_value(&runtime)?);
            (figures, Flavour::Multi.info())
        }
        Workload::All => anyhow::bail!("`all` is a list of workloads, not one workload"),
    };
    Ok(Line {
        workload: spec.workload.name().to_owned(),
        backend: setup.backend.name().to_owned(),
        runtime,
        machine: Machine::current(),
        version: line::version(),
        command: spec.command.clone(),
        quick: spec.quick,
        figures,
    })
}

/// Runs one workload on a fresh runtime of its flavour, on a thread of its own (the
/// CLI's own runtime stays idle meanwhile), and returns its line.
pub(crate) async fn run_in_process(spec: Spec) -> anyhow::Result<Line> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("bench-{}", spec.workload.name()))
        .spawn(move || {
            let result = match spec.flavour.build() {
                Ok(runtime) => runtime.block_on(run_workload(&spec, spec.flavour.info())),
                Err(err) => Err(anyhow::anyhow!("could not start the bench runtime: {err}")),
            };
            let _ = sender.send(result);
        })?;
    receiver
        .await
        .map_err(|_| anyhow::anyhow!("the bench thread stopped without a result"))?
}

/// A progress note on standard error (standard output carries only JSON lines).
#[expect(clippy::print_stderr, reason = "bench progress goes to the terminal")]
pub(crate) fn progress(text: &str) {
    eprintln!("bench: {text}");
}

#[cfg(test)]
mod tests;
