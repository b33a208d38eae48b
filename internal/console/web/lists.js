// Threat lists (ThreatIntelSet) and trusted IP lists (IPSet): list,
// create, edit (activate, deactivate, location, name) and delete.

import { h, api, det, fmtTime, status, errorText, openDialog, confirmDialog } from "./util.js";

// The two kinds of list, as the API names them.
const KINDS = [
  { path: "threatintelset", ids: "threatIntelSetIds", label: "Threat list", quota: 6 },
  { path: "ipset", ids: "ipSetIds", label: "Trusted IP list", quota: 1 },
];

const FORMATS = ["TXT", "STIX", "OTX_CSV", "ALIEN_VAULT", "PROOF_POINT", "FIRE_EYE"];

async function loadKind(k) {
  const ids = [];
  let next;
  do {
    const out = await api("GET", det("/" + k.path) + (next ? "?nextToken=" + encodeURIComponent(next) : ""));
    ids.push(...(out[k.ids] || []));
    next = out.nextToken;
  } while (next && ids.length < 200);
  return Promise.all(ids.map(async (id) => {
    try {
      return { kind: k, id, ...(await api("GET", det("/" + k.path + "/" + encodeURIComponent(id)))) };
    } catch (e) {
      return { kind: k, id, name: id, status: "UNKNOWN", errorDetails: errorText(e) };
    }
  }));
}

export async function renderLists(ctx) {
  const tbody = h("tbody", {});
  const table = h("table", { id: "lists-table", class: "table" },
    h("caption", { class: "visually-hidden" }, "Threat and trusted lists"),
    h("thead", {}, h("tr", {},
      ["Name", "Kind", "Format", "Location", "Status", "Updated"].map((t) => h("th", { scope: "col" }, t)),
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
    tbody);

  async function reload() {
    ctx.busy();
    const all = (await Promise.all(KINDS.map(loadKind))).flat();
    if (!ctx.current()) return;
    tbody.replaceChildren(...(all.length ? all.map(row) :
      [h("tr", {}, h("td", { colspan: 7, class: "muted empty" }, "No lists yet."))]));
    ctx.ready();
  }

  function row(l) {
    const st = l.status || "UNKNOWN";
    const cls = st === "ACTIVE" ? "st-ok" : st === "ERROR" || st === "UNKNOWN" ? "st-error" : "st-neutral";
    return h("tr", { dataset: { listId: l.id, listKind: l.kind.path } },
      h("th", { scope: "row" }, l.name || l.id),
      h("td", {}, l.kind.label),
      h("td", {}, l.format || ""),
      h("td", { class: "wrap-anywhere" }, l.location || ""),
      h("td", {}, h("span", { class: "badge " + cls }, st),
        l.errorDetails ? h("div", { class: "error small" }, l.errorDetails) : null),
      h("td", { class: "nowrap" }, l.updatedAt ? fmtTime(l.updatedAt) : "–"),
      h("td", { class: "row-actions" },
        h("button", { type: "button", class: "btn btn-small list-toggle", "aria-label": (st === "ACTIVE" || st === "ACTIVATING" ? "Deactivate " : "Activate ") + (l.name || l.id),
          onclick: () => update(l, { activate: !(st === "ACTIVE" || st === "ACTIVATING") }) },
          st === "ACTIVE" || st === "ACTIVATING" ? "Deactivate" : "Activate"),
        h("button", { type: "button", class: "btn btn-small list-edit", "aria-label": "Edit " + (l.name || l.id), onclick: () => editDialog(l) }, "Edit"),
        h("button", { type: "button", class: "btn btn-small btn-danger list-delete", "aria-label": "Delete " + (l.name || l.id), onclick: () => remove(l) }, "Delete")));
  }

  async function update(l, body) {
    try {
      await api("POST", det("/" + l.kind.path + "/" + encodeURIComponent(l.id)), body);
      status("Updated " + (l.name || l.id) + ".");
      await reload();
    } catch (e) {
      status(errorText(e), "error");
    }
  }

  async function remove(l) {
    const ok = await confirmDialog("Delete " + (l.name || l.id) + "?", "picket stops using this " + l.kind.label.toLowerCase() + ". The file at its location is left alone.", "Delete");
    if (!ok) return;
    try {
      await api("DELETE", det("/" + l.kind.path + "/" + encodeURIComponent(l.id)));
      status("Deleted " + (l.name || l.id) + ".");
      await reload();
    } catch (e) {
      status(errorText(e), "error");
    }
  }

  // editDialog creates a list (l null) or edits one.
  function editDialog(l) {
    const isNew = !l;
    const kind = h("select", { id: "list-kind", disabled: !isNew || null }, KINDS.map((k) => h("option", { value: k.path }, k.label)));
    if (l) kind.value = l.kind.path;
    const name = h("input", { id: "list-name", required: true, maxlength: 300, value: l ? l.name || "" : "" });
    const format = h("select", { id: "list-format", disabled: !isNew || null }, FORMATS.map((f) => h("option", { value: f }, f)));
    if (l && l.format) format.value = l.format;
    const location = h("input", { id: "list-location", required: true, maxlength: 300, spellcheck: "false", value: l ? l.location || "" : "", placeholder: "https://… , s3://… or a file path picket can read" });
    const activate = h("input", { id: "list-activate", type: "checkbox", checked: l ? l.status === "ACTIVE" || l.status === "ACTIVATING" : true });
    const err = h("p", { class: "error", role: "alert" });
    const dlg = h("dialog", { class: "dialog", id: "list-dialog", "aria-labelledby": "list-title" },
      h("form", { method: "dialog", onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = "";
        const k = KINDS.find((x) => x.path === kind.value);
        try {
          if (isNew) {
            await api("POST", det("/" + k.path), { name: name.value.trim(), format: format.value, location: location.value.trim(), activate: activate.checked });
          } else {
            await api("POST", det("/" + k.path + "/" + encodeURIComponent(l.id)), { name: name.value.trim(), location: location.value.trim(), activate: activate.checked });
          }
          dlg.close();
          status((isNew ? "Created " : "Saved ") + name.value.trim() + ".");
          await reload();
        } catch (e) {
          err.textContent = errorText(e);
        }
      } },
        h("h2", { id: "list-title" }, isNew ? "New list" : "Edit " + (l.name || l.id)),
        h("div", { class: "field" }, h("label", { for: "list-kind" }, "Kind"), kind),
        h("div", { class: "field" }, h("label", { for: "list-name" }, "Name"), name),
        h("div", { class: "field" }, h("label", { for: "list-format" }, "Format"), format),
        h("div", { class: "field" }, h("label", { for: "list-location" }, "Location"), location),
        h("div", { class: "field check" }, activate, h("label", { for: "list-activate" }, "Active")),
        err,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "btn", onclick: () => dlg.close() }, "Cancel"),
          h("button", { type: "submit", class: "btn btn-primary", id: "list-save" }, isNew ? "Create" : "Save"))));
    openDialog(dlg);
  }

  ctx.view.append(h("section", { class: "page", "aria-labelledby": "lists-title" },
    h("h1", { id: "lists-title" }, "Threat and trusted lists"),
    h("p", { class: "muted" }, "Threat lists mark traffic with known bad addresses; a trusted IP list keeps findings from its addresses. A detector holds up to 6 threat lists and 1 trusted list."),
    h("div", { class: "toolbar" }, h("button", { type: "button", class: "btn btn-primary", id: "list-new", onclick: () => editDialog(null) }, "New list…")),
    h("div", { class: "table-wrap" }, table)));
  await reload();
}
