-- One model call: written `in_flight` with its worst-case cost reserved before the
-- call, and rewritten with its outcome, usage and cost after it.
create table attempts (
    id uuid not null,
    run_id uuid not null,
    -- Null for run-level calls (assess, plan, synthesis).
    task_id text,
    kind text not null,
    number bigint not null,
    provider text not null,
    model text not null,
    status text not null,
    reserved_cost_usd double precision not null default 0,
    -- The token counts are all null while the usage is unknown.
    tokens_in bigint,
    tokens_out bigint,
    tokens_cached bigint,
    tokens_reasoning bigint,
    usage_estimated boolean,
    cost_usd double precision not null default 0,
    latency_ms bigint,
    error text,
    started_at timestamptz not null,
    finished_at timestamptz,
    constraint attempts_pkey primary key (id),
    constraint attempts_run_id_fkey foreign key (run_id) references runs (id) on delete cascade
);

-- A run's attempts in the order they began.
create index attempts_run_id_started_at_idx on attempts (run_id, started_at, id);
