-- One event of a run's append-only log, numbered from 1 with no gaps; `data` is the
-- whole event as clients receive it, and the log is the truth for what they see.
create table events (
    run_id text not null,
    seq integer not null,
    type text not null,
    ts text not null,
    data text not null,
    constraint events_pkey primary key (run_id, seq),
    constraint events_run_id_fkey foreign key (run_id) references runs (id) on delete cascade
) strict;
