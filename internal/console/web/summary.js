// The summary page: findings over time by severity, the top finding types
// and resources, the busiest remote addresses and principals, and the
// health of ingestion from the Prometheus metrics.

import { h, s, api, det, BANDS, fmtNumber, fmtTime, plural, remoteOf, principalOf, errorText, status } from "./util.js";
import { parseMetrics, sum, byLabel } from "./metrics.js";

// The periods the page may cover, in days; each ends on the newest
// finding's last update. The choice is kept in the URL (#/summary?days=30)
// so that a link or a reload shows the same period.
const PERIODS = [1, 7, 30, 90];
const DEFAULT_DAYS = 7;
const DAY_MS = 86400000;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
// The remote-address and principal panels count this many of the latest
// findings, fetched in pages of ACTOR_PAGE.
const ACTOR_LIMIT = 100;
const ACTOR_PAGE = 50;

function periodDays(query) {
  const n = Number(query && query.get("days"));
  return PERIODS.includes(n) ? n : DEFAULT_DAYS;
}

// fmtDay writes the UTC day of t as "2 Mar 2026".
function fmtDay(t) {
  const d = new Date(t);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

export async function renderSummary(ctx) {
  const days = periodDays(ctx.query);
  const loading = () => h("p", { class: "muted" }, "Loading…");
  const chartBox = h("div", { class: "chart-box" }, loading());
  const types = h("div", { id: "top-types", class: "card-body" }, loading());
  const resources = h("div", { id: "top-resources", class: "card-body" }, loading());
  const remotes = h("div", { id: "top-remotes", class: "card-body" }, loading());
  const principals = h("div", { id: "top-principals", class: "card-body" }, loading());
  const health = h("div", { id: "ingest-health", class: "card-body" }, loading());

  // Each heading ends with the period, filled in once its last day is known.
  const periods = [];
  const heading = (id, text) => {
    const span = h("span", { class: "period" }, ` in the last ${plural(days, "day")}`);
    periods.push(span);
    return h("h2", { id }, text, span);
  };

  const select = h("select", { id: "summary-period", onchange: () => {
    location.hash = "#/summary?days=" + select.value;
  } }, PERIODS.map((n) => h("option", { value: String(n), selected: n === days }, "Last " + plural(n, "day"))));

  ctx.view.append(h("section", { class: "page", "aria-labelledby": "summary-title" },
    h("div", { class: "page-head" },
      h("h1", { id: "summary-title" }, "Summary"),
      h("div", { class: "field inline" }, h("label", { for: "summary-period" }, "Period"), select)),
    h("section", { class: "card card-wide", "aria-labelledby": "chart-title" },
      heading("chart-title", "Current findings by day and severity"),
      chartBox),
    h("div", { class: "grid" },
      h("section", { class: "card", "aria-labelledby": "types-title" }, heading("types-title", "Top finding types"), types),
      h("section", { class: "card", "aria-labelledby": "res-title" }, heading("res-title", "Most probed resources"), resources),
      h("section", { class: "card", "aria-labelledby": "rem-title" }, heading("rem-title", "Most active remote addresses"), remotes),
      h("section", { class: "card", "aria-labelledby": "pri-title" }, heading("pri-title", "Most active principals"), principals),
      h("section", { class: "card card-wide", "aria-labelledby": "health-title" }, h("h2", { id: "health-title" }, "Ingest health"), health))));

  // The metrics do not depend on the period; everything else waits for
  // the newest update, which fixes the window, and then goes at once.
  const stats = (async () => {
    let end;
    try {
      end = await newestUpdate();
    } catch (e) {
      for (const el of [types, resources, remotes, principals]) failed(el, e);
      failed(chartBox, e);
      chartBox.prepend(s("svg", { id: "summary-chart", viewBox: "0 0 10 10", role: "img", "aria-label": "No data" }));
      return;
    }
    // The window starts at midnight (UTC), so that it holds whole days:
    // the newest finding's day and the days-1 before it.
    const since = Math.floor(end / DAY_MS) * DAY_MS - (days - 1) * DAY_MS;
    const text = days === 1 ? ` on ${fmtDay(end)}` : ` in the ${plural(days, "day")} to ${fmtDay(end)}`;
    for (const span of periods) span.textContent = text;
    const criterion = { "service.archived": { eq: ["false"] }, updatedAt: { gte: since } };
    await Promise.all([
      loadChart(chartBox, criterion, since, end),
      loadTypes(types, { criterion }),
      loadResources(resources, { criterion }),
      loadActors(remotes, principals, criterion),
    ]);
  })();
  const jobs = [stats, loadHealth(health, ctx)];
  await Promise.all(jobs.map((p) => p.catch((e) => status(errorText(e), "error"))));
}

function failed(el, e) {
  el.replaceChildren(h("p", { class: "error" }, "Could not load: " + errorText(e)));
}

// ---- Chart -------------------------------------------------------------

// The DATE grouping gives one row per day (with the day's highest
// severity), so each severity band is asked for on its own and the
// answers are stacked. The chart has a bar for each day from since to
// the day of end.
async function loadChart(box, criterion, since, end) {
  try {
    const answers = await Promise.all(BANDS.map((b) => api("POST", det("/findings/statistics"), {
      groupBy: "DATE",
      orderBy: "DESC",
      maxResults: 100,
      findingCriteria: { criterion: { ...criterion, severity: { gte: b.gte, lt: b.lt } } },
    })));
    const days = [];
    for (let t = since; t <= end; t += DAY_MS) days.push({ t, counts: BANDS.map(() => 0) });
    const index = new Map(days.map((d, i) => [d.t, i]));
    answers.forEach((a, bi) => {
      for (const row of (a && a.findingStatistics && a.findingStatistics.groupedByDate) || []) {
        const t = Number(row.date) * 1000;
        const i = index.get(Math.floor(t / DAY_MS) * DAY_MS);
        if (i !== undefined) days[i].counts[bi] += row.totalFindings || 0;
      }
    });
    box.replaceChildren(drawChart(days), chartTable(days));
  } catch (e) {
    failed(box, e);
    box.prepend(s("svg", { id: "summary-chart", viewBox: "0 0 10 10", role: "img", "aria-label": "No data" }));
  }
}

// newestUpdate returns the time of the newest current finding's last
// update, or now when there is none. The period ends there rather than
// today: a replay of old logs makes findings dated long before today.
async function newestUpdate() {
  const list = await api("POST", det("/findings"), {
    findingCriteria: { criterion: { "service.archived": { eq: ["false"] } } },
    sortCriteria: { attributeName: "updatedAt", orderBy: "DESC" },
    maxResults: 1,
  });
  const ids = (list && list.findingIds) || [];
  if (ids.length === 0) return Date.now();
  const got = await api("POST", det("/findings/get"), { findingIds: ids });
  const f = got && got.findings && got.findings[0];
  const t = f ? Date.parse(f.updatedAt) : NaN;
  return Number.isNaN(t) ? Date.now() : t;
}

function niceMax(n) {
  if (n <= 5) return 5;
  const p = Math.pow(10, Math.floor(Math.log10(n)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

function drawChart(days) {
  const W = 900, H = 300, L = 48, R = 12, T = 36, B = 40;
  const total = days.map((d) => d.counts.reduce((a, b) => a + b, 0));
  const max = niceMax(Math.max(1, ...total));
  const plotW = W - L - R, plotH = H - T - B;
  const step = plotW / days.length;
  const bw = Math.max(2, step * 0.7);
  const y = (v) => T + plotH - (v / max) * plotH;
  const all = total.reduce((a, b) => a + b, 0);
  const svg = s("svg", {
    id: "summary-chart", class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `Stacked bar chart: ${all} current findings over ${plural(days.length, "day")} to ${fmtDay(days[days.length - 1].t)}, by severity. The table below gives the numbers.`,
  });
  // Grid lines and the y axis labels.
  for (let i = 0; i <= 5; i++) {
    const v = (max / 5) * i;
    svg.append(s("line", { class: "grid-line", x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      s("text", { class: "axis-label", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmtNumber(v)));
  }
  svg.append(s("line", { class: "axis", x1: L, x2: W - R, y1: T + plotH, y2: T + plotH }));
  days.forEach((d, i) => {
    const x = L + i * step + (step - bw) / 2;
    let acc = 0;
    d.counts.forEach((n, bi) => {
      if (!n) return;
      const y0 = y(acc), y1 = y(acc + n);
      acc += n;
      svg.append(s("rect", { class: "bar " + BANDS[bi].cls, x, y: y1, width: bw, height: Math.max(1, y0 - y1) },
        s("title", {}, `${fmtTime(d.t).slice(0, 10)}: ${n} ${BANDS[bi].name}`)));
    });
    // A date label every few days.
    const every = days.length > 20 ? 5 : days.length > 10 ? 2 : 1;
    if (i % every === 0 || i === days.length - 1) {
      const date = new Date(d.t);
      svg.append(s("text", { class: "axis-label", x: x + bw / 2, y: H - B + 16, "text-anchor": "middle" },
        `${date.getUTCMonth() + 1}/${date.getUTCDate()}`));
    }
  });
  svg.append(s("text", { class: "axis-title", x: L, y: H - 6 }, "Day (UTC, of the last update)"));
  svg.append(s("text", { class: "axis-title", x: 4, y: 14 }, "Findings"));
  // Legend.
  let lx = W - R - BANDS.length * 92;
  for (const b of BANDS) {
    svg.append(s("rect", { class: "bar " + b.cls, x: lx, y: 8, width: 14, height: 14 }),
      s("text", { class: "legend-label", x: lx + 19, y: 20 }, b.name));
    lx += 92;
  }
  return svg;
}

// chartTable gives the chart's numbers as a table (collapsed by default)
// for screen readers and anyone who wants exact values.
function chartTable(days) {
  const rows = days.filter((d) => d.counts.some(Boolean));
  return h("details", { class: "chart-data" },
    h("summary", {}, "Chart data"),
    rows.length === 0 ? h("p", { class: "muted" }, "No current findings in these days.") :
      h("div", { class: "table-wrap" }, h("table", { class: "table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), BANDS.map((b) => h("th", { scope: "col" }, b.name)))),
        h("tbody", {}, rows.map((d) => h("tr", {}, h("th", { scope: "row" }, fmtTime(d.t).slice(0, 10)),
          d.counts.map((n) => h("td", { class: "num" }, String(n)))))))));
}

// ---- Top lists ---------------------------------------------------------

function rankTable(caption, head, rows) {
  if (!rows.length) return h("p", { class: "muted" }, "None.");
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, head.map((t, i) => h("th", { scope: "col", class: i === head.length - 1 ? "num" : null }, t)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c, i) =>
      i === 0 ? h("th", { scope: "row" }, c) : h("td", { class: i === cells.length - 1 ? "num" : null }, c)))))));
}

function findingsLink(field, value, text) {
  const q = encodeURIComponent(JSON.stringify([{ field, op: "eq", values: [value] }]));
  return h("a", { href: "#/findings?f=" + q }, text || value);
}

async function loadTypes(el, criteria) {
  try {
    const out = await api("POST", det("/findings/statistics"), { groupBy: "FINDING_TYPE", orderBy: "DESC", maxResults: 10, findingCriteria: criteria });
    const rows = (out.findingStatistics.groupedByFindingType || []).map((r) =>
      [findingsLink("type", r.findingType), fmtTime(r.lastGeneratedAt), fmtNumber(r.totalFindings)]);
    el.replaceChildren(rankTable("Top finding types", ["Type", "Last generated", "Findings"], rows));
  } catch (e) { failed(el, e); }
}

async function loadResources(el, criteria) {
  try {
    const out = await api("POST", det("/findings/statistics"), { groupBy: "RESOURCE", orderBy: "DESC", maxResults: 10, findingCriteria: criteria });
    const rows = (out.findingStatistics.groupedByResource || []).map((r) => {
      const id = r.resourceId || "(unnamed)";
      const link = r.resourceId && r.resourceId.startsWith("i-") ? findingsLink("resource.instanceDetails.instanceId", r.resourceId) : id;
      return [link, r.resourceType || "", r.accountId || "", fmtNumber(r.totalFindings)];
    });
    el.replaceChildren(rankTable("Most probed resources", ["Resource", "Type", "Account", "Findings"], rows));
  } catch (e) { failed(el, e); }
}

// loadActors counts remote addresses and principals over the latest
// findings of the period, since GuardDuty's statistics do not group by
// them. Each page of finding ids is fetched as soon as it is listed,
// while the next page is being listed.
async function loadActors(remEl, priEl, criterion) {
  try {
    const gets = [];
    let listed = 0;
    let next;
    while (listed < ACTOR_LIMIT) {
      const out = await api("POST", det("/findings"), {
        findingCriteria: { criterion },
        sortCriteria: { attributeName: "updatedAt", orderBy: "DESC" },
        maxResults: Math.min(ACTOR_PAGE, ACTOR_LIMIT - listed),
        nextToken: next,
      });
      const ids = out.findingIds || [];
      if (ids.length) {
        const got = api("POST", det("/findings/get"), { findingIds: ids });
        got.catch(() => {}); // reported by the Promise.all below
        gets.push(got);
      }
      listed += ids.length;
      next = out.nextToken;
      if (!next || !ids.length) break;
    }
    const findings = (await Promise.all(gets)).flatMap((out) => out.findings || []);
    const rem = new Map(), pri = new Map(), users = new Set();
    for (const f of findings) {
      const n = (f.service && f.service.count) || 1;
      const r = remoteOf(f);
      if (r) rem.set(r, (rem.get(r) || 0) + n);
      const p = principalOf(f);
      if (p) pri.set(p, (pri.get(p) || 0) + n);
      const u = f.resource && f.resource.accessKeyDetails && f.resource.accessKeyDetails.userName;
      if (u) users.add(u);
    }
    const top = (m) => [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
    const note = h("p", { class: "note" }, `Counted from the latest ${plural(findings.length, "current finding")} of the period (GuardDuty has no grouping by these); the number is the sum of the findings' event counts.`);
    remEl.replaceChildren(rankTable("Most active remote addresses", ["Address or domain", "Events"], top(rem).map(([k, v]) => [k, fmtNumber(v)])), note.cloneNode(true));
    priEl.replaceChildren(rankTable("Most active principals", ["Principal", "Events"], top(pri).map(([k, v]) => [users.has(k) ? findingsLink("resource.accessKeyDetails.userName", k) : k, fmtNumber(v)])), note);
  } catch (e) {
    failed(remEl, e);
    failed(priEl, e);
  }
}

// ---- Ingest health -----------------------------------------------------

async function fetchMetrics() {
  const res = await fetch("/metrics", { cache: "no-store", credentials: "same-origin" });
  if (!res.ok) throw new Error("GET /metrics answered " + res.status);
  return parseMetrics(await res.text());
}

async function loadHealth(el, ctx) {
  let first;
  try {
    first = await fetchMetrics();
  } catch (e) {
    failed(el, e);
    return;
  }
  const t0 = Date.now();
  el.replaceChildren(healthView(first, null, 0));
  // A second sample a few seconds later gives the rates; the page is
  // marked ready before it arrives.
  setTimeout(async () => {
    if (!ctx.current()) return;
    try {
      const second = await fetchMetrics();
      if (!ctx.current()) return;
      el.replaceChildren(healthView(second, first, (Date.now() - t0) / 1000));
    } catch (e) {
      // Keep the first sample's view.
    }
  }, 5000);
}

function healthView(m, prev, secs) {
  const records = sum(m, "picket_records_ingested_total");
  const rate = prev && secs > 0 ? (records - sum(prev, "picket_records_ingested_total")) / secs : null;
  const lag = sum(m, "picket_ingest_lag_seconds", null);
  const newest = sum(m, "picket_newest_event_timestamp_seconds", null);
  const ready = sum(m, "picket_ready", null);
  const skipped = byLabel(m, "picket_records_skipped_total", "reason");
  const late = sum(m, "picket_records_late_total");
  const bytes = byLabel(m, "picket_input_bytes_total", "source");
  const inputs = byLabel(m, "picket_inputs_total", "source");
  const inputErrors = byLabel(m, "picket_input_errors_total", "source");
  const pending = byLabel(m, "picket_watch_pending_files", "source");
  const kinds = byLabel(m, "picket_records_ingested_total", "kind");
  const reported = byLabel(m, "picket_findings_reported_total", "type");
  const dropped = byLabel(m, "picket_findings_dropped_total", "reason");
  const badTotal = [...skipped.values()].reduce((a, b) => a + b, 0);

  const stat = (label, value, cls) => h("div", { class: "stat " + (cls || "") }, h("dt", {}, label), h("dd", {}, value));
  const lagText = lag === null ? "–" : lag < 120 ? fmtNumber(lag) + " s" : lag < 7200 ? fmtNumber(lag / 60) + " min" : fmtNumber(lag / 3600) + " h";
  const stats = h("dl", { class: "stats" },
    stat("Service", ready === null ? "unknown" : ready >= 1 ? "ready" : "not ready", ready !== null && ready < 1 ? "warn" : ""),
    stat("Records ingested", fmtNumber(records)),
    stat("Records per second", rate === null ? "measuring…" : fmtNumber(rate)),
    stat("Ingest lag", lagText, lag !== null && lag > 900 ? "warn" : ""),
    stat("Newest event", newest ? fmtTime(newest) : "–"),
    stat("Bad records", fmtNumber(badTotal), badTotal > 0 ? "warn" : ""),
    stat("Late records", fmtNumber(late)));

  const sources = new Set([...bytes.keys(), ...inputs.keys(), ...inputErrors.keys(), ...pending.keys()]);
  const srcRows = [...sources].sort().map((src) => h("tr", {},
    h("th", { scope: "row" }, src || "(none)"),
    h("td", { class: "num" }, fmtNumber(inputs.get(src) || 0)),
    h("td", { class: "num" }, fmtNumber(bytes.get(src) || 0)),
    h("td", { class: "num" + ((inputErrors.get(src) || 0) > 0 ? " warn" : "") }, fmtNumber(inputErrors.get(src) || 0)),
    h("td", { class: "num" }, pending.has(src) ? fmtNumber(pending.get(src)) : "–")));

  const small = (title, map, head) => h("div", { class: "mini" },
    h("h3", {}, title),
    map.size === 0 ? h("p", { class: "muted" }, "None.") :
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, head), h("th", { scope: "col", class: "num" }, "Count"))),
        h("tbody", {}, [...map.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) =>
          h("tr", {}, h("th", { scope: "row" }, k || "(none)"), h("td", { class: "num" }, fmtNumber(v)))))));

  return h("div", {},
    stats,
    h("h3", {}, "Sources"),
    sources.size === 0 ? h("p", { class: "muted" }, "No source has been read yet.") :
      h("div", { class: "table-wrap" }, h("table", { class: "table", id: "ingest-sources" },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Source"), h("th", { scope: "col", class: "num" }, "Inputs read"),
          h("th", { scope: "col", class: "num" }, "Bytes"), h("th", { scope: "col", class: "num" }, "Input errors"),
          h("th", { scope: "col", class: "num" }, "Files pending"))),
        h("tbody", {}, srcRows))),
    h("div", { class: "minis" },
      small("Bad records by reason", skipped, "Reason"),
      small("Records by kind", kinds, "Kind"),
      small("Finding reports by type", reported, "Type"),
      small("Finding reports dropped", dropped, "Reason")),
    h("p", { class: "note" }, "From the service's Prometheus metrics (/metrics); rates from two samples about five seconds apart."));
}
