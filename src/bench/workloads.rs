//! W1–W4 of `WORKLOADS.md`, through the real engine and journal: each returns the
//! figures of its JSON line.

use std::time::{Duration, Instant};

use anyhow::bail;
use baton_core::status::RunStatus;
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::bench::harness::{self, Harness, Latencies, WorkerTimes};
use crate::bench::line::{Rss, cpu_time, mib};
use crate::bench::stats::{Samples, round};
use crate::bench::{Setup, Sizes, progress};

/// The critical path of W2: planner, worker, assembler, 50 ms each.
const W2_CALL_MS: u64 = 50;
/// W4's worker latency: the ideal makespan.
const W4_WORKER_MS: u64 = 1_000;

/// Sequential runs of one graph: their times, the process CPU they used, and whether
/// each made exactly one call per task.
#[derive(Debug)]
struct Sequential {
    times_ms: Samples,
    cpu: Duration,
    calls: u64,
    failed: usize,
}

/// Runs `warmup` untimed runs, then `timed` timed ones, one after another.
async fn sequential(
    harness: &Harness,
    body: Value,
    tasks: usize,
    warmup: usize,
    timed: usize,
) -> anyhow::Result<Sequential> {
    let request = harness::request(body)?;
    for _ in 0..warmup {
        harness.run(request.clone()).await?;
    }
    let mut times = Vec::with_capacity(timed);
    let mut failed = 0;
    let mut calls = 0;
    let mut cpu = Duration::ZERO;
    for _ in 0..timed {
        harness.gauge.reset();
        let cpu_before = cpu_time(None);
        let (run_id, elapsed) = harness.run(request.clone()).await?;
        if let (Some(before), Some(after)) = (cpu_before, cpu_time(None)) {
            cpu += after.saturating_sub(before);
        }
        calls += harness.gauge.calls();
        if harness.status(run_id).await? == RunStatus::Succeeded {
            times.push(elapsed);
        } else {
            failed += 1;
        }
    }
    if times.is_empty() {
        bail!("every timed run of a {tasks}-task graph failed");
    }
    Ok(Sequential {
        times_ms: Samples::millis(&times),
        cpu,
        calls,
        failed,
    })
}

/// W1: the engine's own cost per task, on chains run one after another.
pub(crate) async fn w1(setup: &Setup, sizes: &Sizes) -> anyhow::Result<Map<String, Value>> {
    let longest = sizes.w1_chains.iter().copied().max().unwrap_or(100);
    let harness = Harness::open(setup, Latencies::all(0), longest).await?;
    let result = w1_on(&harness, sizes).await;
    harness.close().await?;
    result
}

async fn w1_on(harness: &Harness, sizes: &Sizes) -> anyhow::Result<Map<String, Value>> {
    let (warmup, timed) = sizes.w1_runs;
    progress(&format!(
        "w1: single-task runs ({warmup} warm-up, {timed} timed)"
    ));
    let single = sequential(harness, harness::chain(1), 1, warmup, timed).await?;
    let mut figures = Map::new();
    let mut supplement = Vec::new();
    for (index, &length) in sizes.w1_chains.iter().enumerate() {
        let (warmup, timed) = if length >= 1_000 {
            sizes.w1_long_runs
        } else {
            sizes.w1_runs
        };
        progress(&format!(
            "w1: chains of {length} ({warmup} warm-up, {timed} timed)"
        ));
        let chain = sequential(harness, harness::chain(length), length, warmup, timed).await?;
        let tasks = (length * chain.times_ms.len()) as f64;
        let per_task_median = chain.times_ms.median() * 1e3 / length as f64;
        let per_task_min = chain.times_ms.min() * 1e3 / length as f64;
        let marginal = if length > 1 {
            (chain.times_ms.median() - single.times_ms.median()) * 1e3 / (length - 1) as f64
        } else {
            0.0
        };
        let entry = json!({
            "chain_length": length,
            "runs": chain.times_ms.len(),
            "warmup_runs": warmup,
            "run_ms_median": round(chain.times_ms.median(), 3),
            "run_ms_min": round(chain.times_ms.min(), 3),
            "run_ms_p99": round(chain.times_ms.percentile(99.0), 3),
            "per_task_us_median": round(per_task_median, 1),
            "per_task_us_min": round(per_task_min, 1),
            "per_task_us_marginal": round(marginal, 1),
            "cpu_us_per_task": round(chain.cpu.as_secs_f64() * 1e6 / tasks, 1),
            "calls_per_task": round(chain.calls as f64 / (length * (chain.times_ms.len() + chain.failed)) as f64, 3),
            "failed_runs": chain.failed,
        });
        if index == 0 {
            // The headline chain's figures go at the top of the line.
            if let Value::Object(headline) = entry {
                figures.extend(headline);
            }
        } else {
            supplement.push(entry);
        }
    }
    figures.insert(
        "single_task_run_ms_median".into(),
        json!(round(single.times_ms.median(), 3)),
    );
    figures.insert(
        "single_task_run_ms_min".into(),
        json!(round(single.times_ms.min(), 3)),
    );
    figures.insert(
        "single_task_cpu_us".into(),
        json!(round(
            single.cpu.as_secs_f64() * 1e6 / single.times_ms.len() as f64,
            1
        )),
    );
    figures.insert("single_task_failed_runs".into(), json!(single.failed));
    figures.insert("supplement".into(), Value::Array(supplement));
    Ok(figures)
}

