-- One row the writer rewrites to prove that a commit reaches the disk
-- (`/healthz` when the writer is idle or failing). Nothing reads it.
CREATE TABLE writer_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
