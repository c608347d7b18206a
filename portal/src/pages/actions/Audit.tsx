// The audit trail of actions, from the controller's tamper-evident log (hash-chained; checked
// with `nexus audit verify`), limited to the namespaces whose runs the user may list.
import { useState } from "react";
import { Link } from "react-router";
import { runUrl, useAudit, type AuditEntry } from "../../api/actions";
import { RefLink } from "../../components/EntityLink";
import { Value } from "../../components/Value";
import { Empty, ErrorMessage, Loading } from "../../components/Status";
import { useUrlParams } from "../../lib/filters";
import { useTitle } from "../../lib/useTitle";

// A new filter starts from the newest entries again.
const RESET = ["continue"];

function details(e: AuditEntry) {
  return e.details && typeof e.details === "object" && Object.keys(e.details).length ? e.details : null;
}

/** `run.succeeded` → "run succeeded". */
export function kindWords(kind: string) {
  return kind.replace(/[._]/g, " ");
}

export default function AuditPage() {
  const [params, set] = useUrlParams({ reset: RESET });
  const filters = { namespace: params.get("namespace") ?? undefined, run: params.get("run") ?? undefined, actor: params.get("actor") ?? undefined, limit: 100, continue: params.get("continue") ?? undefined };
  const { data, error, isPending, refetch } = useAudit(filters);
  const [actor, setActor] = useState(filters.actor ?? "");
  useTitle("Audit trail");
  return (
    <div className="page">
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to="/actions">Actions</Link>
        </p>
        <h1>Audit trail</h1>
        <p className="lead">
          Every request, approval, execution and outcome of a self-service action, newest first. The log is append-only and hash-chained; platform engineers check it with <code>nexus audit verify</code>.
        </p>
      </header>
      <form className="inline-form" aria-label="Filter the audit trail" onSubmit={(e) => { e.preventDefault(); set("actor", actor.trim() || null); }}>
        <label htmlFor="audit-actor">Person</label>
        <input id="audit-actor" value={actor} onChange={(e) => setActor(e.target.value)} placeholder="e.g. aisha.khan@contoso.com" />
        <button type="submit">Filter</button>
        {filters.run && (
          <button type="button" onClick={() => set("run", null)}>
            All runs (now: {filters.run})
          </button>
        )}
        {filters.namespace && (
          <button type="button" onClick={() => set("namespace", null)}>
            All namespaces (now: {filters.namespace})
          </button>
        )}
      </form>
      {isPending ? (
        <Loading label="Loading the audit trail" />
      ) : error ? (
        <ErrorMessage error={error} retry={() => void refetch()} />
      ) : data.items.length === 0 ? (
        <Empty>No audit entries match. Entries appear as soon as someone requests, approves or runs an action you may see.</Empty>
      ) : (
        <section className="panel">
          <table className="table audit-table">
            <caption className="visually-hidden">Audit entries</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Who</th>
                <th scope="col">Run</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((e) => {
                const more = details(e);
                return (
                  <tr key={e.seq}>
                    <td>{e.seq}</td>
                    <td title={`entry hash ${e.hash}, previous ${e.prev}`}>{new Date(e.time).toLocaleString()}</td>
                    <td>
                      {kindWords(e.kind)}
                      <div className="muted small">{e.action}</div>
                    </td>
                    <td>
                      {e.actor ? (
                        <button type="button" className="link-button" onClick={() => { setActor(e.actor!); set("actor", e.actor!); }}>
                          {e.actor}
                        </button>
                      ) : (
                        <span className="muted">controller</span>
                      )}
                    </td>
                    <td>
                      {e.run ? (
                        <>
                          <Link to={runUrl({ namespace: e.namespace, name: e.run })}>{e.run}</Link>
                          <div className="muted small">{e.namespace}</div>
                        </>
                      ) : (
                        "—"
                      )}
                    </td>
                    <td className="small">
                      {e.target && (
                        <div>
                          <RefLink refString={e.target} />
                        </div>
                      )}
                      {more ? <Value value={more} /> : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {data.continue && (
            <button type="button" onClick={() => set("continue", String(data.continue))}>
              Older entries
            </button>
          )}
          {data.source && <p className="muted small">Source: {data.source}</p>}
        </section>
      )}
    </div>
  );
}