/// W2: one planner, N parallel workers, one assembler, 50 ms each.
pub(crate) async fn w2(setup: &Setup, sizes: &Sizes) -> anyhow::Result<Map<String, Value>> {
    let widest = sizes.w2_widths.iter().copied().max().unwrap_or(10);
    let harness = Harness::open(setup, Latencies::all(W2_CALL_MS), widest + 2).await?;
    let result = w2_on(&harness, sizes).await;
    harness.close().await?;
    result
}

async fn w2_on(harness: &Harness, sizes: &Sizes) -> anyhow::Result<Map<String, Value>> {
    let critical_path_ms = 3.0 * W2_CALL_MS as f64;
    let mut fanouts = Vec::new();
    for &width in &sizes.w2_widths {
        let (warmup, timed) = if width >= 1_000 {
            sizes.w2_wide_runs
        } else {
            sizes.w2_runs
        };
        progress(&format!(
            "w2: N = {width} ({warmup} warm-up, {timed} timed)"
        ));
        let request = harness::request(harness::fan_out(width))?;
        for _ in 0..warmup {
            harness.run(request.clone()).await?;
        }
        let mut makespans = Vec::new();
        let mut all_in_flight = Vec::new();
        let mut last_returned = Vec::new();
        let mut peaks = Vec::new();
        let mut phases = Phases::default();
        let mut inputs_ok = true;
        let mut calls = 0;
        let mut failed = 0;
        for _ in 0..timed {
            harness.gauge.reset();
            harness.probe.reset();
            let (run_id, elapsed) = harness.run(request.clone()).await?;
            let times: WorkerTimes = harness.probe.read();
            calls += harness.gauge.calls();
            peaks.push(harness.gauge.peak());
            inputs_ok &= times.assembler_inputs == width as u64;
            if harness.status(run_id).await? != RunStatus::Succeeded {
                failed += 1;
                continue;
            }
            makespans.push(elapsed);
            phases.add(&times, elapsed);
            // All N were in flight at once when the last one started before the first returned.
            if times.workers == width as u64
                && let (Some(started), Some(first_back)) =
                    (times.last_started, times.first_returned)
                && started <= first_back
            {
                all_in_flight.push(started);
            }
            if let Some(returned) = times.last_returned {
                last_returned.push(returned);
            }
        }
        if makespans.is_empty() {
            bail!("every timed W2 run with N = {width} failed");
        }
        let makespan = Samples::millis(&makespans);
        let all_in_flight = Samples::millis(&all_in_flight);
        let last_returned = Samples::millis(&last_returned);
        fanouts.push(json!({
            "n": width,
            "runs": makespan.len(),
            "warmup_runs": warmup,
            "makespan_ms_median": round(makespan.median(), 2),
            "makespan_ms_min": round(makespan.min(), 2),
            "makespan_ms_max": round(makespan.max(), 2),
            "ratio": round(makespan.median() / critical_path_ms, 3),
            "all_in_flight_ms_median": (all_in_flight.len() > 0).then(|| round(all_in_flight.median(), 2)),
            "runs_with_all_in_flight": all_in_flight.len(),
            "last_returned_ms_median": round(last_returned.median(), 2),
            "overhead_ms_median": phases.medians(),
            "peak_in_flight_min": peaks.iter().min(),
            "assembler_got_all_results": inputs_ok,
            "calls_per_task": round(calls as f64 / ((width + 2) * timed) as f64, 3),
            "failed_runs": failed,
        }));
    }
    let mut figures = Map::new();
    figures.insert("critical_path_ms".into(), json!(critical_path_ms));
    figures.insert("fanouts".into(), Value::Array(fanouts));
    Ok(figures)
}

