-- Known contexts and device keys are kept in the order of their primary key (WITHOUT ROWID): their rows
-- are small and always found by that key, and a person's devices and places, or their keys, are then one
-- look in one b-tree. As rowid tables, each row found in the key's index took a second look in the table
-- (for its times and coordinates): a policy replay, which reads the pasts of tens of thousands of people,
-- spent most of its time in them, and an attempt's history reads a person's too. The rows are copied in key
-- order; the copy takes about a second a million rows.
CREATE TABLE known_contexts_by_person (
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('device', 'location', 'network')),
    key TEXT NOT NULL,
    latitude REAL,
    longitude REAL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    accuracy REAL,
    vouched_at INTEGER,
    PRIMARY KEY (client_id, person_id, kind, key)
) WITHOUT ROWID;
INSERT INTO known_contexts_by_person
    (client_id, person_id, kind, key, latitude, longitude, first_seen, last_seen, accuracy, vouched_at)
  SELECT client_id, person_id, kind, key, latitude, longitude, first_seen, last_seen, accuracy, vouched_at
  FROM known_contexts ORDER BY client_id, person_id, kind, key;
DROP TABLE known_contexts;
ALTER TABLE known_contexts_by_person RENAME TO known_contexts;
-- The indexes by key stay as they were: with the first sighting in them, every approval's upsert (which sets it)
-- would rewrite their entries too. A replay reads who else was approved on a device from them alone (they
-- hold the whole primary key), and the first sighting of those few by the primary key.
CREATE INDEX known_contexts_by_key ON known_contexts (client_id, kind, key, person_id);

CREATE TABLE device_keys_by_person (
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    vouched_at INTEGER,
    PRIMARY KEY (client_id, person_id, thumbprint, fingerprint)
) WITHOUT ROWID;
INSERT INTO device_keys_by_person (client_id, person_id, thumbprint, fingerprint, first_seen, last_seen, vouched_at)
  SELECT client_id, person_id, thumbprint, fingerprint, first_seen, last_seen, vouched_at
  FROM device_keys ORDER BY client_id, person_id, thumbprint, fingerprint;
DROP TABLE device_keys;
ALTER TABLE device_keys_by_person RENAME TO device_keys;
CREATE INDEX device_keys_by_thumbprint ON device_keys (client_id, thumbprint, person_id);
