-- Secret rotation with overlap (issue 8): the secret a rotation replaced, sealed with the master key
-- like the current one, stays valid for tokens until previous_secret_expires_at (milliseconds since
-- the Unix epoch); attestations are always signed with the current secret. NULL: no previous secret.
ALTER TABLE clients ADD COLUMN previous_secret_enc TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at INTEGER;
-- When set, a person-scoped (SDK) token of the client must carry a policyId claim, which binds the
-- attempts it may start to that policy.
ALTER TABLE clients ADD COLUMN require_sdk_token_policy INTEGER NOT NULL DEFAULT 0;
