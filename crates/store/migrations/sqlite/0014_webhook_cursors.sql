-- A delivery is written once, when it is tried (issue 10's cost). Each subscription has a cursor over the
-- events: the dispatcher holds it for a lease (`cursor_lease_until`), sends the events after it in order, and
-- in one transaction writes their delivery rows with their outcome and moves it. A failed try's row waits for
-- its retry as before. Events are no longer marked when fanned out, and are no longer looked up by id.
ALTER TABLE webhooks ADD COLUMN cursor_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN cursor_lease_until INTEGER;

-- Events were fanned out in `seq` order, so those still waiting are the last ones: every cursor starts just
-- before the first of them (after the last event when none waits). Events made for one subscription (the
-- test event) have their row and a type no subscription takes, so no cursor sends them again.
UPDATE webhooks SET cursor_seq = COALESCE(
    (SELECT MIN(seq) - 1 FROM webhook_events WHERE fanned_out = 0),
    (SELECT MAX(seq) FROM webhook_events),
    0);

-- The events again, without the index of their ids (deliveries join them by `seq`) and without the fan-out
-- flag: a request now writes the row and one entry of `webhook_events_of_client`, the cursors' index. An
-- event for one subscription only (the test event) names it in `webhook_id`, and comes in its order. The
-- sequence carries on from where it was, so that no new event gets a `seq` a cursor has passed.
CREATE TABLE webhook_events_new (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    webhook_id TEXT
);
INSERT INTO webhook_events_new (seq, id, client_id, type, data, created_at)
    SELECT seq, id, client_id, type, data, created_at FROM webhook_events ORDER BY seq;
DELETE FROM sqlite_sequence WHERE name = 'webhook_events_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'webhook_events_new', MAX(seq) FROM (
        SELECT seq FROM sqlite_sequence WHERE name = 'webhook_events'
        UNION ALL SELECT MAX(seq) FROM webhook_events
        UNION ALL SELECT 0);
DROP TABLE webhook_events;
ALTER TABLE webhook_events_new RENAME TO webhook_events;
CREATE INDEX webhook_events_of_client ON webhook_events (client_id, seq);

-- Pruning finds an event's deliveries by `seq` (the waiting ones, few), not by the event's id.
DROP INDEX webhook_deliveries_by_event;