/// Where a W2 run's time beyond its critical path goes, one sample per run: before
/// the planner's call, between it and the last worker's call, between the last
/// worker's return and the assembler's call, after the assembler's return, and the
/// three calls' own time beyond their set latency (the timer's lateness: a tokio
/// sleep ends at a millisecond tick after its deadline). Together they are the run's
/// time beyond the critical path.
#[derive(Debug, Default)]
pub(crate) struct Phases {
    to_planner: Vec<Duration>,
    planner_to_last_worker: Vec<Duration>,
    last_worker_to_assembler: Vec<Duration>,
    after_assembler: Vec<Duration>,
    calls_beyond_latency: Vec<Duration>,
}

impl Phases {
    pub(crate) fn add(&mut self, times: &WorkerTimes, elapsed: Duration) {
        let gap = |from: Option<Duration>, to: Option<Duration>| Some(to?.saturating_sub(from?));
        let samples = [
            (&mut self.to_planner, times.planner.started),
            (
                &mut self.planner_to_last_worker,
                gap(times.planner.returned, times.last_started),
            ),
            (
                &mut self.last_worker_to_assembler,
                gap(times.last_returned, times.assembler.started),
            ),
            (
                &mut self.after_assembler,
                gap(times.assembler.returned, Some(elapsed)),
            ),
        ];
        for (phase, sample) in samples {
            phase.extend(sample);
        }
        // The planner's, the last worker's (from the last start to the last return,
        // the critical path's stretch) and the assembler's.
        let calls = [
            gap(times.planner.started, times.planner.returned),
            gap(times.last_started, times.last_returned),
            gap(times.assembler.started, times.assembler.returned),
        ];
        if let [Some(planner), Some(worker), Some(assembler)] = calls {
            let set = Duration::from_millis(3 * W2_CALL_MS);
            self.calls_beyond_latency
                .push((planner + worker + assembler).saturating_sub(set));
        }
    }

    pub(crate) fn medians(&self) -> Value {
        let median = |phase: &[Duration]| {
            (!phase.is_empty()).then(|| round(Samples::millis(phase).median(), 2))
        };
        json!({
            "to_planner_call": median(&self.to_planner),
            "planner_to_last_worker_call": median(&self.planner_to_last_worker),
            "last_worker_to_assembler_call": median(&self.last_worker_to_assembler),
            "after_assembler": median(&self.after_assembler),
            "calls_beyond_their_latency": median(&self.calls_beyond_latency),
        })
    }
}

/// W3: rounds of concurrent diamond runs, latency 0.
pub(crate) async fn w3(setup: &Setup, sizes: &Sizes) -> anyhow::Result<Map<String, Value>> {
    let harness = Harness::open(setup, Latencies::all(0), 5).await?;
    let result = w3_on(&harness, sizes).await;
    harness.close().await?;
    result
}

