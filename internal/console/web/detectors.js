// The detectors page: each detector's status and publishing frequency,
// with enable/disable and a frequency choice.

import { h, api, state, fmtTime, status, errorText } from "./util.js";
import { loadDetectors } from "./app.js";

const FREQUENCIES = ["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"];

export async function renderDetectors(ctx) {
  const tbody = h("tbody", {});
  const table = h("table", { id: "detectors-table", class: "table" },
    h("caption", { class: "visually-hidden" }, "Detectors"),
    h("thead", {}, h("tr", {},
      ["Detector ID", "Status", "Finding publishing frequency", "Created", "Updated"].map((t) => h("th", { scope: "col" }, t)),
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
    tbody);

  async function reload() {
    ctx.busy();
    await loadDetectors();
    const rows = await Promise.all(state.detectors.map(async (id) => {
      try {
        return { id, ...(await api("GET", "/detector/" + encodeURIComponent(id))) };
      } catch (e) {
        return { id, error: errorText(e) };
      }
    }));
    if (!ctx.current()) return;
    tbody.replaceChildren(...(rows.length ? rows.map(row) :
      [h("tr", {}, h("td", { colspan: 6, class: "muted empty" }, "No detectors in this region."))]));
    ctx.ready();
  }

  async function update(id, body, what) {
    try {
      await api("POST", "/detector/" + encodeURIComponent(id), body);
      status("Detector " + id + ": " + what + ".");
      await reload();
    } catch (e) {
      status(errorText(e), "error");
    }
  }

  function row(d) {
    const enabled = d.status === "ENABLED";
    const freqId = "freq-" + d.id;
    const freq = h("select", { id: freqId, class: "freq-select" }, FREQUENCIES.map((f) => h("option", { value: f }, f.replace(/_/g, " ").toLowerCase())));
    freq.value = d.findingPublishingFrequency || "SIX_HOURS";
    freq.addEventListener("change", () => update(d.id, { findingPublishingFrequency: freq.value }, "publishing frequency set"));
    return h("tr", { dataset: { detectorId: d.id }, class: d.id === state.detectorId ? "current" : null },
      h("th", { scope: "row" }, h("code", {}, d.id), d.id === state.detectorId ? h("span", { class: "tag" }, "in use") : null),
      h("td", {}, d.error ? h("span", { class: "error" }, d.error) : h("span", { class: "badge " + (enabled ? "st-ok" : "st-neutral") }, d.status || "–")),
      h("td", {}, h("label", { for: freqId, class: "visually-hidden" }, "Finding publishing frequency of " + d.id), freq),
      h("td", { class: "nowrap" }, fmtTime(d.createdAt)),
      h("td", { class: "nowrap" }, fmtTime(d.updatedAt)),
      h("td", { class: "row-actions" },
        h("button", { type: "button", class: "btn btn-small detector-toggle", onclick: () => update(d.id, { enable: !enabled }, enabled ? "disabled" : "enabled") },
          enabled ? "Disable" : "Enable")));
  }

  ctx.view.append(h("section", { class: "page", "aria-labelledby": "detectors-title" },
    h("h1", { id: "detectors-title" }, "Detectors"),
    h("p", { class: "muted" }, "A disabled detector keeps its findings but does not raise new ones."),
    h("div", { class: "table-wrap" }, table)));
  await reload();
}
