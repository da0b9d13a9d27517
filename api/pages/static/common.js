// Shared by every page: words in two languages, login, API calls, the live event stream,
// small formatting helpers and SVG charts. No library: modern browsers have all of it.

import { ERROR_WORDS } from "./words-errors.js";

export const API = "/api/v1";

const WORDS = {
  zh: {
    "app.title": "服务大厅", "lang.switch": "English", "login.title": "登录",
    "login.user": "用户名", "login.password": "密码", "login.submit": "登录",
    "login.failed": "用户名或密码错误", "login.locked": "登录失败次数过多，请 {n} 秒后再试",
    "login.busy": "登录繁忙，请稍后再试", "login.role": "此页面需要以下角色之一：", "logout": "退出",
    "live.connected": "实时连接正常", "live.reconnecting": "连接中断，正在重新连接…",
    "live.connecting": "正在连接…",
    "offline.banner": "与服务器的连接已中断：操作暂不可用，连接恢复后自动继续。",
    "err.offline": "无法连接服务器，请稍后重试",
    "nav.window": "窗口终端", "nav.display": "叫号显示屏", "nav.kiosk": "自助取号机",
    "nav.facilities": "设备监控", "nav.stats": "统计",
    "nav.window.who": "窗口工作人员（clerk）", "nav.display.who": "公开，无需登录；大厅电视全屏",
    "nav.kiosk.who": "触摸屏自助机（需设备密钥）", "nav.facilities.who": "设施管理（facilities）",
    "nav.stats.who": "管理员（admin）", "nav.users": "用户与密码",
    "nav.users.who": "管理员管理用户；所有人可修改自己的密码",
    "users.title": "用户管理", "users.list": "用户", "users.name": "用户名", "users.role": "角色",
    "users.state": "状态", "users.enabled": "启用", "users.disabled": "已停用", "users.disable": "停用",
    "users.enable": "启用", "users.setrole": "改角色", "users.you": "（本人）",
    "users.me": "修改我的密码", "users.current": "当前密码", "users.new": "新密码",
    "users.repeat": "再次输入新密码", "users.change": "修改密码", "users.changed": "密码已修改，其他登录已失效",
    "users.mismatch": "两次输入的新密码不一致",
    "users.hint": "至少 10 个字符，不能包含用户名，不能与当前密码相同",
    "users.wrong": "当前密码错误",
    "kiosks.title": "自助机密钥", "kiosks.hint": "每台网页自助机一个密钥；在自助机上输入一次。密钥只显示一次，吊销后该自助机立即无法使用。",
    "kiosks.device": "设备编号", "kiosks.name": "位置（可选）", "kiosks.create": "生成密钥",
    "kiosks.once": "请在自助机上输入此密钥（只显示这一次）：", "kiosks.created": "创建时间",
    "kiosks.used": "最近使用", "kiosks.never": "从未使用", "kiosks.active": "有效",
    "kiosks.revoked": "已吊销", "kiosks.revoke": "吊销",
    "role.admin": "管理员", "role.facilities": "设施管理", "role.clerk": "窗口工作人员",
    "window.choose": "选择窗口", "window.open": "开窗", "window.close": "关窗",
    "window.number": "{n} 号窗口", "window.current": "当前号码", "window.none": "暂无",
    "window.queue": "等候队列", "window.cases": "关联网上办件", "window.materials": "材料清单",
    "window.figures": "我的今日数据", "window.parked": "暂挂",
    "window.taken": "该窗口已由 {clerk} 开启",
    "window.free": "空闲", "window.mine": "我在岗", "window.heldBy": "{clerk} 在岗",
    "window.notMine": "注意：您正在操作 {clerk} 的窗口（管理员）。",
    "window.takeOver": "接管窗口", "window.forceClose": "强制关窗", "window.note": "原因（必填，记入号票记录）",
    "window.takeOver.explain": "接管后该窗口归您，{clerk} 的终端将无法再操作。",
    "window.forceClose.explain": "将关闭 {clerk} 的窗口。",
    "window.parksCurrent": "当前号码 {number} 将暂挂在本窗口，可稍后恢复。",
    "window.parkedDone": "已完成，{number} 已暂挂在本窗口",
    "window.takeOver.done": "已接管窗口", "window.forceClose.done": "窗口已关闭",
    "cancel": "取消",
    "act.call": "叫下一位", "act.recall": "重呼", "act.start": "开始办理", "act.complete": "办结",
    "act.pending": "待补材料", "act.transfer": "转移", "act.noshow": "过号", "act.park": "暂挂",
    "act.resume": "恢复", "act.nobody": "没有等候的号码",
    "fig.called": "已叫号", "fig.done": "已办结", "fig.noshow": "过号", "fig.avg": "平均办理",
    "fig.note": "今日本人在各窗口的办理记录",
    "state.waiting": "等候", "state.called": "已叫号", "state.serving": "办理中",
    "state.parked": "暂挂", "state.done": "已办结", "state.no_show": "过号",
    "state.awaiting_checkin": "待签到", "state.cancelled": "已取消", "state.lapsed": "已失效",
    "case.submitted": "已提交", "case.materials_required": "需补材料", "case.in_review": "审核中",
    "case.awaiting_visit": "待到场办理", "case.resolved": "已办结", "case.rejected": "已驳回",
    "case.closed": "已关闭",
    "received": "已收", "missing": "未收", "visits": "到访次数",
    "transfer.title": "将 {number} 转移到：", "transfer.keep": "保留原取号时间（不重新排队）",
    "pending.title": "{number} 待补材料", "pending.explain": "勾选缺少的材料：",
    "pending.other": "其他：", "pending.noChecklist": "该号码没有关联办件的材料清单，请在下方填写。",
    "pending.none": "请勾选或填写缺少的材料", "pending.missing": "缺：", "pending.otherPrefix": "其他：",
    "done.called": "已叫 {number}", "done.recalled": "{number} 已重呼 ({n}/{max})",
    "done.started": "{number} 开始办理", "done.completed": "{number} 已办结",
    "done.pending": "{number} 已办结（待补材料）", "done.transferred": "{number} 已转移到 {service}",
    "done.noshow": "{number} 已过号", "done.parked": "{number} 已暂挂", "done.resumed": "{number} 已恢复排队",
    "queue.waited": "已等 {min} 分钟", "legend.case": "关联网上办件", "legend.appointment": "预约",
    "legend.priority": "绿色通道", "window.close.confirm": "确认关窗？关窗后本窗口不再叫号。",
    "display.title": "叫号", "display.recent": "最近叫号", "display.waiting": "等候人数",
    "display.please": "请 {ticket} 号到 {window} 号窗口办理", "display.sound": "点击开启声音",
    "display.fullscreen": "全屏", "display.people": "{n} 人",
    "kiosk.title": "自助取号", "kiosk.choose": "请选择业务", "kiosk.identify": "请出示身份（可跳过）",
    "kiosk.card": "校园卡", "kiosk.qr": "二维码",
    "kiosk.value": "请刷校园卡或扫描二维码", "kiosk.skip": "跳过，直接取号", "kiosk.take": "取号",
    "kiosk.your": "您的号码", "kiosk.ahead": "前面还有 {n} 人", "kiosk.wait": "预计等候约 {n} 分钟",
    "kiosk.print": "打印", "kiosk.again": "完成", "kiosk.setup": "设置自助机",
    "kiosk.device": "设备编号", "kiosk.key": "自助机密钥", "kiosk.save": "保存",
    "kiosk.cases": "已关联的网上办件", "kiosk.bring": "请携带：",
    "fac.title": "设备监控", "fac.devices": "设备", "fac.alarms": "告警", "fac.kind": "类型",
    "fac.site": "位置", "fac.alarmstate": "告警状态", "fac.all": "全部", "fac.withalarm": "有告警",
    "fac.noalarm": "无告警", "fac.online": "在线", "fac.offline": "离线", "fac.lastseen": "最后通信",
    "fac.ack": "确认", "fac.clear": "清除", "fac.acked": "已确认", "fac.device": "设备",
    "fac.history": "通知记录", "fac.type": "类型", "fac.severity": "级别", "fac.raised": "产生时间", "fac.count": "次数",
    "fac.noalarms": "没有活动告警",
    "prov.title": "设备开通（管理员）", "prov.id": "设备编号", "prov.provision": "开通",
    "prov.once": "以下配置只显示这一次：请复制到设备主机的 config.toml，关闭后无法再查看。",
    "prov.done": "已保存，关闭", "prov.status": "状态", "prov.created": "开通时间",
    "prov.active": "有效", "prov.revoked": "已吊销", "prov.rekey": "更换密钥", "prov.revoke": "吊销",
    "prov.rekey.confirm": "为 {id} 生成新的密码和命令密钥？旧的将立即失效。",
    "prov.revoke.confirm": "吊销 {id}？它将被断开，之后无法再连接。", "prov.none": "还没有开通的设备",
    "kind.kiosk": "自助机", "kind.face_gate": "人脸闸机", "kind.door_lock": "门锁",
    "kind.queue_display": "叫号屏",
    "dev.latest": "最新数值", "dev.charts": "遥测曲线", "dev.hour": "近1小时", "dev.day": "近1天",
    "dev.week": "近1周", "dev.commands": "命令", "dev.history": "命令记录", "dev.reboot": "重启",
    "dev.unlock": "开门", "dev.unlock.confirm": "确定要远程开门 {id} 吗？请填写原因（记入审计）：",
    "dev.brightness": "亮度", "dev.set": "设置", "dev.audit": "门禁审计记录",
    "dev.audit.none": "门禁审计接口尚未提供", "dev.back": "返回设备列表", "dev.metric": "指标",
    "dev.nodata": "无数据", "dev.status": "状态", "dev.method": "命令", "dev.by": "操作人",
    "dev.time": "时间", "dev.result": "结果",
    "stats.title": "统计", "stats.day": "日期", "stats.service": "业务", "stats.tickets": "取号数",
    "stats.mean": "平均等候", "stats.p90": "P90 等候", "stats.level": "服务达标率",
    "stats.noshow": "过号率", "stats.onetrip": "只跑一次率", "stats.trend": "近 7 天平均等候（分钟）",
    "stats.waits": "等候时间（分钟）", "stats.served": "已办结",
    "stats.linked": "关联网上办件", "stats.pending": "待补材料",
    "stats.onetrip.detail": "当日办结的网上办件 {n} 件：一次办结 {one} 件，跑了两次及以上 {more} 件",
    "stats.onetrip.none": "当日还没有到大厅办结的网上办件",
    "stats.target": "目标等候", "stats.empty": "{day} 没有取号记录（大厅未开放，或还没有人取号）。",
    "stats.explain.level": "服务达标率：已叫号的号码中，在该业务目标等候时间内被叫到的比例（目标：{targets}）。",
    "stats.explain.onetrip": "只跑一次率：当日在大厅办结的网上办件中，只到场一次就办结的比例；改革目标是每件只跑一次（100%）。",
    "stats.explain.noshow": "过号率：已叫号的号码中，叫号后未到窗口的比例。",
    "stats.explain.p90": "P90 等候：九成来访者的等候时间不超过此值。",
    "chart.wait": "等候时间（分钟）", "chart.meanwait": "平均等候（分钟）", "chart.service": "业务",
    "chart.day": "日期",
    "err.generic": "出错了：", "err.unexpected": "页面出错了，请刷新后重试", "minutes": "分钟",
  },
  en: {
    "app.title": "Service hall", "lang.switch": "中文", "login.title": "Log in",
    "login.user": "Username", "login.password": "Password", "login.submit": "Log in",
    "login.failed": "Incorrect username or password",
    "login.locked": "Too many failed logins; try again in {n} s",
    "login.busy": "Too many logins at once; try again shortly", "login.role": "This page needs one of the roles: ",
    "logout": "Log out",
    "live.connected": "Live", "live.reconnecting": "Connection lost, reconnecting…",
    "live.connecting": "Connecting…",
    "offline.banner": "The connection to the server is lost: actions are off until it is back.",
    "err.offline": "Cannot reach the server; try again shortly",
    "nav.window": "Window terminal", "nav.display": "Queue display", "nav.kiosk": "Kiosk",
    "nav.facilities": "Facilities", "nav.stats": "Statistics",
    "nav.window.who": "clerks", "nav.display.who": "public, no login; full screen on the hall TV",
    "nav.kiosk.who": "touch kiosk (device key)", "nav.facilities.who": "facilities staff",
    "nav.stats.who": "admin", "nav.users": "Users and passwords",
    "nav.users.who": "admins manage users; everyone changes their own password",
    "users.title": "Users", "users.list": "Users", "users.name": "Username", "users.role": "Role",
    "users.state": "State", "users.enabled": "enabled", "users.disabled": "disabled",
    "users.disable": "Disable", "users.enable": "Enable", "users.setrole": "Set role",
    "users.you": " (you)", "users.me": "Change my password", "users.current": "Current password",
    "users.new": "New password", "users.repeat": "New password again", "users.change": "Change password",
    "users.changed": "Password changed; your other sessions are logged out",
    "users.mismatch": "The two new passwords differ",
    "users.hint": "At least 10 characters, not containing your username, not the current one",
    "users.wrong": "The current password is wrong",
    "kiosks.title": "Kiosk keys",
    "kiosks.hint": "One key per browser kiosk, entered on the kiosk once. A key is shown only once; once revoked, its kiosk is refused at once.",
    "kiosks.device": "Device id", "kiosks.name": "Location (optional)", "kiosks.create": "Create key",
    "kiosks.once": "Enter this key on the kiosk (it is shown only this once):",
    "kiosks.created": "Created", "kiosks.used": "Last used", "kiosks.never": "never",
    "kiosks.active": "active", "kiosks.revoked": "revoked", "kiosks.revoke": "Revoke",
    "role.admin": "admin", "role.facilities": "facilities", "role.clerk": "clerk",
    "window.choose": "Choose a window", "window.open": "Open", "window.close": "Close",
    "window.number": "Window {n}", "window.current": "Current ticket", "window.none": "None",
    "window.queue": "Queue", "window.cases": "Linked online cases", "window.materials": "Materials",
    "window.figures": "My figures today", "window.parked": "Parked",
    "window.taken": "This window is open by {clerk}",
    "window.free": "free", "window.mine": "mine", "window.heldBy": "open by {clerk}",
    "window.notMine": "Note: you are working {clerk}'s window (admin).",
    "window.takeOver": "Take over", "window.forceClose": "Force close", "window.note": "Reason (required; kept in the ticket's history)",
    "window.takeOver.explain": "The window becomes yours; {clerk}'s terminal can no longer act on it.",
    "window.forceClose.explain": "This closes {clerk}'s window.",
    "window.parksCurrent": "The current ticket {number} is parked at this window; resume it later.",
    "window.parkedDone": "Done; {number} is parked at this window",
    "window.takeOver.done": "Window taken over", "window.forceClose.done": "Window closed",
    "cancel": "Cancel",
    "act.call": "Call next", "act.recall": "Recall", "act.start": "Start", "act.complete": "Complete",
    "act.pending": "Pending materials", "act.transfer": "Transfer", "act.noshow": "No-show",
    "act.park": "Park", "act.resume": "Resume", "act.nobody": "Nobody is waiting",
    "fig.called": "Called", "fig.done": "Completed", "fig.noshow": "No-shows", "fig.avg": "Avg service",
    "fig.note": "today, at every window I worked",
    "state.waiting": "waiting", "state.called": "called", "state.serving": "serving",
    "state.parked": "parked", "state.done": "done", "state.no_show": "no-show",
    "state.awaiting_checkin": "awaiting check-in", "state.cancelled": "cancelled", "state.lapsed": "lapsed",
    "case.submitted": "submitted", "case.materials_required": "materials required",
    "case.in_review": "in review", "case.awaiting_visit": "awaiting a visit", "case.resolved": "resolved",
    "case.rejected": "rejected", "case.closed": "closed",
    "received": "received", "missing": "missing", "visits": "visits",
    "transfer.title": "Transfer {number} to:", "transfer.keep": "Keep the original arrival time",
    "pending.title": "{number}: pending materials", "pending.explain": "Tick what is missing:",
    "pending.other": "Anything else:", "pending.noChecklist": "No linked case checklist; write what is missing below.",
    "pending.none": "Tick or write what is missing", "pending.missing": "Missing: ", "pending.otherPrefix": "Other: ",
    "done.called": "Called {number}", "done.recalled": "{number} recalled ({n}/{max})",
    "done.started": "{number} being served", "done.completed": "{number} completed",
    "done.pending": "{number} completed (pending materials)", "done.transferred": "{number} transferred to {service}",
    "done.noshow": "{number} marked no-show", "done.parked": "{number} parked", "done.resumed": "{number} back in the queue",
    "queue.waited": "waited {min} min", "legend.case": "linked online case", "legend.appointment": "appointment",
    "legend.priority": "green channel", "window.close.confirm": "Close the window? It stops calling.",
    "display.title": "Now calling", "display.recent": "Recent calls", "display.waiting": "Waiting",
    "display.please": "Number {ticket}, please go to window {window}", "display.sound": "Click to enable sound",
    "display.fullscreen": "Full screen", "display.people": "{n}",
    "kiosk.title": "Take a ticket", "kiosk.choose": "Choose a service",
    "kiosk.identify": "Identify yourself (optional)", "kiosk.card": "Campus card", "kiosk.qr": "QR code",
    "kiosk.value": "Swipe your campus card or scan the QR code", "kiosk.skip": "Skip",
    "kiosk.take": "Take ticket", "kiosk.your": "Your number", "kiosk.ahead": "{n} ahead of you",
    "kiosk.wait": "Estimated wait about {n} min", "kiosk.print": "Print", "kiosk.again": "Done",
    "kiosk.setup": "Set up this kiosk", "kiosk.device": "Device id", "kiosk.key": "Kiosk key",
    "kiosk.save": "Save", "kiosk.cases": "Linked online cases", "kiosk.bring": "Please bring: ",
    "fac.title": "Facilities", "fac.devices": "Devices", "fac.alarms": "Alarms", "fac.kind": "Kind",
    "fac.site": "Site", "fac.alarmstate": "Alarm state", "fac.all": "All", "fac.withalarm": "With alarm",
    "fac.noalarm": "No alarm", "fac.online": "online", "fac.offline": "offline", "fac.lastseen": "Last seen",
    "fac.ack": "Ack", "fac.clear": "Clear", "fac.acked": "acknowledged", "fac.device": "Device",
    "fac.history": "Notifications", "fac.type": "Type", "fac.severity": "Severity", "fac.raised": "Raised", "fac.count": "Count",
    "fac.noalarms": "No active alarms",
    "prov.title": "Device provisioning (admin)", "prov.id": "Device id", "prov.provision": "Provision",
    "prov.once": "Shown this once: copy it into the device host's config.toml; it cannot be shown again.",
    "prov.done": "Saved, close", "prov.status": "Status", "prov.created": "Provisioned",
    "prov.active": "active", "prov.revoked": "revoked", "prov.rekey": "Re-key", "prov.revoke": "Revoke",
    "prov.rekey.confirm": "New password and command key for {id}? The old ones stop working at once.",
    "prov.revoke.confirm": "Revoke {id}? It is disconnected and cannot connect again.",
    "prov.none": "No device provisioned yet",
    "kind.kiosk": "Kiosk", "kind.face_gate": "Face gate", "kind.door_lock": "Door lock",
    "kind.queue_display": "Queue display",
    "dev.latest": "Latest values", "dev.charts": "Telemetry", "dev.hour": "Last hour", "dev.day": "Last day",
    "dev.week": "Last week", "dev.commands": "Commands", "dev.history": "Command history",
    "dev.reboot": "Reboot", "dev.unlock": "Unlock door", "dev.unlock.confirm": "Really unlock {id}? Give the reason (kept in the audit):",
    "dev.brightness": "Brightness", "dev.set": "Set", "dev.audit": "Door audit trail",
    "dev.audit.none": "The door audit API is not available yet", "dev.back": "Back to devices",
    "dev.metric": "Metric", "dev.nodata": "No data", "dev.status": "Status", "dev.method": "Method",
    "dev.by": "By", "dev.time": "Time", "dev.result": "Result",
    "stats.title": "Statistics", "stats.day": "Day", "stats.service": "Service", "stats.tickets": "Tickets",
    "stats.mean": "Mean wait", "stats.p90": "P90 wait", "stats.level": "Service level",
    "stats.noshow": "No-show rate", "stats.onetrip": "One-trip rate",
    "stats.trend": "Mean wait over 7 days (min)", "stats.waits": "Waits (min)", "stats.served": "Served",
    "stats.linked": "Linked to online cases", "stats.pending": "Pending materials",
    "stats.onetrip.detail": "Online cases resolved that day: {n}; in one trip: {one}, in two or more: {more}",
    "stats.onetrip.none": "No online case was resolved at the hall that day yet",
    "stats.target": "Target wait", "stats.empty": "No tickets on {day} (the hall was closed, or nobody has taken one yet).",
    "stats.explain.level": "Service level: of the tickets called, the share called within their service's target wait (targets: {targets}).",
    "stats.explain.onetrip": "One-trip rate: of the online cases resolved at the hall that day, the share resolved on the first visit; the reform's goal is one trip for every case (100%).",
    "stats.explain.noshow": "No-show rate: of the tickets called, the share whose visitor never came to the window.",
    "stats.explain.p90": "P90 wait: nine in ten visitors waited no longer than this.",
    "chart.wait": "Wait (min)", "chart.meanwait": "Mean wait (min)", "chart.service": "Service",
    "chart.day": "Day",
    "err.generic": "Error: ", "err.unexpected": "Something went wrong in the page; reload it and try again",
    "minutes": "min",
  },
};