async fn w3_on(harness: &Harness, sizes: &Sizes) -> anyhow::Result<Map<String, Value>> {
    let runs = sizes.w3_runs;
    let (warmup, timed) = sizes.w3_rounds;
    progress(&format!(
        "w3: {runs} concurrent runs ({warmup} warm-up rounds, {timed} timed)"
    ));
    let request = harness::request(harness::diamond())?;
    for _ in 0..warmup {
        concurrent(harness, &request, runs).await;
    }
    let mut rounds = Vec::new();
    let mut failed = 0;
    let mut peaks = Vec::new();
    let mut calls = 0;
    let mut cpu = Duration::ZERO;
    for _ in 0..timed {
        harness.gauge.reset();
        let round_result = concurrent(harness, &request, runs).await;
        cpu += round_result.cpu.unwrap_or_default();
        calls += harness.gauge.calls();
        peaks.push(harness.gauge.peak());
        failed += round_result.failed;
        rounds.push(round_result.elapsed);
    }
    let round_ms = Samples::millis(&rounds);
    let seconds = round_ms.median() / 1e3;
    let mut figures = Map::new();
    figures.insert("runs_per_round".into(), json!(runs));
    figures.insert("rounds".into(), json!(timed));
    figures.insert("warmup_rounds".into(), json!(warmup));
    figures.insert("round_ms_median".into(), json!(round(round_ms.median(), 2)));
    figures.insert("round_ms_min".into(), json!(round(round_ms.min(), 2)));
    figures.insert("runs_per_s".into(), json!(round(runs as f64 / seconds, 1)));
    figures.insert(
        "tasks_per_s".into(),
        json!(round(5.0 * runs as f64 / seconds, 1)),
    );
    figures.insert(
        "cpu_us_per_task".into(),
        json!(round(
            cpu.as_secs_f64() * 1e6 / (5 * runs * timed) as f64,
            1
        )),
    );
    figures.insert("peak_in_flight_max".into(), json!(peaks.iter().max()));
    figures.insert(
        "calls_per_task".into(),
        json!(round(calls as f64 / (5 * runs * timed) as f64, 3)),
    );
    figures.insert("failed_runs".into(), json!(failed));
    Ok(figures)
}

/// A batch of concurrent runs: how long until the last one ended, and how many did
/// not succeed.
#[derive(Debug)]
struct Batch {
    elapsed: Duration,
    /// The process's CPU time over `elapsed` (none where it cannot be read).
    cpu: Option<Duration>,
    failed: usize,
}

/// Submits `runs` runs at once, each from its own task as independent clients would,
/// and waits for every one to end. Then it checks how each ended, outside the time
/// and CPU it reports (reading a run back parses its request and plan: a tenth of
/// W3's instructions when it was counted).
async fn concurrent(
    harness: &Harness,
    request: &baton_core::request::RunRequest,
    runs: usize,
) -> Batch {
    let cpu_before = cpu_time(None);
    let began = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..runs {
        let engine = harness.engine.clone();
        let request = request.clone();
        clients.spawn(async move { harness::submit_and_wait(&engine, request).await });
    }
    let mut ids = Vec::with_capacity(runs);
    let mut failed = 0;
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(Ok(run_id)) => ids.push(run_id),
            Ok(Err(err)) => {
                failed += 1;
                tracing::warn!(error = %err, "a bench run was refused");
            }
            Err(_) => failed += 1,
        }
    }
    let elapsed = began.elapsed();
    let cpu = cpu_time(None)
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    for run_id in ids {
        if !matches!(harness.status(run_id).await, Ok(RunStatus::Succeeded)) {
            failed += 1;
        }
    }
    Batch {
        elapsed,
        cpu,
        failed,
    }
}

/// W4: 10,000 worker calls in flight at once in one run (planner and assembler at
/// latency 0, workers 1 s): memory and makespan.
pub(crate) async fn w4(setup: &Setup, sizes: &Sizes) -> anyhow::Result<Map<String, Value>> {
    let width = sizes.w4_tasks;
    let latencies = Latencies {
        default_ms: 0,
        worker_ms: W4_WORKER_MS,
    };
    let harness = Harness::open(setup, latencies, width + 2).await?;
    let result = w4_on(&harness, width).await;
    harness.close().await?;
    result
}

