// A criteria editor: removable chips, a field/operator/value builder and
// a JSON view of the same criteria, kept in step. Used by the suppression
// dialog and the rules page.

import { h, clear } from "./util.js";
import { makeChip, toCriteria, fromCriteria, chipText, fieldSelect, opSelect } from "./criteria.js";

// criteriaEditor returns {el, get(), set(criteria)}; onChange is called
// with the criteria after every change. idPrefix keeps the ids unique.
export function criteriaEditor(idPrefix, initialChips, onChange) {
  let chips = initialChips.slice();
  const list = h("ul", { class: "chips", "aria-label": "Criteria" });
  const field = fieldSelect({ id: idPrefix + "-field" });
  const op = opSelect({ id: idPrefix + "-op" });
  const value = h("input", { id: idPrefix + "-value", type: "text", spellcheck: "false", autocapitalize: "off" });
  const err = h("p", { class: "error", role: "alert" });
  const json = h("textarea", { id: idPrefix + "-json", rows: 8, spellcheck: "false", class: "code" });
  const jsonErr = h("p", { class: "error", role: "alert" });

  function changed(fromJSON) {
    draw();
    if (!fromJSON) json.value = JSON.stringify(toCriteria(chips), null, 2);
    if (onChange) onChange(toCriteria(chips));
  }

  function draw() {
    clear(list);
    if (!chips.length) list.append(h("li", { class: "muted" }, "No criteria: every finding matches."));
    chips.forEach((c, i) => {
      const text = chipText(c);
      list.append(h("li", { class: "filter-chip" }, h("span", { class: "chip-text" }, text),
        h("button", { type: "button", class: "chip-remove", "aria-label": "Remove criterion " + text, title: "Remove", onclick: () => {
          chips.splice(i, 1);
          changed(false);
          value.focus();
        } }, "×")));
    });
  }

  const add = () => {
    err.textContent = "";
    try {
      chips.push(makeChip(field.value, op.value, value.value));
    } catch (e) {
      err.textContent = e.message;
      return;
    }
    value.value = "";
    changed(false);
  };
  // Enter in the value adds the criterion instead of submitting the
  // dialog's form.
  value.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      add();
    }
  });
  json.addEventListener("change", () => {
    jsonErr.textContent = "";
    try {
      const parsed = JSON.parse(json.value);
      if (!parsed || typeof parsed !== "object" || typeof parsed.criterion !== "object") throw new Error("give an object with a \"criterion\" member");
      chips = fromCriteria(parsed);
      changed(true);
    } catch (e) {
      jsonErr.textContent = "The JSON is not valid criteria: " + e.message;
    }
  });

  const el = h("fieldset", { class: "criteria-editor" },
    h("legend", {}, "Criteria"),
    list,
    h("div", { class: "filter-bar" },
      h("div", { class: "field" }, h("label", { for: idPrefix + "-field" }, "Field"), field),
      h("div", { class: "field" }, h("label", { for: idPrefix + "-op" }, "Operator"), op),
      h("div", { class: "field field-grow" }, h("label", { for: idPrefix + "-value" }, "Value"), value),
      h("div", { class: "field field-button" }, h("button", { type: "button", class: "btn", id: idPrefix + "-add", onclick: add }, "Add"))),
    err,
    h("details", { class: "json-editor" },
      h("summary", {}, "Edit as JSON"),
      h("label", { for: idPrefix + "-json" }, "findingCriteria (applied when the text area loses focus)"),
      json,
      jsonErr));

  draw();
  json.value = JSON.stringify(toCriteria(chips), null, 2);
  return {
    el,
    get: () => toCriteria(chips),
    chips: () => chips.slice(),
    set: (fc) => { chips = fromCriteria(fc); changed(false); },
  };
}
