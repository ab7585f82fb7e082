-- A row of `events` may now hold several consecutive events of one run: those one
-- transaction of its commits wrote. Its `seq`, `type` and `ts` are then its last
-- event's, its `data` a JSON array of the events in `seq` order, and `first_seq` the
-- `seq` of its first event (null in a row of one event written before this column
-- existed). Fewer rows take fewer B-tree inserts and WAL frames (BENCHMARKS.md).
--
-- A binary from before it cannot read a row of several events: stop older binaries
-- before a newer one writes (migrations/README.md).
alter table events add column first_seq integer;
