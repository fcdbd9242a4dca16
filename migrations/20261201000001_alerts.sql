-- Alert webhooks: which alert started which run, and what became of every delivery.

-- One row per (hook, alert, device, rule): the dedup key. A delivery first claims its key (in
-- `claimed` state, with a lease), then asks the engine for the run; the run and the claim's
-- move to `started` are committed in one transaction (`Store::create_run`), so a run exists
-- exactly when its claim says `started`. A claim still `claimed` after its lease (the daemon
-- crashed or the run could not be created) may be taken over by the next delivery, which bumps
-- `attempt`; a slower earlier attempt can then no longer complete it.
CREATE TABLE alert_claims (
    id          INTEGER PRIMARY KEY,
    hook        TEXT NOT NULL,
    alert_id    TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    rule        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('claimed', 'started', 'released')),
    attempt     INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    run_id      TEXT REFERENCES runs (id),
    claimed_at  TEXT NOT NULL,
    lease_until TEXT NOT NULL,
    UNIQUE (hook, alert_id, device_id, rule),
    CHECK ((state = 'started') = (run_id IS NOT NULL))
);
-- The cooldown looks for the latest claim of a rule on a device.
CREATE INDEX alert_claims_cooldown ON alert_claims (rule, device_id, claimed_at);

-- Every delivery to a hook and what fleetlr decided, one row per device and rule it concerned
-- (one row when it concerned none: refused or ignored). `claim_id` is the claim the delivery
-- started, duplicated, or was suppressed by; the run is that claim's.
CREATE TABLE alert_deliveries (
    id          INTEGER PRIMARY KEY,
    delivery    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    hook        TEXT NOT NULL,
    alert_id    TEXT,
    device_id   TEXT,
    rule        TEXT,
    outcome     TEXT NOT NULL
                CHECK (outcome IN ('started', 'duplicate', 'suppressed', 'ignored', 'refused', 'failed')),
    reason      TEXT NOT NULL,
    claim_id    INTEGER REFERENCES alert_claims (id)
);
CREATE INDEX alert_deliveries_by_time ON alert_deliveries (received_at);
CREATE TRIGGER alert_deliveries_are_append_only BEFORE UPDATE ON alert_deliveries
BEGIN
    SELECT RAISE(ABORT, 'alert_deliveries is append-only');
END;
