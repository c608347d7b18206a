// Scorecards across the organisation: the heatmap (team × scorecard), rankings of teams (best
// and worst), score distributions per scorecard and the trend over the daily snapshots. A
// heatmap cell links to the same page filtered to that team and scorecard (in the URL).
import { Link } from "react-router";
import { useDistribution, useHeatmap, useRankings, useScoreTrend } from "../api/queries";
import type { Heatmap, RankedEntity, RankedTeam, ScorecardRef } from "../api/types";
import { ColumnChart, LineChart } from "../components/Charts";
import { ErrorMessage, Loading } from "../components/Status";
import { heatCell, SCORE_BANDS, shortDate } from "../lib/insights";
import { parseRef, refPath, shortRef, teamPath } from "../lib/refs";
import { useTitle } from "../lib/useTitle";
import { useUrlParams } from "../lib/filters";

const TREND_DAYS = [7, 30, 90];

function HeatmapTable({ data, scorecard, team }: { data: Heatmap; scorecard?: string; team?: string }) {
  if (!data.scorecards.length) {
    return (
      <p className="empty">
        No scorecard results yet. Apply scorecards (kubectl apply -f scorecards/templates/) to the scorecards namespace; the scorecard controller evaluates every entity they apply to within seconds.
      </p>
    );
  }
  return (
    <div className="table-scroll">
      <table className="heatmap">
        <caption className="visually-hidden">Average score of each team's entities on each scorecard. Each cell links to that team and scorecard.</caption>
        <thead>
          <tr>
            <th scope="col">Team</th>
            {data.scorecards.map((s) => (
              <th key={s.scorecard} scope="col" aria-sort="none">
                <Link to={`/scorecards?scorecard=${encodeURIComponent(s.scorecard)}`} aria-current={s.scorecard === scorecard ? "true" : undefined}>
                  {s.title}
                </Link>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {data.teams.map((row) => (
            <tr key={row.team ?? "none"} className={row.team && row.team === team ? "selected" : undefined}>
              <th scope="row">{row.team ? <Link to={teamPathOf(row.team)}>{row.title}</Link> : <span className="muted">{row.title}</span>}</th>
              {data.scorecards.map((s) => {
                const cell = row.cells[s.scorecard];
                if (!cell) {
                  return (
                    <td key={s.scorecard} className="heat-empty">
                      <span aria-hidden="true">—</span>
                      <span className="visually-hidden">No results</span>
                    </td>
                  );
                }
                const c = heatCell(cell, row.title, s.title);
                const to = `/scorecards?scorecard=${encodeURIComponent(s.scorecard)}${row.team ? `&team=${encodeURIComponent(row.team)}` : ""}`;
                return (
                  <td key={s.scorecard} className="heat" style={{ background: c.bg }}>
                    <Link to={to} style={{ color: c.fg }} data-cell={`${row.team ?? "none"}|${s.scorecard}`}>
                      <span className="heat-value">{c.text}</span>
                      <span className="heat-detail">{c.detail}</span>
                      {/* The link's name: what it shows, then which cell it is (no aria-label, so the
                          visible text stays part of the name, WCAG 2.5.3). */}
                      <span className="visually-hidden"> — {c.label}</span>
                    </Link>
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <p className="legend small" aria-label="Colour scale">
        {SCORE_BANDS.map((b, i) => (
          <span key={b.from} className="legend-band" style={{ background: b.bg, color: b.fg }}>
            {b.from}–{SCORE_BANDS[i + 1] ? SCORE_BANDS[i + 1]!.from - 1 : 100} {b.label}
          </span>
        ))}
      </p>
    </div>
  );
}

function teamPathOf(ref: string) {
  const r = parseRef(ref);
  return r ? teamPath(r.namespace, r.name) : "/";
}

function RankTable({ caption, rows }: { caption: string; rows: RankedTeam[] }) {
  return (
    <table className="table rankings">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Rank</th>
          <th scope="col">Team</th>
          <th scope="col">Average</th>
          <th scope="col">Pass rate</th>
          <th scope="col">Entities</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((t) => (
          <tr key={t.team}>
            <td>{t.rank}</td>
            <th scope="row">
              <Link to={teamPathOf(t.team)}>{t.title}</Link>
            </th>
            <td>{t.averageScore.toFixed(1)}</td>
            <td>{t.passRate} %</td>
            <td>{t.entities}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Rankings({ scorecard }: { scorecard: string }) {
  const { data, error, isPending, refetch } = useRankings(scorecard);
  if (isPending) return <Loading label="Loading rankings" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;
  if (!data.teams.length) return <p className="empty">No team owns an entity this scorecard measures.</p>;
  const n = data.teams.length;
  if (n <= 6) return <RankTable caption={`All ${n} teams, best first`} rows={data.teams} />;
  return (
    <div className="two-col">
      <RankTable caption="Best" rows={data.teams.slice(0, 5)} />
      <RankTable caption="Needs most attention" rows={[...data.teams.slice(-5)].reverse()} />
    </div>
  );
}

function EntityTable({ caption, rows }: { caption: string; rows: RankedEntity[] }) {
  return (
    <table className="table rankings">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Entity</th>
          <th scope="col">Team</th>
          <th scope="col">Score</th>
          <th scope="col">Level</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((e) => (
          <tr key={e.ref} data-ref={e.ref}>
            <th scope="row">
              {refPath(e.ref) ? <Link to={refPath(e.ref)!}>{e.title}</Link> : e.title}
            </th>
            <td>{e.team ? <Link to={teamPathOf(e.team)}>{shortRef(e.team, false)}</Link> : <span className="muted">no team</span>}</td>
            <td>
              {e.score} <span className="visually-hidden">{e.passed ? "(passes the gate)" : "(below the gate)"}</span>
              {!e.passed && <span className="badge badge-bad">below gate</span>}
            </td>
            <td>{e.level ?? <span className="muted">none</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Services (and whatever else the scorecard measures) at both ends: what to fix first. */
function EntityRankings({ scorecard }: { scorecard: string }) {
  const { data, error, isPending, refetch } = useRankings(scorecard);
  if (isPending) return <Loading label="Loading rankings" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;
  // An older nexus-apiserver answers without entity rankings.
  const { total, best, needsAttention } = data.entities ?? { total: 0, best: [], needsAttention: [] };
  if (!total) return <p className="empty">No entity you can see has a result on this scorecard yet.</p>;
  return (
    <>
      <p className="muted small">{total} entities measured; the ten at each end.</p>
      <div className="two-col">
        <EntityTable caption="Needs most attention (lowest score first)" rows={needsAttention} />
        <EntityTable caption="Best" rows={best} />
      </div>
    </>
  );
}

function Distribution({ scorecard, team }: { scorecard: ScorecardRef; team?: string }) {
  const { data, error, isPending, refetch } = useDistribution(scorecard.scorecard, team);
  if (isPending) return <Loading label={`Loading ${scorecard.title}`} />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;
  return (
    <div className="distribution" data-scorecard={scorecard.scorecard}>
      <h3>
        <Link to={`/scorecards?scorecard=${encodeURIComponent(scorecard.scorecard)}${team ? `&team=${encodeURIComponent(team)}` : ""}`}>{scorecard.title}</Link>
      </h3>
      <p className="small">
        {data.entities} entities · average <strong>{data.averageScore.toFixed(1)}</strong> · {data.passed} pass ({data.passRate} %)
      </p>
      <ColumnChart
        title={`${scorecard.title}: entities per score range`}
        data={data.bins.map((b) => ({ label: `${b.from}`, value: b.entities, text: `${b.entities} (scores ${b.from}–${b.to})` }))}
        unit="Entities"
        summary={data.bins.filter((b) => b.entities).map((b) => `${b.entities} scored ${b.from}–${b.to}`).join(", ") || "no entities"}
        labelEvery={2}
        testId={`histogram-${scorecard.scorecard}`}
      />
      <p className="levels small">
        {data.perLevel.map((l) => (
          <span key={l.level} className="level-count">
            {l.level} <strong>{l.entities}</strong>
          </span>
        ))}
        <span className="level-count">
          No level <strong>{data.noLevel}</strong>
        </span>
      </p>
    </div>
  );
}

function Trend({ scorecard, team, days }: { scorecard: ScorecardRef; team?: string; days: number }) {
  const { data, error, isPending, refetch } = useScoreTrend(scorecard.scorecard, team, days);
  if (isPending) return <Loading label="Loading the trend" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;
  if (!data.points.length) {
    return (
      <p className="empty">
        No snapshots in the last {days} days{data.snapshotsListed ? "" : " (the snapshots are still being read)"}. The scorecard controller writes one a day (ScorecardSnapshot, kubectl get nxscs -A).
      </p>
    );
  }
  const labels = data.points.map((p) => shortDate(p.date));
  const last = data.points[data.points.length - 1]!;
  return (
    <LineChart
      title={`${scorecard.title}: average score per day`}
      labels={labels}
      values={data.points.map((p) => p.averageScore)}
      max={100}
      unit="Average score"
      summary={`${data.points.length} day${data.points.length === 1 ? "" : "s"} with a snapshot; latest ${last.averageScore.toFixed(1)} over ${last.entities} entities`}
      format={(v) => v.toFixed(1)}
      labelEvery={Math.ceil(labels.length / 6)}
      testId="score-trend"
    />
  );
}

export default function ScorecardsPage() {
  const [params, set] = useUrlParams();
  const heatmap = useHeatmap();
  useTitle("Scorecards");
  const team = params.get("team") ?? undefined;
  const days = Number(params.get("days")) || 30;

  if (heatmap.isPending) return <Loading label="Loading scorecards" />;
  if (heatmap.error) return <ErrorMessage error={heatmap.error} retry={() => void heatmap.refetch()} />;
  const data = heatmap.data;
  const selected = data.scorecards.find((s) => s.scorecard === params.get("scorecard")) ?? data.scorecards[0];
  const teamTitle = team ? (data.teams.find((t) => t.team === team)?.title ?? parseRef(team)?.name ?? team) : undefined;

  return (
    <div className="page scorecards">
      <header className="page-header">
        <h1>Scorecards</h1>
        <p className="lead">How each team's services measure up against the organisation's standards, and what moved.</p>
        <div className="inline-form">
          <Link className="button" to="/scorecards/new">
            New scorecard
          </Link>
          {team && (
            <span className="filter-chip">
              Team: <strong>{teamTitle}</strong>{" "}
              <button type="button" className="link-button" onClick={() => set("team", undefined)}>
                Show all teams
              </button>
            </span>
          )}
        </div>
      </header>
      <section className="panel" aria-labelledby="heatmap">
        <h2 id="heatmap">Teams × scorecards</h2>
        <HeatmapTable data={data} scorecard={selected?.scorecard} team={team} />
      </section>
      {selected && (
        <>
          <div className="panel-toolbar">
            <label htmlFor="scorecard-pick">Scorecard</label>
            <select id="scorecard-pick" value={selected.scorecard} onChange={(e) => set("scorecard", e.target.value)}>
              {data.scorecards.map((s) => (
                <option key={s.scorecard} value={s.scorecard}>
                  {s.title}
                </option>
              ))}
            </select>
            <label htmlFor="days-pick">Trend over</label>
            <select id="days-pick" value={String(days)} onChange={(e) => set("days", e.target.value === "30" ? undefined : e.target.value)}>
              {TREND_DAYS.map((d) => (
                <option key={d} value={d}>
                  {d} days
                </option>
              ))}
            </select>
          </div>
          <div className="two-col">
            <section className="panel" aria-labelledby="rankings">
              <h2 id="rankings">Team rankings: {selected.title}</h2>
              <Rankings scorecard={selected.scorecard} />
            </section>
            <section className="panel" aria-labelledby="trend">
              <h2 id="trend">
                Trend: {selected.title}
                {teamTitle ? ` (${teamTitle})` : ""}
              </h2>
              <Trend scorecard={selected} team={team} days={days} />
            </section>
          </div>
          <section className="panel" aria-labelledby="entity-rankings">
            <h2 id="entity-rankings">Entity rankings: {selected.title}</h2>
            <EntityRankings scorecard={selected.scorecard} />
          </section>
          <section className="panel" aria-labelledby="distribution">
            <h2 id="distribution">Score distribution{teamTitle ? `: ${teamTitle}` : ""}</h2>
            <div className="chart-grid">
              {data.scorecards.map((s) => (
                <Distribution key={s.scorecard} scorecard={s} team={team} />
              ))}
            </div>
          </section>
        </>
      )}
    </div>
  );
}
