// Words of the notification pages (rota and maintenance, alarm history, recipients and
// channels, the acknowledgement link), in both languages. Imported for its effect.
import { addWords, errorText, t } from "./common.js";

const TYPES_ZH = {
  "door.forced": "门被强行打开", "door.held_open": "门长时间未关", "device.offline": "设备离线",
  "device.kind_mismatch": "设备类型与登记不符", "lock.tamper": "门锁被拆动",
  "lock.battery_low": "门锁电量低", "printer.paper_near_end": "打印纸将尽",
  "printer.paper_out": "打印机缺纸", "printer.print_failed": "打印失败", "printer.jam": "打印机卡纸",
  "hardware.fault": "硬件故障", "auth.lockout": "登录被锁定",
  "access.suspicious_grant": "可疑的开门授权", "access.policy_refused": "设备拒绝门禁策略",
  "controller.internal_error": "控制器内部错误",
};
const TYPES_EN = {
  "door.forced": "Door forced open", "door.held_open": "Door held open", "device.offline": "Device offline",
  "device.kind_mismatch": "Device kind mismatch", "lock.tamper": "Lock tampered with",
  "lock.battery_low": "Lock battery low", "printer.paper_near_end": "Printer paper nearly out",
  "printer.paper_out": "Printer out of paper", "printer.print_failed": "Print failed",
  "printer.jam": "Printer jam", "hardware.fault": "Hardware fault", "auth.lockout": "Login locked out",
  "access.suspicious_grant": "Suspicious access grant", "access.policy_refused": "Device refused its access policy",
  "controller.internal_error": "Controller internal error",
};
const prefixed = (table) => Object.fromEntries(Object.entries(table).map(([k, v]) => [`ntf.type.${k}`, v]));