// A page's own words live in a words-<area>.js module that calls addWords when imported, so
// this dictionary keeps only what every page shares.
export function addWords(more) {
  for (const language of ["zh", "en"]) Object.assign(WORDS[language], more[language] ?? {});
}
// The API's error codes (words-errors.js cannot call addWords itself: it is imported before
// this module has run).
addWords(ERROR_WORDS);

export function lang() {
  return localStorage.getItem("hall.lang") === "en" ? "en" : "zh";
}

export function t(key, vars = {}) {
  const text = WORDS[lang()][key] ?? WORDS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

// ``key``'s words when there are any, else ``fallback`` (a value shown as it is: a name).
export function known(key, fallback) {
  return key in WORDS.zh ? t(key) : fallback;
}

export function applyWords(root = document) {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}

// A language button in the page header; `redraw` repaints what is not data-i18n text.
export function languageSwitch(redraw = () => {}) {
  const button = document.getElementById("lang");
  if (!button) return;
  button.dataset.i18n = "lang.switch";
  button.addEventListener("click", () => {
    localStorage.setItem("hall.lang", lang() === "en" ? "zh" : "en");
    applyWords();
    redraw();
  });
  applyWords();
}

// Escape text for innerHTML templates.
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// The one date and time format of each language, used by every page (tables, the kiosk's
// ticket, the display's clock, chart axes): zh-CN "2026/12/03 14:05:09", English
// "3 Dec 2026, 14:05:09"; always the 24-hour clock. ``part``: "datetime", "date", "day" (no
// year), "time" (with seconds) or "clock" (hours and minutes).
const WHEN_PARTS = {
  date: { year: "numeric", month: "2-digit", day: "2-digit" },
  day: { month: "2-digit", day: "2-digit" },                     // a chart's day: 12/03, 3 Dec
  time: { hour: "2-digit", minute: "2-digit", second: "2-digit" },
  clock: { hour: "2-digit", minute: "2-digit" },
};
const whenFormats = new Map();
export function formatWhen(ms, part = "datetime") {
  if (ms == null || ms === "") return "";
  const key = `${lang()}:${part}`;
  if (!whenFormats.has(key)) {
    const options = part === "datetime" ? { ...WHEN_PARTS.date, ...WHEN_PARTS.time } : { ...WHEN_PARTS[part] };
    if (lang() === "en" && options.month) options.month = "short";   // "3 Dec": no day/month mix-up
    if (lang() === "en" && options.day) options.day = "numeric";
    whenFormats.set(key, new Intl.DateTimeFormat(lang() === "en" ? "en-GB" : "zh-CN",
                                                 { ...options, hourCycle: "h23" }));
  }
  return whenFormats.get(key).format(new Date(ms));
}
export const fmtTime = (ms) => formatWhen(ms, "time");
export const fmtDateTime = (ms) => formatWhen(ms, "datetime");
export const fmtDate = (ms) => formatWhen(ms, "date");

export function fmtValue(value) {
  return typeof value === "number" && !Number.isInteger(value) ? String(Number(value.toFixed(3))) : String(value);
}

export function fmtMinutes(seconds) {
  return seconds == null ? "–" : (seconds / 60).toFixed(1);
}

export function fmtPct(ratio) {
  return ratio == null ? "–" : `${(ratio * 100).toFixed(0)}%`;
}

// A service as a person reads it: its name in the page's language, never its code (the code
// only when the service has no name at all). `s`: {name, name_en, code | service_code}.
export function serviceName(s) {
  if (!s) return "";
  return (lang() === "en" ? s.name_en || s.name : s.name) || s.code || s.service_code || "";
}

// Service names a page has read (code → {name, name_en}), so that an error naming a service
// by its code says its name.
const knownServices = {};
export function rememberServiceNames(names) {
  Object.assign(knownServices, names ?? {});
}
export const serviceNamed = (code) => serviceName({ code, ...(knownServices[code] ?? {}) });

// -- login and API ---------------------------------------------------------------------------

// A refused request. ``code`` and ``params`` are the API's stable error code and its values
// (docs/integration.md); ``detail`` its English text for developers. ``message`` is what a
// person reads: the code's words in the page's language, never the English detail.
export class ApiError extends Error {
  constructor(status, { code = null, params = {}, detail = "" } = {}) {
    super("");
    this.status = status;
    this.code = code;
    this.params = params ?? {};
    this.detail = detail;
    this.message = errorText(this);
  }
}

// Read an error answer (``body``: its parsed JSON, or null) into an ApiError.
export function apiError(status, body) {
  return new ApiError(status, { code: body?.code ?? null, params: body?.params ?? {},
                                detail: detailText(body) });
}

// The generic code of a refusal that came without one (a proxy's page, an old server).
function codeForStatus(status) {
  if (status === 401) return "auth.invalid_token";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status === 413) return "request.too_large";
  if (status === 503) return "store.unavailable";
  return status >= 500 ? "internal" : "invalid";
}

