// A finding's detail: its fields, picket's explanation (thresholds,
// evidence, network path, rule verdicts, remediation) and a suppression
// rule made from it.

import { h, s, api, det, sevBadge, fmtTime, fmtNumber, plural, get, explanation, remoteOf, resourceOf, status, errorText, copyText, openDialog } from "./util.js";
import { criteriaEditor } from "./editor.js";
import { countOf } from "./findings.js";
import { toCriteria } from "./criteria.js";

export async function renderDetail(ctx) {
  const id = ctx.arg;
  const out = await api("POST", det("/findings/get"), { findingIds: [id] });
  if (!ctx.current()) return;
  const f = (out.findings || [])[0];
  const back = h("p", {}, h("a", { href: sessionStorage.getItem("picket.findingsHash") || "#/findings", class: "back" }, "← Findings"));
  if (!f) {
    ctx.view.append(h("section", { class: "page", id: "finding-detail" }, back,
      h("h1", {}, "Finding not found"),
      h("p", {}, "No finding has the ID " + id + " in this detector.")));
    return;
  }
  const ex = explanation(f) || {};
  const svc = f.service || {};
  const dns = dnsAction(f);

  const facts = h("dl", { class: "facts" },
    fact("Severity", sevBadge(f.severity)),
    fact("Type", f.type),
    fact("Resource", resourceOf(f) || "–"),
    fact(dns ? "Domain" : "Remote", remoteOf(f) || "–"),
    fact("Count", fmtNumber(svc.count || 0)),
    fact("First seen", fmtTime(svc.eventFirstSeen)),
    fact("Last seen", fmtTime(svc.eventLastSeen)),
    fact("Updated", fmtTime(f.updatedAt)),
    fact("Account", f.accountId),
    fact("Region", f.region),
    fact("Status", svc.archived ? "Archived" : "Current"),
    fact("Feedback", svc.userFeedback ? (svc.userFeedback === "USEFUL" ? "Useful" : "Not useful") : "–"),
    fact("Finding ID", h("code", {}, f.id)));

  const suppressBtn = h("button", { type: "button", id: "suppress-from-finding", class: "btn btn-primary", onclick: () => suppressDialog(f, ex) }, "Create suppression rule…");
  const archiveBtn = h("button", { type: "button", id: "detail-archive", class: "btn", onclick: async () => {
    try {
      await api("POST", det("/findings/" + (svc.archived ? "unarchive" : "archive")), { findingIds: [f.id] });
      status(svc.archived ? "Finding unarchived." : "Finding archived.");
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (e) { status(errorText(e), "error"); }
  } }, svc.archived ? "Unarchive" : "Archive");

  ctx.view.append(h("article", { class: "page detail", id: "finding-detail", "aria-labelledby": "detail-title" },
    back,
    h("h1", { id: "detail-title" }, f.title || f.type),
    h("p", { class: "lead" }, f.description || ""),
    h("div", { class: "toolbar" }, suppressBtn, archiveBtn),
    facts,
    dns ? section("detail-dns", "DNS request", dnsRequest(dns)) : null,
    section("detail-explanation", "What picket saw", explainSummary(ex)),
    section("detail-thresholds", "Thresholds", thresholds(ex)),
    section("detail-evidence", "Evidence", evidence(ex, f)),
    section("detail-path", "Network path", networkPath(ex, f)),
    section("detail-rules", "Security group and network ACL verdicts", rules(ex)),
    section("detail-remediation", "Remediation", remediation(ex)),
    section("detail-json", "Every field", h("div", { class: "json-tree" }, tree(f, "finding", true)))));
}

function fact(label, value) {
  return h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, value || "–"));
}

function section(id, title, body) {
  return h("section", { id, class: "card", "aria-labelledby": id + "-title" }, h("h2", { id: id + "-title" }, title), body);
}

function none(text) {
  return h("p", { class: "muted" }, text);
}

// dnsAction returns a DNS finding's service.action.dnsRequestAction, or
// null for the other actions.
function dnsAction(f) {
  const a = f.service && f.service.action;
  return a && a.dnsRequestAction && typeof a.dnsRequestAction === "object" ? a.dnsRequestAction : null;
}

