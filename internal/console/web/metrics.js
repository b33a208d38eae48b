// A small reader of the Prometheus text exposition format.

// parseMetrics returns a Map from metric name to a list of samples
// {labels: {name: value}, value: number}.
export function parseMetrics(text) {
  const out = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = m[3] ? parseLabels(m[3]) : {};
    const value = parseValue(m[4]);
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels, value });
  }
  return out;
}

function parseValue(v) {
  if (v === "+Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  return Number(v);
}

// parseLabels reads name="value" pairs, with the escapes \\, \" and \n.
function parseLabels(text) {
  const labels = {};
  let i = 0;
  while (i < text.length) {
    while (i < text.length && (text[i] === "," || text[i] === " ")) i++;
    const eq = text.indexOf("=", i);
    if (eq < 0) break;
    const name = text.slice(i, eq).trim();
    i = eq + 1;
    if (text[i] !== '"') break;
    i++;
    let v = "";
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\" && i + 1 < text.length) {
        const c = text[i + 1];
        v += c === "n" ? "\n" : c;
        i += 2;
      } else {
        v += text[i++];
      }
    }
    i++;
    labels[name] = v;
  }
  return labels;
}

// sum adds every sample of a metric; missing gives dflt (0 by default).
export function sum(m, name, dflt = 0) {
  const samples = m.get(name);
  if (!samples || !samples.length) return dflt;
  return samples.reduce((a, x) => a + (isFinite(x.value) ? x.value : 0), 0);
}

// byLabel sums a metric's samples by the value of one label.
export function byLabel(m, name, label) {
  const out = new Map();
  for (const x of m.get(name) || []) {
    const k = x.labels[label] || "";
    out.set(k, (out.get(k) || 0) + (isFinite(x.value) ? x.value : 0));
  }
  return out;
}
