// Small pieces the action pages share: a run's phase badge, its approval stages, a run table.
import { Link } from "react-router";
import { approversText, phaseInfo, runUrl, type ApprovalStagePolicy, type RunSummary, type StageState } from "../api/actions";
import { RefLink } from "./EntityLink";
import { timeAgo } from "../lib/words";

export function PhaseBadge({ phase }: { phase: string }) {
  const p = phaseInfo(phase);
  const tone = p.tone === "neutral" ? "pending" : p.tone;
  return (
    <span className={`badge badge-${tone}`} data-phase={phase}>
      {p.label}
    </span>
  );
}

const STAGE_WORDS: Record<string, string> = {
  Waiting: "waits for the previous stage",
  Open: "open",
  Approved: "approved",
  Rejected: "rejected",
  Expired: "expired",
};

/** A run's stages, or an action's policy when the run has not opened them yet. */
export function Stages({ stages, policy }: { stages: StageState[]; policy?: ApprovalStagePolicy[] }) {
  if (!stages.length && !policy?.length) return <p className="muted">No approval needed: a run starts as soon as its inputs are valid.</p>;
  const rows = stages.length
    ? stages
    : (policy ?? []).map((p) => ({ name: p.name, required: p.required, state: "Waiting", approvals: [] }));
  return (
    <ol className="stages">
      {rows.map((s) => {
        const approved = s.approvals.filter((a) => a.decision === "Approve").length;
        const who = policy?.find((p) => p.name === s.name);
        return (
          <li key={s.name} className={`stage stage-${s.state.toLowerCase()}`}>
            <div>
              <strong>{s.name}</strong> — {STAGE_WORDS[s.state] ?? s.state}, {approved} of {s.required} approval{s.required === 1 ? "" : "s"}
              {who && <span className="muted small"> · approvers: {approversText(who.approvers)}</span>}
            </div>
            {s.approvals.length > 0 && (
              <ul className="decisions">
                {s.approvals.map((a) => (
                  <li key={a.name}>
                    <span className={a.decision === "Approve" ? "ok-text" : "bad"}>{a.decision === "Approve" ? "Approved" : "Rejected"}</span> by{" "}
                    <strong>{a.author}</strong> {timeAgo(a.time)}
                    {a.comment && <q className="comment">{a.comment}</q>}
                  </li>
                ))}
              </ul>
            )}
          </li>
        );
      })}
    </ol>
  );
}

export function RunTable({ runs, caption, showTarget = true }: { runs: RunSummary[]; caption: string; showTarget?: boolean }) {
  return (
    <table className="table runs-table">
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">Action</th>
          {showTarget && <th scope="col">Target</th>}
          <th scope="col">Requested by</th>
          <th scope="col">Phase</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={`${r.namespace}/${r.name}`}>
            <td>
              <Link to={runUrl(r)}>{r.name}</Link>
              <div className="muted small">{r.namespace}</div>
            </td>
            <td>{r.actionTitle ?? r.action}</td>
            {showTarget && <td>{r.target ? <RefLink refString={r.target} /> : <span className="muted">none</span>}</td>}
            <td>{r.requester}</td>
            <td>
              <PhaseBadge phase={r.phase} />
              {r.message && !phaseInfo(r.phase).done && <div className="muted small">{r.message}</div>}
            </td>
            <td title={r.createdAt}>{timeAgo(r.createdAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
