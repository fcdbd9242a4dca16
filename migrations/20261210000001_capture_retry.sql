-- A completed command's result that fleetlr could not write (artifact directory read-only or
-- full) is fetched again later: a completed command's result link can be asked for again.
-- capture_name is the artifact file name to write; capture_retry_at is when to try next (NULL:
-- nothing pending, captured or given up on with the reason in `errors`).
ALTER TABLE command_outcomes ADD COLUMN capture_name TEXT;
ALTER TABLE command_outcomes ADD COLUMN capture_retry_at TEXT;
ALTER TABLE command_outcomes ADD COLUMN capture_attempts INTEGER NOT NULL DEFAULT 0
    CHECK (capture_attempts >= 0);
CREATE INDEX command_outcomes_capture_due ON command_outcomes (capture_retry_at)
    WHERE capture_retry_at IS NOT NULL;
