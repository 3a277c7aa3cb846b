-- A step-up (a request of kind `stepup`): the one change it is for, as
-- JSON (target, the changes as the trail keeps them, and while it may be
-- used, the digest of the new values it lets through). NULL for access and
-- scope requests.
ALTER TABLE requests ADD COLUMN stepup TEXT;
