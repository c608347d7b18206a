// One run: its phase (live), the approval stages with who decided, the approve/reject form for
// approvers, inputs, outputs, the executor's log tail, and cancel / retry.
import { useState } from "react";
import { Link, useParams } from "react-router";
import { actionUrl, phaseInfo, runUrl, useCancelRun, useDecide, useRetryRun, useRun, type RunDetail } from "../../api/actions";
import { isApiError } from "../../api/client";
import type { Condition } from "../../api/types";
import { RefLink } from "../../components/EntityLink";
import { Fields } from "../../components/Value";
import { PhaseBadge, Stages } from "../../components/RunBits";
import { ErrorMessage, Loading } from "../../components/Status";
import { conditionSentence, conditionTone, timeAgo } from "../../lib/words";
import { useTitle } from "../../lib/useTitle";

/** A run's conditions: `Running=False` once finished is the normal end, not a failure. */
export function runConditionTone(c: Condition): "ok" | "bad" | "pending" {
  if (c.type === "Running" && c.status === "False") return c.reason === "Finished" || !c.reason ? "ok" : "pending";
  return conditionTone(c);
}

function Decide({ run }: { run: RunDetail }) {
  const decide = useDecide(run.namespace, run.name);
  const [comment, setComment] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const open = run.stages.find((s) => s.state === "Open");
  if (!open) return null;
  const send = (decision: "Approve" | "Reject") =>
    decide.mutate(
      { decision, stage: open.name, comment: comment.trim() || undefined },
      { onSuccess: () => { setDone(decision === "Approve" ? "Your approval was recorded." : "Your rejection was recorded."); setComment(""); } },
    );
  return (
    <section className="panel decide" aria-labelledby="decide-title">
      <h2 id="decide-title">Your decision on stage “{open.name}”</h2>
      {!run.canApprove.allowed && run.canApprove.whyNot && <p className="muted small">{run.canApprove.whyNot}</p>}
      {decide.error && (
        <div className="error" role="alert">
          <h2>{isApiError(decide.error) && decide.error.status === 403 ? "Your decision was refused" : "Your decision was not recorded"}</h2>
          <p>{decide.error.message}</p>
        </div>
      )}
      {done && (
        <p className="notice" role="status">
          {done}
        </p>
      )}
      <label htmlFor="decision-comment">Comment (kept in the audit trail)</label>
      <textarea id="decision-comment" rows={2} maxLength={2048} value={comment} onChange={(e) => setComment(e.target.value)} />
      <div className="form-buttons">
        <button type="button" className="primary" disabled={decide.isPending} onClick={() => send("Approve")}>
          Approve
        </button>
        <button type="button" disabled={decide.isPending} onClick={() => send("Reject")}>
          Reject
        </button>
      </div>
    </section>
  );
}

function Controls({ run }: { run: RunDetail }) {
  const cancel = useCancelRun(run.namespace, run.name);
  const retry = useRetryRun(run.namespace, run.name);
  const error = cancel.error ?? retry.error;
  const canRetry = run.phase === "Failed";
  if (!run.canCancel && !canRetry) return null;
  return (
    <div className="form-buttons">
      {run.canCancel && (
        <button
          type="button"
          disabled={cancel.isPending}
          onClick={() => {
            if (window.confirm("Cancel this run? A pending run is not executed; a running Job is stopped.")) cancel.mutate();
          }}
        >
          Cancel run
        </button>
      )}
      {canRetry && (
        <button type="button" disabled={retry.isPending} onClick={() => retry.mutate()}>
          Retry (attempt {run.attempt + 1})
        </button>
      )}
      {error && (
        <span className="bad small" role="alert">
          {error.message}
        </span>
      )}
    </div>
  );
}

