// One entity's scorecard results (status.scorecards): score, level, gate, and for each failing
// rule what to do about it; unknown rules say why they could not be decided.
import { Link } from "react-router";
import type { ScorecardResult } from "../api/types";
import { scoreBand } from "../lib/insights";
import { timeAgo } from "../lib/words";

export function scorecardTitle(id: string) {
  const name = id.split("/").pop() ?? id;
  return name.replace(/-/g, " ").replace(/^./, (c) => c.toUpperCase());
}

export function ScoreMeter({ score }: { score: number }) {
  const band = scoreBand(score);
  return (
    <span className="score-meter">
      <meter min={0} max={100} low={50} high={70} optimum={100} value={score} aria-label={`Score ${score} of 100`} />
      <span className="score-chip" style={{ background: band.bg, color: band.fg }}>
        {score}
        <span className="visually-hidden"> of 100 ({band.label})</span>
      </span>
    </span>
  );
}

export function ScorecardResults({ results }: { results: ScorecardResult[] }) {
  if (!results.length) {
    return (
      <p className="empty">
        No scorecard measures this entity yet. Scorecards (kubectl get scorecards -A) choose what they measure with spec.appliesTo; the scorecard controller writes results here.
      </p>
    );
  }
  const sorted = [...results].sort((a, b) => a.score - b.score || a.scorecard.localeCompare(b.scorecard));
  return (
    <ul className="scorecard-results">
      {sorted.map((r) => {
        const failing = r.failing ?? [];
        const unknown = r.unknown ?? [];
        return (
          <li key={r.scorecard} className="scorecard-result">
            <div className="scorecard-result-head">
              <h3>
                <Link to={`/scorecards?scorecard=${encodeURIComponent(r.scorecard)}`}>{scorecardTitle(r.scorecard)}</Link>
              </h3>
              <ScoreMeter score={r.score} />
              <span className={`badge ${r.level ? "badge-ok" : "badge-pending"}`}>{r.level ?? "No level yet"}</span>
              <span className={`badge ${r.passed ? "badge-ok" : "badge-bad"}`}>{r.passed ? "Passes the gate" : "Below the gate"}</span>
            </div>
            <p className="muted small">
              {r.rulesPassed} of {r.rulesTotal} rules pass · {failing.length} failing · {unknown.length} unknown · evaluated {timeAgo(r.evaluatedAt)}
            </p>
            {failing.length > 0 && (
              <>
                <h4>What to fix</h4>
                <ul className="findings">
                  {failing.map((f) => (
                    <li key={f.ruleId} className="finding finding-failed">
                      <span className="finding-icon" aria-hidden="true">✕</span>
                      <span>
                        <strong>{f.title}</strong> <span className="visually-hidden">(failing)</span>
                        <span className="finding-message">{f.message}</span>
                      </span>
                    </li>
                  ))}
                </ul>
              </>
            )}
            {unknown.length > 0 && (
              <details>
                <summary>
                  {unknown.length} rule{unknown.length === 1 ? "" : "s"} could not be decided
                </summary>
                <ul className="findings">
                  {unknown.map((f) => (
                    <li key={f.ruleId} className="finding finding-unknown">
                      <span className="finding-icon" aria-hidden="true">?</span>
                      <span>
                        <strong>{f.title}</strong>
                        <span className="finding-message">{f.message}</span>
                      </span>
                    </li>
                  ))}
                </ul>
              </details>
            )}
            {failing.length === 0 && unknown.length === 0 && <p className="small">Every rule passes.</p>}
          </li>
        );
      })}
    </ul>
  );
}
