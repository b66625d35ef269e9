-- The master key's check value (issue 8): a keyed hash derived from the key, which tells whether the
-- key a process was given is the one this database's secrets and faces were sealed with, without
-- revealing it. One row, written on the first open with a key; a process with another key refuses to run.
CREATE TABLE key_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
