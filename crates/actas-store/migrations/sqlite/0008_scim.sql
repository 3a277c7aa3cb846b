-- SCIM provisioning. An app with `scim` may create, change and disable
-- staff through `/scim/v2/Users`. A staff member keeps what the identity
-- provider knows them by: its own id for them (`external_id`, unique when
-- set) and their e-mail address, and when they last changed
-- (`updated_at`, NULL until their first change), which SCIM answers as
-- `meta.lastModified`.
ALTER TABLE apps ADD COLUMN scim BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE staff ADD COLUMN external_id TEXT;
ALTER TABLE staff ADD COLUMN email TEXT;
ALTER TABLE staff ADD COLUMN updated_at BIGINT;
CREATE UNIQUE INDEX staff_by_external_id ON staff (external_id) WHERE external_id IS NOT NULL;
