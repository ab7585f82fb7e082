-- A run: one request (a prompt or a ready task graph) with its resolved options,
-- and its current state. Events, tasks and attempts hang off it.
create table runs (
    id uuid not null,
    -- The owning tenant; '' when auth is off, so that (tenant, idempotency_key) stays unique.
    tenant text not null default '',
    request jsonb not null,
    idempotency_key text,
    request_hash text,
    status text not null,
    plan jsonb,
    output text,
    error jsonb,
    llm_calls bigint not null default 0,
    tokens_in bigint not null default 0,
    tokens_out bigint not null default 0,
    cost_usd double precision not null default 0,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    started_at timestamptz,
    finished_at timestamptz,
    constraint runs_pkey primary key (id),
    constraint runs_idempotency_key_key unique (tenant, idempotency_key)
);

-- Run ids are UUIDv7, so `order by id desc` lists runs newest first.
create index runs_status_id_idx on runs (status, id);
create index runs_tenant_id_idx on runs (tenant, id);

-- The runs to resume or close after a restart; the predicate matches the query's.
create index runs_unfinished_idx on runs (id)
    where status not in ('succeeded', 'partial', 'failed', 'cancelled');