// A parameter as a person reads it: states, moves, device kinds and roles in words; a service
// by its name.
const PARAM_WORDS = {
  state: (v) => known(`state.${v}`, v),
  move: (v) => known(`move.${v}`, v),
  kind: (v) => known(`kind.${v}`, v),
  role: (v) => known(`role.${v}`, v),
  roles: (v) => String(v).split(", ").map((r) => known(`role.${r}`, r)).join(lang() === "en" ? ", " : "、"),
  service: (v) => serviceNamed(v),
  condition: (v) => known(`holds.${v}`, v),   // an alarm's cause still there (words-facilities.js)
};

// What to tell a person about ``error`` (an ApiError, or anything a page's code threw), in the
// page's language: the code's words with its parameters, else a generic message by status.
export function errorText(error) {
  if (error instanceof TypeError && /fetch|network/i.test(error.message)) return t("err.offline");
  if (!(error instanceof ApiError)) return t("err.unexpected");
  if (error.status === 0) return t("err.offline");
  const code = error.code && `error.${error.code}` in WORDS.zh ? error.code : codeForStatus(error.status);
  const params = {};
  for (const [name, value] of Object.entries(error.params ?? {})) {
    params[name] = value == null ? "" : (PARAM_WORDS[name] ?? String)(value);
  }
  return t(`error.${code}`, params);
}