// dnsRequest shows what a DNS finding's instance asked: the name, its
// registrable domain, the transport and whether DNS Firewall blocked
// every query the finding counts.
function dnsRequest(d) {
  return h("dl", { class: "facts compact", id: "detail-dns-facts" },
    fact("Domain", d.domain ? h("code", {}, d.domain) : "–"),
    fact("Domain with suffix", d.domainWithSuffix ? h("code", {}, d.domainWithSuffix) : "–"),
    fact("Protocol", d.protocol || "–"),
    fact("Blocked", d.blocked ? "Yes, by DNS Firewall" : "No"));
}

// ---- Explanation -------------------------------------------------------

function explainSummary(ex) {
  const parts = [];
  if (ex.summary) parts.push(h("p", { class: "summary" }, ex.summary));
  else parts.push(none("This finding carries no explanation from picket."));
  if (ex.kind) parts.push(h("p", {}, h("strong", {}, "Pattern: "), ex.kind));
  if (ex.resource) parts.push(h("p", {}, h("strong", {}, "Resource: "), ex.resource));
  if (ex.inventory) parts.push(h("p", { class: "muted" }, "Inventory snapshot: " + ex.inventory));
  if (ex.ratedDown) parts.push(h("p", { class: "callout", id: "detail-rated-down" }, h("strong", {}, "Rated down: "), ex.ratedDown));
  if (ex.sample) parts.push(h("p", { class: "callout" }, "This is a sample finding (CreateSampleFindings)."));
  if (ex.unusual && ex.unusual.length) parts.push(h("p", {}, h("strong", {}, "Unusual: "), ex.unusual.join(", ")));
  if (ex.activity && ex.activity.calls) {
    const a = ex.activity;
    parts.push(h("p", {}, `${fmtNumber(a.calls)} calls` + (a.failedCalls ? `, ${fmtNumber(a.failedCalls)} failed` : "") +
      (a.firstSeen ? `, from ${fmtTime(a.firstSeen)} to ${fmtTime(a.lastSeen)}` : "")));
  }
  if (ex.counts && Object.keys(ex.counts).length) {
    parts.push(h("h3", {}, "Counts"), h("dl", { class: "facts compact" },
      Object.entries(ex.counts).map(([k, v]) => fact(k.replace(/_/g, " "), fmtNumber(v)))));
  }
  if (ex.ports && ex.ports.length) parts.push(h("p", {}, h("strong", {}, "Ports: "), ex.ports.join(", ")));
  if (ex.hosts && ex.hosts.length) parts.push(h("p", {}, h("strong", {}, "Hosts: "), ex.hosts.join(", ")));
  const lists = [["apiCalls", "API calls"], ["errorCodes", "Error codes"], ["regions", "Regions"], ["userAgents", "User agents"], ["sources", "Sources"]];
  const lt = lists.filter(([k]) => ex[k] && ex[k].length);
  if (lt.length) {
    parts.push(h("div", { class: "minis" }, lt.map(([k, title]) => h("div", { class: "mini" },
      h("h3", {}, title),
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col", class: "num" }, "Count"))),
        h("tbody", {}, ex[k].map((c) => h("tr", {}, h("th", { scope: "row" }, c.name), h("td", { class: "num" }, fmtNumber(c.count))))))))));
  }
  return h("div", {}, parts);
}

function thresholds(ex) {
  const t = ex.thresholds || [];
  if (!t.length) return none("No thresholds recorded.");
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Test"), h("th", { scope: "col", class: "num" }, "Observed"),
      h("th", { scope: "col", class: "num" }, "Limit"), h("th", { scope: "col" }, "Unit"), h("th", { scope: "col" }, "Crossed"))),
    h("tbody", {}, t.map((x) => h("tr", { class: x.crossed ? "crossed" : null },
      h("th", { scope: "row" }, x.name),
      h("td", { class: "num" }, fmtNumber(x.observed)),
      h("td", { class: "num" }, fmtNumber(x.limit)),
      h("td", {}, x.unit || ""),
      h("td", {}, x.crossed ? h("span", { class: "badge sev-high" }, "✔ crossed") : "not crossed"))))));
}

