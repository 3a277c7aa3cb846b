-- Console sign-ins. The session id is 32 random bytes held only by the
-- browser; the database keeps its SHA-256, like personal tokens. Times are
-- microseconds since the Unix epoch.

CREATE TABLE console_sessions (
    id_hash      TEXT PRIMARY KEY,
    staff_id     TEXT NOT NULL REFERENCES staff (id),
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_staff ON console_sessions (staff_id);