// A page signed on through campus sign-on (统一身份认证) has no token: the browser holds an
// HttpOnly session cookie, and the page sends the CSRF token from the readable cookie with
// every change (docs/sign-on.md). Set by requireLogin when /auth/me answers for the cookie.
let cookieSession = null;

function csrfToken() {
  return document.cookie.match(/(?:^|;\s*)(?:__Host-)?hall_csrf=([^;]+)/)?.[1] ?? "";
}

export function session() {
  const token = sessionStorage.getItem("hall.token");
  if (!token) return cookieSession;
  return { token, role: sessionStorage.getItem("hall.role"), user: sessionStorage.getItem("hall.user") };
}

export async function logout() {
  if (!sessionStorage.getItem("hall.token") && cookieSession) {
    // Ends the hall session, then the campus one at the provider (which comes back here).
    const response = await fetch(`${API}/sign-on/logout`, { method: "POST", headers: { "X-CSRF-Token": csrfToken() } });
    cookieSession = null;
    const next = response.ok ? (await response.json()).redirect : "/pages/";
    location.assign(next);
    return;
  }
  sessionStorage.removeItem("hall.token");
  sessionStorage.removeItem("hall.role");
  sessionStorage.removeItem("hall.user");
  location.reload();
}

function detailText(body) {
  if (!body) return "";
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
  return JSON.stringify(body);
}

