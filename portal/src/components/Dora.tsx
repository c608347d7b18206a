// DORA metrics of a service, team or person: the four keys with their tiers over a window the
// API supports (day, week, month, quarter), and the weekly trend. Used by the /dora page, the
// Component entity page and the Team page.
import { useId, useState } from "react";
import { useDora, useDoraTrend } from "../api/queries";
import { DORA_WINDOWS, type DoraMetrics, type DoraScope, type DoraTier, type DoraWindow } from "../api/types";
import { formatDuration, formatFrequency, formatRate, shortDate, TIER_LABELS } from "../lib/insights";
import { ColumnChart, LineChart } from "./Charts";
import { ErrorMessage, Loading } from "./Status";

const WINDOW_LABELS: Record<DoraWindow, string> = { day: "Day", week: "Week", month: "30 days", quarter: "90 days" };

export function TierBadge({ tier }: { tier: DoraTier }) {
  return <span className={`badge tier tier-${tier}`}>{TIER_LABELS[tier]}</span>;
}

/** The window selector: a radio group (arrow keys move between windows). */
export function WindowPicker({ value, onChange }: { value: DoraWindow; onChange: (w: DoraWindow) => void }) {
  const name = useId();
  return (
    <fieldset className="segmented">
      <legend className="visually-hidden">Window</legend>
      {DORA_WINDOWS.map((w) => (
        <label key={w} className={w === value ? "chosen" : undefined}>
          <input type="radio" name={name} value={w} checked={w === value} onChange={() => onChange(w)} />
          {WINDOW_LABELS[w]}
        </label>
      ))}
    </fieldset>
  );
}

interface Key {
  id: "deploymentFrequency" | "leadTime" | "changeFailureRate" | "recoveryTime";
  title: string;
  value: (m: DoraMetrics) => string;
  detail: (m: DoraMetrics) => string;
}

export const DORA_KEYS: Key[] = [
  {
    id: "deploymentFrequency",
    title: "Deployment frequency",
    value: (m) => formatFrequency(m.deploymentFrequency, m.deployments),
    detail: (m) => `${m.deployments} production deployment${m.deployments === 1 ? "" : "s"}`,
  },
  {
    id: "leadTime",
    title: "Lead time for changes",
    value: (m) => formatDuration(m.leadTimeSeconds),
    detail: (m) => (m.leadTimeSamples ? `median of ${m.leadTimeSamples} commit${m.leadTimeSamples === 1 ? "" : "s"}${m.leadTimesDropped ? " (estimate)" : ""}` : "no commit times (pushes of the repository)"),
  },
  {
    id: "changeFailureRate",
    title: "Change failure rate",
    value: (m) => formatRate(m.changeFailureRate),
    detail: (m) => (m.deployments ? `${m.failedDeployments} of ${m.deployments} caused an incident` : "no deployments"),
  },
  {
    id: "recoveryTime",
    title: "Failed deployment recovery time",
    value: (m) => formatDuration(m.recoveryTimeSeconds),
    detail: (m) => (m.recoverySamples ? `median of ${m.recoverySamples} resolved incident${m.recoverySamples === 1 ? "" : "s"}` : `${m.incidents} incident${m.incidents === 1 ? "" : "s"}, none resolved`),
  },
];

export function DoraKeys({ metrics }: { metrics: DoraMetrics }) {
  return (
    <ul className="kpis">
      {DORA_KEYS.map((k) => (
        <li key={k.id} className={`kpi tier-edge-${metrics.tiers[k.id]}`} aria-label={`${k.title}: ${k.value(metrics)}, ${TIER_LABELS[metrics.tiers[k.id]]}`}>
          <span className="kpi-title">{k.title}</span>
          <span className="kpi-value">{k.value(metrics)}</span>
          <TierBadge tier={metrics.tiers[k.id]} />
          <span className="muted small">{k.detail(metrics)}</span>
        </li>
      ))}
    </ul>
  );
}

function DoraTrendCharts({ scope, name }: { scope: DoraScope; name: string }) {
  const { data, error, isPending, refetch } = useDoraTrend(scope, name, 12);
  if (isPending) return <Loading label="Loading the weekly trend" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;
  const labels = data.points.map((p) => shortDate(p.end));
  const every = Math.ceil(labels.length / 6);
  return (
    <div className="chart-grid">
      <ColumnChart
        title="Production deployments per week"
        data={data.points.map((p, i) => ({ label: labels[i]!, value: p.deployments }))}
        unit="Deployments"
        summary={`${data.points.reduce((n, p) => n + p.deployments, 0)} deployments over ${data.points.length} weeks`}
        labelEvery={every}
        testId="dora-trend-deployments"
      />
      <LineChart
        title="Lead time for changes (hours, weekly median)"
        labels={labels}
        values={data.points.map((p) => (p.leadTimeSeconds === null ? null : p.leadTimeSeconds / 3600))}
        unit="Hours"
        summary="Weekly median lead time; gaps are weeks without commit times"
        format={(v) => formatDuration(v * 3600)}
        labelEvery={every}
      />
      <LineChart
        title="Change failure rate (% per week)"
        labels={labels}
        values={data.points.map((p) => (p.changeFailureRate === null ? null : p.changeFailureRate * 100))}
        max={100}
        unit="Percent"
        summary="Share of each week's deployments that caused an incident; gaps are weeks without deployments"
        format={(v) => `${Number(v.toFixed(1))} %`}
        labelEvery={every}
      />
      <LineChart
        title="Recovery time (hours, weekly median)"
        labels={labels}
        values={data.points.map((p) => (p.recoveryTimeSeconds === null ? null : p.recoveryTimeSeconds / 3600))}
        unit="Hours"
        summary="Weekly median time to resolve incidents; gaps are weeks without resolved incidents"
        format={(v) => formatDuration(v * 3600)}
        labelEvery={every}
      />
    </div>
  );
}

/** The four keys of one service or team with the window selector and (optionally) the trend. */
export function DoraPanel({ scope, name, title = "DORA metrics", trend = true, headingLevel = 2 }: {
  scope: DoraScope;
  name: string;
  title?: string;
  trend?: boolean;
  headingLevel?: 2 | 3;
}) {
  const [window, setWindow] = useState<DoraWindow>("month");
  const { data, error, isPending, refetch, isFetching } = useDora(scope, name, window);
  const id = useId();
  const H = headingLevel === 2 ? "h2" : "h3";
  return (
    <section className="panel dora" aria-labelledby={id} aria-busy={isFetching}>
      <div className="panel-header">
        <H id={id}>{title}</H>
        <WindowPicker value={window} onChange={setWindow} />
      </div>
      {isPending ? (
        <Loading label="Loading DORA metrics" />
      ) : error ? (
        <ErrorMessage error={error} retry={() => void refetch()} />
      ) : (
        <>
          <p className="muted small">
            {shortDate(data.metrics.start)} – {shortDate(data.metrics.end)} (UTC) · {data.services} service{data.services === 1 ? "" : "s"} with deployment data
          </p>
          {data.metrics.deployments === 0 && data.metrics.incidents === 0 ? (
            <p className="empty">
              No production deployments in this window. They arrive from GitHub deployments and Azure DevOps releases to an environment named production (or an Environment with spec.stage prod).
            </p>
          ) : null}
          <DoraKeys metrics={data.metrics} />
          {trend && (
            <>
              <h3>Last 12 weeks</h3>
              <DoraTrendCharts scope={scope} name={name} />
            </>
          )}
        </>
      )}
    </section>
  );
}
