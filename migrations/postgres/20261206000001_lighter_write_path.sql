-- The write path's cost on PostgreSQL (issue 5, BENCHMARKS.md): every event was
-- parsed into `jsonb` on insert and printed back on every read, and every inserted
-- task, attempt and event row ran a foreign-key trigger that locked its run's row.
--
-- Not expand-then-contract (migrations/README.md): a binary from before this
-- migration reads these columns as JSON and fails on text, so stop older binaries before
-- migrating. No deployment runs replicas yet (leases are not built), so none
-- depends on a rolling upgrade. The type changes rewrite `events`, `tasks` and `runs`
-- under an exclusive lock: on a large database, plan for the time that takes.
--
-- Events keep the exact JSON text the engine encoded and clients receive: nothing
-- queries inside it, so parsing it buys nothing (query it with `data::jsonb`). A NUL
-- character, which `jsonb` cannot hold, now round-trips inside an event as `\u0000`.
alter table events alter column data type text using data::text;

-- The same for the other JSON that nothing queries inside and the engine writes
-- often: a task's spec (sent with every upsert of the task), the run's request and
-- plan. A run's `error` and the router's saved state stay `jsonb`.
alter table tasks alter column spec type text using spec::text;
alter table runs alter column request type text using request::text;
alter table runs alter column plan type text using plan::text;

-- The commit statement itself refuses a row of a run that is not stored (one index
-- lookup per run of a batch instead of a trigger and a row lock per row). Runs are
-- never deleted, so the cascades these constraints carried never ran.
alter table events drop constraint events_run_id_fkey;
alter table tasks drop constraint tasks_run_id_fkey;
alter table attempts drop constraint attempts_run_id_fkey;

-- Runs, tasks and attempts are rewritten a few times each soon after they are
-- inserted; room left on their pages lets those updates stay on the page (HOT)
-- instead of adding a version to every index of the table.
alter table runs set (fillfactor = 50);
alter table tasks set (fillfactor = 50);
alter table attempts set (fillfactor = 50);
