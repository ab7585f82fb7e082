-- One model call: written `in_flight` with its worst-case cost reserved before the
-- call, and rewritten with its outcome, usage and cost after it.
create table attempts (
    id text not null,
    run_id text not null,
    -- Null for run-level calls (assess, plan, synthesis).
    task_id text,
    kind text not null,
    number integer not null,
    provider text not null,
    model text not null,
    status text not null,
    reserved_cost_usd real not null default 0,
    -- The token counts are all null while the usage is unknown.
    tokens_in integer,
    tokens_out integer,
    tokens_cached integer,
    tokens_reasoning integer,
    -- 0 or 1.
    usage_estimated integer,
    cost_usd real not null default 0,
    latency_ms integer,
    error text,
    started_at text not null,
    finished_at text,
    constraint attempts_pkey primary key (id),
    constraint attempts_run_id_fkey foreign key (run_id) references runs (id) on delete cascade
) strict;

-- A run's attempts in the order they began.
create index attempts_run_id_started_at_idx on attempts (run_id, started_at, id);
