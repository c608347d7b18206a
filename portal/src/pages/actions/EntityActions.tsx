// The Actions panel of an entity page: what the signed-in user can run on this entity, and its
// recent runs (live).
import { Link } from "react-router";
import { actionUrl, runUrl, useActions, useRuns } from "../../api/actions";
import { PhaseBadge } from "../../components/RunBits";
import { ErrorMessage } from "../../components/Status";
import { timeAgo } from "../../lib/words";

export default function EntityActions({ target }: { target: string }) {
  const actions = useActions({ target });
  const runs = useRuns({ target, limit: 5 });
  const runnable = (actions.data?.items ?? []).filter((a) => a.canRun);
  const others = (actions.data?.items.length ?? 0) - runnable.length;
  return (
    <section className="panel" aria-labelledby="entity-actions-title">
      <h2 id="entity-actions-title">
        Actions <span className="count">{runnable.length}</span>
      </h2>
      {actions.error ? (
        <ErrorMessage error={actions.error} retry={() => void actions.refetch()} />
      ) : actions.isPending ? (
        <p className="muted">Loading actions…</p>
      ) : runnable.length === 0 ? (
        <p className="empty">
          {others > 0 ? `${others} action${others === 1 ? "" : "s"} act on this, but none you may run.` : "No self-service action acts on this kind of entity here."}
        </p>
      ) : (
        <ul className="summary-list">
          {runnable.map((a) => (
            <li key={`${a.namespace}/${a.name}`}>
              <Link to={actionUrl(a, target)}>{a.title}</Link>
              <span className="muted small"> · {a.approval.stages.length ? "needs approval" : "no approval"}</span>
            </li>
          ))}
        </ul>
      )}
      {(actions.data?.items.length ?? 0) > 0 && (
        <p className="small">
          <Link to={`/actions?target=${encodeURIComponent(target)}`}>All actions for this entity</Link>
        </p>
      )}
      <h3>Recent runs</h3>
      {runs.data?.items.length ? (
        <ul className="summary-list">
          {runs.data.items.map((r) => (
            <li key={r.name}>
              <Link to={runUrl(r)}>{r.actionTitle ?? r.action}</Link> <PhaseBadge phase={r.phase} />{" "}
              <span className="muted small">
                by {r.requester} {timeAgo(r.createdAt)}
              </span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="empty">{runs.error ? "Runs could not be loaded." : "No runs on this entity yet."}</p>
      )}
    </section>
  );
}
