// The custom scorecard builder's model: rules grouped by level (the ladder, lowest first, then
// "score only" for rules without a level), moves for drag and drop and for the keyboard, the
// Scorecard manifest (scorecards.nexus.dev/v1alpha1, as api/src/scorecards/scorecard.rs
// defines it) and its YAML.
import type { ScorecardManifest, ScorecardRuleSpec } from "../api/types";

export interface DraftRule {
  /** Stable key for React and drag and drop (not part of the manifest). */
  key: string;
  id: string;
  title: string;
  /** A level of the ladder, or "" for score only. */
  level: string;
  weight: number;
  expression: string;
  message: string;
  facts: string[];
}

export interface Draft {
  name: string;
  namespace: string;
  title: string;
  description: string;
  kinds: string[];
  namespaces: string[];
  filter: string;
  levels: string[];
  rules: DraftRule[];
  gateLevel: string;
  gateScore: string;
  sweepInterval: string;
}

/** Catalog kinds a scorecard may apply to (the CRD's spec.appliesTo.kinds rule). */
export const CATALOG_KINDS = [
  "Component", "System", "Domain", "Repository", "Pipeline", "AzureResource", "Environment",
  "Team", "User", "API", "Package", "Incident", "WorkItem", "Runbook",
];

export const DEFAULT_LEVELS = ["Bronze", "Silver", "Gold"];

let counter = 0;
export const newKey = () => `r${++counter}`;

export function emptyDraft(namespace = "nexus-org"): Draft {
  return {
    name: "",
    namespace,
    title: "",
    description: "",
    kinds: ["Component"],
    namespaces: [],
    filter: "",
    levels: [...DEFAULT_LEVELS],
    rules: [],
    gateLevel: "",
    gateScore: "",
    sweepInterval: "1h",
  };
}

/** A draft from a manifest (a template); rules keep their order, grouped by level. */
export function draftFrom(m: { metadata: { name: string; namespace?: string }; spec: ScorecardManifest["spec"] }, namespace = "nexus-org"): Draft {
  const levels = m.spec.levels?.length ? [...m.spec.levels] : [...DEFAULT_LEVELS];
  const draft: Draft = {
    name: m.metadata.name,
    namespace: m.metadata.namespace ?? namespace,
    title: m.spec.title,
    description: m.spec.description ?? "",
    kinds: [...m.spec.appliesTo.kinds],
    namespaces: [...(m.spec.appliesTo.namespaces ?? [])],
    filter: m.spec.appliesTo.filter ?? "",
    levels,
    rules: m.spec.rules.map((r) => ({
      key: newKey(),
      id: r.id,
      title: r.title,
      level: r.level ?? "",
      weight: r.weight ?? 1,
      expression: r.expression,
      message: r.message,
      facts: [...(r.facts ?? [])],
    })),
    gateLevel: m.spec.gate?.minLevel ?? "",
    gateScore: m.spec.gate?.minScore !== undefined ? String(m.spec.gate.minScore) : "",
    sweepInterval: m.spec.sweepInterval ?? "1h",
  };
  return { ...draft, rules: ordered(draft.rules, levels) };
}

/** Groups in display order: each level of the ladder, then "" (score only). */
export function groups(levels: string[]) {
  return [...levels, ""];
}

function groupIndex(gs: string[], r: DraftRule) {
  const i = gs.indexOf(r.level);
  return i < 0 ? gs.length - 1 : i;
}

/** Rules in display order: grouped by level (ladder order, then score only), stable within a group. */
export function ordered(rules: DraftRule[], levels: string[]): DraftRule[] {
  const gs = groups(levels);
  const rank = (r: DraftRule) => {
    const i = gs.indexOf(r.level);
    return i < 0 ? gs.length - 1 : i;
  };
  return rules.map((r, i) => ({ r, i })).sort((a, b) => rank(a.r) - rank(b.r) || a.i - b.i).map((x) => x.r);
}

/**
 * Moves a rule one place up or down in display order. At the top (bottom) of its level it moves
 * to the end (start) of the level above (below), so the keyboard reaches every place a drag can.
 */
