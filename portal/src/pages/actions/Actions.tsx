// The action catalogue: every Action the signed-in user can see, grouped by category, with
// whether they may run it and why not.
import { useMemo, useState } from "react";
import { Link } from "react-router";
import { actionUrl, useActions, type ActionSummary } from "../../api/actions";
import { RefLink } from "../../components/EntityLink";
import { Empty, ErrorMessage, Loading } from "../../components/Status";
import { useUrlParams } from "../../lib/filters";
import { useTitle } from "../../lib/useTitle";

export function ActionCard({ action, target }: { action: ActionSummary; target?: string }) {
  const stages = action.approval.stages;
  return (
    <li className="action-card" aria-labelledby={`action-${action.namespace}-${action.name}`}>
      <div className="action-card-head">
        <h3 id={`action-${action.namespace}-${action.name}`}>{action.title}</h3>
        {action.canRun ? (
          <Link className="button primary" to={actionUrl(action, target)} aria-label={`Run “${action.title}”`}>
            Run…
          </Link>
        ) : (
          <span className="badge badge-pending" title={action.whyNot}>
            Not available to you
          </span>
        )}
      </div>
      {action.description && <p className="small">{action.description}</p>}
      <p className="muted small">
        {stages.length === 0
          ? "No approval needed"
          : stages.length === 1
            ? `Needs ${stages[0]!.required} approval${stages[0]!.required === 1 ? "" : "s"} (${stages[0]!.name})`
            : `Needs approval in ${stages.length} stages (${stages.map((s) => s.name).join(" → ")})`}
        {action.targetKinds.length > 0 && ` · acts on ${action.targetKinds.join(", ")}`}
        {action.gate && ` · gated by ${action.gate.scorecards.join(", ")}`} · {action.namespace} · v{action.version}
      </p>
      {!action.canRun && action.whyNot && <p className="small warning">{action.whyNot}</p>}
    </li>
  );
}

export function groupByCategory(actions: ActionSummary[]): [string, ActionSummary[]][] {
  const groups = new Map<string, ActionSummary[]>();
  for (const a of actions) {
    const c = a.category ?? "Other";
    groups.set(c, [...(groups.get(c) ?? []), a]);
  }
  return [...groups.entries()].sort(([a], [b]) => (a === "Other" ? 1 : b === "Other" ? -1 : a.localeCompare(b)));
}

export function filterActions(actions: ActionSummary[], text: string, onlyRunnable: boolean) {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  return actions.filter(
    (a) =>
      (!onlyRunnable || a.canRun) &&
      words.every((w) => `${a.title} ${a.name} ${a.category ?? ""} ${a.description ?? ""}`.toLowerCase().includes(w)),
  );
}

export default function ActionsPage() {
  const [params, set] = useUrlParams({ replace: true });
  const target = params.get("target") ?? undefined;
  const text = params.get("q") ?? "";
  const onlyRunnable = params.get("runnable") === "1";
  const { data, error, isPending, refetch } = useActions({ target });
  const [draft, setDraft] = useState(text);
  useTitle("Actions");
  const shown = useMemo(() => filterActions(data?.items ?? [], text, onlyRunnable), [data, text, onlyRunnable]);

  return (
    <div className="page">
      <header className="page-header">
        <h1>Actions</h1>
        <p className="lead">
          Day-2 operations you can run yourself{target && <> on <RefLink refString={target} /></>}. Runs that need approval wait for an approver; every step is audited.
        </p>
        <nav className="entity-actions" aria-label="Action views">
          <Link className="button" to="/runs">Runs</Link>
          <Link className="button" to="/approvals">Approvals inbox</Link>
          <Link className="button" to="/audit">Audit trail</Link>
        </nav>
      </header>
      <form className="inline-form" role="search" aria-label="Filter actions" onSubmit={(e) => { e.preventDefault(); set("q", draft.trim() || null); }}>
        <label htmlFor="action-filter">Find an action</label>
        <input id="action-filter" type="search" value={draft} placeholder="e.g. scale, restart, rotate" onChange={(e) => { setDraft(e.target.value); set("q", e.target.value.trim() || null); }} />
        <label className="choice">
          <input type="checkbox" checked={onlyRunnable} onChange={(e) => set("runnable", e.target.checked ? "1" : null)} /> Only actions I can run
        </label>
        {target && <button type="button" onClick={() => set("target", null)}>Show actions for every target</button>}
      </form>
      {isPending ? (
        <Loading label="Loading actions" />
      ) : error ? (
        <ErrorMessage error={error} retry={() => void refetch()} />
      ) : shown.length === 0 ? (
        <Empty>
          {data.items.length === 0
            ? "No actions are visible to you. Actions live in team namespaces; ask your platform team for access to the namespace of the actions you need (the nexus-developer role)."
            : "No action matches these filters."}
        </Empty>
      ) : (
        groupByCategory(shown).map(([category, actions]) => (
          <section key={category} className="panel" aria-labelledby={`cat-${category}`}>
            <h2 id={`cat-${category}`}>
              {category} <span className="count">{actions.length}</span>
            </h2>
            <ul className="action-list">
              {actions.map((a) => (
                <ActionCard key={`${a.namespace}/${a.name}`} action={a} target={target} />
              ))}
            </ul>
          </section>
        ))
      )}
    </div>
  );
}
