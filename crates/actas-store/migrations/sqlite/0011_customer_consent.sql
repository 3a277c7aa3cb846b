-- Customer consent. An app with `consent` lets support into an account
-- only while the customer's grant is live; `account_consent` asks the same
-- of one account whatever the apps say. A grant is recorded by a host app
-- for some hours and withdrawn at any moment (`revoked_at`).
ALTER TABLE apps ADD COLUMN consent BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    granted_by TEXT NOT NULL,
    hours      BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT
);
CREATE INDEX grants_by_account ON grants (account_id, created_at);
CREATE TABLE account_consent (
    account_id TEXT PRIMARY KEY,
    required   BOOLEAN NOT NULL,
    set_by     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
