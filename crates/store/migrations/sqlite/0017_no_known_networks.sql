-- Known networks (kind 'network', the key an IP address) were written for every approval and read by
-- nothing: the network check judges the address itself, never a person's past addresses. Personal data
-- with no use is not kept (LGPD, minimisation): they are no longer written, and those written are deleted
-- (overwritten on disk: the store runs with secure_delete).
DELETE FROM known_contexts WHERE kind = 'network';
