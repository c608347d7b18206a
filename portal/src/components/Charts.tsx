// Small SVG charts (no chart library): a column chart for histograms and weekly counts, and a
// line chart for trends. Each has a title, a text summary for assistive technology and the
// figures in a table under a disclosure, so nothing is conveyed by the drawing alone.
import { useId } from "react";
import { bars, linePoints } from "../lib/insights";

const W = 320;
const H = 120;
const PAD = { left: 34, bottom: 22, top: 8, right: 8 };

function Axis({ max, format }: { max: number; format: (v: number) => string }) {
  const ticks = [0, max / 2, max];
  return (
    <g className="chart-axis" aria-hidden="true">
      {ticks.map((t) => {
        const y = PAD.top + (H - (t / max) * H);
        return (
          <g key={t}>
            <line x1={PAD.left} x2={PAD.left + W} y1={y} y2={y} />
            <text x={PAD.left - 4} y={y + 4} textAnchor="end">
              {format(t)}
            </text>
          </g>
        );
      })}
    </g>
  );
}

function FiguresTable({ caption, rows, unit }: { caption: string; rows: { label: string; value: string }[]; unit: string }) {
  return (
    <details className="chart-figures">
      <summary>Figures</summary>
      <table className="table">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{unit === "" ? "" : "When"}</th>
            <th scope="col">{unit}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.label}>
              <th scope="row">{r.label}</th>
              <td>{r.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

export interface ColumnDatum {
  label: string;
  value: number;
  /** Shown in the tooltip and the figures table; default the value. */
  text?: string;
}

/** Column chart: histograms (bins) and counts over time. */
export function ColumnChart({ title, data, unit, summary, tick = (v) => String(Math.round(v)), labelEvery = 1, testId }: {
  title: string;
  data: ColumnDatum[];
  unit: string;
  summary: string;
  tick?: (v: number) => string;
  labelEvery?: number;
  testId?: string;
}) {
  const id = useId();
  const { bars: shapes, max } = bars(data, W, H, 3);
  return (
    <figure className="chart" data-testid={testId}>
      <svg viewBox={`0 0 ${W + PAD.left + PAD.right} ${H + PAD.top + PAD.bottom}`} role="img" aria-labelledby={`${id}-t ${id}-s`}>
        <title id={`${id}-t`}>{title}</title>
        <desc id={`${id}-s`}>{summary}</desc>
        <Axis max={max} format={tick} />
        <g transform={`translate(${PAD.left},${PAD.top})`}>
          {shapes.map((b, i) => (
            <g key={b.label}>
              <rect className="chart-bar" x={b.x} y={b.y} width={b.width} height={Math.max(b.height, b.value > 0 ? 1 : 0)}>
                <title>{`${b.label}: ${data[i]!.text ?? b.value}`}</title>
              </rect>
              {i % labelEvery === 0 && (
                <text className="chart-label" x={b.x + b.width / 2} y={H + 15} textAnchor="middle" aria-hidden="true">
                  {b.label}
                </text>
              )}
            </g>
          ))}
        </g>
      </svg>
      <figcaption className="small muted">{summary}</figcaption>
      <FiguresTable caption={title} unit={unit} rows={data.map((d) => ({ label: d.label, value: d.text ?? String(d.value) }))} />
    </figure>
  );
}

/** Line chart over time; null values leave a gap (no data). */
export function LineChart({ title, labels, values, unit, summary, max, tick = (v) => String(Math.round(v)), format = (v) => String(v), labelEvery = 1, testId }: {
  title: string;
  labels: string[];
  values: (number | null)[];
  unit: string;
  summary: string;
  max?: number;
  tick?: (v: number) => string;
  format?: (v: number) => string;
  labelEvery?: number;
  testId?: string;
}) {
  const id = useId();
  const { points, path, max: top } = linePoints(values, W, H, max);
  return (
    <figure className="chart" data-testid={testId}>
      <svg viewBox={`0 0 ${W + PAD.left + PAD.right} ${H + PAD.top + PAD.bottom}`} role="img" aria-labelledby={`${id}-t ${id}-s`}>
        <title id={`${id}-t`}>{title}</title>
        <desc id={`${id}-s`}>{summary}</desc>
        <Axis max={top} format={tick} />
        <g transform={`translate(${PAD.left},${PAD.top})`}>
          <path className="chart-line" d={path} />
          {points.map((p, i) =>
            p ? (
              <circle key={i} className="chart-dot" cx={p.x} cy={p.y} r={3}>
                <title>{`${labels[i]}: ${format(p.value)}`}</title>
              </circle>
            ) : null,
          )}
          {labels.map((l, i) =>
            i % labelEvery === 0 || i === labels.length - 1 ? (
              <text key={l + i} className="chart-label" x={labels.length > 1 ? (i * W) / (labels.length - 1) : W / 2} y={H + 15} textAnchor="middle" aria-hidden="true">
                {l}
              </text>
            ) : null,
          )}
        </g>
      </svg>
      <figcaption className="small muted">{summary}</figcaption>
      <FiguresTable caption={title} unit={unit} rows={labels.map((l, i) => ({ label: l, value: values[i] === null ? "no data" : format(values[i]!) }))} />
    </figure>
  );
}
