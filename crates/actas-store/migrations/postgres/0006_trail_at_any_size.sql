-- The trail's cost must not grow with its length.
--
-- 1. Time-range searches go through `audit_time_index`: for each block of
--    4096 consecutive seqs, the earliest and latest `at` in it. A search
--    from `since` to `until` reads the blocks (a few thousand rows for ten
--    million events) to find the seq range that can hold matches, then
--    walks the trail in seq order inside it. It replaces the `at` index,
--    which gave events in time order and left a sort by seq to do.
-- 2. Live sessions are found by their deadlines, so the reaper reads only
--    the sessions that are due.

DROP INDEX audit_by_at;

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
