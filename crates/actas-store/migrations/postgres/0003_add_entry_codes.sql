-- A session remembers the host app its tokens are for (the token's `aud`)
-- and everyone who approved its scope; an app may name its entry address;
-- one-time entry codes hand a session's token to its host app without the
-- token ever travelling in a URL. Only a code's SHA-256 is stored.

ALTER TABLE sessions ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN approvers TEXT NOT NULL DEFAULT '[]';
UPDATE sessions SET app_id = COALESCE(
    (SELECT e.data::json ->> 'audience' FROM audit_events e
      WHERE e.session_id = sessions.id AND e.type = 'session.started' LIMIT 1), '');
UPDATE sessions SET approvers = json_build_array(json_build_array(approver, approver_name))::text;
CREATE INDEX sessions_by_app ON sessions (app_id, started_at);

ALTER TABLE apps ADD COLUMN entry_url TEXT;

CREATE TABLE entry_codes (
    hash       TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX entry_codes_by_session ON entry_codes (session_id);
