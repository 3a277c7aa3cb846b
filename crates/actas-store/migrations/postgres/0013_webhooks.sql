-- Webhooks out. An endpoint receives the audit events it chose, in trail
-- order: `after_seq` is how far it got; the event after it is retried
-- with backoff (`failures`, `next_attempt_at`) until it is taken or the
-- endpoint is paused. `secret` holds the signing secret and the full
-- address, sealed under the key-encryption key; `url` is the address
-- without its query or credentials, to show. One node sends to an
-- endpoint at a time (`lease_until`). `webhook_deliveries` logs every
-- attempt, without payload.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    after_seq       BIGINT NOT NULL,
    state           TEXT NOT NULL,
    failures        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_error      TEXT,
    lease_until     BIGINT
);
CREATE TABLE webhook_deliveries (
    id         TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id),
    seq        BIGINT NOT NULL,
    event_id   TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt    BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    status     BIGINT,
    ok         BOOLEAN NOT NULL,
    error      TEXT,
    replay     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, at);
