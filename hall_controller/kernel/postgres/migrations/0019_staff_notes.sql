-- Why a person did something dangerous: the note staff give when they clear an alarm by hand
-- (required for a critical one, such as a forced door) and when they reboot a device. The
-- alarm history and the command history show it beside who did it.
ALTER TABLE alarms ADD COLUMN cleared_note text;
ALTER TABLE commands ADD COLUMN note text;

-- The command history without the controller's own commands (a display gets a call and a
-- waiting list every few seconds), newest first: sql/commands.sql list_staff_commands.
CREATE INDEX commands_by_staff ON commands (device_id, created_at DESC, command_id DESC)
    WHERE NOT (left(requested_by, 7) = 'system:' OR requested_by = 'clerk-service');
