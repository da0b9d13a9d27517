-- Why a person did something dangerous: the note staff give when they clear an alarm by hand
-- (required for a critical one, such as a forced door) and when they reboot a device. The
-- alarm history and the command history show it beside who did it.
ALTER TABLE alarms ADD COLUMN cleared_note text;
ALTER TABLE commands ADD COLUMN note text;

-- The command history without the controller's own commands (a display gets a call and a
-- waiting list every few seconds), newest first: sql/commands.sql list_staff_commands.
CREATE INDEX commands_by_staff ON commands (device_id, created_at DESC, command_id DESC)
    WHERE NOT (left(requested_by, 7) = 'system:' OR requested_by = 'clerk-service');

-- The audit's entry for a requested command carries the person's note as its reason (0008's
-- function otherwise unchanged).
CREATE OR REPLACE FUNCTION access_audit_from_command() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO access_audit (ts, device_id, category, action, outcome, actor, reason,
                                  details, source)
        VALUES (NEW.created_at, NEW.device_id, 'command', NEW.method, 'requested',
                NEW.requested_by, NEW.note, jsonb_build_object('command_id', NEW.command_id,
                                                               'params', NEW.params),
                'command:' || NEW.command_id || ':requested')
        ON CONFLICT (source) DO NOTHING;
    ELSIF NEW.status IS DISTINCT FROM OLD.status
          AND NEW.status IN ('succeeded', 'failed', 'timed_out', 'expired') THEN
        INSERT INTO access_audit (ts, device_id, category, action, outcome, actor, reason,
                                  details, source)
        VALUES (COALESCE(NEW.completed_at, now()), NEW.device_id, 'command', NEW.method,
                NEW.status, NEW.requested_by, NEW.error->>'code',
                jsonb_build_object('command_id', NEW.command_id, 'error', NEW.error,
                                   'result', NEW.result),
                'command:' || NEW.command_id || ':' || NEW.status)
        ON CONFLICT (source) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
