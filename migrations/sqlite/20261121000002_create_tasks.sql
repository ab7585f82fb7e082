-- A task of a run's plan: its spec as planned and its current state.
create table tasks (
    run_id text not null,
    task_id text not null,
    -- Its place in plan order, from 0.
    position integer not null,
    spec text not null,
    status text not null,
    output text,
    error text,
    provider text,
    model text,
    attempts integer not null default 0,
    llm_calls integer not null default 0,
    tokens_in integer not null default 0,
    tokens_out integer not null default 0,
    cost_usd real not null default 0,
    started_at text,
    finished_at text,
    constraint tasks_pkey primary key (run_id, task_id),
    constraint tasks_run_id_fkey foreign key (run_id) references runs (id) on delete cascade
) strict;
