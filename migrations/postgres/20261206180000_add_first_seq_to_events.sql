-- A row of `events` may now hold several consecutive events of one run: those one
-- transaction of its commits wrote. Its `seq`, `type` and `ts` are then its last
-- event's, its `data` a JSON array of the events in `seq` order, and `first_seq` the
-- `seq` of its first event (null in a row of one event written before this column
-- existed). PostgreSQL's cost is per row, not per byte, and a 5-task run's 26 events
-- take about 8 rows this way (BENCHMARKS.md).
--
-- Expand-only, but a binary from before it cannot read a row of several events: stop
-- older binaries before a newer one writes (migrations/README.md).
alter table events add column first_seq bigint;
