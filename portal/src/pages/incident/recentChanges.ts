// "What changed recently nearby" for an incident: deployments recorded on, and self-service
// action runs against, the entities the incident affects and their neighbours, in a window
// before the incident started (and since). Pure, so it is tested without a server.
import type { RunSummary } from "../../api/actions";
import type { EntityView } from "../../api/types";

export type Nearness = "affected" | "upstream" | "downstream";

export interface NearbyEntity {
  ref: string;
  nearness: Nearness;
}

export interface Change {
  time: string;
  kind: "deployment" | "action";
  entity: string;
  nearness: Nearness;
  title: string;
  status: string;
  who?: string;
  url?: string;
  /** Run page of an action run. */
  run?: { namespace: string; name: string };
}

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

/** The nearby entities, closest first, at most `max` (affected ones always come first). */
export function nearby(affected: string[], upstream: string[], downstream: string[], max = 12): NearbyEntity[] {
  const seen = new Set<string>();
  const out: NearbyEntity[] = [];
  for (const [refs, nearness] of [[affected, "affected"], [upstream, "upstream"], [downstream, "downstream"]] as const) {
    for (const ref of refs) {
      if (out.length >= max) return out;
      if (seen.has(ref)) continue;
      seen.add(ref);
      out.push({ ref, nearness });
    }
  }
  return out;
}

/** Changes between `from` and `to` (ISO times), newest first. */
export function collectChanges(
  entities: NearbyEntity[],
  views: Map<string, EntityView>,
  runs: Map<string, RunSummary[]>,
  from: number,
  to: number,
): Change[] {
  const inWindow = (t?: string) => {
    if (!t) return false;
    const ms = Date.parse(t);
    return !Number.isNaN(ms) && ms >= from && ms <= to;
  };
  const changes: Change[] = [];
  for (const e of entities) {
    const view = views.get(e.ref);
    const deployments = view?.object.status?.deployments;
    if (Array.isArray(deployments)) {
      for (const d of deployments as Record<string, unknown>[]) {
        const time = str(d.createdAt) ?? str(d.updatedAt);
        if (!inWindow(time)) continue;
        changes.push({
          time: time!,
          kind: "deployment",
          entity: e.ref,
          nearness: e.nearness,
          title: `Deployed ${str(d.version) ?? str(d.sha)?.slice(0, 7) ?? "a new version"} to ${str(d.environment) ?? "an environment"}`,
          status: str(d.status) ?? "unknown",
          who: str(d.creator),
          url: str(d.url),
        });
      }
    }
    for (const r of runs.get(e.ref) ?? []) {
      const time = r.startedAt ?? r.createdAt;
      if (!inWindow(time) && !inWindow(r.finishedAt)) continue;
      changes.push({
        time,
        kind: "action",
        entity: e.ref,
        nearness: e.nearness,
        title: r.actionTitle ?? r.action,
        status: r.phase,
        who: r.requester,
        run: { namespace: r.namespace, name: r.name },
      });
    }
  }
  return changes.sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
}
