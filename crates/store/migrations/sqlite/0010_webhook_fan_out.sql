-- Deliveries are made by the dispatcher, in batches, from the events it has not fanned out yet, instead of
-- inside the transaction of the change that caused each event: a request writes one event row, and the
-- subscriptions' delivery rows (five indexes) are written a few hundred at a time (issue 10's throughput).
-- Events written before this migration already have their deliveries.
ALTER TABLE webhook_events ADD COLUMN fanned_out INTEGER NOT NULL DEFAULT 1;
CREATE INDEX webhook_events_to_fan_out ON webhook_events (seq) WHERE fanned_out = 0;
