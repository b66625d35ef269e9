-- A device key, as a fingerprint (migration 16), is recorded for every approval made with it, to count the
-- people of a device (maxIdentitiesPerDevice); it becomes *known* to the person only when an approval
-- vouched for it. `vouched_at` is when it became known: NULL for a key only seen under policies that did
-- not look at devices. Rows written before this migration were learnt as known from their first sighting.
ALTER TABLE device_keys ADD COLUMN vouched_at INTEGER;
UPDATE device_keys SET vouched_at = first_seen;