export default function RunPage() {
  const { namespace = "", name = "" } = useParams();
  const { data: run, error, isPending, refetch } = useRun(namespace, name);
  useTitle(run ? `${run.actionTitle ?? run.action} · ${run.name}` : name);
  if (isPending) return <Loading label="Loading the run" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;
  const phase = phaseInfo(run.phase);

  return (
    <div className="page run" data-phase={run.phase}>
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to="/runs">Runs</Link> / {run.namespace}
        </p>
        <h1>
          {run.actionTitle ?? run.action} <PhaseBadge phase={run.phase} />
        </h1>
        <div className="meta">
          <span>
            <span className="muted">Run</span> <code>{run.namespace}/{run.name}</code>
          </span>
          <span>
            <span className="muted">Requested by</span> {run.requester} {timeAgo(run.createdAt)}
          </span>
          {run.target && (
            <span>
              <span className="muted">Target</span> <RefLink refString={run.target} />
            </span>
          )}
          <span>
            <span className="muted">Attempt</span> {run.attempt}
          </span>
          <span>
            <Link to={actionUrl({ namespace: run.namespace, name: run.action }, run.target)}>Run again…</Link>
          </span>
        </div>
        {run.message && (
          <p className={phase.tone === "bad" ? "error-inline" : "muted"} role={phase.tone === "bad" ? "alert" : undefined}>
            {run.message}
          </p>
        )}
        <Controls run={run} />
      </header>
      {run.canApprove.allowed || run.stages.some((s) => s.state === "Open") ? <Decide run={run} /> : null}
      <div className="grid">
        <section className="panel" aria-labelledby="stages-title">
          <h2 id="stages-title">Approvals</h2>
          <Stages stages={run.stages} />
          {run.approvalDeadline && !phase.done && <p className="muted small">Approval window closes {timeAgo(run.approvalDeadline)}.</p>}
          {run.approvals.some((a) => a.counted === false) && (
            <>
              <h3>Not counted</h3>
              <ul className="decisions">
                {run.approvals
                  .filter((a) => a.counted === false)
                  .map((a) => (
                    <li key={a.name}>
                      {a.decision} by <strong>{a.author}</strong>: {a.countedMessage}
                    </li>
                  ))}
              </ul>
            </>
          )}
        </section>
        <section className="panel" aria-labelledby="progress-title">
          <h2 id="progress-title">Progress</h2>
          <ul className="conditions">
            {run.conditions.map((c) => {
              const tone = runConditionTone(c);
              return (
              <li key={c.type} className={`condition tone-${tone}`}>
                <span className="condition-icon" aria-hidden="true">
                  {tone === "ok" ? "✓" : tone === "bad" ? "✗" : "…"}
                </span>
                <span>
                  {conditionSentence(c)}
                  {c.lastTransitionTime && <span className="muted small"> · {timeAgo(c.lastTransitionTime)}</span>}
                </span>
              </li>
              );
            })}
          </ul>
          {run.execution && (
            <p className="small">
              Executor <strong>{run.execution.executor}</strong>
              {run.execution.reference && <> · {run.execution.reference}</>} · started {timeAgo(run.execution.startedAt)}
              {run.execution.finishedAt && <>, finished {timeAgo(run.execution.finishedAt)}</>}
            </p>
          )}
          {run.execution?.command?.length ? (
            <p className="small">
              Command <code>{run.execution.command.join(" ")}</code>
            </p>
          ) : null}
          {run.rollbackRun && (
            <p className="small">
              Rolled back by <Link to={runUrl({ namespace: run.namespace, name: run.rollbackRun })}>{run.rollbackRun}</Link>
            </p>
          )}
        </section>
        <section className="panel" aria-labelledby="inputs-title">
          <h2 id="inputs-title">Inputs</h2>
          {run.inputs && Object.keys(run.inputs).length ? <Fields data={run.inputs} /> : <p className="empty">No inputs.</p>}
        </section>
        <section className="panel" aria-labelledby="outputs-title">
          <h2 id="outputs-title">Outputs</h2>
          {Object.keys(run.outputs).length ? <Fields data={run.outputs} /> : <p className="empty">{phase.done ? "The executor returned no outputs." : "Outputs appear when the run finishes."}</p>}
        </section>
      </div>
      <section className="panel" aria-labelledby="log-title">
        <h2 id="log-title">Log</h2>
        {run.logTail.length ? (
          <pre className="log" tabIndex={0} aria-label="The executor's log (last lines)">
            {run.logTail.join("\n")}
          </pre>
        ) : (
          <p className="empty">{phase.done ? "No log lines." : "The log appears while the run executes."}</p>
        )}
      </section>
    </div>
  );
}
