-- An attempt's event costs its transaction less (issue 10's cost at the server's limit): the check that a
-- subscription of the tenant wants the type is one search of a small table kept in key order, instead of
-- reading the tenant's subscriptions and parsing each one's list of types; and the outbox no longer keeps
-- its sequence in `sqlite_sequence` (AUTOINCREMENT), which every event's statement read and rewrote.

-- The event types each tenant's enabled subscriptions take, kept by the triggers below in the same
-- transaction as every change of a subscription (created, its types changed, disabled or enabled, deleted).
CREATE TABLE webhook_event_types (
    client_id TEXT NOT NULL,
    type TEXT NOT NULL,
    PRIMARY KEY (client_id, type)
) WITHOUT ROWID;
INSERT OR IGNORE INTO webhook_event_types (client_id, type)
    SELECT w.client_id, j.value FROM webhooks w, json_each(w.events) j WHERE w.disabled_at IS NULL;
CREATE TRIGGER webhook_event_types_on_insert AFTER INSERT ON webhooks BEGIN
    DELETE FROM webhook_event_types WHERE client_id = NEW.client_id;
    INSERT OR IGNORE INTO webhook_event_types (client_id, type)
        SELECT w.client_id, j.value FROM webhooks w, json_each(w.events) j
        WHERE w.client_id = NEW.client_id AND w.disabled_at IS NULL;
END;
-- Only these columns: the dispatcher's cursor moves and leases, many a second, do not fire it.
CREATE TRIGGER webhook_event_types_on_update AFTER UPDATE OF client_id, events, disabled_at ON webhooks BEGIN
    DELETE FROM webhook_event_types WHERE client_id IN (OLD.client_id, NEW.client_id);
    INSERT OR IGNORE INTO webhook_event_types (client_id, type)
        SELECT w.client_id, j.value FROM webhooks w, json_each(w.events) j
        WHERE w.client_id IN (OLD.client_id, NEW.client_id) AND w.disabled_at IS NULL;
END;
CREATE TRIGGER webhook_event_types_on_delete AFTER DELETE ON webhooks BEGIN
    DELETE FROM webhook_event_types WHERE client_id = OLD.client_id;
    INSERT OR IGNORE INTO webhook_event_types (client_id, type)
        SELECT w.client_id, j.value FROM webhooks w, json_each(w.events) j
        WHERE w.client_id = OLD.client_id AND w.disabled_at IS NULL;
END;

-- The outbox without AUTOINCREMENT. A new event's `seq` is then the largest one in the table plus one, so
-- the table must always hold the largest `seq` ever written, or a new event could get a `seq` a cursor has
-- passed: the pruning keeps the newest event (`prune_deliveries`), and when every event was pruned before this
-- migration, a row of no tenant (client '') holds the sequence's mark in their place. No subscription reads
-- it (cursors read their own tenant's events); it is pruned once a newer event is written.
CREATE TABLE webhook_events_new (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    webhook_id TEXT
);
INSERT INTO webhook_events_new (seq, id, client_id, type, data, created_at, webhook_id)
    SELECT seq, id, client_id, type, data, created_at, webhook_id FROM webhook_events ORDER BY seq;
INSERT INTO webhook_events_new (seq, id, client_id, type, data, created_at)
    SELECT s.seq, 'sequence', '', 'sequence', '{}', 0 FROM sqlite_sequence s
    WHERE s.name = 'webhook_events' AND s.seq > (SELECT COALESCE(MAX(seq), 0) FROM webhook_events);
DROP TABLE webhook_events;
ALTER TABLE webhook_events_new RENAME TO webhook_events;
CREATE INDEX webhook_events_of_client ON webhook_events (client_id, seq);
DELETE FROM sqlite_sequence WHERE name = 'webhook_events';
