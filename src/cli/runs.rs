//! `baton runs list|show`: read stored runs straight from the journal.

use baton_core::ids::RunId;
use baton_core::journal::{Journal, RunQuery};
use baton_core::status::RunStatus;

use crate::cli::output;
use crate::config::{Config, Sources};

/// `baton runs …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum RunsCommand {
    /// The newest runs.
    List {
        /// Only runs in this status (queued, running, succeeded, partial, failed, cancelled).
        #[arg(long)]
        status: Option<RunStatus>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One run, with its tasks and answer.
    Show {
        /// The run's id.
        id: RunId,
    },
}

/// Runs the subcommand.
pub(crate) async fn runs(sources: &Sources, command: RunsCommand) -> anyhow::Result<()> {
    let config = Config::load(sources)?;
    let store = crate::wiring::open_store(&config).await?;
    match command {
        RunsCommand::List { status, limit } => {
            let runs = store
                .list_runs(&RunQuery {
                    status,
                    limit,
                    ..RunQuery::default()
                })
                .await?;
            if runs.is_empty() {
                output::line("no runs");
            }
            for run in runs {
                let prompt = run.prompt();
                let prompt: String = prompt
                    .as_deref()
                    .unwrap_or("(workflow)")
                    .chars()
                    .take(60)
                    .collect();
                output::line(&format!(
                    "{}  {:<10}  {}  {prompt}",
                    run.id,
                    run.state.status.as_str(),
                    run.created_at.date()
                ));
            }
        }
        RunsCommand::Show { id } => {
            let Some(run) = store.get_run(id, None).await? else {
                anyhow::bail!("no run with id {id}");
            };
            output::line(&format!("run {}  {}", run.id, run.state.status));
            let usage = run.state.usage;
            output::line(&format!(
                "{} call(s), {} tokens in, {} out, ${:.6}",
                usage.llm_calls, usage.tokens_in, usage.tokens_out, usage.cost_usd
            ));
            for task in store.list_tasks(id).await? {
                let model = match (&task.provider, &task.model) {
                    (Some(provider), Some(model)) => format!("{provider}/{model}"),
                    _ => "-".to_owned(),
                };
                output::line(&format!(
                    "  {:<16} {:<10} {model}  {} attempt(s)",
                    task.task_id.as_str(),
                    task.status.as_str(),
                    task.attempts
                ));
            }
            if let Some(error) = &run.state.error {
                output::line(&format!("error ({}): {}", error.code, error.message));
            }
            if let Some(answer) = &run.state.output {
                output::line("");
                output::line(answer.trim_end());
            }
        }
    }
    Ok(())
}
