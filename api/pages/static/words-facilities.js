// The facilities pages' own words (the dashboard, a device's page, the integration keys):
// alarm types and severities as people read them, the confirmations, the server's refusals.
import { addWords, t } from "./common.js";

addWords({
  zh: {
    "sev.critical": "严重", "sev.major": "重要", "sev.minor": "次要", "sev.warning": "提示",
    "alarm.device.offline": "设备离线", "alarm.device.kind_mismatch": "设备类型不符（疑似被调换）",
    "alarm.door.forced": "门被强行打开", "alarm.door.held_open": "门长时间未关",
    "alarm.lock.tamper": "门锁被拆动", "alarm.lock.battery_low": "门锁电量低",
    "alarm.printer.paper_near_end": "打印纸将尽", "alarm.printer.paper_out": "打印纸用完",
    "alarm.printer.print_failed": "打印失败", "alarm.printer.jam": "打印机卡纸",
    "alarm.hardware.printer": "打印机故障", "alarm.hardware.card_reader": "读卡器故障",
    "alarm.hardware.lock_board": "门锁控制板故障", "alarm.hardware.led_display": "LED 屏故障",
    "alarm.hardware.camera": "摄像头故障", "alarm.access.suspicious_grant": "可疑的放行记录",
    "alarm.access.policy_refused": "设备拒绝了门禁规则", "alarm.auth.lockout": "多次登录失败已锁定",
    "alarm.controller.internal_error": "控制器内部错误", "alarm.unknown": "其他告警（{type}）",
    "cmd.device.reboot": "重启", "cmd.door.unlock": "远程开门", "cmd.door.set_mode": "设置门锁模式",
    "cmd.display.set_brightness": "设置亮度", "cmd.display.call": "叫号显示",
    "cmd.display.queue": "等候列表", "cmd.access.refresh": "同步门禁规则", "cmd.gate.show": "闸机显示",
    "cmd.device.ping": "连通测试", "cmd.printer.reset": "打印机复位",
    "cst.pending": "待发送", "cst.sent": "已发送", "cst.succeeded": "成功", "cst.failed": "失败",
    "cst.timed_out": "超时无应答", "cst.expired": "已过期",
    "dev.auto": "显示自动命令", "dev.auto.hint": "叫号、等候列表等控制器自动发送的命令",
    "dev.details": "详情", "dev.note": "说明", "dev.nohistory": "没有命令记录",
    "dev.noaudit": "没有门禁记录", "dev.cleared": "最近清除的告警",
    "dev.clearedBy": "{who} 清除", "dev.clearedNote": "{who} 清除：{note}", "dev.system": "系统", "dev.person": "人员",
    "dev.category": "类别", "dev.action": "动作", "dev.outcome": "结果",
    "dev.sent": "{what}：{status}", "dev.waiting": "{what}：已发送，等待设备应答…",
    "dev.reboot.title": "重启设备", "dev.reboot.text": "重启 {id}？设备正在进行的操作会中断（例如正在打印的号票）。",
    "dev.unlock.title": "远程开门", "dev.unlock.text": "确定要远程打开 {id} 吗？开门约 5 秒，记入门禁审计。",
    "note.label": "原因（必填，记入记录）", "note.labelClear": "处理情况（记入告警记录）",
    "note.labelClearRequired": "处理情况（必填，记入告警记录）", "note.missing": "请填写原因",
    "clear.title": "清除告警", "clear.text": "清除 {device} 的告警“{type}”？",
    "clear.critical": "这是严重告警：请写明现场检查的结果。",
    "chart.nodata": "所选时间段没有数据", "chart.time": "时间",
    "holds.device_offline": "设备仍然离线，恢复在线后告警会自动清除",
    "holds.door_open": "门仍然开着，关门后告警会自动清除",
    "holds.tamper_active": "门锁仍报告被拆动",
    "holds.hardware_offline": "该部件仍然离线",
    "keys.title": "平台接口密钥", "keys.hint": "一网通办平台调用本系统接口（办件同步、事件订阅）所用的密钥。密钥只在创建时显示一次，系统只保存其摘要；吊销后立即失效。",
    "keys.name": "名称", "keys.scopes": "权限", "keys.create": "生成密钥", "keys.created": "创建时间",
    "keys.by": "创建人", "keys.state": "状态", "keys.active": "有效", "keys.revoked": "已吊销",
    "keys.revoke": "吊销", "keys.once": "请把此密钥配置到平台（只显示这一次，关闭后无法再查看）：",
    "keys.done": "已保存，关闭", "keys.none": "还没有密钥", "keys.noscope": "请至少选择一项权限",
    "keys.revoke.title": "吊销密钥", "keys.revoke.text": "吊销密钥“{name}”？使用它的平台将立即无法调用接口。",
    "scope.cases:read": "读取办件", "scope.cases:write": "写入办件", "scope.events:read": "读取事件",
    "nav.keys": "平台接口密钥", "nav.keys.who": "管理员：一网通办平台的接口密钥",
    "dev.automatic": "自动",
    "acat.decision": "通行", "acat.door": "门", "acat.command": "命令", "acat.admin": "管理",
    "evt.door.opened": "门已打开", "evt.door.closed": "门已关闭", "evt.door.mode_changed": "门锁模式改变",
    "evt.door.forced": "门被强行打开", "evt.door.held_open": "门长时间未关", "evt.lock.tamper": "门锁被拆动",
    "evt.access.policy_refused": "拒绝门禁规则",
    "method.card": "刷卡", "method.face": "人脸", "method.pin": "密码", "method.remote": "远程", "method.qr": "二维码",
    "out.granted": "放行", "out.denied": "拒绝", "out.reported": "设备报告", "out.requested": "已请求",
    "out.succeeded": "成功", "out.failed": "失败", "out.timed_out": "超时无应答", "out.expired": "已过期",
    "out.suspicious": "可疑", "out.refused": "被拒绝",
    "why.allowed": "允许", "why.free_pass": "常开模式", "why.unknown_person": "无权限的人员",
    "why.not_yet_valid": "尚未生效", "why.pass_expired": "通行证已过期", "why.outside_schedule": "不在允许时段",
    "why.locked_down": "封闭模式", "why.unknown_face": "未识别的人脸", "why.remote_command": "远程命令",
    "why.bad_signature": "签名无效", "why.replayed": "重放的命令", "why.expired": "命令已过期",
  },
  en: {
    "sev.critical": "critical", "sev.major": "major", "sev.minor": "minor", "sev.warning": "warning",
    "alarm.device.offline": "Device offline", "alarm.device.kind_mismatch": "Device kind changed (swapped device?)",
    "alarm.door.forced": "Door forced open", "alarm.door.held_open": "Door held open",
    "alarm.lock.tamper": "Lock tampered with", "alarm.lock.battery_low": "Lock battery low",
    "alarm.printer.paper_near_end": "Paper nearly out", "alarm.printer.paper_out": "Out of paper",
    "alarm.printer.print_failed": "Printing failed", "alarm.printer.jam": "Printer jammed",
    "alarm.hardware.printer": "Printer fault", "alarm.hardware.card_reader": "Card reader fault",
    "alarm.hardware.lock_board": "Lock board fault", "alarm.hardware.led_display": "LED display fault",
    "alarm.hardware.camera": "Camera fault", "alarm.access.suspicious_grant": "Suspicious access grant",
    "alarm.access.policy_refused": "Device refused the access rules", "alarm.auth.lockout": "Login locked out",
    "alarm.controller.internal_error": "Controller internal error", "alarm.unknown": "Other alarm ({type})",
    "cmd.device.reboot": "Reboot", "cmd.door.unlock": "Remote unlock", "cmd.door.set_mode": "Set door mode",
    "cmd.display.set_brightness": "Set brightness", "cmd.display.call": "Show call",
    "cmd.display.queue": "Waiting list", "cmd.access.refresh": "Sync access rules", "cmd.gate.show": "Gate screen",
    "cmd.device.ping": "Ping", "cmd.printer.reset": "Reset printer",
    "cst.pending": "pending", "cst.sent": "sent", "cst.succeeded": "succeeded", "cst.failed": "failed",
    "cst.timed_out": "no answer", "cst.expired": "expired",
    "dev.auto": "Show automatic", "dev.auto.hint": "calls, waiting lists and other commands the controller sends by itself",
    "dev.details": "Details", "dev.note": "Note", "dev.nohistory": "No commands yet",
    "dev.noaudit": "No door events yet", "dev.cleared": "Recently cleared alarms",
    "dev.clearedBy": "cleared by {who}", "dev.clearedNote": "cleared by {who}: {note}", "dev.system": "system", "dev.person": "Person",
    "dev.category": "Category", "dev.action": "Action", "dev.outcome": "Outcome",
    "dev.sent": "{what}: {status}", "dev.waiting": "{what}: sent, waiting for the device…",
    "dev.reboot.title": "Reboot device", "dev.reboot.text": "Reboot {id}? Whatever it is doing stops (a ticket being printed, say).",
    "dev.unlock.title": "Remote unlock", "dev.unlock.text": "Really unlock {id}? It opens for about 5 s and is kept in the door's audit.",
    "note.label": "Reason (required; kept in the history)", "note.labelClear": "What was found (kept with the alarm)",
    "note.labelClearRequired": "What was found (required; kept with the alarm)", "note.missing": "Give the reason",
    "clear.title": "Clear alarm", "clear.text": "Clear “{type}” on {device}?",
    "clear.critical": "This alarm is critical: say what you found on site.",
    "chart.nodata": "No data in this range", "chart.time": "Time",
    "holds.device_offline": "the device is still offline; the alarm clears by itself when it is back",
    "holds.door_open": "the door is still open; the alarm clears by itself when it closes",
    "holds.tamper_active": "the lock still reports tampering",
    "holds.hardware_offline": "that part is still offline",
    "keys.title": "Integration keys", "keys.hint": "Keys the online service platform uses to call this hall (case sync, event feed). A key is shown only when it is created; only its hash is kept. A revoked key stops working at once.",
    "keys.name": "Name", "keys.scopes": "Scopes", "keys.create": "Create key", "keys.created": "Created",
    "keys.by": "Created by", "keys.state": "State", "keys.active": "active", "keys.revoked": "revoked",
    "keys.revoke": "Revoke", "keys.once": "Put this key into the platform's settings (shown only this once):",
    "keys.done": "Saved, close", "keys.none": "No keys yet", "keys.noscope": "Choose at least one scope",
    "keys.revoke.title": "Revoke key", "keys.revoke.text": "Revoke the key “{name}”? The platform using it is refused at once.",
    "scope.cases:read": "read cases", "scope.cases:write": "write cases", "scope.events:read": "read events",
    "nav.keys": "Integration keys", "nav.keys.who": "admin: the online platform's API keys",
    "dev.automatic": "automatic",
    "acat.decision": "passage", "acat.door": "door", "acat.command": "command", "acat.admin": "admin",
    "evt.door.opened": "Door opened", "evt.door.closed": "Door closed", "evt.door.mode_changed": "Door mode changed",
    "evt.door.forced": "Door forced open", "evt.door.held_open": "Door held open", "evt.lock.tamper": "Lock tampered with",
    "evt.access.policy_refused": "Access rules refused",
    "method.card": "card", "method.face": "face", "method.pin": "PIN", "method.remote": "remote", "method.qr": "QR code",
    "out.granted": "granted", "out.denied": "denied", "out.reported": "reported", "out.requested": "requested",
    "out.succeeded": "succeeded", "out.failed": "failed", "out.timed_out": "no answer", "out.expired": "expired",
    "out.suspicious": "suspicious", "out.refused": "refused",
    "why.allowed": "allowed", "why.free_pass": "open to all", "why.unknown_person": "not allowed here",
    "why.not_yet_valid": "not yet valid", "why.pass_expired": "pass expired", "why.outside_schedule": "outside the schedule",
    "why.locked_down": "locked down", "why.unknown_face": "unknown face", "why.remote_command": "remote command",
    "why.bad_signature": "bad signature", "why.replayed": "replayed command", "why.expired": "command expired",
  },
});

// An alarm type as people read it; an unknown one still says it is an alarm.
export function alarmName(type) {
  const key = `alarm.${type}`;
  return t(key) === key ? t("alarm.unknown", { type }) : t(key);
}

export function severityName(severity) {
  const key = `sev.${severity}`;
  return t(key) === key ? severity : t(key);
}

export function commandName(method) {
  const key = `cmd.${method}`;
  return t(key) === key ? method : t(key);
}

export function commandStatusName(status) {
  const key = `cst.${status}`;
  return t(key) === key ? status : t(key);
}

// A word of one of the families above (e.g. "out", "succeeded"), or the value itself when
// there is none (a code the page does not know yet is shown rather than hidden).
export function word(family, value) {
  if (value == null || value === "") return "";
  const key = `${family}.${value}`;
  return t(key) === key ? String(value) : t(key);
}
