-- The pages' live feed: small JSON notices on the channel "hall_live" whenever a ticket moves,
-- a device goes online or offline, or an alarm changes.
--
-- NOTIFY is sent at commit and reaches every listening connection, so every controller process
-- serving pages sees the changes any other controller made; a rolled-back change sends nothing.
-- A notice carries ids and states only (no person data: the public display listens too); a
-- page that needs more reads it through the API. Payloads stay far below NOTIFY's 8000 bytes.

CREATE FUNCTION hall_live_ticket() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        moved tickets%ROWTYPE;
    BEGIN
        -- An AFTER trigger sees the row as the same statement left it (apply_ticket_move
        -- updates the ticket and inserts this transition in one statement).
        SELECT * INTO moved FROM tickets WHERE ticket_id = NEW.ticket_id;
        PERFORM pg_notify('hall_live', json_build_object(
            'topic', 'ticket',
            'ticket_id', NEW.ticket_id,
            'number', moved.number,
            'service', moved.service_code,
            'from', NEW.from_state,
            'to', NEW.to_state,
            'window_id', coalesce(NEW.window_id, moved.window_id),
            'recalls', moved.recalls,
            'at_ms', hall_ms(NEW.at)
        )::text);
        RETURN NULL;
    END
    $$;
CREATE TRIGGER hall_live_ticket AFTER INSERT ON ticket_transitions
    FOR EACH ROW EXECUTE FUNCTION hall_live_ticket();

CREATE FUNCTION hall_live_device() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- Every batch rewrites the registry rows it touched (last_seen); only presence
        -- changes are news.
        IF TG_OP = 'UPDATE' AND OLD.online = NEW.online AND OLD.session = NEW.session THEN
            RETURN NULL;
        END IF;
        PERFORM pg_notify('hall_live', json_build_object(
            'topic', 'device',
            'device_id', NEW.device_id,
            'kind', NEW.kind,
            'site', NEW.site,
            'online', NEW.online,
            'offline_reason', NEW.offline_reason,
            'at_ms', hall_ms(NEW.last_seen)
        )::text);
        RETURN NULL;
    END
    $$;
CREATE TRIGGER hall_live_device AFTER INSERT OR UPDATE ON devices
    FOR EACH ROW EXECUTE FUNCTION hall_live_device();

CREATE FUNCTION hall_live_alarm() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('hall_live', json_build_object(
            'topic', 'alarm',
            'id', NEW.id,
            'device_id', NEW.device_id,
            'type', NEW.type,
            'severity', NEW.severity,
            'status', NEW.status,
            'acknowledged', NEW.acknowledged,
            'count', NEW.count,
            'at_ms', hall_ms(NEW.updated_at)
        )::text);
        RETURN NULL;
    END
    $$;
CREATE TRIGGER hall_live_alarm AFTER INSERT OR UPDATE ON alarms
    FOR EACH ROW EXECUTE FUNCTION hall_live_alarm();
