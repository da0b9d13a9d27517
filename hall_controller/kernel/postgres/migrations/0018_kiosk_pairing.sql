-- One-time pairing codes for browser kiosks: an admin issues a short code for a kiosk id, the
-- kiosk's setup screen trades it for that kiosk's key. A code works once, for ten minutes.
-- Only a SHA-256 of the code is kept. Each row is also the record of who issued a code, when
-- and from which address it was used, and which key it produced.
CREATE TABLE kiosk_pairing_codes (
    code_hash   text PRIMARY KEY,               -- sha256 hex of the normalised code
    device_id   text NOT NULL,                  -- the kiosk the code sets up
    name        text NOT NULL DEFAULT '',       -- where the kiosk stands
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_from   text,                           -- the client address that used it
    key_id      text REFERENCES kiosk_keys (key_id)   -- the key it produced
);
CREATE INDEX kiosk_pairing_codes_by_created ON kiosk_pairing_codes (created_at DESC);
