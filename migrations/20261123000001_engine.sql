-- What the scheduler needs on top of the initial schema.

-- Which tenant a run belongs to, the library file facts it was compiled against (so it can be
-- recompiled identically after a restart), the alert that started it, what it targeted, and
-- why it was paused (an operator, or the circuit breaker).
ALTER TABLE runs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE runs ADD COLUMN library TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN alert TEXT;
ALTER TABLE runs ADD COLUMN target_spec TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN pause_reason TEXT;

-- How many times a device was found offline, for the re-check backoff.
ALTER TABLE targets ADD COLUMN offline_count INTEGER NOT NULL DEFAULT 0 CHECK (offline_count >= 0);

-- Outcomes belong to a target and a playbook step; a command that never reached the API
-- (expired or cancelled while queued) has no submission. Nothing wrote this table before this
-- migration, so it is rebuilt rather than altered.
DROP TABLE command_outcomes;
CREATE TABLE command_outcomes (
    id              INTEGER PRIMARY KEY,
    target_id       INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    submission_id   INTEGER REFERENCES submissions (id) ON DELETE CASCADE,
    call_index      INTEGER NOT NULL CHECK (call_index >= 0),
    command_index   INTEGER NOT NULL CHECK (command_index >= 0),
    step_id         TEXT NOT NULL,
    command_type    TEXT NOT NULL CHECK (command_type IN ('PutFile', 'RunScript', 'GetFile')),
    outcome         TEXT NOT NULL
                    CHECK (outcome IN ('completed', 'failed', 'not_executed', 'timed_out', 'cancelled', 'expired')),
    started_at      TEXT,
    ended_at        TEXT,
    errors          TEXT NOT NULL DEFAULT '[]',
    exit_code       INTEGER,
    output_preview  TEXT,
    artifact_path   TEXT,
    artifact_sha256 TEXT,
    artifact_bytes  INTEGER CHECK (artifact_bytes >= 0),
    recorded_at     TEXT NOT NULL,
    -- A submission records its own call's commands and, when the target ends there, those of
    -- the calls that will now never be sent.
    UNIQUE (submission_id, call_index, command_index)
);
CREATE INDEX command_outcomes_by_target ON command_outcomes (target_id, id);
