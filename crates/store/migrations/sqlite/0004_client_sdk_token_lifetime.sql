-- The longest an SDK (person-scoped) token of the client may live: its exp may be at most this many
-- seconds ahead of the server's clock. 900 s covers the longest step-up a policy allows (a code lives
-- at most 600 s) with time to spare; see the README's Tokens section.
ALTER TABLE clients ADD COLUMN sdk_token_max_lifetime_seconds INTEGER NOT NULL DEFAULT 900;