export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const s = session();
  const init = { method, headers: { ...headers } };
  if (s?.token) init.headers.Authorization = `Bearer ${s.token}`;
  else if (s && !["GET", "HEAD"].includes(method)) init.headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch {
    // The network or the server is away: say so in the page's language, not "Failed to fetch".
    markOffline(true);
    throw new ApiError(0);
  }
  if (isOffline() && !document.getElementById("live-status")) markOffline(false);  // back
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    if (response.ok) throw new ApiError(response.status, { code: "internal", detail: "the answer is not JSON" });
  }
  if (response.status === 401 && s) {
    sessionStorage.removeItem("hall.token");
    cookieSession = null;
    location.reload();
  }
  if (!response.ok) throw apiError(response.status, data);
  return data;
}

// The roles a page needs, in words ("窗口工作人员、管理员"); admin may open every page.
const roleWords = (roles) => [...new Set([...roles, "admin"])].map((r) => known(`role.${r}`, r))
  .join(lang() === "en" ? ", " : "、");

// Resolves with the session once someone with one of `roles` (admin always) is logged in;
// draws the login form over the page until then. A campus sign-on session (cookie) counts.
export async function requireLogin(roles) {
  const ok = (s) => s && (s.role === "admin" || roles.includes(s.role));
  await import("./words-sign-on.js");
  if (!session()) cookieSession = await signedOnSession();
  const current = session();
  if (ok(current)) return current;
  const options = await signOnOptions();
  return new Promise((resolve) => {
    const box = document.createElement("div");
    box.className = "login-overlay";
    box.innerHTML = `
      <form class="login card" id="login-form">
        <h2 data-i18n="login.title"></h2>
        <label><span data-i18n="login.user"></span><input name="username" autocomplete="username" required></label>
        <label><span data-i18n="login.password"></span><input name="password" type="password" autocomplete="current-password" required></label>
        <p class="error" id="login-error"></p>
        <button type="submit" class="primary" data-i18n="login.submit"></button>
        ${options.oidc || options.cas ? `<p class="muted" data-i18n="${options.local_login === "admins" ? "signon.localAdmins" : "signon.or"}"></p>` : ""}
        ${options.oidc ? '<button type="button" class="primary" id="sign-on" data-protocol="oidc" data-i18n="signon.button"></button>' : ""}
        ${options.cas ? `<button type="button" class="primary" id="sign-on-cas" data-protocol="cas" data-i18n="${options.oidc ? "signon.cas" : "signon.button"}"></button>` : ""}
      </form>`;
    document.body.append(box);
    applyWords(box);
    const error = box.querySelector("#login-error");
    const refused = new URLSearchParams(location.search).get("sign_on_error");
    if (current) error.textContent = t("login.role") + roleWords(roles);
    else if (refused) {
      const key = `signon.error.${refused}`;
      error.textContent = t(key) === key ? t("signon.error") : t(key);
    }
    for (const button of box.querySelectorAll("button[data-protocol]")) {
      button.addEventListener("click", () => {
        const back = location.pathname + location.search.replace(/[?&]sign_on_error=[^&]*/, "");
        location.assign(`${API}/sign-on/${button.dataset.protocol}/login?return_to=${encodeURIComponent(back)}`);
      });
    }
    box.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      const response = await fetch(`${API}/auth/token`, { method: "POST", body: new URLSearchParams(form) });
      if (!response.ok) {
        // A locked-out user must not be told the password is wrong: they would keep trying it.
        const body = response.status === 403 ? await response.json().catch(() => null) : null;
        error.textContent = response.status === 429
          ? t("login.locked", { n: response.headers.get("Retry-After") ?? "60" })
          : response.status === 503 ? t("login.busy")
          : body?.code === "auth.local_login_off" ? t("signon.localOff") : t("login.failed");
        return;
      }
      const issued = await response.json();
      const s = { token: issued.access_token, role: issued.role, user: form.get("username") };
      if (!ok(s)) {
        error.textContent = t("login.role") + roleWords(roles);
        return;
      }
      sessionStorage.setItem("hall.token", s.token);
      sessionStorage.setItem("hall.role", s.role);
      sessionStorage.setItem("hall.user", s.user);
      box.remove();
      resolve(s);
    });
    box.querySelector("input").focus();
  });
}

