//! The bench's statistics, its JSON line, its graphs, and a quick W1 on SQLite through
//! the real engine and journal.

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{self, task_tag};
use super::line::{Line, Machine, RuntimeInfo};
use super::stats::{Samples, round};
use super::*;

#[test]
fn the_median_of_an_odd_count_is_the_middle_sample_and_of_an_even_count_the_mean_of_two() {
    assert_eq!(Samples::new([5.0, 1.0, 3.0]).median(), 3.0);
    assert_eq!(Samples::new([4.0, 1.0, 3.0, 2.0]).median(), 2.5);
    assert_eq!(Samples::new([7.0]).median(), 7.0);
    assert_eq!(Samples::new([]).median(), 0.0);
}

#[test]
fn min_max_and_nearest_rank_percentiles_follow_the_sorted_samples() {
    let samples = Samples::new((1..=100).rev().map(f64::from));
    assert_eq!((samples.min(), samples.max()), (1.0, 100.0));
    assert_eq!(samples.percentile(50.0), 50.0);
    assert_eq!(samples.percentile(99.0), 99.0);
    assert_eq!(samples.percentile(100.0), 100.0);
    // Nearest rank: with 10 samples, p99 is the largest and p50 the fifth.
    let ten = Samples::new((1..=10).map(f64::from));
    assert_eq!(ten.percentile(99.0), 10.0);
    assert_eq!(ten.percentile(50.0), 5.0);
    assert_eq!(ten.percentile(0.1), 1.0);
    assert_eq!(Samples::new([]).percentile(99.0), 0.0);
}

#[test]
fn durations_become_milliseconds_and_nans_are_dropped() {
    let samples = Samples::millis(&[Duration::from_micros(1500), Duration::from_millis(3)]);
    assert_eq!(samples.median(), 2.25);
    assert_eq!(Samples::new([f64::NAN, 2.0]).len(), 1);
    assert_eq!(round(1.23456, 2), 1.23);
}

#[test]
fn http_run_latencies_are_grouped_by_the_second_their_request_was_sent() {
    let ms = Duration::from_millis;
    let answered = |sent_at, latency| http::Answered { sent_at, latency };
    let load = http::Load {
        // Second 0: 1..=100 ms; second 1: nothing; second 2: one slow request.
        answered: (0..100)
            .map(|i| answered(ms(i * 9), ms(i + 1)))
            .chain([answered(ms(2_500), ms(900))])
            .collect(),
        errors: 0,
    };

    let p99s = http::p99_per_second(&load);

    assert_eq!(p99s, [Some(99.0), None, Some(900.0)]);
}

#[test]
fn a_w2_runs_time_beyond_its_critical_path_splits_into_phases_that_add_up() {
    let ms = |ms: u64| Some(Duration::from_millis(ms));
    let span = |started, returned| harness::Span { started, returned };
    // Planner 1..52, workers 53..105 (the last one 54..105), assembler 107..158.
    let times = harness::WorkerTimes {
        workers: 10,
        last_started: ms(54),
        first_returned: ms(103),
        last_returned: ms(105),
        assembler_inputs: 10,
        planner: span(ms(1), ms(52)),
        assembler: span(ms(107), ms(158)),
    };
    let mut phases = workloads::Phases::default();

    phases.add(&times, Duration::from_millis(160));

    let medians = phases.medians();
    assert_eq!(
        medians,
        json!({
            "to_planner_call": 1.0,
            "planner_to_last_worker_call": 2.0,
            "last_worker_to_assembler_call": 2.0,
            "after_assembler": 2.0,
            "calls_beyond_their_latency": 3.0,
        })
    );
    let total: f64 = medians
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_f64)
        .sum();
    assert_eq!(
        total, 10.0,
        "the makespan (160 ms) beyond the critical path (150 ms)"
    );
}

#[test]
fn a_line_is_one_json_object_with_its_context_and_flat_figures() {
    let mut figures = serde_json::Map::new();
    figures.insert("per_task_us_median".into(), json!(123.4));
    let line = Line {
        workload: "w1".into(),
        backend: "sqlite".into(),
        runtime: RuntimeInfo {
            flavour: "multi_thread".into(),
            workers: 2,
        },
        machine: Machine {
            cores: 2,
            memory_mib: 4096,
            cpu: "test cpu".into(),
        },
        version: "abc123".into(),
        command: "baton bench --workload w1 --backend sqlite --runtime multi".into(),
        quick: false,
        figures,
    };
    let text = serde_json::to_string(&line).unwrap();
    assert!(!text.contains('\n'));
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value,
        json!({
            "workload": "w1",
            "backend": "sqlite",
            "runtime": { "flavour": "multi_thread", "workers": 2 },
            "machine": { "cores": 2, "memory_mib": 4096, "cpu": "test cpu" },
            "version": "abc123",
            "command": "baton bench --workload w1 --backend sqlite --runtime multi",
            "quick": false,
            "per_task_us_median": 123.4,
        })
    );
}

