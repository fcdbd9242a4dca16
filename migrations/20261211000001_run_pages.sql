-- A run's targets in id order, so its pages (console, API) are read from an index instead of
-- sorting every target of a 100,000-device run for each one.
CREATE INDEX targets_by_run_id ON targets (run_id, id);
