//! Tests of the column codec shared by both backends.

use baton_core::event::Event;
use baton_core::status::RunStatus;
use time::macros::datetime;

use super::{
    EventRow, SQLITE_TIME_FORMAT, event_json, event_rows, events_after_in, events_of_row,
    first_per_key, from_db_u32, from_db_u64, last_per_key, parse_sqlite_time, sqlite_time,
    tenant_from_db, tenant_to_db, to_db_int,
};

#[test]
fn the_terminal_status_list_matches_the_domain() {
    let expected: Vec<String> = RunStatus::ALL
        .iter()
        .filter(|status| status.is_terminal())
        .map(|status| format!("'{status}'"))
        .collect();
    assert_eq!(
        terminal_run_statuses!(),
        format!("({})", expected.join(", "))
    );
}

#[test]
fn the_terminal_status_list_is_the_one_in_both_migrations() {
    let migrations = concat!(
        include_str!("../../../../migrations/postgres/20261121000001_create_runs.sql"),
        include_str!("../../../../migrations/sqlite/20261121000001_create_runs.sql"),
    );
    let predicate = concat!("where status not in ", terminal_run_statuses!());
    assert_eq!(migrations.matches(predicate).count(), 2);
}

#[test]
fn times_are_kept_to_the_microsecond_in_utc() {
    let ts = datetime!(2026-11-21 13:14:15.123456789 +02:00);
    let stored = baton_core::journal::stored_time(ts);
    assert_eq!(stored, datetime!(2026-11-21 11:14:15.123456 UTC));
    assert_eq!(stored.offset(), time::UtcOffset::UTC);
}

#[test]
fn sqlite_times_are_fixed_width_utc_text_that_reads_back() {
    let ts = datetime!(2026-11-21 13:14:15.5 +02:00);
    let text = sqlite_time(ts).unwrap();
    assert_eq!(text, "2026-11-21T11:14:15.500000Z");
    assert_eq!(parse_sqlite_time(&text, "ts").unwrap(), ts);
}

#[test]
fn sqlite_times_are_written_as_the_format_description_writes_them() {
    let by_description = |ts: time::OffsetDateTime| {
        baton_core::journal::stored_time(ts)
            .format(SQLITE_TIME_FORMAT)
            .unwrap()
    };
    let mut instants = vec![
        datetime!(0000-01-01 00:00:00 UTC),
        datetime!(9999-12-31 23:59:59.999999999 UTC),
        datetime!(2024-02-29 23:59:59.000000999 -11:30),
        datetime!(1970-01-01 00:00:00.000001 UTC),
        // Before year 0: `time`'s way, whatever it writes.
        datetime!(-0001-12-31 23:59:59 UTC),
    ];
    // Spread over years 0..=9999, with any nanosecond (a fixed sequence).
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let first = datetime!(0000-01-01 00:00:00 UTC).unix_timestamp();
    let span = datetime!(9999-12-31 23:59:59 UTC).unix_timestamp() - first;
    for _ in 0..10_000 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let seconds = first + i64::try_from(seed >> 20).unwrap() % span;
        let nanos = i64::try_from(seed % 1_000_000_000).unwrap();
        instants.push(
            time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(seconds) * 1_000_000_000 + i128::from(nanos),
            )
            .unwrap(),
        );
    }

    for ts in instants {
        assert_eq!(sqlite_time(ts).unwrap(), by_description(ts), "{ts}");
    }
}

#[test]
fn sqlite_time_text_sorts_in_time_order() {
    let earlier = sqlite_time(datetime!(2026-11-21 09:59:59.999999 UTC)).unwrap();
    let later = sqlite_time(datetime!(2026-11-21 10:00:00 UTC)).unwrap();
    assert!(earlier < later);
}

#[test]
fn counts_round_trip_and_bad_stored_counts_are_corrupt() {
    assert_eq!(from_db_u64(to_db_int(42), "n").unwrap(), 42);
    assert_eq!(to_db_int(u64::MAX), i64::MAX);
    assert!(from_db_u64(-1, "n").is_err());
    assert!(from_db_u32(i64::from(u32::MAX) + 1, "n").is_err());
}

#[test]
fn no_tenant_is_stored_as_the_empty_string() {
    assert_eq!(tenant_to_db(None), "");
    assert_eq!(tenant_from_db(String::new()), None);
    assert_eq!(tenant_from_db("acme".to_owned()), Some("acme".to_owned()));
}

#[test]
fn a_commit_that_names_a_row_twice_keeps_the_last_state_and_the_first_event() {
    let rows = [("a", 1), ("b", 1), ("a", 2)];
    let last: Vec<_> = last_per_key(&rows, |row| row.0)
        .into_iter()
        .copied()
        .collect();
    assert_eq!(last, [("b", 1), ("a", 2)]);
    let first: Vec<_> = first_per_key(&rows, |row| row.0)
        .into_iter()
        .copied()
        .collect();
    assert_eq!(first, [("a", 1), ("b", 1)]);
}

