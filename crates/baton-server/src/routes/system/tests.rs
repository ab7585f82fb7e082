use std::collections::BTreeMap;

use baton_core::journal::{JournalStats, LatencySum, ProviderUsage};
use baton_core::status::{RunStatus, TaskStatus};

use super::stats_response;

fn usage(provider: &str, calls: u64, failed: u64, latency_ms: f64) -> ProviderUsage {
    ProviderUsage {
        provider: provider.to_owned(),
        calls,
        failed_calls: failed,
        tokens_in: calls * 10,
        tokens_out: calls * 5,
        cost_usd: calls as f64 * 0.01,
        call_latency: LatencySum {
            count: calls,
            total_ms: latency_ms * calls as f64,
        },
        tasks: calls - failed,
        tasks_succeeded: calls - failed,
        tasks_failed: 0,
        task_latency: LatencySum {
            count: calls - failed,
            total_ms: 2.0 * latency_ms * (calls - failed) as f64,
        },
    }
}

#[test]
fn journal_sums_and_router_figures_combine_per_provider_and_overall() {
    let journal = JournalStats {
        runs: vec![
            (RunStatus::Succeeded, 3),
            (RunStatus::Failed, 1),
            (RunStatus::Running, 2),
        ],
        tasks: vec![(TaskStatus::Succeeded, 7), (TaskStatus::Failed, 1)],
        task_latency: LatencySum {
            count: 8,
            total_ms: 800.0,
        },
        providers: vec![
            usage("anthropic", 4, 1, 100.0),
            usage("openai", 6, 0, 200.0),
        ],
    };
    let waits = BTreeMap::from([("openai".to_owned(), (2, 1500))]);
    let openings = BTreeMap::from([("anthropic".to_owned(), 1), ("gemini".to_owned(), 2)]);

    let stats = stats_response(&journal, &waits, &openings);

    assert_eq!(stats.runs.started, 6);
    assert_eq!(stats.runs.running, 2);
    assert_eq!(stats.success_rate, Some(0.75));
    assert_eq!(
        (stats.tasks, stats.tasks_succeeded, stats.tasks_failed),
        (8, 7, 1)
    );
    assert_eq!(stats.average_task_latency_ms, Some(100.0));
    assert_eq!((stats.calls, stats.failed_calls), (10, 1));
    assert_eq!(stats.average_call_latency_ms, Some(160.0));
    assert_eq!((stats.tokens_in, stats.tokens_out), (100, 50));
    assert_eq!(
        (stats.rate_limit_waits, stats.rate_limit_waited_ms),
        (2, 1500)
    );
    assert_eq!(stats.breaker_openings, 3);
    let names: Vec<&str> = stats
        .providers
        .iter()
        .map(|p| p.provider.as_str())
        .collect();
    assert_eq!(names, ["anthropic", "gemini", "openai"]);
    let anthropic = &stats.providers[0];
    assert_eq!(anthropic.call_success_rate, Some(0.75));
    assert_eq!(anthropic.breaker_openings, 1);
    assert_eq!(anthropic.average_task_latency_ms, Some(200.0));
    let gemini = &stats.providers[1];
    assert_eq!((gemini.calls, gemini.call_success_rate), (0, None));
    assert_eq!(stats.providers[2].rate_limit_waited_ms, 1500);
}

#[test]
fn an_empty_journal_has_no_rates_rather_than_zero_ones() {
    let stats = stats_response(&JournalStats::default(), &BTreeMap::new(), &BTreeMap::new());
    assert_eq!(stats.success_rate, None);
    assert_eq!(stats.average_call_latency_ms, None);
    assert!(stats.providers.is_empty());
}
