-- Archived segments of the trail (`actas audit archive`). Each row is one
-- sealed segment's signed manifest: events `first_seq..=last_seq` moved to
-- files outside the database. Only events sealed in a segment may leave
-- `audit_events`, and segments are never changed or removed.
CREATE TABLE audit_segments (
    last_seq  INTEGER PRIMARY KEY,
    first_seq BIGINT NOT NULL,
    manifest  TEXT NOT NULL,
    sealed_at BIGINT NOT NULL
);

DROP TRIGGER audit_events_append_only_delete;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > COALESCE((SELECT max(last_seq) FROM audit_segments), 0)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: only events sealed in an archive segment may be removed'); END;

CREATE TRIGGER audit_segments_append_only_update BEFORE UPDATE ON audit_segments
BEGIN SELECT RAISE(ABORT, 'audit_segments is append-only'); END;
CREATE TRIGGER audit_segments_append_only_delete BEFORE DELETE ON audit_segments
BEGIN SELECT RAISE(ABORT, 'audit_segments is append-only'); END;
