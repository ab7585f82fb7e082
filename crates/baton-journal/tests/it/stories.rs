//! The conformance suite, once per backend: each story gets a database of its own.

/// Runs each `&dyn Journal` story on a fresh, migrated store of each backend.
macro_rules! journal_stories {
    ($($story:ident),+ $(,)?) => {
        mod sqlite_journal {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let db = crate::support::sqlite_db();
                    let store = crate::support::migrated_store(&db).await;
                    baton_journal::conformance::$story(&store).await;
                    crate::support::finish(store, db).await;
                }
            )+
        }

        mod postgres_journal {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let Some(db) = crate::support::postgres_db().await else {
                        return;
                    };
                    let store = crate::support::migrated_store(&db).await;
                    baton_journal::conformance::$story(&store).await;
                    crate::support::finish(store, db).await;
                }
            )+
        }
    };
}

/// Runs each store-life story on the URL of a fresh, unmigrated database of each
/// backend.
macro_rules! store_stories {
    ($($story:ident),+ $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let db = crate::support::sqlite_db();
                    baton_journal::conformance::$story(&crate::support::config(&db)).await;
                    db.cleanup().await.expect("remove the test database");
                }
            )+
        }

        mod postgres_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let Some(db) = crate::support::postgres_db().await else {
                        return;
                    };
                    baton_journal::conformance::$story(&crate::support::config(&db)).await;
                    db.cleanup().await.expect("remove the test database");
                }
            )+
        }
    };
}

journal_stories!(
    created_run_reads_back_as_stored,
    taken_idempotency_key_writes_nothing,
    idempotency_keys_are_per_tenant,
    commit_writes_run_tasks_attempts_and_events,
    reapplying_a_commit_is_harmless,
    the_same_commit_applied_at_once_lands_once,
    a_written_event_is_never_replaced,
    failed_commit_writes_nothing,
    rows_of_an_unknown_run_are_refused_whole,
    a_large_commit_that_fails_late_is_refused_whole,
    a_state_without_plan_keeps_the_stored_plan,
    events_after_a_seq_come_in_order_and_round_trip_exactly,
    events_written_together_read_back_one_by_one_and_land_once,
    last_seq_is_the_last_events_seq,
    other_tenants_cannot_see_a_run,
    a_run_reads_back_with_its_rows_at_once,
    list_runs_is_newest_first_and_pages_with_a_cursor,
    list_runs_filters_by_status_and_tenant,
    attempt_goes_from_in_flight_to_succeeded,
    attempts_list_in_start_order_and_by_task,
    tasks_list_in_plan_order_and_are_replaced_in_place,
    a_planned_task_without_a_row_lists_as_pending,
    unfinished_runs_are_those_not_in_a_terminal_status,
    concurrent_commits_all_land,
    a_bad_commit_among_concurrent_ones_fails_alone,
    a_chain_of_submitted_commits_lands_in_order,
    a_failed_commit_breaks_only_its_own_chain,
    a_submitted_run_lands_before_its_chains_commits,
    a_submitted_run_that_fails_breaks_its_chain,
    racing_creates_with_one_key_make_one_run,
    a_migrated_journal_is_ready,
    telemetry_reads_back_and_an_older_state_never_replaces_a_newer_one,
    stats_sum_runs_tasks_and_calls_per_provider,
);

store_stories!(
    ready_is_false_before_migrate_and_true_after,
    data_survives_reopening_the_store,
    a_burst_of_writes_larger_than_the_pool_queues_instead_of_timing_out,
    a_closed_store_is_unavailable,
    closing_right_after_a_write_does_not_wait_for_the_idle_writer,
    a_one_connection_store_reads_right_after_a_write,
);
