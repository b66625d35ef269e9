-- Every query on the request path reads O(log n) of the tenant (issue 12). The device-sharing count
-- ("who else uses this fingerprint") was planned on the primary key by client alone, because
-- known_contexts_by_key lacked person_id: with it, the index covers the query and is chosen.
DROP INDEX known_contexts_by_key;
CREATE INDEX known_contexts_by_key ON known_contexts (client_id, kind, key, person_id);

-- The attempt list (GET /authentications) is newest first, paged by (created_at, id), with optional
-- person, status and policy filters: each filter has an index in that order, so a page reads its rows
-- and no more, whatever the tenant's size.
DROP INDEX attempts_by_person;
CREATE INDEX attempts_by_person ON attempts (client_id, person_id, created_at, id);
CREATE INDEX attempts_by_status ON attempts (client_id, status, created_at, id);
CREATE INDEX attempts_by_policy ON attempts (client_id, policy_id, created_at, id);
CREATE INDEX attempts_by_policy_status ON attempts (client_id, policy_id, status, created_at, id);
