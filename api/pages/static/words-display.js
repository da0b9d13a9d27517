// The public display's words, in both languages.
import { addWords } from "./common.js";

addWords({
  zh: {
    "display.recall": "再次呼叫",
    "display.offline": "离线 · 显示的是 {time} 时的叫号", "display.offline.none": "离线 · 暂无叫号记录",
    "display.noVoice": "此浏览器没有中文语音：叫号只有提示音，不会朗读号码。请在电视上安装中文语音。",
    "display.soundLocked": "声音尚未开启：请工作人员双击屏幕登录，然后点“开启声音”。",
    "display.sound.on": "开启声音", "display.sound.done": "声音已开启",
    "display.staff.done": "完成（隐藏按钮）", "display.sound.test": "声音已开启",
  },
  en: {
    "display.recall": "Recall",
    "display.offline": "Offline · calls as of {time}", "display.offline.none": "Offline · no calls known yet",
    "display.noVoice": "This browser has no Chinese voice: calls are chimed but not spoken. Install a Chinese voice on the TV.",
    "display.soundLocked": "Sound is off: staff, double-click the screen, log in and press “Enable sound”.",
    "display.sound.on": "Enable sound", "display.sound.done": "Sound is on",
    "display.staff.done": "Done (hide buttons)", "display.sound.test": "声音已开启",
  },
});
