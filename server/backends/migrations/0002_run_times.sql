-- flightlog scaled backend, schema version 2: the runs table's duration and last update
-- (indexrow.py's columns, as index.py's SQLite table has them). Rows written before this
-- migration have them NULL until their run's next commit, or until a replica reads the
-- run (pgindex.PgIndex.fill_times).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS duration DOUBLE PRECISION;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS last_update DOUBLE PRECISION;