function evidence(ex, f) {
  const out = [];
  const samples = ex.samples || [];
  if (samples.length) {
    out.push(h("ol", { class: "samples" }, samples.map((x) => h("li", {},
      h("div", { class: "sample-head" }, h("code", { class: "origin" }, x.origin || "?"), x.time ? h("span", { class: "muted" }, " " + fmtTime(x.time)) : null),
      h("pre", { class: "code" }, x.record || "")))));
  } else {
    out.push(none("No evidence records were kept."));
  }
  const ti = get(f, "service.evidence.threatIntelligenceDetails");
  const tis = Array.isArray(f.service && f.service.evidence && f.service.evidence.threatIntelligenceDetails) ? f.service.evidence.threatIntelligenceDetails : (ti ? [ti] : []);
  if (ex.threatListName || tis.length) {
    out.push(h("h3", {}, "Threat list matched"));
    const items = tis.length ? tis.map((t) => h("li", {}, h("strong", {}, t.threatListName || ex.threatListName || "list"), ": " + (t.threatNames || []).join(", ")))
      : [h("li", {}, h("strong", {}, ex.threatListName), ex.threatName ? ": " + ex.threatName : "")];
    out.push(h("ul", { id: "detail-threat" }, items));
  }
  return h("div", {}, out);
}

// ---- Network path ------------------------------------------------------

// pathNodes builds the boxes of the diagram from the explanation's path
// lines and the finding's addresses: remote, the gateways and load
// balancers the lines name, the interface and the resource.
function pathNodes(ex, f) {
  const lines = ex.networkPath || [];
  const text = lines.join("\n");
  const nodes = [];
  const remote = remoteOf(f);
  nodes.push({ kind: dnsAction(f) ? "Domain" : "Remote", label: remote || "remote (unknown)" });
  const seen = new Set();
  const via = [];
  const re = /\b(igw|eigw|nat|tgw|pcx|vgw|vpce)-[0-9a-f]+\b/g;
  let m;
  while ((m = re.exec(text))) {
    if (seen.has(m[0])) continue;
    seen.add(m[0]);
    const kind = { igw: "Internet gateway", eigw: "Egress-only gateway", nat: "NAT gateway", tgw: "Transit gateway", pcx: "Peering", vgw: "VPN gateway", vpce: "VPC endpoint" }[m[1]];
    via.push({ kind, label: m[0], at: m.index });
  }
  const lb = /load balancers? ([A-Za-z0-9/._:-]+[A-Za-z0-9])/g;
  while ((m = lb.exec(text))) {
    if (seen.has(m[1])) continue;
    seen.add(m[1]);
    via.push({ kind: "Load balancer", label: m[1], at: m.index });
  }
  const pub = /public address ([0-9a-f.:]+[0-9a-f])/i.exec(text);
  if (pub && !via.some((v) => v.kind === "Internet gateway")) via.push({ kind: "Public address", label: pub[1], at: pub.index });
  via.sort((a, b) => a.at - b.at);
  nodes.push(...via);
  const eni = /\beni-[0-9a-f]+\b/.exec(text);
  const ifc = eni ? eni[0] : get(f, "resource.instanceDetails.networkInterfaces.networkInterfaceId");
  const local = get(f, "service.action.networkConnectionAction.localIpDetails.ipAddressV4")
    || get(f, "service.action.portProbeAction.portProbeDetails.localIpDetails.ipAddressV4")
    || get(f, "service.localIpDetails.ipAddressV4")
    || get(f, "resource.instanceDetails.networkInterfaces.privateIpAddress");
  if (ifc || local) nodes.push({ kind: "Interface", label: [ifc, local].filter(Boolean).join(" ") });
  const inst = get(f, "resource.instanceDetails.instanceId");
  nodes.push({ kind: (f.resource && f.resource.resourceType) || "Resource", label: inst || resourceOf(f) || "resource" });
  return nodes;
}

