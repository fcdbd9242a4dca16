-- Schedules: a playbook fired on a cron expression in a time zone, from the configuration file
-- or added through the API.
CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    -- `config` schedules are written at every start from the file and removed with it; `api`
    -- ones live here only.
    source      TEXT NOT NULL CHECK (source IN ('config', 'api')),
    cron        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    playbook    TEXT NOT NULL,
    tenant      TEXT,
    targets     TEXT NOT NULL DEFAULT '{}',
    parameters  TEXT NOT NULL DEFAULT '{}',
    priority    TEXT CHECK (priority IN ('response', 'collection')),
    missed      TEXT NOT NULL CHECK (missed IN ('run_once', 'skip')),
    overlap     TEXT NOT NULL CHECK (overlap IN ('skip', 'queue')),
    paused      INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    -- Every fire time up to and including this one has been decided (fired, queued or skipped).
    cursor      TEXT NOT NULL,
    -- A fire time waiting for the schedule's previous run to end (overlap: queue).
    queued_slot TEXT,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- What became of each fire time (a queued one is in schedules.queued_slot until it fires or is
-- skipped). A fired slot is inserted in the same transaction as its run,
-- so the primary key makes firing a slot twice impossible, restarts included.
CREATE TABLE schedule_firings (
    schedule   TEXT NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
    slot_at    TEXT NOT NULL,
    outcome    TEXT NOT NULL
               CHECK (outcome IN ('fired', 'skipped_overlap', 'skipped_missed', 'failed')),
    run_id     TEXT REFERENCES runs (id) ON DELETE SET NULL,
    detail     TEXT NOT NULL DEFAULT '{}',
    decided_at TEXT NOT NULL,
    PRIMARY KEY (schedule, slot_at)
);

CREATE INDEX runs_by_trigger ON runs (trigger_kind, trigger_ref, state);
