// The findings page: a GuardDuty-style filter bar, saved filters, the
// findings table with sorting, paging and selection, and the actions on
// the selected findings.

import { h, clear, api, det, sevBadge, fmtTime, fmtNumber, plural, remoteOf, resourceOf, status, errorText, downloadJSON, openDialog } from "./util.js";
import { FIELDS, makeChip, toCriteria, fromCriteria, chipText, cleanCriteria, fieldSelect, opSelect } from "./criteria.js";

const PAGE_SIZE = 50;

// The filter, sort and archived view live in the page's address
// (#/findings?f=…&v=…&s=…), so that Back from a finding's detail returns
// to the same list while a plain #/findings starts afresh.
function viewFromQuery(query) {
  const view = {
    chips: [],
    archived: "current",
    sort: { attributeName: "updatedAt", orderBy: "DESC" },
    tokens: [],       // nextTokens of the pages before the current one
    token: undefined, // the token of the current page
  };
  const f = query.get("f");
  if (f) {
    try {
      const chips = JSON.parse(f);
      if (Array.isArray(chips)) view.chips = chips.filter((c) => c && typeof c.field === "string" && typeof c.op === "string" && (Array.isArray(c.values) || typeof c.value === "number"));
    } catch {
      // Ignore a malformed address.
    }
  }
  const v = query.get("v");
  if (v === "current" || v === "archived" || v === "all") view.archived = v;
  const sv = /^([A-Za-z.]+):(ASC|DESC)$/.exec(query.get("s") || "");
  if (sv && Object.values(SORTABLE).includes(sv[1])) view.sort = { attributeName: sv[1], orderBy: sv[2] };
  return view;
}

// remember writes the view into the address without a new history entry
// and without routing again.
function remember(view) {
  const q = new URLSearchParams();
  if (view.chips.length) q.set("f", JSON.stringify(view.chips));
  if (view.archived !== "current") q.set("v", view.archived);
  if (view.sort.attributeName !== "updatedAt" || view.sort.orderBy !== "DESC") q.set("s", view.sort.attributeName + ":" + view.sort.orderBy);
  const qs = q.toString();
  const hash = "#/findings" + (qs ? "?" + qs : "");
  history.replaceState(history.state, "", hash);
  sessionStorage.setItem("picket.findingsHash", hash);
}

const SORTABLE = {
  severity: "severity",
  type: "type",
  count: "service.count",
  updated: "updatedAt",
};

// criteriaOf is the findingCriteria of the current filter and view.
export function criteriaOf(chips, archived) {
  const fc = toCriteria(chips);
  if (archived === "current" || archived === "archived") {
    const cond = fc.criterion["service.archived"] || (fc.criterion["service.archived"] = {});
    cond.eq = [archived === "archived" ? "true" : "false"];
  }
  return fc;
}

// countOf counts the findings criteria match, from the counts by severity.
export async function countOf(criteria) {
  const out = await api("POST", det("/findings/statistics"), {
    findingStatisticTypes: ["COUNT_BY_SEVERITY"],
    findingCriteria: criteria,
  });
  const by = (out && out.findingStatistics && out.findingStatistics.countBySeverity) || {};
  return Object.values(by).reduce((a, b) => a + (Number(b) || 0), 0);
}

