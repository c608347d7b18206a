import type { RunSummary } from "../../api/actions";
import type { EntityView } from "../../api/types";
import { collectChanges, nearby } from "./recentChanges";

const view = (deployments: Record<string, unknown>[]) => ({ object: { status: { deployments } } }) as unknown as EntityView;
const run = (over: Partial<RunSummary>): RunSummary => ({
  namespace: "team-a", name: "r", action: "aks-rollout-restart", requester: "ana", phase: "Succeeded", attempt: 1, cancel: false, createdAt: "2026-11-20T09:00:00Z", stages: [], ...over,
});

describe("what changed recently nearby", () => {
  it("lists affected first, then dependencies and dependents, once each, bounded", () => {
    const n = nearby(["component:a/x"], ["component:a/db", "component:a/x"], ["component:a/web"], 3);
    expect(n).toEqual([
      { ref: "component:a/x", nearness: "affected" },
      { ref: "component:a/db", nearness: "upstream" },
      { ref: "component:a/web", nearness: "downstream" },
    ]);
    expect(nearby(["a", "b", "c"], ["d"], [], 2)).toHaveLength(2);
  });
  it("keeps deployments and runs inside the window, newest first", () => {
    const start = Date.parse("2026-11-20T10:00:00Z");
    const entities = nearby(["component:a/x"], ["component:a/db"], []);
    const views = new Map([
      ["component:a/x", view([
        { environment: "production", version: "v2", status: "success", createdAt: "2026-11-20T09:30:00Z", creator: "bob" },
        { environment: "production", version: "v1", status: "success", createdAt: "2026-11-18T09:30:00Z" },
      ])],
      ["component:a/db", view([{ environment: "production", sha: "abcdef123", status: "failure", updatedAt: "2026-11-20T08:00:00Z" }])],
    ]);
    const runs = new Map([["component:a/db", [run({ name: "scale", actionTitle: "Scale", createdAt: "2026-11-20T09:45:00Z", startedAt: "2026-11-20T09:46:00Z" }), run({ name: "old", createdAt: "2026-11-01T00:00:00Z" })]]]);
    const changes = collectChanges(entities, views, runs, start - 6 * 3600_000, start + 3600_000);
    expect(changes.map((c) => c.title)).toEqual(["Scale", "Deployed v2 to production", "Deployed abcdef1 to production"]);
    expect(changes[0]).toMatchObject({ kind: "action", nearness: "upstream", run: { namespace: "team-a", name: "scale" }, who: "ana" });
    expect(changes[1]).toMatchObject({ nearness: "affected", who: "bob", status: "success" });
    expect(collectChanges(entities, views, new Map(), start - 3600_000, start)).toHaveLength(1);
  });
});
