-- name: list_devices
SELECT device_id, kind, model, fw, site, online, session, hall_ms(first_seen) AS first_seen_ms,
       hall_ms(last_seen) AS last_seen_ms, hall_ms(online_since) AS online_since_ms,
       offline_reason
FROM devices
ORDER BY device_id

-- name: get_device
SELECT device_id, kind, model, fw, site, online, session, hall_ms(first_seen) AS first_seen_ms,
       hall_ms(last_seen) AS last_seen_ms, hall_ms(online_since) AS online_since_ms,
       offline_reason
FROM devices
WHERE device_id = %(device_id)s

-- name: latest_values
SELECT device_id, metric, hall_ms(ts) AS ts_ms, value
FROM telemetry_latest
ORDER BY device_id, metric

-- name: latest_values_of
SELECT device_id, metric, hall_ms(ts) AS ts_ms, value
FROM telemetry_latest
WHERE device_id = ANY(%(device_ids)s::text[])
ORDER BY device_id, metric
