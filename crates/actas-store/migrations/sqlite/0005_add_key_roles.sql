-- Each signing key has one role: `token` keys sign impersonation tokens
-- (published in the JWKS), `checkpoint` keys sign the audit trail's head.
-- Keys from before the split signed both and keep doing so, as `legacy`,
-- until `actas key encrypt` or a rotation retires them.
ALTER TABLE signing_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'legacy';
