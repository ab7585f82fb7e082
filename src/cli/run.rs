//! `baton run "prompt"`: runs one prompt through a server's `POST /stream/run` and
//! prints progress as events arrive, then the answer. Without `--server`, it starts
//! an embedded server on a free loopback port for the one run, so both ways share one
//! code path: the HTTP API.

use std::time::Duration;

use anyhow::{Context, bail};
use baton_core::event::{Event, EventPayload, PlanPhase};
use baton_core::status::RunStatus;
use futures_util::StreamExt;
use tokio::net::TcpListener;

use crate::cli::output;
use crate::config::{Config, Sources};

/// Arguments of `baton run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The task, in plain words.
    prompt: String,
    /// Stream the models' tokens as they arrive.
    #[arg(long)]
    stream: bool,
    /// A running Baton server to use, e.g. http://127.0.0.1:8080 (default: an embedded
    /// one with this machine's configuration).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

/// Runs the prompt and prints what happens.
pub(crate) async fn run(sources: &Sources, args: RunArgs) -> anyhow::Result<()> {
    match &args.server {
        Some(server) => run_against(server.trim_end_matches('/'), &args).await,
        None => {
            let config = Config::load(sources)?;
            crate::cli::serve::init_logging(config.log.format, "warn");
            let app = crate::wiring::build(&config).await?;
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            // The embedded server serves with the configured `[server]` settings
            // (body limit, keepalive, …), as `baton serve` would.
            let state = baton_server::AppState::new(config.server.clone(), app.engine.clone());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(baton_server::serve(listener, state, async move {
                let _ = stopped.await;
            }));
            let result = run_against(&format!("http://{address}"), &args).await;
            let _ = stop.send(());
            let _ = server.await;
            app.engine.shutdown().await;
            result
        }
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the CLI is a client of Baton's own API, not of a vendor"
)]
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?)
}

/// `baton health`: succeeds when the server's `/readyz` answers 200.
pub(crate) async fn health(server: &str) -> anyhow::Result<()> {
    let url = format!("{}/readyz", server.trim_end_matches('/'));
    let response = client()?
        .get(&url)
        .timeout(Duration::from_secs(3))
        .send()
        .await?;
    if response.status().is_success() {
        output::line("ready");
        Ok(())
    } else {
        bail!("{url} answered {}", response.status())
    }
}

async fn run_against(server: &str, args: &RunArgs) -> anyhow::Result<()> {
    let body = serde_json::json!({ "prompt": args.prompt, "options": { "stream": args.stream } });
    let response = client()?
        .post(format!("{server}/stream/run"))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("could not reach Baton at {server}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let problem: serde_json::Value = response.json().await.unwrap_or_default();
        bail!(
            "{status}: {}",
            problem
                .get("detail")
                .and_then(|d| d.as_str())
                .unwrap_or("the server refused the run")
        );
    }
    let mut printer = Printer {
        streaming: args.stream,
        in_delta: false,
        status: None,
    };
    let mut buffer = String::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(
            &chunk.context("the event stream broke")?,
        ));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let data: String = frame
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if data.is_empty() {
                continue;
            }
            let event: Event =
                serde_json::from_str(&data).context("the server sent an unreadable event")?;
            printer.print(&event);
        }
    }
    match printer.status {
        Some(RunStatus::Succeeded | RunStatus::Partial) => Ok(()),
        Some(status) => bail!("the run ended {status}"),
        None => bail!("the event stream ended before the run did"),
    }
}

/// Turns events into progress lines.
struct Printer {
    streaming: bool,
    in_delta: bool,
    status: Option<RunStatus>,
}

impl Printer {
    fn print(&mut self, event: &Event) {
        if self.in_delta && !matches!(event.payload, EventPayload::TaskDelta { .. }) {
            output::line("");
            self.in_delta = false;
        }
        match &event.payload {
            EventPayload::RunCreated { .. } => output::line(&format!("run {}", event.run_id)),
            EventPayload::Plan {
                phase: PlanPhase::Started,
                ..
            } => output::line("planning…"),
            EventPayload::Plan {
                phase: PlanPhase::Completed,
                tasks,
                fallback,
                source,
            } => {
                let count = tasks.as_ref().map_or(0, Vec::len);
                let source = source.as_deref().unwrap_or("planner");
                let note = if *fallback { " (fallback)" } else { "" };
                output::line(&format!("plan: {count} task(s) from the {source}{note}"));
                for task in tasks.iter().flatten() {
                    let deps: Vec<_> = task.depends_on.iter().map(|d| d.as_str()).collect();
                    let after = if deps.is_empty() {
                        String::new()
                    } else {
                        format!(" after {}", deps.join(", "))
                    };
                    output::line(&format!("  - {}: {}{after}", task.id, task.display_title()));
                }
            }
            EventPayload::Decision {
                task_id,
                provider,
                model,
                score,
                ..
            } => {
                output::line(&format!(
                    "[{task_id}] routed to {provider}/{model} (score {score:.2})"
                ));
            }
            EventPayload::TaskStart {
                task_id, attempt, ..
            } if *attempt > 1 => {
                output::line(&format!("[{task_id}] attempt {attempt}"));
            }
            EventPayload::TaskDelta { text, .. } if self.streaming => {
                output::text(text);
                self.in_delta = true;
            }
            EventPayload::TaskRetry {
                task_id,
                delay_ms,
                error,
                ..
            } => {
                output::line(&format!("[{task_id}] retrying in {delay_ms} ms: {error}"));
            }
            EventPayload::TaskArtifact {
                task_id,
                usage,
                cost_usd,
                latency_ms,
                ..
            } => output::line(&format!(
                "[{task_id}] output in {latency_ms} ms, {} tokens in, {} out, ${cost_usd:.6}",
                usage.input_tokens, usage.output_tokens
            )),
            EventPayload::TaskVerified {
                task_id,
                passed,
                score,
                ..
            } => {
                let verdict = if *passed { "passed" } else { "FAILED" };
                output::line(&format!(
                    "[{task_id}] verification {verdict} (score {score:.2})"
                ));
            }
            EventPayload::TaskRepaired {
                task_id, reason, ..
            } => {
                output::line(&format!("[{task_id}] repairing: {reason}"));
            }
            EventPayload::TaskFailed {
                task_id,
                error,
                fallback,
            } => match fallback {
                Some(next) => output::line(&format!(
                    "[{task_id}] failed ({error}); falling back to {next}"
                )),
                None => output::line(&format!("[{task_id}] FAILED: {error}")),
            },
            EventPayload::AssembleStart { strategy } => {
                output::line(&format!("assembling ({strategy})…"))
            }
            EventPayload::Final {
                status,
                output: answer,
                error,
            } => {
                self.status = Some(*status);
                output::line(&format!("run {status}"));
                if let Some(error) = error {
                    output::line(&format!("error ({}): {}", error.code, error.message));
                }
                if let Some(answer) = answer {
                    output::line("");
                    output::line(answer.trim_end());
                    output::line("");
                }
            }
            EventPayload::Stats {
                tasks_total,
                llm_calls,
                tokens_in,
                tokens_out,
                cost_usd,
                duration_ms,
                ..
            } => {
                output::line(&format!(
                    "{tasks_total} task(s), {llm_calls} model call(s), {tokens_in} tokens in, {tokens_out} out, ${cost_usd:.6}, {duration_ms} ms"
                ));
            }
            _ => {}
        }
    }
}
