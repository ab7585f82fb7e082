-- Large values are compressed with lz4 instead of PostgreSQL's default pglz (issue 5,
-- BENCHMARKS.md). PostgreSQL compresses a value of more than about 2 kB when it
-- stores it: a run's request and plan for a 1,000-task workflow are about 100 kB each
-- (and its `run_created` and `plan` events as much again), and a model's output often
-- passes 2 kB (in the task, its `task_artifact` event, the run's output and its
-- `final` event). On the development host pglz took 1.06 ms per 120 kB value, lz4
-- 0.16 ms, for a value 18 % larger.
--
-- Expand-only: rows already stored keep pglz, and every binary reads both. Where the
-- server was built without lz4 (or is older than PostgreSQL 14), nothing changes.
-- The statements run through `execute`, so that a server that cannot parse them
-- (older than 14) fails them at run time, inside the handler, not when the block is
-- compiled.
do $$
begin
    execute 'alter table events alter column data set compression lz4';
    execute 'alter table runs
        alter column request set compression lz4,
        alter column plan set compression lz4,
        alter column output set compression lz4';
    execute 'alter table tasks
        alter column spec set compression lz4,
        alter column output set compression lz4';
exception
    when feature_not_supported or syntax_error then
        raise notice 'lz4 is not available: large values stay compressed with pglz';
end
$$;
