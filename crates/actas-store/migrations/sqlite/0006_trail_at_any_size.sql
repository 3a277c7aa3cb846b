-- The trail's cost must not grow with its length.
--
-- 1. `seq` becomes the table's rowid (`INTEGER PRIMARY KEY`): an event is
--    stored once in seq order instead of once in the table and again in a
--    separate seq index.
-- 2. Time-range searches go through `audit_time_index`: for each block of
--    4096 consecutive seqs, the earliest and latest `at` in it. A search
--    from `since` to `until` reads the blocks (a few thousand rows for ten
--    million events) to find the seq range that can hold matches, then
--    walks the trail in seq order inside it. It replaces the `at` index,
--    which gave events in time order and left a sort by seq to do.
-- 3. Live sessions are found by their deadlines, so the reaper reads only
--    the sessions that are due.

CREATE TABLE audit_events_by_seq (
    seq        INTEGER PRIMARY KEY,
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
INSERT INTO audit_events_by_seq
SELECT seq, id, at, type, actor, account_id, ticket, request_id, session_id, agent, data, text, prev_hash, hash
FROM audit_events ORDER BY seq;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_seq RENAME TO audit_events;

CREATE INDEX audit_by_account ON audit_events (account_id, seq);
CREATE INDEX audit_by_ticket ON audit_events (ticket, seq);
CREATE INDEX audit_by_session ON audit_events (session_id, seq);
CREATE INDEX audit_by_agent ON audit_events (agent, seq);
CREATE INDEX audit_by_type ON audit_events (type, seq);

CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

CREATE TABLE audit_time_index (
    block    BIGINT PRIMARY KEY,
    first_at TEXT NOT NULL,
    last_at  TEXT NOT NULL
);
INSERT INTO audit_time_index (block, first_at, last_at)
SELECT seq / 4096, min(at), max(at) FROM audit_events GROUP BY seq / 4096;

DROP INDEX sessions_live;
CREATE INDEX sessions_live ON sessions (started_at) WHERE state = 'live';
CREATE INDEX sessions_live_by_end ON sessions (ends_at) WHERE state = 'live';
CREATE INDEX sessions_live_by_activity ON sessions (last_activity_at) WHERE state = 'live';
CREATE INDEX requests_approved_by_start ON requests (start_by) WHERE status = 'approved';
CREATE INDEX sessions_by_agent ON sessions (agent, started_at);
CREATE INDEX sessions_by_request ON sessions (request_id);
CREATE INDEX requests_by_session ON requests (session_id);
