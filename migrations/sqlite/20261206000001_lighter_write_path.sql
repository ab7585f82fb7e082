-- The engine rewrites a run's row with its usage after every call, and SQLite
-- rewrites a whole row (overflow pages included) on every update: with the request
-- and the plan in it, a 100-task chain wrote ~42 pages per task and a 1,000-task
-- chain rewrote its ~150 KiB plan per task (issue 5, BENCHMARKS.md). The request and
-- the plan, written once each, move to a row of their own.
-- (PostgreSQL's twin of this migration changes other things: on PostgreSQL an
-- unchanged large value keeps its out-of-line storage when the row is updated.)
create table run_documents (
    run_id text not null,
    -- The request as accepted, JSON.
    request text not null,
    -- The plan once made (`{"tasks": […]}`), JSON.
    plan text,
    constraint run_documents_pkey primary key (run_id),
    constraint run_documents_run_id_fkey foreign key (run_id) references runs (id) on delete cascade
) strict;

insert into run_documents (run_id, request, plan) select id, request, plan from runs;

alter table runs drop column request;
alter table runs drop column plan;