addWords({
  zh: {
    ...prefixed(TYPES_ZH),
    "nav.notify.rota": "值班表与维护窗口", "nav.notify.rota.who": "设施管理（facilities）",
    "nav.notify.history": "告警通知记录", "nav.notify.history.who": "设施管理（facilities）",
    "nav.notify.settings": "通知对象与渠道", "nav.notify.settings.who": "管理员（admin）",
    "ntf.rota.title": "值班表与维护窗口", "ntf.history.title": "告警通知记录",
    "ntf.settings.title": "通知对象与渠道", "ntf.ack.title": "确认告警",
    "ntf.sev.critical": "严重", "ntf.sev.major": "重要", "ntf.sev.minor": "次要", "ntf.sev.warning": "提示",
    "ntf.role.oncall": "值班人员", "ntf.role.watcher": "关注人", "ntf.role.supervisor": "主管",
    "ntf.role.facilities_manager": "设施经理",
    "ntf.ch.email": "邮件", "ntf.ch.wecom": "企业微信", "ntf.ch.dingtalk": "钉钉", "ntf.ch.sms": "短信",
    "ntf.ch.webhook": "平台消息",
    "ntf.day.0": "周一", "ntf.day.1": "周二", "ntf.day.2": "周三", "ntf.day.3": "周四",
    "ntf.day.4": "周五", "ntf.day.5": "周六", "ntf.day.6": "周日",
    "ntf.oncallNow": "当前值班", "ntf.nobody": "当前无人值班（告警将直接升级给主管）",
    "ntf.shifts": "每周排班", "ntf.overrides": "临时调班（当天替代每周排班）",
    "ntf.windows": "维护窗口（期间不发通知，告警仍记录并标记为维护中）",
    "ntf.person": "人员", "ntf.weekday": "星期", "ntf.from": "开始", "ntf.to": "结束",
    "ntf.site": "位置", "ntf.allSites": "全部", "ntf.day": "日期", "ntf.note": "备注",
    "ntf.device": "设备", "ntf.reason": "原因", "ntf.add": "添加", "ntf.delete": "删除",
    "ntf.end": "结束", "ntf.ended": "已结束", "ntf.running": "进行中", "ntf.planned": "未开始",
    "ntf.by": "创建人", "ntf.state": "状态", "ntf.none": "暂无",
    "ntf.deviceOrSite": "填写设备编号或位置之一",
    "ntf.alarms": "告警", "ntf.alarm": "告警", "ntf.type": "类型", "ntf.severity": "级别",
    "ntf.raised": "产生时间", "ntf.level": "升级级别", "ntf.nextStep": "下次升级",
    "ntf.track.notifying": "通知中（未确认将升级）", "ntf.track.done": "已结束",
    "ntf.track.maintenance": "维护中（未通知）", "ntf.track.digest": "汇总通知",
    "ntf.track.none": "未处理（通知功能启用前产生）",
    "ntf.steps": "通知与升级步骤", "ntf.deliveries": "发送记录", "ntf.at": "时间",
    "ntf.step": "步骤", "ntf.recipient": "接收人", "ntf.channel": "渠道", "ntf.address": "地址",
    "ntf.attempts": "尝试次数", "ntf.error": "错误", "ntf.subject": "标题",
    "ntf.kind.grace": "等待 {s} 秒：期间恢复则不通知", "ntf.kind.notified": "已通知", "ntf.kind.escalated": "升级到第 {level} 级",
    "ntf.kind.no_recipient": "第 {level} 级无人可通知，跳过", "ntf.kind.maintenance": "维护窗口内，不通知：{reason}",
    "ntf.kind.flapping": "频繁反复（{recent} 次），改为汇总通知", "ntf.kind.digest_queued": "次要告警，等待汇总通知",
    "ntf.kind.digested": "已包含在汇总通知中", "ntf.kind.stopped": "停止升级：{reason}",
    "ntf.kind.exhausted": "已通知到最后一级",
    "ntf.reason.acknowledged": "已确认（{by}）", "ntf.reason.cleared": "已清除（{by}）",
    "ntf.dl.pending": "待发送", "ntf.dl.delivered": "已送达", "ntf.dl.failed": "发送失败",
    "ntf.acked": "已确认", "ntf.active": "活动", "ntf.cleared": "已清除", "ntf.inMaintenance": "维护中",
    "ntf.choose": "选择左侧的告警查看其通知记录", "ntf.back": "返回列表",
    "ntf.recipients": "通知对象", "ntf.name": "姓名", "ntf.role": "角色", "ntf.channels": "渠道",
    "ntf.sites": "位置（逗号分隔，留空为全部）", "ntf.minSeverity": "最低级别", "ntf.locale": "语言",
    "ntf.email": "邮箱", "ntf.wecom": "企业微信用户ID", "ntf.dingtalk": "钉钉用户ID",
    "ntf.phone": "手机号", "ntf.platform": "平台用户ID", "ntf.activeFlag": "启用",
    "ntf.save": "保存", "ntf.new": "新建", "ntf.edit": "编辑", "ntf.test": "发送测试",
    "ntf.testSent": "测试消息已排队，请在发送记录中查看结果", "ntf.saved": "已保存",
    "ntf.configured": "已配置的渠道", "ntf.notConfigured": "未配置（在 config.toml 的 [notify] 中设置）",
    "ntf.ackLinks": "消息中的确认链接", "ntf.yes": "有", "ntf.no": "无（未设置 notify.public_url）",
    "ntf.escalation": "升级时间（告警产生后，秒）", "ntf.digest": "汇总通知的级别",
    "ntf.log": "发送记录",
    "ntf.lang.zh": "中文", "ntf.lang.en": "English",
    "ntf.ack.confirm": "确认此告警", "ntf.ack.done": "已确认，升级已停止。",
    "ntf.ack.already": "此告警已被确认（{by}）。", "ntf.ack.explain": "确认表示您已知晓并会处理，确认后不再升级通知。",
    "ntf.err.invalid_link": "链接无效", "ntf.err.expired_link": "链接已过期，请在设备监控页面确认",
    "ntf.err.missing_address": "所选渠道缺少地址", "ntf.err.invalid_email": "邮箱格式不正确",
    "ntf.err.invalid_phone": "手机号格式不正确", "ntf.err.invalid_name": "请填写姓名",
    "ntf.err.no_channel": "请至少选择一个渠道", "ntf.err.invalid_end": "结束时间必须晚于开始时间",
    "ntf.err.invalid_day": "日期无效", "ntf.err.device_or_site": "请填写设备编号或位置之一（只填一个）",
    "ntf.err.ends_before_start": "结束时间必须晚于开始时间", "ntf.err.window_too_long": "维护窗口最长 31 天",
    "ntf.err.invalid_reason": "请填写原因", "ntf.err.invalid_device_id": "设备编号格式不正确",
    "ntf.err.invalid_site": "位置无效", "ntf.err.invalid_wecom_user": "企业微信用户ID格式不正确",
    "ntf.err.invalid_dingtalk_user": "钉钉用户ID格式不正确", "ntf.err.duplicate_channel": "渠道重复",
  },
  en: {
    ...prefixed(TYPES_EN),
    "nav.notify.rota": "On-call rota and maintenance", "nav.notify.rota.who": "facilities",
    "nav.notify.history": "Alarm notifications", "nav.notify.history.who": "facilities",
    "nav.notify.settings": "Recipients and channels", "nav.notify.settings.who": "admin",
    "ntf.rota.title": "On-call rota and maintenance", "ntf.history.title": "Alarm notifications",
    "ntf.settings.title": "Recipients and channels", "ntf.ack.title": "Acknowledge alarm",
    "ntf.sev.critical": "Critical", "ntf.sev.major": "Major", "ntf.sev.minor": "Minor", "ntf.sev.warning": "Warning",
    "ntf.role.oncall": "On call", "ntf.role.watcher": "Watcher", "ntf.role.supervisor": "Supervisor",
    "ntf.role.facilities_manager": "Facilities manager",
    "ntf.ch.email": "Email", "ntf.ch.wecom": "WeCom", "ntf.ch.dingtalk": "DingTalk", "ntf.ch.sms": "SMS",
    "ntf.ch.webhook": "Platform message",
    "ntf.day.0": "Mon", "ntf.day.1": "Tue", "ntf.day.2": "Wed", "ntf.day.3": "Thu",
    "ntf.day.4": "Fri", "ntf.day.5": "Sat", "ntf.day.6": "Sun",
    "ntf.oncallNow": "On call now", "ntf.nobody": "Nobody is on call (alarms go straight to the supervisor)",
    "ntf.shifts": "Weekly shifts", "ntf.overrides": "Overrides (replace that day's weekly shifts)",
    "ntf.windows": "Maintenance windows (no notifications; alarms are still recorded, marked in maintenance)",
    "ntf.person": "Person", "ntf.weekday": "Day", "ntf.from": "From", "ntf.to": "To",
    "ntf.site": "Site", "ntf.allSites": "all", "ntf.day": "Date", "ntf.note": "Note",
    "ntf.device": "Device", "ntf.reason": "Reason", "ntf.add": "Add", "ntf.delete": "Delete",
    "ntf.end": "End", "ntf.ended": "ended", "ntf.running": "running", "ntf.planned": "planned",
    "ntf.by": "By", "ntf.state": "State", "ntf.none": "none",
    "ntf.deviceOrSite": "Give a device id or a site, not both",
    "ntf.alarms": "Alarms", "ntf.alarm": "Alarm", "ntf.type": "Type", "ntf.severity": "Severity",
    "ntf.raised": "Raised", "ntf.level": "Level", "ntf.nextStep": "Next escalation",
    "ntf.track.notifying": "notifying (escalates unless acknowledged)", "ntf.track.done": "finished",
    "ntf.track.maintenance": "in maintenance (nobody told)", "ntf.track.digest": "in a digest",
    "ntf.track.none": "not handled (raised before notification ran)",
    "ntf.steps": "Notification and escalation steps", "ntf.deliveries": "Deliveries", "ntf.at": "Time",
    "ntf.step": "Step", "ntf.recipient": "Recipient", "ntf.channel": "Channel", "ntf.address": "Address",
    "ntf.attempts": "Attempts", "ntf.error": "Error", "ntf.subject": "Subject",
    "ntf.kind.grace": "Waiting {s} s: not told if it clears meanwhile", "ntf.kind.notified": "Notified", "ntf.kind.escalated": "Escalated to level {level}",
    "ntf.kind.no_recipient": "Nobody at level {level}: skipped", "ntf.kind.maintenance": "In a maintenance window, nobody told: {reason}",
    "ntf.kind.flapping": "Flapping ({recent} times): held for the digest", "ntf.kind.digest_queued": "Minor: waits for the digest",
    "ntf.kind.digested": "Sent in a digest", "ntf.kind.stopped": "Escalation stopped: {reason}",
    "ntf.kind.exhausted": "Last level told",
    "ntf.reason.acknowledged": "acknowledged ({by})", "ntf.reason.cleared": "cleared ({by})",
    "ntf.dl.pending": "pending", "ntf.dl.delivered": "delivered", "ntf.dl.failed": "failed",
    "ntf.acked": "Acknowledged", "ntf.active": "Active", "ntf.cleared": "Cleared", "ntf.inMaintenance": "In maintenance",
    "ntf.choose": "Choose an alarm to see its notifications", "ntf.back": "Back to the list",
    "ntf.recipients": "Recipients", "ntf.name": "Name", "ntf.role": "Role", "ntf.channels": "Channels",
    "ntf.sites": "Sites (comma separated; empty: all)", "ntf.minSeverity": "Lowest severity", "ntf.locale": "Language",
    "ntf.email": "Email", "ntf.wecom": "WeCom user id", "ntf.dingtalk": "DingTalk user id",
    "ntf.phone": "Mobile", "ntf.platform": "Platform user id", "ntf.activeFlag": "Active",
    "ntf.save": "Save", "ntf.new": "New", "ntf.edit": "Edit", "ntf.test": "Send a test",
    "ntf.testSent": "Test queued; see the delivery log", "ntf.saved": "Saved",
    "ntf.configured": "Configured channels", "ntf.notConfigured": "not configured (set it in [notify] of config.toml)",
    "ntf.ackLinks": "Acknowledgement links in messages", "ntf.yes": "yes", "ntf.no": "no (notify.public_url is not set)",
    "ntf.escalation": "Escalation after the alarm (seconds)", "ntf.digest": "Severities sent as a digest",
    "ntf.log": "Delivery log",
    "ntf.lang.zh": "中文", "ntf.lang.en": "English",
    "ntf.ack.confirm": "Acknowledge this alarm", "ntf.ack.done": "Acknowledged; escalation stopped.",
    "ntf.ack.already": "Already acknowledged ({by}).", "ntf.ack.explain": "Acknowledging says you know and will deal with it; nobody further is notified.",
    "ntf.err.invalid_link": "This link is not valid", "ntf.err.expired_link": "This link has expired; acknowledge on the facilities dashboard",
    "ntf.err.missing_address": "A chosen channel has no address", "ntf.err.invalid_email": "Not an email address",
    "ntf.err.invalid_phone": "Not a mobile number", "ntf.err.invalid_name": "Give a name",
    "ntf.err.no_channel": "Choose at least one channel", "ntf.err.invalid_end": "The end must come after the start",
    "ntf.err.invalid_day": "Not a date", "ntf.err.device_or_site": "Give a device id or a site (one of them)",
    "ntf.err.ends_before_start": "The end must come after the start", "ntf.err.window_too_long": "A window lasts at most 31 days",
    "ntf.err.invalid_reason": "Give a reason", "ntf.err.invalid_device_id": "Not a device id",
    "ntf.err.invalid_site": "Not a site", "ntf.err.invalid_wecom_user": "Not a WeCom user id",
    "ntf.err.invalid_dingtalk_user": "Not a DingTalk user id", "ntf.err.duplicate_channel": "A channel is listed twice",
  },
});

// An alarm type in words (an unknown one as it is: a new rule's own name).
export function alarmType(type) {
  const key = `ntf.type.${type}`;
  const text = t(key);
  return text === key ? type : text;
}

// The words for a refused request: the notify rule's own reason when the server gives one
// (code notify.invalid), else what the page says for any other code.
export function refusal(error) {
  const reason = error.code === "notify.invalid" ? error.params?.reason : null;
  if (reason) {
    const key = `ntf.err.${reason}`;
    const text = t(key);
    if (text !== key) return text;
  }
  return errorText(error);
}

export function hhmm(minute) {
  const m = ((minute % 1440) + 1440) % 1440;
  const text = `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
  return minute >= 1440 ? `${text} (+1)` : text;
}

export function minuteOf(value) {
  const [h, m] = String(value).split(":").map(Number);
  return h * 60 + m;
}
