-- flightlog scaled backend, schema version 3: compaction of small live segments, and an
-- incremental orphan collector.
-- Each batch's object size (NULL for rows written before version 3: read when needed).
-- A compacted row names one object holding the frames of the rows it replaced, in order;
-- its start_seq/end_seq span theirs, so rows still tile 0..next_seq.
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS bytes BIGINT;

-- Where the orphan collector's next sweep resumes listing the object store (the last
-- key it looked at; '' starts again from the first). One row.
CREATE TABLE IF NOT EXISTS collector_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    after_key TEXT NOT NULL
);
INSERT INTO collector_cursor VALUES (1, '') ON CONFLICT DO NOTHING;
