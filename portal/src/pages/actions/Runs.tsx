// Runs the signed-in user can see, newest first, filtered by requester, phase and namespace.
// Updates live: a run's phase changes on screen as the controller moves it.
import { Link } from "react-router";
import { useRuns } from "../../api/actions";
import { RunTable } from "../../components/RunBits";
import { Empty, ErrorMessage, Loading } from "../../components/Status";
import { useUrlParams } from "../../lib/filters";
import { useTitle } from "../../lib/useTitle";

const PHASES = ["WaitingForApproval", "Running", "Succeeded", "Failed", "Rejected", "Expired", "Cancelled", "Refused", "Invalid", "RolledBack"];

export default function RunsPage() {
  const [params, set] = useUrlParams({ replace: true });
  const mine = params.get("mine") === "1";
  const phase = params.get("phase") ?? "";
  const namespace = params.get("namespace") ?? "";
  const limit = Number(params.get("limit") ?? 50) || 50;
  const { data, error, isPending, refetch } = useRuns({ requester: mine ? "me" : undefined, phase: phase || undefined, namespace: namespace || undefined, limit });
  useTitle("Runs");
  return (
    <div className="page">
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to="/actions">Actions</Link>
        </p>
        <h1>Runs</h1>
      </header>
      <form className="inline-form" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        <label className="choice">
          <input type="checkbox" checked={mine} onChange={(e) => set("mine", e.target.checked ? "1" : null)} /> Only my runs
        </label>
        <label htmlFor="run-phase">Phase</label>
        <select id="run-phase" value={phase} onChange={(e) => set("phase", e.target.value || null)}>
          <option value="">any</option>
          {PHASES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <label htmlFor="run-namespace">Namespace</label>
        <input id="run-namespace" value={namespace} placeholder="any" onChange={(e) => set("namespace", e.target.value.trim() || null)} />
      </form>
      {isPending ? (
        <Loading label="Loading runs" />
      ) : error ? (
        <ErrorMessage error={error} retry={() => void refetch()} />
      ) : data.items.length === 0 ? (
        <Empty>{mine || phase || namespace ? "No run matches these filters." : "No runs yet. Start one from the Actions page or an entity's Actions panel."}</Empty>
      ) : (
        <section className="panel">
          <RunTable runs={data.items} caption="Runs" />
          {data.continue && (
            <button type="button" onClick={() => set("limit", String(limit + 50))}>
              Show more
            </button>
          )}
        </section>
      )}
    </div>
  );
}
