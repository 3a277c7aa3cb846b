-- actas schema, SQLite. Times are microseconds since the Unix epoch, except
-- audit_events.at, which is the text the hash chain covers.

CREATE TABLE staff (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    roles         TEXT NOT NULL,
    password_hash TEXT,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL
);

CREATE TABLE credentials (
    hash       TEXT PRIMARY KEY,
    owner_kind TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE apps (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    tickets    BOOLEAN NOT NULL,
    origins    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE tickets (
    ref          TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    account_name TEXT,
    subject      TEXT NOT NULL,
    url          TEXT,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE requests (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    ticket          TEXT NOT NULL REFERENCES tickets (ref),
    account_id      TEXT NOT NULL,
    account_name    TEXT,
    requester       TEXT NOT NULL,
    requester_name  TEXT NOT NULL,
    reason          TEXT NOT NULL,
    actions         TEXT NOT NULL,
    minutes         BIGINT NOT NULL,
    status          TEXT NOT NULL,
    session_id      TEXT,
    granted_actions TEXT,
    granted_minutes BIGINT,
    decided_by      TEXT,
    decided_by_name TEXT,
    decided_at      BIGINT,
    decision_note   TEXT,
    start_by        BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX requests_by_status ON requests (status, created_at);
CREATE INDEX requests_by_ticket ON requests (ticket);
CREATE INDEX requests_by_requester ON requests (requester, created_at);

CREATE TABLE decisions (
    id           TEXT PRIMARY KEY,
    request_id   TEXT NOT NULL REFERENCES requests (id),
    kind         TEXT NOT NULL,
    decider      TEXT NOT NULL,
    decider_name TEXT NOT NULL,
    actions      TEXT NOT NULL,
    minutes      BIGINT NOT NULL,
    removed      TEXT NOT NULL,
    added        TEXT NOT NULL,
    note         TEXT,
    at           BIGINT NOT NULL,
    CONSTRAINT decisions_one_per_request UNIQUE (request_id)
);

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    request_id       TEXT NOT NULL REFERENCES requests (id),
    ticket           TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    account_name     TEXT,
    agent            TEXT NOT NULL,
    agent_name       TEXT NOT NULL,
    approver         TEXT NOT NULL,
    approver_name    TEXT NOT NULL,
    scope            TEXT NOT NULL,
    reason           TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    ends_at          BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    state            TEXT NOT NULL,
    end_reason       TEXT,
    ended_at         BIGINT,
    ended_by         TEXT,
    end_note         TEXT
);
CREATE UNIQUE INDEX sessions_one_live_per_agent ON sessions (agent) WHERE state = 'live';
CREATE INDEX sessions_by_account ON sessions (account_id, started_at);
CREATE INDEX sessions_by_ticket ON sessions (ticket);
CREATE INDEX sessions_live ON sessions (state) WHERE state = 'live';

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

CREATE TABLE audit_events (
    seq        BIGINT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    at         TEXT NOT NULL,
    type       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    account_id TEXT,
    ticket     TEXT,
    request_id TEXT,
    session_id TEXT,
    agent      TEXT,
    data       TEXT NOT NULL,
    text       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_by_account ON audit_events (account_id, seq);
CREATE INDEX audit_by_ticket ON audit_events (ticket, seq);
CREATE INDEX audit_by_session ON audit_events (session_id, seq);
CREATE INDEX audit_by_agent ON audit_events (agent, seq);
CREATE INDEX audit_by_type ON audit_events (type, seq);
CREATE INDEX audit_by_at ON audit_events (at);

CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    hash      TEXT NOT NULL,
    kid       TEXT NOT NULL,
    signature TEXT NOT NULL,
    at        BIGINT NOT NULL
);

CREATE TABLE notices (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    session_id   TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    text         TEXT NOT NULL,
    data         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT
);