export async function renderFindings(ctx) {
  const view = viewFromQuery(ctx.query);

  let findings = [];
  const selected = new Set();

  // ---- The filter bar ----
  const fieldSel = fieldSelect({ id: "filter-field" });
  const opSel = opSelect({ id: "filter-op" });
  const valueIn = h("input", { id: "filter-value", type: "text", spellcheck: "false", autocapitalize: "off", placeholder: "value, or values separated by commas" });
  const filterErr = h("p", { class: "error", id: "filter-error", role: "alert" });
  const chipList = h("ul", { class: "chips", "aria-label": "Active filters" });
  const archivedSel = h("select", { id: "archived-view" },
    h("option", { value: "current" }, "Current"),
    h("option", { value: "archived" }, "Archived"),
    h("option", { value: "all" }, "All"));
  archivedSel.value = view.archived;
  const savedSel = h("select", { id: "saved-filters" }, h("option", { value: "" }, "Load a saved filter…"));

  const filterForm = h("form", { class: "filter-bar", id: "filter-form", onsubmit: (ev) => {
    ev.preventDefault();
    filterErr.textContent = "";
    try {
      view.chips.push(makeChip(fieldSel.value, opSel.value, valueIn.value));
    } catch (e) {
      filterErr.textContent = e.message;
      valueIn.focus();
      return;
    }
    valueIn.value = "";
    resetPaging();
    drawChips();
    load();
  } },
    h("div", { class: "field" }, h("label", { for: "filter-field" }, "Field"), fieldSel),
    h("div", { class: "field" }, h("label", { for: "filter-op" }, "Operator"), opSel),
    h("div", { class: "field field-grow" }, h("label", { for: "filter-value" }, "Value"), valueIn),
    h("div", { class: "field field-button" }, h("button", { type: "submit", id: "filter-add", class: "btn btn-primary" }, "Add filter")));

  function drawChips() {
    clear(chipList);
    view.chips.forEach((c, i) => {
      const text = chipText(c);
      chipList.append(h("li", { class: "filter-chip" },
        h("span", { class: "chip-text" }, text),
        h("button", { type: "button", class: "chip-remove", "aria-label": "Remove filter " + text, title: "Remove", onclick: () => {
          view.chips.splice(i, 1);
          resetPaging();
          drawChips();
          load();
          const next = chipList.querySelector(".chip-remove") || valueIn;
          next.focus();
        } }, "×")));
    });
    if (view.chips.length) {
      chipList.append(h("li", {}, h("button", { type: "button", class: "btn btn-link", id: "filter-clear", onclick: () => {
        view.chips = [];
        resetPaging();
        drawChips();
        load();
      } }, "Clear filters")));
    }
  }

  archivedSel.addEventListener("change", () => {
    view.archived = archivedSel.value;
    resetPaging();
    load();
  });

  savedSel.addEventListener("change", async () => {
    const name = savedSel.value;
    if (!name) return;
    try {
      const flt = await api("GET", det("/filter/" + encodeURIComponent(name)));
      view.chips = fromCriteria(flt.findingCriteria).filter((c) => c.field !== "service.archived");
      const arch = (flt.findingCriteria && flt.findingCriteria.criterion && flt.findingCriteria.criterion["service.archived"]) || null;
      const eq = arch && (arch.eq || arch.equals);
      view.archived = eq && eq.length === 1 ? (eq[0] === "true" ? "archived" : "current") : "all";
      archivedSel.value = view.archived;
      resetPaging();
      drawChips();
      status("Loaded filter " + name + ".");
      load();
    } catch (e) {
      status("Could not load filter " + name + ": " + errorText(e), "error");
    }
    savedSel.value = "";
  });

  async function loadSaved() {
    try {
      const names = [];
      let next;
      do {
        const out = await api("GET", det("/filter") + (next ? "?nextToken=" + encodeURIComponent(next) : ""));
        names.push(...(out.filterNames || []));
        next = out.nextToken;
      } while (next && names.length < 200);
      for (const n of names.sort()) savedSel.append(h("option", { value: n }, n));
    } catch (e) {
      // Saved filters are an extra; the list still works without them.
    }
  }

  const saveBtn = h("button", { type: "button", class: "btn", id: "save-filter", onclick: () => saveDialog() }, "Save filter");

  function saveDialog() {
    const name = h("input", { id: "save-filter-name", required: true, maxlength: 64, pattern: "[A-Za-z0-9_.\\-]{3,64}", spellcheck: "false" });
    const desc = h("input", { id: "save-filter-description", maxlength: 512 });
    const err = h("p", { class: "error", role: "alert" });
    const crit = criteriaOf(view.chips, view.archived);
    const dlg = h("dialog", { class: "dialog", "aria-labelledby": "save-filter-title" },
      h("form", { method: "dialog", onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = "";
        try {
          await api("POST", det("/filter"), { name: name.value.trim(), description: desc.value.trim() || undefined, action: "NOOP", findingCriteria: crit });
          dlg.close();
          status("Saved filter " + name.value.trim() + ".");
          savedSel.append(h("option", { value: name.value.trim() }, name.value.trim()));
        } catch (e) {
          err.textContent = errorText(e);
        }
      } },
        h("h2", { id: "save-filter-title" }, "Save filter"),
        h("p", { class: "muted" }, "Saved as a filter that takes no action (NOOP): " + (fromCriteria(crit).map(chipText).join("; ") || "all findings")),
        h("div", { class: "field" }, h("label", { for: "save-filter-name" }, "Name (3–64 letters, digits, - _ .)"), name),
        h("div", { class: "field" }, h("label", { for: "save-filter-description" }, "Description (optional)"), desc),
        err,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "btn", onclick: () => dlg.close() }, "Cancel"),
          h("button", { type: "submit", class: "btn btn-primary" }, "Save"))));
    openDialog(dlg);
  }

  // ---- Actions on the selection ----
  const count = h("p", { id: "findings-count", class: "count", "aria-live": "polite" }, "Counting…");
  const selInfo = h("span", { class: "muted", id: "selection-count" }, "");
  const btn = (id, text, fn) => h("button", { type: "button", id, class: "btn", onclick: fn }, text);
  const actions = h("div", { class: "toolbar", role: "group", "aria-label": "Actions on the selected findings" },
    btn("archive-selected", "Archive", () => act("archive")),
    btn("unarchive-selected", "Unarchive", () => act("unarchive")),
    btn("feedback-useful", "Useful", () => feedback("USEFUL")),
    btn("feedback-not-useful", "Not useful", () => feedback("NOT_USEFUL")),
    btn("export-selected", "Export JSON", exportSelected),
    selInfo);

  function selectedIds() {
    return findings.map((f) => f.id).filter((id) => selected.has(id));
  }

  function needSelection() {
    const ids = selectedIds();
    if (!ids.length) status("Select findings first.", "error");
    return ids;
  }

  async function act(what) {
    const ids = needSelection();
    if (!ids.length) return;
    try {
      await api("POST", det("/findings/" + what), { findingIds: ids });
      status((what === "archive" ? "Archived " : "Unarchived ") + plural(ids.length, "finding") + ".");
      selected.clear();
      load();
    } catch (e) {
      status(errorText(e), "error");
    }
  }

  async function feedback(value) {
    const ids = needSelection();
    if (!ids.length) return;
    try {
      await api("POST", det("/findings/feedback"), { findingIds: ids, feedback: value });
      status("Marked " + plural(ids.length, "finding") + " " + (value === "USEFUL" ? "useful" : "not useful") + ".");
      load();
    } catch (e) {
      status(errorText(e), "error");
    }
  }

  function exportSelected() {
    const ids = needSelection();
    if (!ids.length) return;
    const chosen = findings.filter((f) => selected.has(f.id));
    downloadJSON("findings-" + new Date().toISOString().replace(/[:.]/g, "-") + ".json", { findings: chosen });
    status("Exported " + plural(chosen.length, "finding") + ".");
  }

  // ---- The table ----
  const tbody = h("tbody", {});
  const selectAll = h("input", { type: "checkbox", id: "select-all", "aria-label": "Select all findings on this page", onchange: () => {
    for (const f of findings) {
      if (selectAll.checked) selected.add(f.id); else selected.delete(f.id);
    }
    for (const cb of tbody.querySelectorAll("input.row-select")) cb.checked = selectAll.checked;
    updateSelection();
  } });

  function sortHeader(key, label) {
    const attr = SORTABLE[key];
    const on = view.sort.attributeName === attr;
    const dir = on ? (view.sort.orderBy === "ASC" ? "ascending" : "descending") : "none";
    return h("th", { scope: "col", "aria-sort": dir, class: "sortable" },
      h("button", { type: "button", class: "sort-btn", id: "sort-" + key, onclick: () => {
        if (on) view.sort.orderBy = view.sort.orderBy === "ASC" ? "DESC" : "ASC";
        else view.sort = { attributeName: attr, orderBy: key === "type" ? "ASC" : "DESC" };
        resetPaging();
        drawHead();
        load();
      } }, label, h("span", { class: "sort-mark", "aria-hidden": "true" }, on ? (view.sort.orderBy === "ASC" ? " ▲" : " ▼") : "")));
  }

  const thead = h("thead", {});
  function drawHead() {
    thead.replaceChildren(h("tr", {},
      h("th", { scope: "col", class: "col-select" }, selectAll),
      sortHeader("severity", "Severity"),
      sortHeader("type", "Type"),
      h("th", { scope: "col" }, "Resource"),
      h("th", { scope: "col", title: "The remote address, or the queried domain of a DNS finding" }, "Remote / domain"),
      sortHeader("count", "Count"),
      sortHeader("updated", "Last seen")));
  }
  drawHead();

  const table = h("table", { id: "findings-table", class: "table findings" },
    h("caption", { class: "visually-hidden" }, "Findings"), thead, tbody);

  const prev = h("button", { type: "button", id: "prev-page", class: "btn", onclick: () => {
    if (!view.tokens.length) return;
    view.token = view.tokens.pop();
    load();
  } }, "Previous");
  let nextToken;
  const next = h("button", { type: "button", id: "next-page", class: "btn", onclick: () => {
    if (!nextToken) return;
    view.tokens.push(view.token);
    view.token = nextToken;
    load();
  } }, "Next");
  const pageInfo = h("span", { class: "muted", id: "page-info" });

  function resetPaging() {
    view.tokens = [];
    view.token = undefined;
  }

  function updateSelection() {
    const n = selectedIds().length;
    selInfo.textContent = n ? plural(n, "finding") + " selected" : "";
    selectAll.checked = findings.length > 0 && n === findings.length;
    selectAll.indeterminate = n > 0 && n < findings.length;
  }

  // remoteCell shows the remote address, or a DNS finding's queried
  // domain marked as such.
  function remoteCell(f) {
    const a = f.service && f.service.action;
    if (a && a.dnsRequestAction && a.dnsRequestAction.domain) {
      return h("td", { class: "cell-remote", title: "Queried domain" }, a.dnsRequestAction.domain, h("span", { class: "tag" }, "DNS"));
    }
    return h("td", { class: "cell-remote" }, remoteOf(f));
  }

  function row(f) {
    const cb = h("input", { type: "checkbox", class: "row-select", "aria-label": "Select finding " + f.type + " " + f.id, checked: selected.has(f.id), onchange: () => {
      if (cb.checked) selected.add(f.id); else selected.delete(f.id);
      updateSelection();
    } });
    const archived = f.service && f.service.archived;
    const fb = f.service && f.service.userFeedback;
    return h("tr", { dataset: { findingId: f.id }, class: archived ? "archived" : null },
      h("td", { class: "col-select" }, cb),
      h("td", {}, sevBadge(f.severity)),
      h("td", { class: "cell-type" },
        h("a", { href: "#/findings/" + encodeURIComponent(f.id) }, f.type),
        archived ? h("span", { class: "tag" }, "archived") : null,
        fb ? h("span", { class: "tag" }, fb === "USEFUL" ? "useful" : "not useful") : null),
      h("td", { class: "cell-resource" }, resourceOf(f)),
      remoteCell(f),
      h("td", { class: "num" }, fmtNumber((f.service && f.service.count) || 0)),
      h("td", { class: "nowrap" }, fmtTime((f.service && f.service.eventLastSeen) || f.updatedAt)));
  }

  // load fetches the page of finding IDs, then the findings, and the
  // total count, and draws them.
  let loadSeq = 0;
  async function load() {
    const seq = ++loadSeq;
    ctx.busy();
    remember(view);
    const criteria = criteriaOf(view.chips, view.archived);
    tbody.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "Loading…")));
    count.textContent = "Counting…";
    try {
      const [list, total] = await Promise.all([
        api("POST", det("/findings"), { findingCriteria: criteria, sortCriteria: view.sort, maxResults: PAGE_SIZE, nextToken: view.token }),
        countOf(criteria).catch(() => null),
      ]);
      const ids = list.findingIds || [];
      let got = [];
      if (ids.length) {
        const out = await api("POST", det("/findings/get"), { findingIds: ids, sortCriteria: view.sort });
        const byId = new Map((out.findings || []).map((x) => [x.id, x]));
        got = ids.map((id) => byId.get(id)).filter(Boolean);
      }
      if (seq !== loadSeq || !ctx.current()) return;
      findings = got;
      nextToken = list.nextToken || undefined;
      for (const id of [...selected]) if (!findings.some((x) => x.id === id)) selected.delete(id);
      tbody.replaceChildren(...(findings.length ? findings.map(row) :
        [h("tr", {}, h("td", { colspan: 7, class: "muted empty" }, "No findings match."))]));
      count.textContent = total === null ? plural(findings.length, "finding") + " on this page" : plural(total, "finding") + " match";
      const first = view.tokens.length * PAGE_SIZE + (findings.length ? 1 : 0);
      pageInfo.textContent = findings.length ? `Showing ${first}–${first + findings.length - 1}` : "";
      prev.disabled = view.tokens.length === 0;
      next.disabled = !nextToken;
      updateSelection();
      ctx.ready();
    } catch (e) {
      if (seq !== loadSeq || !ctx.current()) return;
      findings = [];
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "error" }, "Could not load findings: " + errorText(e))));
      count.textContent = "0 findings";
      status(errorText(e), "error");
      ctx.ready();
    }
  }

  drawChips();
  ctx.view.append(h("section", { class: "page", "aria-labelledby": "findings-title" },
    h("h1", { id: "findings-title" }, "Findings"),
    filterForm,
    filterErr,
    chipList,
    h("div", { class: "view-bar" },
      h("div", { class: "field inline" }, h("label", { for: "archived-view" }, "Show"), archivedSel),
      h("div", { class: "field inline" }, h("label", { for: "saved-filters" }, "Saved filters"), savedSel),
      saveBtn),
    h("div", { class: "list-head" }, count, actions),
    h("div", { class: "table-wrap" }, table),
    h("nav", { class: "pager", "aria-label": "Pages of findings" }, prev, pageInfo, next)));

  loadSaved();
  await load();
}

export { FIELDS, cleanCriteria };
