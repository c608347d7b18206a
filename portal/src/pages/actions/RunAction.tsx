// Run an action: the target, the inputs (a form generated from the Action's JSON Schema) and what
// will happen next (approvals, gates). The run is created by nexus-apiserver as the signed-in
// user, so RBAC and the admission policies see the true requester.
import { lazy, Suspense, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { runUrl, useAction, useCreateRun } from "../../api/actions";
import { isApiError } from "../../api/client";
import { useTypeahead } from "../../api/queries";
import { RefLink } from "../../components/EntityLink";
import { Stages } from "../../components/RunBits";
import { ErrorMessage, Loading } from "../../components/Status";
import { parseRef } from "../../lib/refs";
import { useTitle } from "../../lib/useTitle";

const InputsForm = lazy(() => import("./InputsForm"));

/** Why a target reference cannot be used with this action, or null when it can. */
export function targetProblem(target: string, kinds: string[]): string | null {
  if (!kinds.length) return null;
  if (!target.trim()) return `Choose the ${kinds.join(" or ")} to act on.`;
  const r = parseRef(target.trim());
  if (!r) return "Write the target as kind:namespace/name, e.g. component:team-checkout/checkout-api.";
  if (!kinds.some((k) => k.toLowerCase() === r.kind)) return `This action acts on ${kinds.join(" or ")}, not ${r.kind}.`;
  return null;
}

function TargetField({ kinds, value, onChange, problem }: { kinds: string[]; value: string; onChange: (v: string) => void; problem: string | null }) {
  const suggestions = useTypeahead(value.includes(":") ? value.split("/").pop() ?? "" : value);
  const options = (suggestions.data?.items ?? []).filter((h) => kinds.some((k) => k.toLowerCase() === h.kind.toLowerCase()));
  return (
    <div className="field">
      <label htmlFor="run-target">
        Target <span className="muted small">({kinds.join(" or ")})</span>
      </label>
      <input
        id="run-target"
        list="run-target-options"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={!!problem}
        aria-describedby="run-target-help"
        placeholder="kind:namespace/name"
        autoComplete="off"
        size={48}
      />
      <datalist id="run-target-options">
        {options.map((o) => (
          <option key={o.ref} value={o.ref}>
            {o.title}
          </option>
        ))}
      </datalist>
      <p id="run-target-help" className={problem ? "bad small" : "muted small"}>
        {problem ?? "The catalog entity this run acts on."}
      </p>
    </div>
  );
}

export default function RunAction() {
  const { namespace = "", name = "" } = useParams();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const { data: action, error, isPending, refetch } = useAction(namespace, name);
  const create = useCreateRun(namespace);
  const [target, setTarget] = useState(params.get("target") ?? "");
  const [inputs, setInputs] = useState<Record<string, unknown>>({});
  const [touched, setTouched] = useState(false);
  useTitle(action ? `Run: ${action.title}` : "Run an action");

  if (isPending) return <Loading label="Loading the action" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;

  const problem = action.targetKinds.length ? targetProblem(target, action.targetKinds) : null;
  const submit = (values: Record<string, unknown>) => {
    setTouched(true);
    if (problem) {
      document.getElementById("run-target")?.focus();
      return;
    }
    create.mutate(
      { action: action.name, target: action.targetKinds.length ? target.trim() : undefined, inputs: values },
      { onSuccess: (run) => navigate(runUrl(run)) },
    );
  };
  const schema = (action.inputs ?? { type: "object", properties: {} }) as Record<string, unknown>;

  return (
    <div className="page run-action">
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to="/actions">Actions</Link> / {action.category ?? "Other"}
        </p>
        <h1>{action.title}</h1>
        {action.description && <p className="lead">{action.description}</p>}
        <p className="muted small">
          {action.namespace}/{action.name} · version {action.version} · time limit {action.timeout}
        </p>
      </header>
      {!action.canRun && (
        <div className="error" role="alert">
          <h2>You cannot run this action</h2>
          <p>{action.whyNot ?? "Kubernetes RBAC or the action's runners do not include you."}</p>
        </div>
      )}
      <div className="run-layout">
        <section className="panel" aria-labelledby="inputs-title">
          <h2 id="inputs-title">Inputs</h2>
          {create.error && (
            <div className="error" role="alert">
              <h2>{isApiError(create.error) && create.error.status === 403 ? "Kubernetes refused the run" : "The run was not created"}</h2>
              <p>{create.error.message}</p>
            </div>
          )}
          <Suspense fallback={<Loading label="Preparing the form" />}>
            <InputsForm
              schema={schema}
              value={inputs}
              onChange={setInputs}
              onSubmit={submit}
              disabled={!action.canRun || create.isPending}
              submitLabel={create.isPending ? "Requesting…" : action.approval.stages.length ? "Request run" : "Run"}
            >
              {action.targetKinds.length > 0 && <TargetField kinds={action.targetKinds} value={target} onChange={setTarget} problem={touched || target ? problem : null} />}
            </InputsForm>
          </Suspense>
        </section>
        <aside className="panel" aria-labelledby="next-title">
          <h2 id="next-title">What happens next</h2>
          <Stages stages={[]} policy={action.approval.stages} />
          {action.approval.stages.length > 0 && (
            <p className="small">
              Approval must come within {action.approval.timeout}; after that the run is {action.approval.onTimeout === "Approve" ? "approved automatically" : "rejected"}. You cannot approve your own run.
            </p>
          )}
          {action.gate && (
            <p className="small">
              The target must pass the scorecard gate{action.gate.scorecards.length > 1 ? "s" : ""} {action.gate.scorecards.join(", ")}; otherwise the run is refused with what to fix.
            </p>
          )}
          {target && !problem && (
            <p className="small">
              Acts on <RefLink refString={target.trim()} />.
            </p>
          )}
        </aside>
      </div>
    </div>
  );
}