// The campus sign-on session of this browser, if its cookie is good.
async function signedOnSession() {
  try {
    const response = await fetch(`${API}/auth/me`, { cache: "no-store" });
    if (!response.ok) return null;
    const me = await response.json();
    return me.signed_on ? { cookie: true, role: me.role, user: me.username, personKind: me.person_kind } : null;
  } catch {
    return null;
  }
}

// What the login box offers; nothing extra when sign-on is not configured (404).
async function signOnOptions() {
  try {
    const response = await fetch(`${API}/sign-on/options`, { cache: "no-store" });
    return response.ok ? await response.json() : { oidc: false };
  } catch {
    return { oidc: false };
  }
}

// -- live updates ----------------------------------------------------------------------------

// Reads a server-sent event stream with fetch (so it can send the Authorization header, which
// EventSource cannot) and reconnects by itself with backoff. `onStatus` gets "connecting",
// "live" or "reconnecting"; `onEvent(name, data)` every event, including "hello" after each
// (re)connection, on which a page re-reads its state (notices sent meanwhile are lost).
export function liveStream(path, { onEvent, onStatus = () => {}, auth = false }) {
  let stopped = false;
  let delay = 500;
  const run = async () => {
    onStatus("connecting");
    while (!stopped) {
      try {
        const headers = { Accept: "text/event-stream" };
        const s = session();
        if (auth && s?.token) headers.Authorization = `Bearer ${s.token}`;
        const response = await fetch(API + path, { headers, cache: "no-store" });
        if (response.status === 401) {
          logout();
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let name = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) name = line.slice(6).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).trim());
            }
            if (!data.length) continue;
            if (name === "hello") {
              delay = 500;
              onStatus("live");
            }
            try {
              onEvent(name, JSON.parse(data.join("\n")));
            } catch (error) {
              console.error("live event not handled", name, error);
            }
          }
        }
      } catch (error) {
        console.warn("live stream", path, error);
      }
      if (stopped) return;
      onStatus("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  };
  run();
  return { stop: () => { stopped = true; } };
}

