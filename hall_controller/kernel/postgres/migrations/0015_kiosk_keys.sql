-- Browser kiosk keys: one random key per kiosk, issued by an admin, replacing the key derived
-- from the API's token secret. Only a SHA-256 of the secret part is kept (the secret is 256
-- random bits: a fast hash cannot be reversed by guessing, and it keeps each request cheap).
CREATE TABLE kiosk_keys (
    key_id       text PRIMARY KEY,               -- the public part of the key
    device_id    text NOT NULL,                  -- the kiosk it is for; works for this id only
    name         text NOT NULL DEFAULT '',       -- where the kiosk stands
    secret_hash  text NOT NULL,                  -- sha256 hex of the secret part
    created_at   timestamptz NOT NULL,
    created_by   text NOT NULL,
    last_used_at timestamptz,                    -- written at most once a minute per key
    revoked_at   timestamptz
);
CREATE INDEX kiosk_keys_by_device ON kiosk_keys (device_id);
