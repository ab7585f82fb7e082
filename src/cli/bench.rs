//! `baton bench`: runs the benchmark workloads, each in a fresh process of this
//! binary (one OS process per workload, so memory figures and warm caches do not leak
//! from one to the next), and prints their JSON lines on standard output.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::bench::{Backend, Flavour, Setup, Sizes, Spec, Workload, progress, run_in_process};
use crate::cli::output;
use crate::config::{LogFormat, Sources};

/// Arguments of `baton bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// The workloads, comma separated: w1, w2, w3, w4, w4runs, http-run, http-sse,
    /// http-events, or all.
    #[arg(
        long = "workload",
        value_enum,
        value_delimiter = ',',
        default_value = "all"
    )]
    workloads: Vec<Workload>,
    /// The journal: sqlite (a fresh temporary file per workload) or postgres (a fresh
    /// database per workload on the server --database-url names, dropped after).
    /// Default: postgres when --database-url is a postgres:// URL, else sqlite.
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// Small sizes that finish in well under a minute: a smoke check, not figures.
    #[arg(long)]
    quick: bool,
    /// The main size, comma separated: W1 chain lengths, W2 widths, W3 runs per round,
    /// W4/W4runs tasks in flight, http-run connections, http-sse requests, http-events
    /// streams.
    #[arg(long, value_delimiter = ',', value_name = "N")]
    n: Vec<usize>,
    /// The tokio runtimes the engine runs on, comma separated: multi, current
    /// (default: both; with --quick, multi). The server of the HTTP workloads always
    /// runs the multi-thread runtime, as `baton serve` does.
    #[arg(long, value_enum, value_delimiter = ',')]
    runtime: Vec<Flavour>,
    /// How long http-run measures, in seconds (default 30; 2 with --quick).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Run in this process instead of one child process per workload (the children
    /// use it; so can a profiler).
    #[arg(long, hide = true)]
    in_process: bool,
}

/// Runs the selected workloads and prints one JSON line for each. Fails only when a
/// workload could not run (a crash, a database that cannot be reached), never
/// because of its figures.
pub(crate) async fn bench(sources: &Sources, args: BenchArgs) -> anyhow::Result<()> {
    let backend = match (args.backend, sources.database_url.as_deref()) {
        (Some(backend), _) => backend,
        (None, Some(url)) if url.starts_with("postgres") => Backend::Postgres,
        (None, _) => Backend::Sqlite,
    };
    let setup = Setup {
        backend,
        database_url: sources.database_url.clone(),
        config_file: sources.file.clone(),
    };
    if backend == Backend::Postgres && setup.database_url.is_none() {
        bail!(
            "--backend postgres needs --database-url postgres://user@host:5432/postgres (a server where the user may create databases)"
        );
    }
    let workloads: Vec<Workload> = if args.workloads.contains(&Workload::All) {
        Workload::EVERY.to_vec()
    } else {
        args.workloads.clone()
    };
    let flavours = match (args.runtime.is_empty(), args.quick) {
        (false, _) => args.runtime.clone(),
        (true, true) => vec![Flavour::Multi],
        (true, false) => vec![Flavour::Multi, Flavour::Current],
    };
    let mut jobs = Vec::new();
    for &workload in &workloads {
        let flavours = if workload.is_http() {
            vec![Flavour::Multi]
        } else {
            flavours.clone()
        };
        for flavour in flavours {
            jobs.push(spec(&args, &setup, workload, flavour));
        }
    }

    if args.in_process {
        crate::cli::serve::init_logging(LogFormat::Text, "warn");
        for spec in jobs {
            let line = run_in_process(spec).await?;
            output::line(&serde_json::to_string(&line)?);
        }
        return Ok(());
    }
    let mut failed = Vec::new();
    for spec in &jobs {
        let label = format!(
            "{} on {} ({} runtime)",
            spec.workload.name(),
            backend.name(),
            spec.flavour.name()
        );
        progress(&format!("{label}: starting"));
        if let Err(err) = run_child(spec, &args, sources).await {
            output::error(&format!("{label}: {err:#}"));
            failed.push(label);
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} workload(s) could not run: {}",
            failed.len(),
            failed.join("; ")
        );
    }
    Ok(())
}

/// The specification of one workload process.
fn spec(args: &BenchArgs, setup: &Setup, workload: Workload, flavour: Flavour) -> Spec {
    let mut sizes = if args.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if let Some(seconds) = args.duration {
        sizes.http_seconds = seconds;
    }
    let sizes = sizes.with_n(workload, &args.n);
    Spec {
        workload,
        sizes,
        quick: args.quick,
        setup: setup.clone(),
        flavour,
        command: command_line(args, setup, workload, flavour),
    }
}

/// The `baton bench` command that measures just this workload the same way.
fn command_line(args: &BenchArgs, setup: &Setup, workload: Workload, flavour: Flavour) -> String {
    let mut words = vec![
        "baton bench".to_owned(),
        format!("--workload {}", workload.name()),
        format!("--backend {}", setup.backend.name()),
    ];
    if setup.backend == Backend::Postgres
        && let Some(url) = &setup.database_url
    {
        words.push(format!("--database-url {}", redact(url)));
    }
    if !workload.is_http() {
        words.push(format!("--runtime {}", flavour.name()));
    }
    if args.quick {
        words.push("--quick".to_owned());
    }
    if !args.n.is_empty() {
        let n: Vec<String> = args.n.iter().map(usize::to_string).collect();
        words.push(format!("--n {}", n.join(",")));
    }
    if let Some(seconds) = args.duration.filter(|_| workload == Workload::HttpRun) {
        words.push(format!("--duration {seconds}"));
    }
    if let Some(file) = &setup.config_file {
        words.push(format!("--config {}", file.display()));
    }
    words.join(" ")
}

/// The URL with its password masked.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<unreadable database url>".to_owned(),
    }
}

/// Runs one workload in a child process of this binary and forwards its JSON line.
async fn run_child(spec: &Spec, args: &BenchArgs, sources: &Sources) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("bench")
        .arg("--in-process")
        .arg("--workload")
        .arg(spec.workload.name())
        .arg("--backend")
        .arg(spec.setup.backend.name())
        .arg("--runtime")
        .arg(spec.flavour.name());
    if args.quick {
        command.arg("--quick");
    }
    if !args.n.is_empty() {
        let n: Vec<String> = args.n.iter().map(usize::to_string).collect();
        command.arg("--n").arg(n.join(","));
    }
    if let Some(seconds) = args.duration {
        command.arg("--duration").arg(seconds.to_string());
    }
    if let Some(url) = &sources.database_url {
        command.arg("--database-url").arg(url);
    }
    if let Some(file) = &sources.file {
        command.arg("--config").arg(file);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .context("could not start the workload process")?;
    let stdout = child
        .stdout
        .take()
        .context("the workload's output is not piped")?;
    // A hung workload must not hang CI: generous limits, far above normal times.
    let limit = Duration::from_secs(if args.quick { 300 } else { 3_600 });
    let finished = tokio::time::timeout(limit, async {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            output::line(&line);
        }
        child.wait().await
    })
    .await;
    match finished {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => bail!("the workload process failed ({status})"),
        Ok(Err(err)) => bail!("the workload process could not be read: {err}"),
        Err(_) => bail!(
            "the workload took longer than {} s and was stopped",
            limit.as_secs()
        ),
    }
}
