-- Break-glass. A session started without a lead's approval is marked, and
-- a lead reviews it after it ends. The partial index keeps the list of
-- sessions that still await a review small and quick whatever the table's
-- size.
ALTER TABLE sessions ADD COLUMN breakglass BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sessions ADD COLUMN reviewed_by TEXT;
ALTER TABLE sessions ADD COLUMN reviewed_by_name TEXT;
ALTER TABLE sessions ADD COLUMN reviewed_at BIGINT;
ALTER TABLE sessions ADD COLUMN review_note TEXT;
CREATE INDEX sessions_awaiting_review ON sessions (started_at) WHERE breakglass AND reviewed_at IS NULL;
