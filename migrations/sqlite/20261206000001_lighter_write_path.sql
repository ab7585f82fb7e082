-- PostgreSQL's twin of this migration stores events as text and moves the check
-- that a row's run is stored from foreign-key triggers into the commit statement.
-- SQLite already stores events as text, and its foreign-key checks are index
-- lookups without row locks, so nothing changes here; the migration exists so that
-- both backends keep the same list of migrations.
select 1;
