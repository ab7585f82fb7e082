-- A task of a run's plan: its spec as planned and its current state.
create table tasks (
    run_id uuid not null,
    task_id text not null,
    -- Its place in plan order, from 0.
    position bigint not null,
    spec jsonb not null,
    status text not null,
    output text,
    error text,
    provider text,
    model text,
    attempts bigint not null default 0,
    llm_calls bigint not null default 0,
    tokens_in bigint not null default 0,
    tokens_out bigint not null default 0,
    cost_usd double precision not null default 0,
    started_at timestamptz,
    finished_at timestamptz,
    constraint tasks_pkey primary key (run_id, task_id),
    constraint tasks_run_id_fkey foreign key (run_id) references runs (id) on delete cascade
);
