// Plain words for what the API reports in Kubernetes terms.
import type { Condition } from "../api/types";

const RELATION_LABELS: Record<string, string> = {
  ownedBy: "Owned by",
  ownerOf: "Owns",
  dependsOn: "Depends on",
  dependencyOf: "Depended on by",
  providesApi: "Provides API",
  apiProvidedBy: "API provided by",
  consumesApi: "Consumes API",
  apiConsumedBy: "API consumed by",
  partOf: "Part of",
  hasPart: "Has part",
  memberOf: "Member of",
  hasMember: "Has member",
  childOf: "Child of",
  parentOf: "Parent of",
  hasRepository: "Repository",
  repositoryOf: "Repository of",
  builds: "Builds",
  builtBy: "Built by",
  deploysTo: "Deploys to",
  deployedBy: "Deployed by",
  deployedTo: "Deployed to",
  hosts: "Hosts",
  produces: "Produces",
  producedBy: "Produced by",
  affects: "Affects",
  affectedBy: "Affected by",
  tracks: "Tracks",
  trackedBy: "Tracked by",
  runbookFor: "Runbook for",
  hasRunbook: "Runbooks",
  hasOnCall: "On call",
  onCallFor: "On call for",
};

export const RELATION_TYPES = Object.keys(RELATION_LABELS);

export function relationLabel(type: string) {
  return RELATION_LABELS[type] ?? type;
}

const OWNER_SOURCES: Record<string, string> = {
  spec: "declared in the entity's spec.owner",
  Spec: "declared in the entity's spec.owner",
  codeowners: "from the CODEOWNERS file of its repository",
  Codeowners: "from the CODEOWNERS file of its repository",
  azureTags: "from the owner/team tag of the Azure resource",
  AzureTags: "from the owner/team tag of the Azure resource",
  entraGroup: "from an Entra ID group mapped to the team",
  EntraGroup: "from an Entra ID group mapped to the team",
};

export function ownerSourceText(source?: string) {
  if (!source) return "how the owner was found is not recorded";
  return OWNER_SOURCES[source] ?? `source: ${source}`;
}

const CONDITION_NAMES: Record<string, string> = {
  Ready: "Ready",
  RelationsResolved: "References",
  OwnerResolved: "Owner",
  Stalled: "Stalled",
  Reconciling: "Being updated",
};

/** One sentence per condition, saying what it means for a person. */
export function conditionSentence(c: Condition): string {
  const name = CONDITION_NAMES[c.type] ?? c.type;
  // Capitalise a sentence, never a reference (`component:ns/name`).
  const message = c.message && !/^[a-z]+:/.test(c.message) ? c.message.charAt(0).toUpperCase() + c.message.slice(1) : (c.message ?? "");
  const detail = message ? ` ${message.replace(/\.?$/, ".")}` : "";
  switch (c.type) {
    case "Ready":
      if (c.status === "True") return `Ready: Nexus resolved everything this entity declares.${detail}`;
      if (c.status === "False") return `Not ready (${c.reason ?? "no reason given"}):${detail || " see the other conditions."}`;
      return `Not yet checked by the catalog controller.${detail}`;
    case "RelationsResolved":
      if (c.status === "True") return "Every reference in the spec points at an existing entity.";
      if (c.status === "False") return `Some references point at entities that do not exist (yet):${detail || " check the spec."}`;
      return `References have not been checked yet.${detail}`;
    case "OwnerResolved":
      if (c.status === "True") return `The owner is known.${detail}`;
      if (c.status === "False") return `No owner could be found (${c.reason ?? "unknown reason"}):${detail || " set spec.owner."}`;
      return `The owner has not been worked out yet.${detail}`;
    case "Stalled":
      if (c.status === "True") return `Stalled: the controller cannot make progress without a change to the spec.${detail}`;
      return `Not stalled.${detail}`;
    case "Reconciling":
      if (c.status === "True") return `Being updated by the controller.${detail}`;
      return `Up to date.${detail}`;
    default: {
      const state = c.status === "True" ? "yes" : c.status === "False" ? "no" : "unknown";
      return `${name}: ${state}${c.reason ? ` (${c.reason})` : ""}.${detail}`;
    }
  }
}

/** Is this condition good news? (Stalled=True and Reconciling=True are not.) */
export function conditionTone(c: Condition): "ok" | "bad" | "pending" {
  if (c.status === "Unknown") return "pending";
  const inverted = c.type === "Stalled";
  const good = (c.status === "True") !== inverted;
  if (c.type === "Reconciling") return c.status === "True" ? "pending" : "ok";
  return good ? "ok" : "bad";
}

export function readyText(ready: string) {
  return ready === "True" ? "Ready" : ready === "False" ? "Not ready" : "Unknown";
}

/** "3 minutes ago" */
export function timeAgo(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  const abs = Math.abs(s);
  const units: [number, string][] = [
    [86400 * 365, "year"],
    [86400 * 30, "month"],
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ];
  for (const [size, unit] of units) {
    if (abs >= size) {
      const n = Math.floor(abs / size);
      const label = `${n} ${unit}${n === 1 ? "" : "s"}`;
      return s >= 0 ? `${label} ago` : `in ${label}`;
    }
  }
  return s >= 0 ? "just now" : "in a moment";
}

/** camelCase field name → "Camel case" */
export function fieldLabel(key: string) {
  const spaced = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ");
  return spaced.charAt(0).toUpperCase() + spaced.slice(1).toLowerCase();
}
