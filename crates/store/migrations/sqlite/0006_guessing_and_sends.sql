-- Guessing across attempts (issue 8): each person's consecutive failed code and face verifications,
-- counted across attempts and methods, and when their methods locked. A success resets the row.
CREATE TABLE identity_guards (
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_try_at INTEGER NOT NULL,
    locked_at INTEGER,
    PRIMARY KEY (client_id, person_id)
);

-- Every code sent (or tried: a failed delivery counts too), for the caps per person and per
-- destination (a keyed hash of the phone or email) per hour and per day. Rows older than a day are
-- pruned as new ones arrive.
CREATE TABLE code_sends (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    sent_at INTEGER NOT NULL
);
CREATE INDEX code_sends_by_person ON code_sends (client_id, person_id, sent_at);
CREATE INDEX code_sends_by_destination ON code_sends (client_id, destination, sent_at);