export function moveRule(rules: DraftRule[], levels: string[], key: string, dir: -1 | 1): DraftRule[] {
  const list = ordered(rules, levels);
  const i = list.findIndex((r) => r.key === key);
  if (i < 0) return list;
  const rule = list[i]!;
  const gs = groups(levels);
  const g = Math.max(0, gs.indexOf(rule.level));
  const neighbour = list[i + dir];
  if (neighbour && neighbour.level === rule.level) {
    const next = [...list];
    next[i] = neighbour;
    next[i + dir] = rule;
    return next;
  }
  const target = gs[g + dir];
  if (target === undefined) return list; // already first (last) of all
  const moved = { ...rule, level: target };
  const rest = list.filter((r) => r.key !== key);
  const members = rest.filter((r) => r.level === target);
  // Up: last of the level above; down: first of the level below.
  const anchor = dir === -1 ? members[members.length - 1] : members[0];
  let at: number;
  if (anchor) at = rest.indexOf(anchor) + (dir === -1 ? 1 : 0);
  else at = rest.findIndex((r) => groupIndex(gs, r) > g + dir);
  if (at < 0) at = rest.length;
  return ordered([...rest.slice(0, at), moved, ...rest.slice(at)], levels);
}

/** Puts a rule (existing, by key, or new) into a level, before the rule `beforeKey` or at the end. */
export function placeRule(rules: DraftRule[], levels: string[], rule: DraftRule, level: string, beforeKey?: string): DraftRule[] {
  const moved = { ...rule, level };
  const rest = ordered(rules, levels).filter((r) => r.key !== rule.key);
  let at = beforeKey ? rest.findIndex((r) => r.key === beforeKey) : -1;
  if (at < 0) {
    const gs = groups(levels);
    const g = gs.indexOf(level);
    const members = rest.filter((r) => r.level === level);
    const last = members[members.length - 1];
    at = last ? rest.indexOf(last) + 1 : rest.findIndex((r) => gs.indexOf(r.level) > g);
    if (at < 0) at = rest.length;
  }
  return ordered([...rest.slice(0, at), moved, ...rest.slice(at)], levels);
}

/** A rule id not yet used: `base`, `base-2`, … */
export function uniqueId(rules: DraftRule[], base: string) {
  const ids = new Set(rules.map((r) => r.id));
  if (!ids.has(base)) return base;
  for (let n = 2; ; n++) if (!ids.has(`${base}-${n}`)) return `${base}-${n}`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const FACT = /^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)*$/;
const DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;

/** What the API server would refuse, in words, before asking it. */
export function problems(d: Draft): string[] {
  const out: string[] = [];
  if (!DNS_LABEL.test(d.name) || d.name.length > 63) out.push("Name: lower-case letters, digits and '-', like production-readiness.");
  if (!DNS_LABEL.test(d.namespace)) out.push("Namespace: a Kubernetes namespace name.");
  if (!d.title.trim()) out.push("Title is required.");
  if (!d.kinds.length) out.push("Applies to: choose at least one kind.");
  if (!d.levels.length || d.levels.length > 10) out.push("Levels: 1 to 10.");
  if (new Set(d.levels).size !== d.levels.length) out.push("Levels must be different.");
  if (d.levels.some((l) => !l.trim() || l.length > 32)) out.push("Levels: each 1 to 32 characters.");
  if (!d.rules.length) out.push("Add at least one rule (drag one from the palette, or use its Add button).");
  if (d.rules.length > 100) out.push("At most 100 rules.");
  const seen = new Set<string>();
  for (const r of d.rules) {
    const name = r.title || r.id || "a rule";
    if (!DNS_LABEL.test(r.id) || r.id.length > 63) out.push(`${name}: the id must be a DNS label (lower-case, digits, '-').`);
    if (seen.has(r.id)) out.push(`${name}: the id ${r.id} is used twice.`);
    seen.add(r.id);
    if (!r.title.trim()) out.push(`${r.id}: title is required.`);
    if (!r.expression.trim()) out.push(`${name}: the CEL expression is required.`);
    if (r.expression.length > 4096) out.push(`${name}: the expression has more than 4096 characters.`);
    if (!r.message.trim()) out.push(`${name}: say what to fix when it fails (message).`);
    if (r.message.length > 1024) out.push(`${name}: the message has more than 1024 characters.`);
    if (!Number.isInteger(r.weight) || r.weight < 1 || r.weight > 100) out.push(`${name}: weight must be a whole number from 1 to 100.`);
    if (r.level && !d.levels.includes(r.level)) out.push(`${name}: level ${r.level} is not in the ladder.`);
    for (const f of r.facts) if (!FACT.test(f)) out.push(`${name}: fact ${f} is not a dotted camelCase path (azure.policyCompliance).`);
  }
  if (d.gateLevel && !d.levels.includes(d.gateLevel)) out.push(`Gate: level ${d.gateLevel} is not in the ladder.`);
  if (d.gateScore !== "" && !(/^\d+$/.test(d.gateScore) && Number(d.gateScore) <= 100)) out.push("Gate: minimum score is a whole number from 0 to 100.");
  if (d.sweepInterval && !DURATION.test(d.sweepInterval)) out.push("Sweep interval: a duration such as 1h or 30m.");
  return out;
}