#[test]
fn an_event_with_a_number_json_cannot_hold_is_refused_and_others_read_back_the_same() {
    use baton_core::event::{Check, Event, EventPayload};
    use baton_core::ids::{RunId, TaskId};

    let verified = |score: f64| Event {
        run_id: RunId::new(),
        seq: 7,
        ts: datetime!(2026-11-21 10:00:00.123456789 UTC),
        payload: EventPayload::TaskVerified {
            task_id: TaskId::parse("t1").expect("a valid id"),
            passed: true,
            score,
            checks: vec![Check {
                name: "judge".to_owned(),
                passed: true,
                detail: None,
            }],
        },
    };
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let refused = event_json(&verified(bad)).expect_err("a non-finite score is refused");
        assert!(refused.to_string().contains("`score`"), "{refused}");
    }
    let event = verified(0.875);
    let text = event_json(&event).expect("a finite score is stored");
    let back: Event = serde_json::from_str(&text).expect("the stored text reads back");
    assert_eq!(back, event);
}

/// No new run's events.
const NONE_CREATED: &[EventRow] = &[];

fn delta(run_id: baton_core::ids::RunId, seq: u64) -> baton_core::event::Event {
    baton_core::event::Event {
        run_id,
        seq,
        ts: datetime!(2026-11-21 10:00:00 UTC),
        payload: baton_core::event::EventPayload::TaskDelta {
            task_id: baton_core::ids::TaskId::parse("t1").expect("a valid id"),
            text: format!("part {seq}"),
        },
    }
}

#[test]
fn a_runs_consecutive_events_share_a_row_and_read_back_one_by_one() {
    use baton_core::ids::RunId;

    let (a, b) = (RunId::new(), RunId::new());
    // Run a's 2 and 3 are consecutive; its 5 is not (4 is elsewhere); b's one event
    // comes between them.
    let events = [delta(a, 2), delta(b, 9), delta(a, 3), delta(a, 5)];
    let refs: Vec<&_> = events.iter().collect();

    let rows = event_rows(NONE_CREATED, &refs).expect("rows");

    let shape: Vec<(RunId, u64, u64)> = rows
        .iter()
        .map(|row| (row.run_id, row.first_seq, row.seq))
        .collect();
    assert_eq!(shape, [(a, 2, 3), (b, 9, 9), (a, 5, 5)]);
    assert!(rows[0].data.starts_with('['), "several events: an array");
    assert!(rows[1].data.starts_with('{'), "one event: the event itself");
    let back = events_of_row(&rows[0].data).expect("the row reads back");
    assert_eq!(back, [events[0].clone(), events[2].clone()]);
    assert_eq!(
        events_of_row(&rows[1].data).expect("the row reads back"),
        [events[1].clone()]
    );
}

#[test]
fn events_after_a_seq_are_cut_from_rows_of_several() {
    let run = baton_core::ids::RunId::new();
    let events: Vec<_> = (1..=6).map(|seq| delta(run, seq)).collect();
    let first: Vec<&_> = events[..4].iter().collect();
    let second: Vec<&_> = events[4..].iter().collect();
    let rows: Vec<String> = [first, second]
        .iter()
        .flat_map(|part| event_rows(NONE_CREATED, part).expect("rows"))
        .map(|row| row.data)
        .collect();
    let read = |after, limit| {
        events_after_in(rows.iter().map(String::as_str), after, limit).expect("events")
    };

    assert_eq!(read(0, 100), events);
    assert_eq!(read(2, 3), events[2..5]);
    assert_eq!(read(5, 100), events[5..]);
    assert!(read(6, 100).is_empty());
    assert!(read(0, 0).is_empty());
}

#[test]
fn a_new_runs_first_events_share_a_row_with_its_commits_events() {
    use baton_core::ids::RunId;

    let (a, b) = (RunId::new(), RunId::new());
    let encoded = |event: &Event| EventRow::of(event).expect("an event that encodes");
    // Run a is created with events 1 and 2, and its commits bring 3 and 4; run b is
    // created with event 1, and its commit's event 3 does not follow it.
    // A row takes its type and time from its last event.
    let mut a_events: Vec<Event> = (1..=4).map(|seq| delta(a, seq)).collect();
    a_events[3].ts = datetime!(2026-11-21 10:00:01 UTC);
    a_events[3].payload = baton_core::event::EventPayload::Plan {
        phase: baton_core::event::PlanPhase::Started,
        tasks: None,
        fallback: false,
        source: None,
    };
    let (b1, b3) = (delta(b, 1), delta(b, 3));
    // A created run's events come as rows already, as `QueuedRun` groups them.
    let mut created = event_rows(NONE_CREATED, &[&a_events[0], &a_events[1]]).expect("rows");
    created.push(encoded(&b1));
    let committed = [&a_events[2], &b3, &a_events[3]];

    let rows = event_rows(&created, &committed).expect("rows");

    let shape: Vec<(RunId, u64, u64, &str)> = rows
        .iter()
        .map(|row| (row.run_id, row.first_seq, row.seq, row.kind))
        .collect();
    assert_eq!(
        shape,
        [
            (a, 1, 4, "plan"),
            (b, 1, 1, "task_delta"),
            (b, 3, 3, "task_delta")
        ]
    );
    assert_eq!(
        events_of_row(&rows[0].data).expect("the row reads back"),
        a_events
    );
    assert_eq!(rows[0].ts, datetime!(2026-11-21 10:00:01 UTC));
    assert_eq!(
        events_of_row(&rows[1].data).expect("the row reads back"),
        [b1]
    );
}
