-- The router's learned state for one model (its telemetry and circuit breaker), or
-- for a provider's own breaker (model ''), saved with call outcomes and read back at
-- start, so routing does not forget what it learned when the server restarts.
create table telemetry (
    provider text not null,
    -- '' for the provider's own row.
    model text not null,
    -- JSON, opaque to the journal: only the router reads it.
    state text not null,
    -- When the state was taken (fixed-width UTC text); an older state never
    -- replaces a newer one.
    updated_at text not null,
    constraint telemetry_pkey primary key (provider, model)
) strict;
