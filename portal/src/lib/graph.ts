// Directions in the relation graph. Edges arrive in their declared direction (dependsOn,
// providesApi, partOf, …); "A needs B" means B is upstream of A and A downstream of B — the same
// rule the apiserver's impact analysis uses (apiserver/src/query/graph.rs).
import type { GraphEdge } from "../api/types";

/** Declared relation → who needs whom: "from" (the source needs the target) or "to". */
const NEEDS: Record<string, "from" | "to"> = {
  dependsOn: "from",
  consumesApi: "from",
  deployedTo: "from",
  providesApi: "to", // an API needs the component that provides it
  partOf: "to", // a system needs its parts
};

export function needsPairs(edges: GraphEdge[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (const e of edges) {
    const who = NEEDS[e.type];
    if (who === "from") pairs.push([e.from, e.to]);
    else if (who === "to") pairs.push([e.to, e.from]);
  }
  return pairs;
}

/** Everything `ref` needs (upstream) and everything that needs it (downstream), transitively. */
export function directions(edges: GraphEdge[], ref: string) {
  const needs = new Map<string, string[]>();
  const neededBy = new Map<string, string[]>();
  for (const [a, b] of needsPairs(edges)) {
    needs.set(a, [...(needs.get(a) ?? []), b]);
    neededBy.set(b, [...(neededBy.get(b) ?? []), a]);
  }
  const walk = (start: string, next: Map<string, string[]>) => {
    const seen = new Set<string>();
    const queue = [start];
    while (queue.length) {
      const n = queue.shift()!;
      for (const m of next.get(n) ?? []) {
        if (m !== ref && !seen.has(m)) {
          seen.add(m);
          queue.push(m);
        }
      }
    }
    return seen;
  };
  return { upstream: walk(ref, needs), downstream: walk(ref, neededBy) };
}
