-- The web SDK (issue 9).
-- Client settings: the name and language of the messages a person receives, the browser origins the
-- SDK may call from (a JSON array of origins), and the tenant's own message templates (JSON, NULL: ours).
ALTER TABLE clients ADD COLUMN display_name TEXT;
ALTER TABLE clients ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN message_templates TEXT;

-- Device binding: challenges waiting for a device's signature, by the SHA-256 of the challenge, bound to
-- the tenant, person and policy; each is taken (deleted) by the attempt that uses it.
CREATE TABLE device_challenges (
    challenge_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX device_challenges_by_person ON device_challenges (client_id, person_id, expires_at);

-- Device keys approved attempts were signed with (RFC 7638 thumbprints of P-256 public keys), one row
-- per key and fingerprint it came with ('' for none): a known key is a known device, and a fingerprint
-- once approved with a key is not proof without one.
CREATE TABLE device_keys (
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (client_id, person_id, thumbprint, fingerprint)
);
CREATE INDEX device_keys_by_thumbprint ON device_keys (client_id, thumbprint, person_id);
