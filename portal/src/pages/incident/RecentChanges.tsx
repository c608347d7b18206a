// The incident page's "What changed recently nearby" panel.
import { useQueries } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { runUrl, type ListAnswer, type RunSummary } from "../../api/actions";
import { api, queryString } from "../../api/client";
import { refKey } from "../../api/queries";
import type { EntityView, Impact } from "../../api/types";
import { RefLink } from "../../components/EntityLink";
import { ExternalLink } from "../../components/Facts";
import { PhaseBadge } from "../../components/RunBits";
import { entityApiPath, parseRef } from "../../lib/refs";
import { timeAgo } from "../../lib/words";
import { collectChanges, nearby } from "./recentChanges";

const WINDOWS = [
  { hours: 6, label: "6 hours" },
  { hours: 24, label: "24 hours" },
  { hours: 72, label: "3 days" },
  { hours: 168, label: "7 days" },
];

const NEARNESS: Record<string, string> = { affected: "affected", upstream: "a dependency", downstream: "depends on it" };

export default function RecentChanges({ impact, startedAt }: { impact: Impact; startedAt?: string }) {
  const [hours, setHours] = useState(24);
  const entities = nearby(
    impact.affected.map((a) => a.ref),
    impact.upstream.map((u) => u.ref),
    impact.downstream.map((d) => d.ref),
  );
  const views = useQueries({
    queries: entities.map((e) => {
      const r = parseRef(e.ref)!;
      return { queryKey: ["entity", refKey(r)], queryFn: ({ signal }: { signal: AbortSignal }) => api.get<EntityView>(entityApiPath(r), signal) };
    }),
  });
  const runs = useQueries({
    queries: entities.map((e) => ({
      queryKey: ["runs", { target: e.ref, limit: 20 }],
      queryFn: ({ signal }: { signal: AbortSignal }) => api.get<ListAnswer<RunSummary>>(`/runs${queryString({ target: e.ref, limit: 20 })}`, signal),
      retry: false,
    })),
  });
  const start = startedAt ? Date.parse(startedAt) : Date.now();
  const from = start - hours * 3600_000;
  const viewMap = new Map(entities.flatMap((e, i) => (views[i]?.data ? [[e.ref, views[i]!.data!] as const] : [])));
  const runMap = new Map(entities.flatMap((e, i) => (runs[i]?.data ? [[e.ref, runs[i]!.data!.items] as const] : [])));
  const changes = collectChanges(entities, viewMap, runMap, from, Date.now());
  const loading = views.some((q) => q.isPending);

  return (
    <section className="panel" aria-labelledby="recent-changes-title">
      <h2 id="recent-changes-title">
        What changed recently nearby <span className="count">{changes.length}</span>
      </h2>
      <p className="small">
        Deployments and self-service actions on the affected entities, what they depend on and what depends on them, from{" "}
        <label>
          <span className="visually-hidden">window before the incident</span>
          <select value={hours} onChange={(e) => setHours(Number(e.target.value))}>
            {WINDOWS.map((w) => (
              <option key={w.hours} value={w.hours}>
                {w.label}
              </option>
            ))}
          </select>
        </label>{" "}
        before the incident started until now.
      </p>
      {loading ? (
        <p className="muted">Looking at {entities.length} nearby entities…</p>
      ) : changes.length === 0 ? (
        <p className="empty">
          Nothing recorded in this window on {entities.length} nearby entit{entities.length === 1 ? "y" : "ies"}. Deployments arrive from the GitHub and Azure DevOps integrations.
        </p>
      ) : (
        <ol className="changes">
          {changes.map((c, i) => (
            <li key={`${c.kind}-${c.entity}-${c.time}-${i}`}>
              <time dateTime={c.time} title={new Date(c.time).toLocaleString()}>
                {timeAgo(c.time)}
              </time>{" "}
              {c.kind === "action" && c.run ? <Link to={runUrl(c.run)}>{c.title}</Link> : c.url ? <ExternalLink href={c.url}>{c.title}</ExternalLink> : c.title}{" "}
              {c.kind === "action" ? <PhaseBadge phase={c.status} /> : <span className="badge badge-pending">{c.status}</span>} on <RefLink refString={c.entity} />{" "}
              <span className="muted small">
                ({NEARNESS[c.nearness]}
                {c.who && `, by ${c.who}`})
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
