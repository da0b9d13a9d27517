// The one table of telemetry metrics as people read them: a name and a unit in both languages,
// and (for states reported as text) what each value means. Every metric the simulators, the
// edge drivers and their serial parts report is here; an unknown metric shows its own name.
import { lang } from "./common.js";

const COUNT = { zh: "次", en: "" };
const PCT = { zh: "%", en: "%" };
const CELSIUS = { zh: "°C", en: "°C" };
const VOLT = { zh: "V", en: "V" };
const FRAMES = { zh: "帧", en: "frames" };
const ONLINE = { true: { zh: "在线", en: "online" }, false: { zh: "离线", en: "offline" } };
const YES_NO = { true: { zh: "是", en: "yes" }, false: { zh: "否", en: "no" } };

export const METRICS = {
  // Every edge agent.
  "agent.telemetry_shed": { zh: "丢弃的遥测样本", en: "Telemetry samples shed", unit: COUNT },
  // Kiosks and their printers and card readers.
  paper_level_pct: { zh: "打印纸余量", en: "Paper left", unit: PCT },
  printer_state: { zh: "打印机状态", en: "Printer state", values: {
    ok: { zh: "正常", en: "ok" }, paper_low: { zh: "纸将用完", en: "paper low" },
    paper_out: { zh: "缺纸", en: "out of paper" }, jam: { zh: "卡纸", en: "jammed" } } },
  printer_paper: { zh: "打印纸", en: "Paper", values: {
    ok: { zh: "正常", en: "ok" }, near_end: { zh: "将用完", en: "nearly out" },
    out: { zh: "用完", en: "out" }, unknown: { zh: "未知", en: "unknown" } } },
  printer_online: { zh: "打印机", en: "Printer", values: ONLINE },
  printer_bad_frames: { zh: "打印机错误帧", en: "Printer bad frames", unit: FRAMES },
  print_failures: { zh: "打印失败", en: "Print failures", unit: COUNT },
  tickets_printed: { zh: "已打印号票", en: "Tickets printed", unit: { zh: "张", en: "tickets" } },
  tickets_taken: { zh: "已取号", en: "Tickets taken", unit: { zh: "张", en: "tickets" } },
  swipes: { zh: "刷卡", en: "Card swipes", unit: COUNT },
  swipes_refused: { zh: "刷卡被拒", en: "Swipes refused", unit: COUNT },
  card_reader_online: { zh: "读卡器", en: "Card reader", values: ONLINE },
  card_reader_bad_frames: { zh: "读卡器错误帧", en: "Card reader bad frames", unit: FRAMES },
  cards_read: { zh: "读卡", en: "Cards read", unit: COUNT },
  cpu_temp_c: { zh: "CPU 温度", en: "CPU temperature", unit: CELSIUS },
  // Face gates.
  fps: { zh: "识别帧率", en: "Frame rate", unit: { zh: "帧/秒", en: "fps" } },
  passages: { zh: "通行人次", en: "Passages", unit: { zh: "人次", en: "" } },
  frames: { zh: "已处理画面", en: "Frames processed", unit: FRAMES },
  faces_seen: { zh: "检测到人脸", en: "Faces seen", unit: COUNT },
  granted: { zh: "放行", en: "Granted", unit: COUNT },
  denied: { zh: "拒绝", en: "Denied", unit: COUNT },
  gallery_people: { zh: "人脸库人数", en: "People in the gallery", unit: { zh: "人", en: "people" } },
  access_version: { zh: "门禁规则版本", en: "Access rules version" },
  sync_failures: { zh: "同步失败", en: "Sync failures", unit: COUNT },
  sync_age_s: { zh: "距上次同步", en: "Since last sync", unit: { zh: "秒", en: "s" } },
  decision_ms_p50: { zh: "识别耗时（中位数）", en: "Decision time (median)", unit: { zh: "毫秒", en: "ms" } },
  camera_online: { zh: "摄像头", en: "Camera", values: ONLINE },
  // Door locks and their boards.
  battery_pct: { zh: "电池电量", en: "Battery", unit: PCT },
  battery_v: { zh: "电池电压", en: "Battery voltage", unit: VOLT },
  supply_v: { zh: "供电电压", en: "Supply voltage", unit: VOLT },
  rssi: { zh: "信号强度", en: "Signal strength", unit: { zh: "dBm", en: "dBm" } },
  door_state: { zh: "门", en: "Door", values: {
    open: { zh: "开", en: "open" }, closed: { zh: "关", en: "closed" } } },
  locked: { zh: "已上锁", en: "Locked", values: YES_NO },
  tamper: { zh: "被拆动", en: "Tampered", values: YES_NO },
  mode: { zh: "门锁模式", en: "Door mode", values: {
    normal: { zh: "正常", en: "normal" }, locked_down: { zh: "封闭", en: "locked down" },
    free_pass: { zh: "常开", en: "open to all" } } },
  lock_board_online: { zh: "门锁控制板", en: "Lock board", values: ONLINE },
  lock_board_bad_frames: { zh: "控制板错误帧", en: "Lock board bad frames", unit: FRAMES },
  // Queue displays.
  brightness_pct: { zh: "亮度", en: "Brightness", unit: PCT },
  temp_c: { zh: "温度", en: "Temperature", unit: CELSIUS },
  calls_shown: { zh: "已显示叫号", en: "Calls shown", unit: COUNT },
  led_display_online: { zh: "LED 屏", en: "LED display", values: ONLINE },
  led_display_bad_frames: { zh: "LED 屏错误帧", en: "LED display bad frames", unit: FRAMES },
};

// The chart a device opens on: the first of these it reports (then any other of its numeric
// metrics but the agent's shed counter, which stays flat at 0 on a healthy device).
export const DEFAULT_METRICS = {
  kiosk: ["paper_level_pct", "cpu_temp_c", "tickets_printed", "tickets_taken"],
  face_gate: ["fps", "decision_ms_p50", "cpu_temp_c", "passages", "faces_seen"],
  door_lock: ["battery_pct", "battery_v", "rssi", "supply_v"],
  queue_display: ["temp_c", "brightness_pct", "calls_shown"],
};

export function defaultMetric(kind, numericMetrics) {
  const preferred = (DEFAULT_METRICS[kind] ?? []).find((m) => numericMetrics.includes(m));
  return preferred ?? numericMetrics.find((m) => m !== "agent.telemetry_shed") ?? numericMetrics[0] ?? "";
}

const language = () => (lang() === "en" ? "en" : "zh");

export function metricName(metric) {
  return METRICS[metric]?.[language()] ?? metric;
}

export function metricUnit(metric) {
  return METRICS[metric]?.unit?.[language()] ?? "";
}

// "电池电量（%）" / "Battery (%)": a chart's value axis title.
export function metricTitle(metric) {
  const unit = metricUnit(metric);
  if (!unit) return metricName(metric);
  return language() === "en" ? `${metricName(metric)} (${unit})` : `${metricName(metric)}（${unit}）`;
}

// A value as people read it: a state in words, a number with its unit.
export function metricValue(metric, value) {
  const words = METRICS[metric]?.values?.[String(value)];
  if (words) return words[language()];
  if (typeof value === "boolean") return YES_NO[String(value)][language()];
  if (typeof value !== "number") return String(value);
  const shown = Number.isInteger(value) ? String(value) : String(Number(value.toFixed(2)));
  const unit = metricUnit(metric);
  return unit ? `${shown} ${unit}` : shown;
}
