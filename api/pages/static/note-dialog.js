// A confirmation that asks why: a modal dialog with the action's consequences, a note (required
// unless told otherwise; none at all with `withNote: false`) and the confirm button named after
// the action. Resolves with the note (trimmed; "" when optional or absent), or null when
// cancelled (button, Esc).
import { t } from "./common.js";
import "./words-facilities.js";

const MAX_NOTE = 500;   // the server's limit (fleet/rules.py MAX_NOTE_LENGTH)

function dialogElement() {
  let dialog = document.getElementById("note-dialog");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "note-dialog";
  dialog.className = "note-dialog";
  dialog.innerHTML = `<form method="dialog">
      <h2 class="note-title"></h2>
      <p class="note-text"></p>
      <p class="note-warning warning" hidden></p>
      <label class="note-field"><span class="note-label"></span>
        <textarea name="note" rows="3" maxlength="${MAX_NOTE}"></textarea></label>
      <p class="note-error error" role="alert"></p>
      <div class="dialog-buttons">
        <button type="submit" value="cancel" formnovalidate class="note-cancel"></button>
        <button type="submit" value="confirm" class="note-confirm"></button>
      </div>
    </form>`;
  document.body.append(dialog);
  return dialog;
}

export function askNote({ title, text, warning = "", label = t("note.label"), confirm, required = true,
                          danger = true, withNote = true }) {
  const dialog = dialogElement();
  const q = (selector) => dialog.querySelector(selector);
  q(".note-title").textContent = title;
  q(".note-text").textContent = text;
  q(".note-warning").textContent = warning;
  q(".note-warning").hidden = !warning;
  q(".note-label").textContent = label;
  q(".note-field").hidden = !withNote;
  required = required && withNote;
  q(".note-cancel").textContent = t("cancel");
  const button = q(".note-confirm");
  button.textContent = confirm;
  button.className = `note-confirm ${danger ? "danger" : "primary"}`;
  const note = q("textarea");
  note.value = "";
  note.setAttribute("aria-required", String(required));
  q(".note-error").textContent = "";
  // Checked here rather than by the browser's own bubble, so the words are the page's language.
  button.onclick = (event) => {
    if (required && !note.value.trim()) {
      event.preventDefault();
      q(".note-error").textContent = t("note.missing");
      note.focus();
    }
  };
  return new Promise((resolve) => {
    dialog.returnValue = "";  // Esc keeps the last one otherwise
    dialog.onclose = () => resolve(dialog.returnValue === "confirm" ? note.value.trim() : null);
    dialog.showModal();
    (withNote ? note : button).focus();
  });
}
