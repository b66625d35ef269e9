-- Failures are counted per factor (issue 8): a face success no longer forgets the code failures, nor the
-- reverse. A lock of either factor still locks both. What was counted before is kept for both factors.
CREATE TABLE identity_guards_per_factor (
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    factor TEXT NOT NULL CHECK (factor IN ('code', 'face')),
    failures INTEGER NOT NULL,
    last_try_at INTEGER NOT NULL,
    locked_at INTEGER,
    PRIMARY KEY (client_id, person_id, factor)
);
INSERT INTO identity_guards_per_factor (client_id, person_id, factor, failures, last_try_at, locked_at)
    SELECT client_id, person_id, 'code', failures, last_try_at, locked_at FROM identity_guards;
INSERT INTO identity_guards_per_factor (client_id, person_id, factor, failures, last_try_at, locked_at)
    SELECT client_id, person_id, 'face', failures, last_try_at, locked_at FROM identity_guards;
DROP TABLE identity_guards;
ALTER TABLE identity_guards_per_factor RENAME TO identity_guards;