async fn w4_on(harness: &Harness, width: usize) -> anyhow::Result<Map<String, Value>> {
    progress("w4: warm-up run, N = 2");
    harness.run(harness::request(harness::fan_out(2))?).await?;
    let request = harness::request(harness::fan_out(width))?;
    progress(&format!("w4: one run, N = {width}"));
    let before = Rss::read(None).unwrap_or_default();
    harness.gauge.reset();
    harness.probe.reset();
    let cpu_before = cpu_time(None);
    let (run_id, elapsed) = harness.run(request).await?;
    let cpu = cpu_time(None)
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let after = Rss::read(None).unwrap_or_default();
    let times = harness.probe.read();
    let status = harness.status(run_id).await?;
    let mut figures = memory_figures(before, after, width);
    figures.insert("tasks_in_flight".into(), json!(width));
    figures.insert("status".into(), json!(status.as_str()));
    figures.insert(
        "makespan_ms".into(),
        json!(round(elapsed.as_secs_f64() * 1e3, 1)),
    );
    figures.insert(
        "ratio".into(),
        json!(round(elapsed.as_secs_f64() * 1e3 / W4_WORKER_MS as f64, 3)),
    );
    figures.insert("peak_in_flight".into(), json!(harness.gauge.peak()));
    figures.insert(
        "all_in_flight_ms".into(),
        json!(times.last_started.map(|d| round(d.as_secs_f64() * 1e3, 1))),
    );
    figures.insert(
        "last_returned_ms".into(),
        json!(times.last_returned.map(|d| round(d.as_secs_f64() * 1e3, 1))),
    );
    figures.insert(
        "assembler_got_all_results".into(),
        json!(times.assembler_inputs == width as u64),
    );
    figures.insert("cpu_ms".into(), json!(cpu.map(|c| c.as_millis() as u64)));
    figures.insert(
        "calls_per_task".into(),
        json!(round(harness.gauge.calls() as f64 / (width + 2) as f64, 3)),
    );
    Ok(figures)
}

/// W4runs: 10,000 concurrent one-task runs, each call 1 s.
pub(crate) async fn w4runs(setup: &Setup, sizes: &Sizes) -> anyhow::Result<Map<String, Value>> {
    let runs = sizes.w4_tasks;
    let latencies = Latencies {
        default_ms: 0,
        worker_ms: W4_WORKER_MS,
    };
    let harness = Harness::open(setup, latencies, 1).await?;
    let result = w4runs_on(&harness, runs).await;
    harness.close().await?;
    result
}

async fn w4runs_on(harness: &Harness, runs: usize) -> anyhow::Result<Map<String, Value>> {
    let request = harness::request(harness::one_worker())?;
    progress("w4runs: warm-up, 2 concurrent runs");
    concurrent(harness, &request, 2).await;
    progress(&format!("w4runs: {runs} concurrent one-task runs"));
    let before = Rss::read(None).unwrap_or_default();
    harness.gauge.reset();
    harness.probe.reset();
    let batch = concurrent(harness, &request, runs).await;
    let cpu = batch.cpu;
    let after = Rss::read(None).unwrap_or_default();
    let times = harness.probe.read();
    let mut figures = memory_figures(before, after, runs);
    figures.insert("runs_in_flight".into(), json!(runs));
    figures.insert("failed_runs".into(), json!(batch.failed));
    figures.insert(
        "makespan_ms".into(),
        json!(round(batch.elapsed.as_secs_f64() * 1e3, 1)),
    );
    figures.insert(
        "ratio".into(),
        json!(round(
            batch.elapsed.as_secs_f64() * 1e3 / W4_WORKER_MS as f64,
            3
        )),
    );
    figures.insert("peak_in_flight".into(), json!(harness.gauge.peak()));
    figures.insert(
        "all_in_flight_ms".into(),
        json!(times.last_started.map(|d| round(d.as_secs_f64() * 1e3, 1))),
    );
    figures.insert(
        "last_returned_ms".into(),
        json!(times.last_returned.map(|d| round(d.as_secs_f64() * 1e3, 1))),
    );
    figures.insert("cpu_ms".into(), json!(cpu.map(|c| c.as_millis() as u64)));
    figures.insert(
        "calls_per_task".into(),
        json!(round(harness.gauge.calls() as f64 / runs as f64, 3)),
    );
    Ok(figures)
}

/// Peak RSS, the growth over the run, and that growth per task.
fn memory_figures(before: Rss, after: Rss, tasks: usize) -> Map<String, Value> {
    let delta_kib = after.peak_kib.saturating_sub(before.now_kib);
    let mut figures = Map::new();
    figures.insert("rss_before_mib".into(), json!(mib(before.now_kib)));
    figures.insert("peak_rss_mib".into(), json!(mib(after.peak_kib)));
    figures.insert("delta_mib".into(), json!(mib(delta_kib)));
    figures.insert(
        "per_task_kib".into(),
        json!(round(delta_kib as f64 / tasks.max(1) as f64, 2)),
    );
    figures
}