function networkPath(ex, f) {
  const nodes = pathNodes(ex, f);
  const dir = get(f, "service.action.networkConnectionAction.connectionDirection");
  const outbound = dir === "OUTBOUND";
  const BW = 168, BH = 58, GAP = 40, PAD = 10;
  const W = PAD * 2 + nodes.length * BW + (nodes.length - 1) * GAP;
  const H = BH + PAD * 2 + 18;
  const svg = s("svg", { class: "path-diagram", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": "Network path: " + nodes.map((n) => n.kind + " " + n.label).join(outbound ? " ← " : " → ") });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }))));
  nodes.forEach((n, i) => {
    const x = PAD + i * (BW + GAP);
    const y = PAD;
    svg.append(s("g", { class: "path-node path-" + n.kind.toLowerCase().replace(/[^a-z]+/g, "-") },
      s("rect", { x, y, width: BW, height: BH, rx: 6 }),
      s("text", { x: x + BW / 2, y: y + 22, "text-anchor": "middle", class: "node-kind" }, n.kind),
      s("text", { x: x + BW / 2, y: y + 42, "text-anchor": "middle", class: "node-label" }, clip(n.label, 24)),
      s("title", {}, n.kind + ": " + n.label)));
    if (i > 0) {
      const x1 = x - GAP + 2, x2 = x - 2, ym = y + BH / 2;
      svg.append(s("line", outbound
        ? { x1: x2, x2: x1, y1: ym, y2: ym, class: "path-arrow", "marker-end": "url(#arrow)" }
        : { x1, x2, y1: ym, y2: ym, class: "path-arrow", "marker-end": "url(#arrow)" }));
    }
  });
  svg.append(s("text", { x: PAD, y: H - 4, class: "axis-label" }, outbound ? "Traffic leaves the resource (outbound)" : dir === "INBOUND" || !dir ? "Traffic reaches the resource" : "Direction: " + dir));
  const lines = ex.networkPath || [];
  return h("div", {},
    h("div", { class: "diagram-wrap" }, svg),
    lines.length ? h("ol", { class: "path-lines" }, lines.map((l) => h("li", {}, l)))
      : none("picket recorded no path for this finding (no inventory, or not network traffic); the diagram shows the finding's own addresses."));
}

function clip(t, n) {
  t = String(t);
  return t.length > n ? t.slice(0, n - 1) + "…" : t;
}

function rules(ex) {
  const r = ex.rules || [];
  if (!r.length) return none("No rule verdicts recorded.");
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("thead", {}, h("tr", {}, ["Traffic", "Remote", "Admitted", "Security group rule", "Network ACL", "Reason"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, r.map((v) => h("tr", {},
      h("th", { scope: "row" }, (v.protocol || "") + (v.port ? " " + v.port : "")),
      h("td", {}, v.remote + (v.known === false ? " (not in inventory)" : "")),
      h("td", {}, v.admitted ? h("span", { class: "badge sev-high" }, "admitted") : h("span", { class: "badge sev-ok" }, "blocked" + (v.blockedBy ? " by " + v.blockedBy : ""))),
      h("td", {}, [v.groupId, v.rule].filter(Boolean).join(" ")),
      h("td", {}, [v.networkAclId, v.networkAclRule ? "rule " + v.networkAclRule : ""].filter(Boolean).join(" ")),
      h("td", {}, v.reason || ""))))));
}

function remediation(ex) {
  const r = ex.remediation || [];
  if (!r.length) return none("No remediation commands for this finding.");
  return h("div", {},
    h("p", { class: "muted" }, "picket prints these commands and never runs them. Check them before you run them."),
    h("ol", { class: "remedies" }, r.map((x) => {
      const copy = h("button", { type: "button", class: "btn btn-small copy", onclick: async () => {
        const ok = await copyText(x.command);
        status(ok ? "Command copied." : "Could not copy; select the text instead.", ok ? "" : "error");
      } }, "Copy");
      return h("li", {}, h("p", {}, x.why), h("div", { class: "pre-wrap" }, h("pre", { class: "code" }, x.command), copy));
    })));
}

// ---- JSON tree ---------------------------------------------------------

function tree(v, key, open) {
  if (v !== null && typeof v === "object") {
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    const label = key + (Array.isArray(v) ? ` [${v.length}]` : ` {${entries.length}}`);
    return h("details", { open: open || null },
      h("summary", {}, h("span", { class: "json-key" }, label)),
      h("ul", {}, entries.map(([k, x]) => h("li", {}, tree(x, k, false)))));
  }
  let text = JSON.stringify(v);
  // The explanation is a JSON string: show it parsed as well.
  if (key === "value" && typeof v === "string" && v.startsWith("{")) {
    try {
      return h("div", {}, tree(JSON.parse(v), "value (parsed)", false));
    } catch { /* show it as text */ }
  }
  return h("div", { class: "json-leaf" }, h("span", { class: "json-key" }, key + ": "), h("span", { class: "json-value" }, text));
}

// ---- Suppression rule --------------------------------------------------

// suggestedChips are the criteria a suppression rule from this finding
// starts with: its type, its resource and its remote address or, for a
// DNS finding, the queried domain.
function suggestedChips(f) {
  const chips = [{ field: "type", op: "eq", values: [f.type] }];
  const inst = get(f, "resource.instanceDetails.instanceId");
  const priv = get(f, "resource.instanceDetails.networkInterfaces.privateIpAddress");
  if (inst) chips.push({ field: "resource.instanceDetails.instanceId", op: "eq", values: [inst] });
  else if (priv) chips.push({ field: "resource.instanceDetails.networkInterfaces.privateIpAddresses.privateIpAddress", op: "eq", values: [priv] });
  const user = get(f, "resource.accessKeyDetails.userName");
  if (!inst && !priv && user) chips.push({ field: "resource.accessKeyDetails.userName", op: "eq", values: [user] });
  const a = (f.service && f.service.action) || {};
  const remotes = [
    ["networkConnectionAction.remoteIpDetails.ipAddressV4", "service.action.networkConnectionAction.remoteIpDetails.ipAddressV4"],
    ["portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4", "service.action.portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4"],
    ["awsApiCallAction.remoteIpDetails.ipAddressV4", "service.action.awsApiCallAction.remoteIpDetails.ipAddressV4"],
  ];
  for (const [path, field] of remotes) {
    const ip = get(a, path);
    if (ip) {
      chips.push({ field, op: "eq", values: [ip] });
      break;
    }
  }
  const domain = get(a, "dnsRequestAction.domain");
  if (domain) chips.push({ field: "service.action.dnsRequestAction.domain", op: "eq", values: [domain] });
  return chips;
}

function suggestedName(f) {
  const base = "suppress-" + String(f.type || "finding").replace(/[^A-Za-z0-9._-]+/g, "-").replace(/-+/g, "-");
  return base.slice(0, 64).replace(/-$/, "");
}

function suppressDialog(f) {
  const name = h("input", { id: "suppress-name", required: true, maxlength: 64, spellcheck: "false", value: suggestedName(f) });
  const desc = h("input", { id: "suppress-description", maxlength: 512, value: "Made from finding " + f.id });
  const rank = h("input", { id: "suppress-rank", type: "number", min: 1, max: 100, inputmode: "numeric" });
  const preview = h("p", { id: "suppress-preview", class: "preview", "aria-live": "polite" }, "Counting…");
  const err = h("p", { class: "error", id: "suppress-error", role: "alert" });
  const create = h("button", { type: "submit", id: "suppress-create", class: "btn btn-primary" }, "Create rule");

  let seq = 0;
  let timer = 0;
  const refresh = (fc) => {
    clearTimeout(timer);
    preview.textContent = "Counting…";
    timer = setTimeout(async () => {
      const my = ++seq;
      const crit = JSON.parse(JSON.stringify(fc));
      const cond = crit.criterion["service.archived"] || (crit.criterion["service.archived"] = {});
      cond.eq = ["false"];
      try {
        const n = await countOf(crit);
        if (my === seq) preview.textContent = plural(n, "finding") + " would be archived now (current findings matching), and new ones matching will be archived as they arrive.";
      } catch (e) {
        if (my === seq) preview.textContent = "Cannot count: " + errorText(e);
      }
    }, 250);
  };
  const editor = criteriaEditor("suppress", suggestedChips(f), refresh);

  const dlg = h("dialog", { id: "suppress-dialog", class: "dialog dialog-wide", "aria-labelledby": "suppress-title" },
    h("form", { method: "dialog", onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      const fc = editor.get();
      if (!Object.keys(fc.criterion).length) {
        err.textContent = "A suppression rule without criteria would archive every finding; add a criterion.";
        return;
      }
      create.disabled = true;
      try {
        const body = { name: name.value.trim(), description: desc.value.trim() || undefined, action: "ARCHIVE", findingCriteria: fc };
        if (rank.value) body.rank = Number(rank.value);
        await api("POST", det("/filter"), body);
        dlg.close();
        status("Created suppression rule " + body.name + ".");
      } catch (e) {
        err.textContent = errorText(e);
      } finally {
        create.disabled = false;
      }
    } },
      h("h2", { id: "suppress-title" }, "Create suppression rule"),
      h("p", { class: "muted" }, "A suppression rule is a filter with the action ARCHIVE: findings it matches are archived as they arrive."),
      h("div", { class: "field" }, h("label", { for: "suppress-name" }, "Name (3–64 letters, digits, - _ .)"), name),
      h("div", { class: "field" }, h("label", { for: "suppress-description" }, "Description"), desc),
      h("div", { class: "field" }, h("label", { for: "suppress-rank" }, "Rank (optional, 1–100)"), rank),
      editor.el,
      preview,
      err,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "btn", onclick: () => dlg.close() }, "Cancel"),
        create)));
  openDialog(dlg);
  refresh(editor.get());
}

export { toCriteria };
