-- A per-user token version, written into every token issued for the user and compared on
-- every request: disabling a user, changing their role or their password adds one, so every
-- token issued before is refused at once rather than when it expires.
ALTER TABLE users ADD COLUMN token_version integer NOT NULL DEFAULT 0;
