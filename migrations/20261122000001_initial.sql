-- fleetlr's durable state. Timestamps are RFC 3339 UTC text; JSON columns hold JSON text.

-- A run: one playbook executed over a set of devices.
CREATE TABLE runs (
    id                  TEXT PRIMARY KEY,
    playbook_name       TEXT NOT NULL,
    playbook_sha256     TEXT NOT NULL,
    -- The playbook exactly as it was when the run was accepted, so a run can always be explained
    -- and resumed even after the file on disk changed.
    playbook_source     TEXT NOT NULL,
    parameters          TEXT NOT NULL DEFAULT '{}',
    started_by          TEXT NOT NULL,
    trigger_kind        TEXT NOT NULL CHECK (trigger_kind IN ('cli', 'api', 'webhook', 'schedule')),
    trigger_ref         TEXT,
    priority            TEXT NOT NULL CHECK (priority IN ('response', 'collection')),
    state               TEXT NOT NULL
                        CHECK (state IN ('queued', 'running', 'paused', 'cancelling', 'finished', 'cancelled')),
    expires_at          TEXT NOT NULL,
    max_failure_percent INTEGER CHECK (max_failure_percent BETWEEN 0 AND 100),
    canary              INTEGER CHECK (canary >= 0),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    finished_at         TEXT
);
CREATE INDEX runs_by_state ON runs (state, priority, created_at);

-- A device within a run.
CREATE TABLE targets (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    device_id       TEXT NOT NULL,
    device_name     TEXT,
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'waiting_offline', 'submitting', 'in_flight', 'succeeded',
                                     'failed', 'timed_out', 'expired', 'cancelled')),
    -- The next compiled runliveresponse call this target needs.
    call_index      INTEGER NOT NULL DEFAULT 0 CHECK (call_index >= 0),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT,
    UNIQUE (run_id, device_id)
);
CREATE INDEX targets_due ON targets (state, next_attempt_at);
CREATE INDEX targets_by_run ON targets (run_id, state);

-- The exactly-once ledger: a row is written *before* each runliveresponse POST. Its marker goes
-- into the action's Comment, so after a crash an 'intended' row is resolved by finding (or not
-- finding) the marker in GET /api/machineactions, never by submitting again blindly.
CREATE TABLE submissions (
    id                INTEGER PRIMARY KEY,
    target_id         INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    call_index        INTEGER NOT NULL CHECK (call_index >= 0),
    attempt           INTEGER NOT NULL CHECK (attempt >= 1),
    marker            TEXT NOT NULL UNIQUE,
    state             TEXT NOT NULL CHECK (state IN ('intended', 'accepted', 'refused')),
    machine_action_id TEXT UNIQUE,
    action_status     TEXT,
    refusal           TEXT,
    intended_at       TEXT NOT NULL,
    resolved_at       TEXT,
    UNIQUE (target_id, call_index, attempt),
    CHECK ((state = 'accepted') = (machine_action_id IS NOT NULL))
);
CREATE INDEX submissions_open ON submissions (state) WHERE state = 'intended';

-- What each command of an accepted submission ended as.
CREATE TABLE command_outcomes (
    id              INTEGER PRIMARY KEY,
    submission_id   INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
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
    UNIQUE (submission_id, command_index)
);

-- Append-only history of a run, for operators and audits.
CREATE TABLE run_events (
    id        INTEGER PRIMARY KEY,
    run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    target_id INTEGER REFERENCES targets (id) ON DELETE CASCADE,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX run_events_by_run ON run_events (run_id, id);
CREATE TRIGGER run_events_are_append_only BEFORE UPDATE ON run_events
BEGIN
    SELECT RAISE(ABORT, 'run_events is append-only');
END;
