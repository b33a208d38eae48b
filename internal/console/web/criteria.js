// Finding criteria: the fields picket filters on, the operators, and the
// conversion between filter chips and GuardDuty findingCriteria.

import { h } from "./util.js";

// FIELDS are the criterion fields offered in the filter bar, with a label.
// Every name is one picket's API accepts (internal/api/fields.go).
export const FIELDS = [
  ["type", "Finding type"],
  ["severity", "Severity (number)"],
  ["id", "Finding ID"],
  ["accountId", "Account ID"],
  ["region", "Region"],
  ["updatedAt", "Updated at"],
  ["service.archived", "Archived (true/false)"],
  ["resource.resourceType", "Resource type"],
  ["resource.instanceDetails.instanceId", "Instance ID"],
  ["resource.instanceDetails.networkInterfaces.privateIpAddresses.privateIpAddress", "Private IP address"],
  ["resource.instanceDetails.networkInterfaces.publicIp", "Public IP address"],
  ["resource.instanceDetails.networkInterfaces.securityGroups.groupId", "Security group ID"],
  ["resource.instanceDetails.networkInterfaces.subnetId", "Subnet ID"],
  ["resource.instanceDetails.networkInterfaces.vpcId", "VPC ID"],
  ["resource.instanceDetails.tags.key", "Instance tag key"],
  ["resource.instanceDetails.tags.value", "Instance tag value"],
  ["resource.instanceDetails.imageId", "Image ID"],
  ["resource.accessKeyDetails.userName", "User name"],
  ["resource.accessKeyDetails.accessKeyId", "Access key ID"],
  ["resource.accessKeyDetails.principalId", "Principal ID"],
  ["resource.accessKeyDetails.userType", "User type"],
  ["service.action.actionType", "Action type"],
  ["service.action.networkConnectionAction.remoteIpDetails.ipAddressV4", "Remote IP (network connection)"],
  ["service.action.portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4", "Remote IP (port probe)"],
  ["service.action.awsApiCallAction.remoteIpDetails.ipAddressV4", "Remote IP (API call)"],
  ["service.action.networkConnectionAction.localPortDetails.port", "Local port"],
  ["service.action.portProbeAction.portProbeDetails.localPortDetails.port", "Probed local port"],
  ["service.action.networkConnectionAction.remotePortDetails.port", "Remote port"],
  ["service.action.networkConnectionAction.connectionDirection", "Connection direction"],
  ["service.action.networkConnectionAction.protocol", "Protocol"],
  ["service.action.networkConnectionAction.blocked", "Connection blocked"],
  ["service.action.networkConnectionAction.remoteIpDetails.country.countryName", "Remote country"],
  ["service.action.networkConnectionAction.remoteIpDetails.organization.asnOrg", "Remote ASN organization"],
  ["service.action.awsApiCallAction.api", "API called"],
  ["service.action.awsApiCallAction.serviceName", "API service name"],
  ["service.action.awsApiCallAction.errorCode", "API error code"],
  ["service.action.dnsRequestAction.domain", "DNS domain"],
  ["service.additionalInfo.threatListName", "Threat list name"],
  ["service.localIpDetails.ipAddressV4", "Local IP address"],
  ["service.resourceRole", "Resource role"],
];

export const FIELD_LABEL = Object.fromEntries(FIELDS);

// OPS are the operators of the filter bar (GuardDuty's short names).
export const OPS = [
  ["eq", "equals"],
  ["neq", "not equals"],
  ["gt", ">"],
  ["gte", "≥"],
  ["lt", "<"],
  ["lte", "≤"],
];

const LIST_OPS = { eq: "eq", neq: "neq", equals: "eq", notEquals: "neq", matches: "matches", notMatches: "notMatches" };
const NUM_OPS = {
  gt: "gt", gte: "gte", lt: "lt", lte: "lte",
  greaterThan: "gt", greaterThanOrEqual: "gte", lessThan: "lt", lessThanOrEqual: "lte",
};

