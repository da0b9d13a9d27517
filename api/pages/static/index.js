// The start page: the title bar and the language switch over the list of pages.
import { header, languageSwitch } from "./common.js";
import "./words-facilities.js";   // the integration keys page's name
import "./words-notify.js";
import "./words-alarm-rules.js";

header("app.title");
languageSwitch();