/** The Scorecard manifest of a draft (optional fields left out when empty, as the CRD defaults them). */
export function toManifest(d: Draft): ScorecardManifest {
  const rules: ScorecardRuleSpec[] = ordered(d.rules, d.levels).map((r) => {
    // Key order as the templates write them: id, title, level, weight, facts, expression, message.
    const rule: Partial<ScorecardRuleSpec> = { id: r.id, title: r.title };
    if (r.level) rule.level = r.level;
    rule.weight = r.weight;
    if (r.facts.length) rule.facts = [...r.facts];
    rule.expression = r.expression;
    rule.message = r.message;
    return rule as ScorecardRuleSpec;
  });
  const appliesTo: ScorecardManifest["spec"]["appliesTo"] = { kinds: [...d.kinds] };
  if (d.namespaces.length) appliesTo.namespaces = [...d.namespaces];
  if (d.filter.trim()) appliesTo.filter = d.filter.trim();
  const spec: ScorecardManifest["spec"] = { title: d.title } as ScorecardManifest["spec"];
  if (d.description.trim()) spec.description = d.description.trim();
  spec.appliesTo = appliesTo;
  spec.levels = [...d.levels];
  spec.rules = rules;
  if (d.gateLevel || d.gateScore !== "") {
    spec.gate = {};
    if (d.gateLevel) spec.gate.minLevel = d.gateLevel;
    if (d.gateScore !== "") spec.gate.minScore = Number(d.gateScore);
  }
  if (d.sweepInterval && d.sweepInterval !== "1h") spec.sweepInterval = d.sweepInterval;
  return {
    apiVersion: "scorecards.nexus.dev/v1alpha1",
    kind: "Scorecard",
    metadata: { name: d.name, namespace: d.namespace },
    spec,
  };
}

// ---- YAML (block style; strings quoted whenever plain style could change their meaning) ----

const PLAIN_SAFE = /^[A-Za-z0-9_./()'=<>!&|+[\]{},@$%^*~`-][^\n]*$/;
const AMBIGUOUS = /^(true|false|yes|no|on|off|y|n|null|~|-?\d+(\.\d+)?([eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan)$/i;

export function yamlString(s: string): string {
  if (
    s === "" ||
    AMBIGUOUS.test(s) ||
    !PLAIN_SAFE.test(s) ||
    /^[-?:,[\]{}#&*!|>'"%@`]/.test(s) ||
    /: |:$| #|\t/.test(s) ||
    s !== s.trim()
  ) {
    return JSON.stringify(s);
  }
  return s;
}

function scalar(v: unknown): string {
  if (typeof v === "string") return yamlString(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v === null || v === undefined) return "null";
  return JSON.stringify(v);
}

/** Inside [a, b]: commas and brackets would end the item. */
function flowScalar(v: unknown): string {
  return typeof v === "string" && /[,[\]{}]/.test(v) ? JSON.stringify(v) : scalar(v);
}

function emit(v: unknown, indent: string, out: string[]) {
  if (Array.isArray(v)) {
    for (const item of v) {
      if (item && typeof item === "object" && !Array.isArray(item)) {
        const lines: string[] = [];
        emit(item, `${indent}  `, lines);
        out.push(`${indent}- ${lines[0]!.trimStart()}`, ...lines.slice(1));
      } else {
        out.push(`${indent}- ${scalar(item)}`);
      }
    }
    return;
  }
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (val === undefined) continue;
    if (Array.isArray(val)) {
      if (!val.length) out.push(`${indent}${k}: []`);
      else if (val.every((x) => typeof x !== "object" || x === null)) out.push(`${indent}${k}: [${val.map(flowScalar).join(", ")}]`);
      else {
        out.push(`${indent}${k}:`);
        emit(val, `${indent}  `, out);
      }
    } else if (val && typeof val === "object") {
      if (!Object.keys(val).length) out.push(`${indent}${k}: {}`);
      else {
        out.push(`${indent}${k}:`);
        emit(val, `${indent}  `, out);
      }
    } else {
      out.push(`${indent}${k}: ${scalar(val)}`);
    }
  }
}

export function toYaml(value: unknown): string {
  const out: string[] = [];
  emit(value, "", out);
  return `${out.join("\n")}\n`;
}