#[test]
fn the_graphs_have_the_shapes_of_the_workloads() {
    let chain = harness::request(harness::chain(100)).unwrap();
    let tasks = chain.workflow.unwrap().tasks;
    assert_eq!(tasks.len(), 100);
    assert_eq!(tasks[0].id.as_str(), "t000");
    assert!(tasks[0].depends_on.is_empty());
    assert_eq!(tasks[99].depends_on[0].as_str(), "t098");

    let fan = harness::request(harness::fan_out(1000)).unwrap();
    assert_eq!(fan.options.max_concurrency, Some(1000));
    assert_eq!(fan.options.verify, Some(false));
    let tasks = fan.workflow.unwrap().tasks;
    assert_eq!(tasks.len(), 1002);
    assert_eq!(tasks.last().unwrap().depends_on.len(), 1000);
    assert!(
        tasks[1..1001]
            .iter()
            .all(|t| t.id.as_str().starts_with('w'))
    );
    // No success criteria: verification never asks a judge.
    assert!(tasks.iter().all(|t| t.success_criteria.is_empty()));

    let diamond = harness::request(harness::diamond()).unwrap();
    let tasks = diamond.workflow.unwrap().tasks;
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d", "e"]);
    assert_eq!(tasks[4].depends_on.len(), 3);
}

#[test]
fn a_task_call_is_tagged_with_its_task_id() {
    let spec = baton_core::graph::TaskSpec::new(
        baton_core::ids::TaskId::parse("w00042").unwrap(),
        "Do step w00042.",
    );
    let planner_id = baton_core::ids::TaskId::parse("planner").unwrap();
    let call = baton_planner::task_request(&spec, None, &[(&planner_id, "plan (done)")], 100);
    assert_eq!(task_tag(&call), Some("w00042"));
}

#[test]
fn n_replaces_the_main_size_of_the_chosen_workload_only() {
    let sizes = Sizes::quick().with_n(Workload::W2, &[3, 4]);
    assert_eq!(sizes.w2_widths, vec![3, 4]);
    assert_eq!(sizes.w1_chains, Sizes::quick().w1_chains);
    assert_eq!(Sizes::full().with_n(Workload::W4, &[]), Sizes::full());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_w1_runs_on_sqlite_through_the_engine_with_one_call_per_task() {
    let spec = Spec {
        workload: Workload::W1,
        sizes: Sizes::quick(),
        quick: true,
        setup: Setup {
            backend: Backend::Sqlite,
            database_url: None,
            config_file: None,
        },
        flavour: Flavour::Multi,
        command: "baton bench --workload w1 --backend sqlite --runtime multi --quick".into(),
    };
    let line = run_workload(&spec, Flavour::Multi.info()).await.unwrap();
    let value = serde_json::to_value(&line).unwrap();
    assert_eq!(value["workload"], "w1");
    assert_eq!(value["backend"], "sqlite");
    assert_eq!(value["chain_length"], Sizes::quick().w1_chains[0]);
    assert_eq!(value["runs"], Sizes::quick().w1_runs.1);
    assert_eq!(value["failed_runs"], 0);
    // Exactly one model call per task: no planner, judge or synthesis call.
    assert_eq!(value["calls_per_task"], 1.0);
    let per_task = value["per_task_us_median"].as_f64().unwrap();
    let single = value["single_task_run_ms_median"].as_f64().unwrap();
    assert!(per_task > 0.0 && single > 0.0, "{value}");
    assert!(value["per_task_us_min"].as_f64().unwrap() <= per_task);
}

/// The PostgreSQL server `BATON_TEST_DATABASE_URL` names, if any (CI sets it).
fn postgres_admin_url() -> Option<String> {
    #[expect(clippy::disallowed_methods, reason = "a test reads its own setting")]
    let url = std::env::var("BATON_TEST_DATABASE_URL");
    url.ok().filter(|url| !url.trim().is_empty())
}

/// What a connection wrote is in PostgreSQL's counts of its database once it has
/// ended, although its backend reports the last of them only as it exits:
/// `read_once_ended` ends a connection still open and waits for it to exit.
#[tokio::test]
async fn db_counts_hold_what_an_ended_connection_wrote() {
    use sqlx::{Connection, PgConnection};

    use super::db_work::DbCounts;

    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let db = baton_journal::TestDb::postgres(&admin_url).await.unwrap();
    let name = db.postgres_name().unwrap().to_owned();
    // The table is made first: making it inserts rows into the catalogues.
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("create table counted (id integer primary key, n integer not null)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let before = DbCounts::read_once_ended(&admin_url, &name).await.unwrap();

    // A backend reports its counts at most once a second until it exits, so the
    // update, right after the insert, is reported only as this connection ends.
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    for sql in [
        "insert into counted values (1, 0), (2, 0), (3, 0)",
        "update counted set n = 1 where id < 3",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    let counted = DbCounts::read_once_ended(&admin_url, &name)
        .await
        .unwrap()
        .since(before);

    assert!(
        sqlx::query("select 1").execute(&mut conn).await.is_err(),
        "the connection still open was ended"
    );
    assert_eq!((counted.rows_inserted, counted.rows_updated), (3, 2));
    assert!(counted.transactions >= 2, "{counted:?}");
    assert!(
        counted.wal_records > 0 && counted.wal_bytes > 0.0,
        "{counted:?}"
    );
    let mut figures = serde_json::Map::new();
    counted.insert_per_run(2, &mut figures);
    assert_eq!(figures["db_runs_counted"], 2);
    assert_eq!(figures["db_rows_inserted_per_run"], 1.5);
    assert_eq!(figures["db_rows_updated_per_run"], 1.0);
    db.cleanup().await.unwrap();
}
