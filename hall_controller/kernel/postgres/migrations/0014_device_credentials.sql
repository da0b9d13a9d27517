-- Device identity (issue 12): what an admin provisioned for each device. The MQTT password is
-- kept only as a hash in Mosquitto's own PBKDF2-SHA512 format ($7$...), so the same value
-- feeds the embedded broker's check and Mosquitto's password file. The command key is an
-- HMAC key: it cannot be hashed, so it is stored and never shown again after the bundle.
CREATE TABLE device_credentials (
    device_id     text PRIMARY KEY,
    kind          text NOT NULL,
    site          text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    command_key   bytea NOT NULL CHECK (length(command_key) >= 16),
    status        text NOT NULL CHECK (status IN ('active', 'revoked')),
    created_ms    bigint NOT NULL,
    created_by    text NOT NULL,
    rotated_ms    bigint,
    rotated_by    text,
    revoked_ms    bigint,
    revoked_by    text
);
