-- flightlog scaled backend, schema version 1.
-- Each run's committed high-water mark: the sequence number after its last committed
-- record, and the highest segment index committed. A batch commits by moving next_seq
-- from the value it was validated against (a conditional UPDATE): exactly one of two
-- replicas racing on the same mark wins.
CREATE TABLE marks (
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    next_seq BIGINT NOT NULL,
    segment INTEGER NOT NULL,
    PRIMARY KEY (project, run_id)
);

-- One row per committed batch: its object (objectstore.py names it) and the mark range
-- it moved (start_seq = the mark before, end_seq = after). Rows of a run, in start_seq
-- order, tile 0..next_seq exactly: each start_seq is the previous row's end_seq.
CREATE TABLE chunks (
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    start_seq BIGINT NOT NULL,
    end_seq BIGINT NOT NULL,
    segment INTEGER NOT NULL,
    object_key TEXT NOT NULL,
    holes JSONB NOT NULL DEFAULT '[]',
    committed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project, run_id, start_seq)
);
CREATE INDEX chunks_by_object ON chunks (object_key);

-- Declared gaps (records a client's log lost to corruption), answered by GET .../sync.
CREATE TABLE gaps (
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (project, run_id, first_seq)
);

-- The query index, as index.py's SQLite table (JSONB for config, summary, tags).
CREATE TABLE runs (
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    name TEXT,
    created DOUBLE PRECISION,
    updated DOUBLE PRECISION,
    exit_code INTEGER,
    writer_alive INTEGER,
    steps BIGINT,
    records BIGINT,
    next_seq BIGINT,
    config JSONB,
    summary JSONB,
    tags JSONB,
    PRIMARY KEY (project, run_id)
);
CREATE INDEX runs_by_project_created ON runs (project, created);
