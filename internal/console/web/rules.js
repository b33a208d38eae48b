// The suppression rules page: every filter with its action, rank and
// criteria; create, edit and delete.

import { h, api, det, status, errorText, openDialog, confirmDialog } from "./util.js";
import { criteriaSummary, fromCriteria } from "./criteria.js";
import { criteriaEditor } from "./editor.js";

async function listFilters() {
  const names = [];
  let next;
  do {
    const out = await api("GET", det("/filter") + "?maxResults=50" + (next ? "&nextToken=" + encodeURIComponent(next) : ""));
    names.push(...(out.filterNames || []));
    next = out.nextToken;
  } while (next && names.length < 500);
  return Promise.all(names.map(async (name) => {
    try {
      const f = await api("GET", det("/filter/" + encodeURIComponent(name)));
      return { ...f, name: f.name || name };
    } catch (e) {
      return { name, error: errorText(e) };
    }
  }));
}

export async function renderRules(ctx) {
  const tbody = h("tbody", {});
  const table = h("table", { id: "rules-table", class: "table" },
    h("caption", { class: "visually-hidden" }, "Suppression rules and saved filters"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Action"), h("th", { scope: "col", class: "num" }, "Rank"),
      h("th", { scope: "col" }, "Criteria"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
    tbody);

  async function reload() {
    ctx.busy();
    const filters = await listFilters();
    if (!ctx.current()) return;
    filters.sort((a, b) => (a.rank || 1e9) - (b.rank || 1e9) || (a.name < b.name ? -1 : 1));
    tbody.replaceChildren(...(filters.length ? filters.map(row) :
      [h("tr", {}, h("td", { colspan: 5, class: "muted empty" }, "No rules yet."))]));
    ctx.ready();
  }

  function row(f) {
    return h("tr", { dataset: { filterName: f.name } },
      h("th", { scope: "row" }, f.name, f.description ? h("div", { class: "muted small" }, f.description) : null),
      h("td", {}, f.error ? h("span", { class: "error" }, f.error) :
        h("span", { class: "badge " + (f.action === "ARCHIVE" ? "act-archive" : "act-noop") }, f.action === "ARCHIVE" ? "Archive (suppress)" : "None (saved filter)")),
      h("td", { class: "num" }, f.rank ? String(f.rank) : "–"),
      h("td", { class: "criteria-cell" }, f.findingCriteria ? criteriaSummary(f.findingCriteria) : ""),
      h("td", { class: "row-actions" },
        h("button", { type: "button", class: "btn btn-small rule-edit", "aria-label": "Edit " + f.name, disabled: !!f.error, onclick: () => editDialog(f) }, "Edit"),
        h("button", { type: "button", class: "btn btn-small btn-danger rule-delete", "aria-label": "Delete " + f.name, onclick: () => remove(f) }, "Delete")));
  }

  async function remove(f) {
    const ok = await confirmDialog("Delete rule " + f.name + "?",
      "Findings it archived stay archived; new findings will no longer be matched by it.", "Delete");
    if (!ok) return;
    try {
      await api("DELETE", det("/filter/" + encodeURIComponent(f.name)));
      status("Deleted rule " + f.name + ".");
      await reload();
    } catch (e) {
      status(errorText(e), "error");
    }
  }

  // editDialog creates a rule (f null) or edits one.
  function editDialog(f) {
    const isNew = !f;
    const name = h("input", { id: "rule-name", required: true, maxlength: 64, spellcheck: "false", value: f ? f.name : "", readonly: !isNew || null });
    const desc = h("input", { id: "rule-description", maxlength: 512, value: (f && f.description) || "" });
    const action = h("select", { id: "rule-action" },
      h("option", { value: "ARCHIVE" }, "Archive (suppression rule)"),
      h("option", { value: "NOOP" }, "None (saved filter)"));
    action.value = (f && f.action) || "ARCHIVE";
    const rank = h("input", { id: "rule-rank", type: "number", min: 1, max: 100, inputmode: "numeric", value: f && f.rank ? f.rank : "" });
    const editor = criteriaEditor("rule", f ? fromCriteria(f.findingCriteria) : [], null);
    const err = h("p", { class: "error", role: "alert" });
    const dlg = h("dialog", { class: "dialog dialog-wide", id: "rule-dialog", "aria-labelledby": "rule-title" },
      h("form", { method: "dialog", onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = "";
        const fc = editor.get();
        if (action.value === "ARCHIVE" && !Object.keys(fc.criterion).length) {
          err.textContent = "A suppression rule without criteria would archive every finding; add a criterion.";
          return;
        }
        const body = { description: desc.value.trim(), action: action.value, findingCriteria: fc };
        if (rank.value) body.rank = Number(rank.value);
        try {
          if (isNew) await api("POST", det("/filter"), { name: name.value.trim(), ...body, description: body.description || undefined });
          else await api("POST", det("/filter/" + encodeURIComponent(f.name)), body);
          dlg.close();
          status((isNew ? "Created rule " : "Saved rule ") + name.value.trim() + ".");
          await reload();
        } catch (e) {
          err.textContent = errorText(e);
        }
      } },
        h("h2", { id: "rule-title" }, isNew ? "New rule" : "Edit rule " + f.name),
        h("div", { class: "field" }, h("label", { for: "rule-name" }, "Name (3–64 letters, digits, - _ .)"), name),
        h("div", { class: "field" }, h("label", { for: "rule-description" }, "Description"), desc),
        h("div", { class: "field-row" },
          h("div", { class: "field" }, h("label", { for: "rule-action" }, "Action"), action),
          h("div", { class: "field" }, h("label", { for: "rule-rank" }, "Rank (1–100)"), rank)),
        editor.el,
        err,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "btn", onclick: () => dlg.close() }, "Cancel"),
          h("button", { type: "submit", class: "btn btn-primary", id: "rule-save" }, isNew ? "Create" : "Save"))));
    openDialog(dlg);
  }

  ctx.view.append(h("section", { class: "page", "aria-labelledby": "rules-title" },
    h("h1", { id: "rules-title" }, "Suppression rules"),
    h("p", { class: "muted" }, "Filters with the action Archive suppress the findings they match; filters with no action are saved searches for the findings page."),
    h("div", { class: "toolbar" }, h("button", { type: "button", class: "btn btn-primary", id: "rule-new", onclick: () => editDialog(null) }, "New rule…")),
    h("div", { class: "table-wrap" }, table)));
  await reload();
}
