// Entity references (`kind:namespace/name`) and the portal's URLs for them.
import type { Summary } from "../api/types";

export interface Ref {
  kind: string; // lower-case, as references spell it (component, api, azureresource, …)
  namespace: string;
  name: string;
}

export function parseRef(ref: string): Ref | null {
  const m = /^([^:/]+):([^/]+)\/(.+)$/.exec(ref);
  if (!m) return null;
  return { kind: m[1]!.toLowerCase(), namespace: m[2]!, name: m[3]! };
}

export function kindSlug(kind: string) {
  return kind.toLowerCase();
}

export function entityPath(e: Pick<Summary, "kind" | "namespace" | "name"> | Ref): string {
  const kind = kindSlug(e.kind);
  const base = `/entities/${encodeURIComponent(kind)}/${encodeURIComponent(e.namespace)}/${encodeURIComponent(e.name)}`;
  return base;
}

export function refPath(ref: string): string | null {
  const r = parseRef(ref);
  return r ? entityPath(r) : null;
}

export function teamPath(namespace: string, name: string) {
  return `/teams/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}

/** API path of an entity (`/entities/{kind}/{namespace}/{name}`). */
export function entityApiPath(r: Ref) {
  return `/entities/${encodeURIComponent(r.kind)}/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}`;
}

/** Display names of kinds (as the API spells them in `kind`). */
export const KIND_LABELS: Record<string, string> = {
  component: "Component",
  system: "System",
  domain: "Domain",
  repository: "Repository",
  pipeline: "Pipeline",
  azureresource: "Azure resource",
  environment: "Environment",
  team: "Team",
  user: "User",
  api: "API",
  package: "Package",
  incident: "Incident",
  workitem: "Work item",
  runbook: "Runbook",
};

export function kindLabel(kind: string) {
  return KIND_LABELS[kindSlug(kind)] ?? kind;
}

/** Short form of a reference for display: `name` (with the namespace when asked). */
export function shortRef(ref: string, withNamespace = true) {
  const r = parseRef(ref);
  if (!r) return ref;
  return withNamespace ? `${r.namespace}/${r.name}` : r.name;
}
