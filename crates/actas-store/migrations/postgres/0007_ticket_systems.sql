-- Tickets from the ticket systems (Zendesk, Jira Service Management).
--
-- A ticket now has a status in its own system (open, pending, solved,
-- closed: only open and pending ones take new requests), an assignee, its
-- tags (a JSON list; playbooks match them), where it came from (`hand`:
-- typed in by a staff member; `app`: pushed through the API; `zendesk`,
-- `jira`: their webhooks) and when it last changed. Tickets recorded
-- before have no system to say otherwise: open, and typed in by hand when
-- a staff member recorded them.
ALTER TABLE tickets ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
ALTER TABLE tickets ADD COLUMN assignee TEXT;
ALTER TABLE tickets ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tickets ADD COLUMN source TEXT NOT NULL DEFAULT 'app';
ALTER TABLE tickets ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE tickets SET updated_at = created_at;
UPDATE tickets SET source = 'hand' WHERE created_by IN (SELECT id FROM staff);

-- An agent's inbox: their open tickets, then the unassigned ones, newest
-- change first.
CREATE INDEX tickets_open_by_assignee ON tickets (assignee, updated_at) WHERE status IN ('open', 'pending');

-- The playbook a request was made under, when its ticket's tags named one.
ALTER TABLE requests ADD COLUMN playbook TEXT;

-- A connector app's webhook: which system, its shared secret (sealed
-- under the key-encryption key, as the signing keys are), and where the
-- ticket's fields are in the system's body (JSON pointers).
CREATE TABLE connectors (
    app_id     TEXT PRIMARY KEY REFERENCES apps (id),
    kind       TEXT NOT NULL,
    secret     BYTEA NOT NULL,
    mapping    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Deliveries already taken, kept past the five minutes a delivery may be
-- late, so that a replayed one is refused.
CREATE TABLE connector_deliveries (
    key         TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);
CREATE INDEX connector_deliveries_by_time ON connector_deliveries (received_at);
