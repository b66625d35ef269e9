CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_enc TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    validate_cpf INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE identities (
    client_id TEXT NOT NULL REFERENCES clients(id),
    person_id TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    face_image_enc BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, person_id)
);

CREATE TABLE policies (
    client_id TEXT NOT NULL REFERENCES clients(id),
    policy_id TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    document TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, policy_id)
);

CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    person_id TEXT,
    policy_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX attempts_by_person ON attempts (client_id, person_id, created_at);
CREATE INDEX attempts_by_client ON attempts (client_id, created_at, id);

-- What approved attempts taught about each person: devices (key = fingerprint), places (key = a ~100 m
-- cell, so repeated approvals from one place are one row) and networks (key = IP address). One table, so
-- that an approval records all three in one statement.
CREATE TABLE known_contexts (
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('device', 'location', 'network')),
    key TEXT NOT NULL,
    latitude REAL,
    longitude REAL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (client_id, person_id, kind, key)
);
CREATE INDEX known_contexts_by_key ON known_contexts (client_id, kind, key);