const TIME_FIELDS = new Set(["updatedAt", "createdAt", "service.eventFirstSeen", "service.eventLastSeen", "resource.instanceDetails.launchTime"]);

// numericValue converts the text of a comparison into the number the API
// wants: times (a date or date and time) become Unix milliseconds.
export function numericValue(field, text) {
  const t = String(text).trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) return Math.trunc(Number(t));
  if (TIME_FIELDS.has(field)) {
    const d = new Date(t);
    if (!isNaN(d.getTime())) return d.getTime();
  }
  throw new Error("“" + t + "” is not a number" + (TIME_FIELDS.has(field) ? " or a date" : ""));
}

function severityText(n) {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

// Chips are {field, op, values: [string]} for list operators or
// {field, op, value: number} for comparisons.
export function makeChip(field, op, text) {
  if (!field) throw new Error("Choose a field.");
  if (String(text).trim() === "") throw new Error("Enter a value.");
  if (LIST_OPS[op]) {
    let values = String(text).split(",").map((v) => v.trim()).filter(Boolean);
    // The API compares severities as the finding writes them: "8.0", "5.5".
    if (field === "severity") values = values.map((v) => (/^\d+(\.\d+)?$/.test(v) ? severityText(Number(v)) : v));
    return { field, op: LIST_OPS[op], values };
  }
  if (NUM_OPS[op]) return { field, op: NUM_OPS[op], value: numericValue(field, text) };
  throw new Error("Unknown operator " + op);
}

// toCriteria builds findingCriteria from chips; chips on one field merge.
export function toCriteria(chips) {
  const criterion = {};
  for (const c of chips) {
    const cond = criterion[c.field] || (criterion[c.field] = {});
    if (c.values) cond[c.op] = (cond[c.op] || []).concat(c.values);
    else cond[c.op] = c.value;
  }
  return { criterion };
}

// fromCriteria turns findingCriteria (as GetFilter returns it, with both
// the current and the deprecated operator names) back into chips.
export function fromCriteria(fc) {
  const chips = [];
  const crit = (fc && fc.criterion) || {};
  for (const [field, cond] of Object.entries(crit)) {
    const seen = new Set();
    for (const [op, v] of Object.entries(cond || {})) {
      if (LIST_OPS[op] && Array.isArray(v) && v.length) {
        const key = LIST_OPS[op];
        if (seen.has(key)) continue;
        seen.add(key);
        chips.push({ field, op: key, values: v.map(String) });
      } else if (NUM_OPS[op] && typeof v === "number") {
        const key = NUM_OPS[op];
        if (seen.has(key)) continue;
        seen.add(key);
        chips.push({ field, op: key, value: v });
      }
    }
  }
  return chips;
}

// cleanCriteria drops the deprecated duplicates GetFilter adds, so an
// edited filter is sent back with one spelling of each operator.
export function cleanCriteria(fc) {
  return toCriteria(fromCriteria(fc));
}

const OP_TEXT = { eq: "=", neq: "≠", gt: ">", gte: "≥", lt: "<", lte: "≤", matches: "matches", notMatches: "does not match" };

export function chipText(c) {
  const label = FIELD_LABEL[c.field] || c.field;
  let v = c.values ? c.values.join(", ") : String(c.value);
  if (!c.values && TIME_FIELDS.has(c.field) && c.value > 1e11) v = new Date(c.value).toISOString();
  return label + " " + (OP_TEXT[c.op] || c.op) + " " + v;
}

export function criteriaSummary(fc) {
  const chips = fromCriteria(fc);
  if (!chips.length) return "(all findings)";
  return chips.map(chipText).join("; ");
}

// fieldSelect and opSelect build the selects of a criterion builder.
export function fieldSelect(attrs) {
  return h("select", attrs, FIELDS.map(([v, label]) => h("option", { value: v }, label)));
}

export function opSelect(attrs) {
  return h("select", attrs, OPS.map(([v, label]) => h("option", { value: v }, label)));
}
