// Acknowledging and clearing an alarm, as the dashboard and a device's page both offer it.
// Clearing asks first, with a note of what was found (required for a critical alarm; the
// server refuses one without, and refuses any clear while the alarm's cause still holds).
import { api, t } from "./common.js";
import { askNote } from "./note-dialog.js";
import { alarmName } from "./words-facilities.js";

export async function acknowledgeAlarm(alarm) {
  return api(`/alarms/${alarm.id}/ack`, { method: "POST" });
}

// Resolves with the cleared alarm, or null when the person cancelled; throws ApiError.
export async function clearAlarm(alarm) {
  const critical = alarm.severity === "critical";
  const note = await askNote({
    title: t("clear.title"),
    text: t("clear.text", { type: alarmName(alarm.type), device: alarm.device_id }),
    warning: critical ? t("clear.critical") : "",
    label: t(critical ? "note.labelClearRequired" : "note.labelClear"),
    confirm: t("fac.clear"),
    required: critical,
    danger: critical,
  });
  if (note === null) return null;
  return api(`/alarms/${alarm.id}/clear`, { method: "POST", body: note ? { note } : {} });
}
