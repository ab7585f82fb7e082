-- A run: one request (a prompt or a ready task graph) with its resolved options,
-- and its current state. Events, tasks and attempts hang off it.
-- Ids are UUIDs as lowercase hyphenated text, JSON is text, and times are UTC text
-- of fixed width (`2026-11-21T12:00:00.000000Z`), so text order is time order.
create table runs (
    id text not null,
    -- The owning tenant; '' when auth is off, so that (tenant, idempotency_key) stays unique.
    tenant text not null default '',
    request text not null,
    idempotency_key text,
    request_hash text,
    status text not null,
    plan text,
    output text,
    error text,
    llm_calls integer not null default 0,
    tokens_in integer not null default 0,
    tokens_out integer not null default 0,
    cost_usd real not null default 0,
    created_at text not null,
    updated_at text not null,
    started_at text,
    finished_at text,
    constraint runs_pkey primary key (id),
    constraint runs_idempotency_key_key unique (tenant, idempotency_key)
) strict;

-- Run ids are UUIDv7, so `order by id desc` lists runs newest first.
create index runs_status_id_idx on runs (status, id);
create index runs_tenant_id_idx on runs (tenant, id);

-- The runs to resume or close after a restart; the predicate matches the query's.
create index runs_unfinished_idx on runs (id)
    where status not in ('succeeded', 'partial', 'failed', 'cancelled');
