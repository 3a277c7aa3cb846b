-- The name the identity provider knows a staff member by (SCIM `userName`,
-- the OpenID username claim), lowercased; NULL while it is their login.
-- A provider may rename someone (a new e-mail address) while their login,
-- which the trail names, stays. Unique: one name, one staff member.
ALTER TABLE staff ADD COLUMN username TEXT;
CREATE UNIQUE INDEX staff_by_username ON staff (username) WHERE username IS NOT NULL;
