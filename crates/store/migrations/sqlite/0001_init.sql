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

CREATE TABLE known_devices (
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (client_id, person_id, fingerprint)
);
CREATE INDEX known_devices_by_fingerprint ON known_devices (client_id, fingerprint);

-- One row per ~100 m cell, so that repeated approvals from one place do not grow the table.
CREATE TABLE known_locations (
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    cell TEXT NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (client_id, person_id, cell)
);

CREATE TABLE known_networks (
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (client_id, person_id, ip)
);