// The connection badge every live page shows (#live-status).
// While the server is away every page shows one banner and its actions are off (common.css:
// html[data-offline]); they come back with the connection.
export function markOffline(offline) {
  const root = document.documentElement;
  if (!offline) {
    delete root.dataset.offline;
    document.getElementById("offline-banner")?.remove();
    return;
  }
  root.dataset.offline = "true";
  if (document.getElementById("offline-banner")) return;
  const banner = document.createElement("div");
  banner.id = "offline-banner";
  banner.setAttribute("role", "alert");
  banner.dataset.i18n = "offline.banner";
  banner.textContent = t("offline.banner");
  document.body.prepend(banner);
}
export const isOffline = () => document.documentElement.dataset.offline === "true";

export function showLiveStatus(status) {
  if (status === "live") markOffline(false);
  else if (status === "reconnecting") markOffline(true);
  const badge = document.getElementById("live-status");
  if (!badge) return;
  badge.dataset.state = status;
  badge.dataset.i18n = `live.${status === "live" ? "connected" : status}`;
  badge.textContent = t(badge.dataset.i18n);
}

// -- charts ----------------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function svgEl(name, attrs = {}) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// Round steps for a value axis: 1, 2 or 5 times a power of ten, about `count` of them.
export function niceTicks(hi, count = 4) {
  const raw = Math.max(hi, 1e-9) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const top = Math.max(step, Math.ceil(hi / step) * step);
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

// About how wide `text` is at the charts' 11px: CJK characters are square, the rest narrower.
function textWidth(text) {
  let width = 0;
  for (const ch of String(text)) width += /[\u2e80-\u9fff\uff00-\uffef]/.test(ch) ? 11 : 6.2;
  return width;
}

// `text` in at most two lines of `maxPx` each (breaking at spaces), cut with "…" if longer.
function fitLines(text, maxPx) {
  const cut = (line) => {
    if (textWidth(line) <= maxPx) return line;
    let out = "";
    for (const ch of line) {
      if (textWidth(out + ch + "…") > maxPx) break;
      out += ch;
    }
    return out + "…";
  };
  if (textWidth(text) <= maxPx) return [text];
  const words = String(text).split(" ");
  if (words.length === 1) return [cut(text)];
  let first = words[0];
  let i = 1;
  while (i < words.length && textWidth(`${first} ${words[i]}`) <= maxPx) first += ` ${words[i++]}`;
  return [cut(first), cut(words.slice(i).join(" "))].filter(Boolean);
}

// Grouped bars with both axes labelled: groups [{label, values: [number|null]}] along the
// category axis (`categoryLabel` under it), `series` names in the legend, and a value axis
// with round ticks, grid lines and its title (`valueLabel`, with the unit: "等候（分钟）").
// ``group.target`` (optional): a dashed line over that group at the value it should stay under,
// labelled with ``targetLabel`` (e.g. each service's target wait).
export function barChart(container, groups, series, { height = 260, valueLabel = "", categoryLabel = "",
                                                       unit = "", digits = 1, targetLabel = "" } = {}) {
  container.replaceChildren();
  const width = Math.max(container.clientWidth || 600, 300);
  // The legend flows over as many rows as it needs.
  const legend = [];
  let lx = 56;
  let ly = 4;
  for (const [si, name] of series.entries()) {
    const w = 16 + textWidth(name) + 18;
    if (lx + w > width - 10 && lx > 56) { lx = 56; ly += 16; }
    legend.push({ si, name, x: lx, y: ly });
    lx += w;
  }
  const pad = { l: 56, r: 10, t: ly + 26, b: 58 };
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", height, class: "chart bar-chart",
                             role: "img", "aria-label": `${valueLabel} / ${categoryLabel}` });
  container.append(svg);
  const values = groups.flatMap((g) => [...g.values, g.target].filter((v) => v != null));
  const ticks = niceTicks(Math.max(0, ...values));
  const top = ticks[ticks.length - 1];
  const plotH = height - pad.t - pad.b;
  const y = (v) => height - pad.b - (v / top) * plotH;
  // Value axis: grid line and tick label at each round value, the axis line, the title.
  const valueAxis = svgEl("g", { class: "axis value-axis" });
  for (const v of ticks) {
    valueAxis.append(svgEl("line", { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: "grid" }));
    const tick = svgEl("text", { x: pad.l - 6, y: y(v) + 4, "text-anchor": "end", class: "tick value-tick" });
    tick.textContent = String(v);
    valueAxis.append(tick);
  }
  valueAxis.append(svgEl("line", { x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b, class: "axis-line" }));
  const valueTitle = svgEl("text", { x: 0, y: 0, "text-anchor": "middle", class: "axis-title value-title",
                                     transform: `translate(14 ${pad.t + plotH / 2}) rotate(-90)` });
  valueTitle.textContent = valueLabel;
  valueAxis.append(valueTitle);
  svg.append(valueAxis);
  // Bars.
  const gw = (width - pad.l - pad.r) / Math.max(groups.length, 1);
  const bw = Math.max(4, (gw * 0.8) / Math.max(series.length, 1));
  groups.forEach((group, gi) => {
    group.values.forEach((v, si) => {
      if (v == null) return;
      const x = pad.l + gi * gw + gw * 0.1 + si * bw;
      const rect = svgEl("rect", { x, y: y(v), width: Math.max(bw - 2, 1), height: height - pad.b - y(v),
                                   class: `bar s${si % 6}` });
      const title = svgEl("title");
      title.textContent = `${group.label} · ${series[si]}: ${v.toFixed(digits)} ${unit}`.trim();
      rect.append(title);
      svg.append(rect);
    });
  });
  // Targets: a dashed line across each group that has one, its value in the hover title.
  groups.forEach((group, gi) => {
    if (group.target == null) return;
    const line = svgEl("line", { x1: pad.l + gi * gw + gw * 0.05, x2: pad.l + (gi + 1) * gw - gw * 0.05,
                                 y1: y(group.target), y2: y(group.target), class: "target-line",
                                 "data-target": group.target });
    const title = svgEl("title");
    title.textContent = `${group.label} · ${targetLabel}: ${group.target.toFixed(digits)} ${unit}`.trim();
    line.append(title);
    svg.append(line);
  });
  // Category axis: the axis line, each group's label (up to two lines), the title.
  const categoryAxis = svgEl("g", { class: "axis category-axis" });
  categoryAxis.append(svgEl("line", { x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b,
                                      class: "axis-line" }));
  groups.forEach((group, gi) => {
    const label = svgEl("text", { x: pad.l + gi * gw + gw / 2, y: height - pad.b + 14, "text-anchor": "middle",
                                  class: "tick category-tick", "data-label": group.label });
    fitLines(group.label, gw - 4).forEach((line, i) => {
      const span = svgEl("tspan", { x: pad.l + gi * gw + gw / 2, dy: i ? 13 : 0 });
      span.textContent = line;
      label.append(span);
    });
    const full = svgEl("title");
    full.textContent = group.label;
    label.append(full);
    categoryAxis.append(label);
  });
  const categoryTitle = svgEl("text", { x: pad.l + (width - pad.l - pad.r) / 2, y: height - 6,
                                        "text-anchor": "middle", class: "axis-title category-title" });
  categoryTitle.textContent = categoryLabel;
  categoryAxis.append(categoryTitle);
  svg.append(categoryAxis);
  if (targetLabel && groups.some((g) => g.target != null)) {
    // The target's legend entry after the series'.
    const last = legend[legend.length - 1];
    const x = last ? last.x + 16 + textWidth(last.name) + 18 : 56;
    svg.append(svgEl("line", { x1: x, x2: x + 12, y1: (last?.y ?? 4) + 6, y2: (last?.y ?? 4) + 6,
                               class: "target-line" }));
    const text = svgEl("text", { x: x + 16, y: (last?.y ?? 4) + 10, class: "tick legend target-legend" });
    text.textContent = targetLabel;
    svg.append(text);
  }
  for (const item of legend) {
    svg.append(svgEl("rect", { x: item.x, y: item.y, width: 12, height: 12, class: `bar s${item.si % 6}` }));
    const text = svgEl("text", { x: item.x + 16, y: item.y + 10, class: "tick legend", "data-label": item.name });
    text.textContent = item.name;
    svg.append(text);
  }
  return svg;
}

// A standard page header: title, live badge, language switch, logout.
export function header(titleKey, { live = false, logoutButton = false } = {}) {
  const bar = document.createElement("header");
  bar.className = "topbar";
  bar.innerHTML = `<a href="/pages/" class="home">⌂</a><h1 data-i18n="${titleKey}"></h1>
    <span class="spacer"></span>
    ${live ? '<span id="live-status" class="live" data-state="connecting" data-i18n="live.connecting"></span>' : ""}
    <button id="lang" type="button"></button>
    ${logoutButton ? '<button id="logout" type="button" data-i18n="logout"></button>' : ""}`;
  document.body.prepend(bar);
  bar.querySelector("#logout")?.addEventListener("click", logout);
  return bar;
}
