-- Archived segments of the trail (`actas audit archive`). Each row is one
-- sealed segment's signed manifest: events `first_seq..=last_seq` moved to
-- files outside the database. Only events sealed in a segment may leave
-- `audit_events`, and segments are never changed or removed.
CREATE TABLE audit_segments (
    last_seq  BIGINT PRIMARY KEY,
    first_seq BIGINT NOT NULL,
    manifest  TEXT NOT NULL,
    sealed_at BIGINT NOT NULL
);

DROP TRIGGER audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE FUNCTION audit_events_only_sealed_go() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq > COALESCE((SELECT max(last_seq) FROM audit_segments), 0) THEN
        RAISE EXCEPTION 'audit_events is append-only: only events sealed in an archive segment may be removed';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER audit_events_only_sealed_go BEFORE DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_only_sealed_go();

CREATE FUNCTION audit_segments_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_segments is append-only';
END;
$$;
CREATE TRIGGER audit_segments_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_segments
FOR EACH STATEMENT EXECUTE FUNCTION audit_segments_append_only();
