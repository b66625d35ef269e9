-- Webhooks and the audit trail (issue 10).
-- A tenant's subscriptions; the signing secret is sealed with the master key, and after a rotation the
-- previous one keeps signing beside it until previous_secret_expires_at.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT,
    secret_enc TEXT NOT NULL,
    previous_secret_enc TEXT,
    previous_secret_expires_at INTEGER,
    disabled_at INTEGER,
    disabled_reason TEXT,
    failing_since INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhooks_by_client ON webhooks (client_id, created_at);

-- The outbox: an event is written in the same transaction as the change that caused it, and only when
-- a subscription of the tenant wants it; each subscription that wants it gets a delivery row at once.
CREATE TABLE webhook_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    webhook_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    tries INTEGER NOT NULL DEFAULT 0,
    next_try_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_status INTEGER,
    last_error TEXT,
    last_try_at INTEGER,
    created_at INTEGER NOT NULL
);
-- The dispatcher's queue: waiting deliveries by when they are due, and each subscription's in event
-- order. Both hold waiting deliveries only, so they stay as small as the backlog.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_try_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (webhook_id, seq) WHERE status = 'pending';
-- A subscription's deliveries, newest first (the API's list).
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (webhook_id, seq);
-- Pruning: an event goes when none of its deliveries remains; finished deliveries go after a week.
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at) WHERE status <> 'pending';
CREATE INDEX webhook_events_by_time ON webhook_events (created_at);

-- Who did what, when, from where: operator and tenant actions, append-only through the API. No secrets,
-- no biometrics; `detail` is a JSON object (a policy change holds the policy before and after).
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    client_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT,
    ip TEXT,
    request_id TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX audit_log_by_client ON audit_log (client_id, seq);

-- When a waiting attempt stops waiting (the policy's attemptTtlSeconds), for the sweep that closes it;
-- the index holds waiting attempts only (few: most are decided at once or within minutes). Attempts
-- already waiting get the default wait.
ALTER TABLE attempts ADD COLUMN expires_at INTEGER;
UPDATE attempts SET expires_at = created_at + 900000 WHERE status = 'pending';
CREATE INDEX attempts_expiring ON attempts (expires_at) WHERE status = 'pending';
