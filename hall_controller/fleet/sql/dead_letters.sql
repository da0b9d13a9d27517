-- name: list_dead_letters
-- {where} is built by the store from the optional filters. Only the start of the payload is
-- read: it is for a preview, and a payload may be 64 KiB.
SELECT id, hall_ms(received_at) AS received_ms, topic, device_id, reason,
       substring(payload FROM 1 FOR %(preview_bytes)s) AS payload_start, size
FROM dead_letters
{where}
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s

-- name: count_dead_letters_by_reason
SELECT split_part(reason, ':', 1) AS category, count(*) AS n
FROM dead_letters
GROUP BY 1
