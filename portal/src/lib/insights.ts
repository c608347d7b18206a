// Data shaping for the insight views: colour scales that always come with text, histogram and
// line geometry for the small SVG charts, and DORA figures in plain units.
import type { DoraTier, ScoreBin } from "../api/types";

/** A colour band of the score scale. Every band's text colour has ≥ 4.5:1 contrast on its background. */
export interface Band {
  /** Lowest score of the band (inclusive). */
  from: number;
  label: string;
  bg: string;
  fg: string;
}

/** Score bands, lowest first: red → amber → green, each with a word so colour is never the only cue. */
export const SCORE_BANDS: Band[] = [
  { from: 0, label: "poor", bg: "#ffebe9", fg: "#8c0d22" },
  { from: 25, label: "weak", bg: "#fff1e5", fg: "#7a3a00" },
  { from: 50, label: "fair", bg: "#fff8c5", fg: "#6b4400" },
  { from: 70, label: "good", bg: "#dafbe1", fg: "#0f5a25" },
  { from: 90, label: "excellent", bg: "#aceebb", fg: "#0a4a1d" },
];

export function scoreBand(score: number): Band {
  let band = SCORE_BANDS[0]!;
  for (const b of SCORE_BANDS) if (score >= b.from) band = b;
  return band;
}

/** A heatmap cell: colours, the value as text and a sentence for assistive technology. */
export function heatCell(cell: { averageScore: number; entities: number; passed: number; passRate: number }, team: string, scorecard: string) {
  const band = scoreBand(cell.averageScore);
  return {
    bg: band.bg,
    fg: band.fg,
    text: cell.averageScore.toFixed(1),
    detail: `${cell.passed}/${cell.entities} pass`,
    label: `${team}, ${scorecard}: average score ${cell.averageScore.toFixed(1)} (${band.label}), ${cell.passed} of ${cell.entities} pass (${cell.passRate}%)`,
  };
}

/** Scores into the server's bins: 0–9, 10–19, …, 90–100 (100 joins the last bin). */
export function binScores(scores: number[], width = 10): ScoreBin[] {
  const n = Math.ceil(100 / width);
  const bins: ScoreBin[] = Array.from({ length: n }, (_, i) => ({ from: i * width, to: i === n - 1 ? 100 : i * width + width - 1, entities: 0 }));
  for (const s of scores) {
    const i = Math.min(n - 1, Math.max(0, Math.floor(s / width)));
    bins[i]!.entities += 1;
  }
  return bins;
}

/** A round axis maximum ≥ the largest value (1, 2, 5 × 10ⁿ), at least 1. */
export function niceMax(max: number) {
  if (!(max > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 5, 10]) if (m * exp >= max) return m * exp;
  return 10 * exp;
}

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  value: number;
  label: string;
}

/** Bars of a histogram / column chart in a width × height box (value axis from 0 to niceMax). */
export function bars(values: { label: string; value: number }[], width: number, height: number, gap = 2): { bars: Bar[]; max: number } {
  const max = niceMax(Math.max(0, ...values.map((v) => v.value)));
  const step = values.length ? width / values.length : width;
  return {
    max,
    bars: values.map((v, i) => {
      const h = (v.value / max) * height;
      return { x: i * step + gap / 2, y: height - h, width: Math.max(1, step - gap), height: h, value: v.value, label: v.label };
    }),
  };
}

/** Points of a line chart; null values break the line (no data that week). */
export function linePoints(values: (number | null)[], width: number, height: number, max?: number) {
  const top = max ?? niceMax(Math.max(0, ...values.filter((v): v is number => v !== null)));
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const points = values.map((v, i) => (v === null ? null : { x: values.length > 1 ? i * step : width / 2, y: height - (v / top) * height, value: v }));
  const segments: string[] = [];
  let current: string[] = [];
  for (const p of points) {
    if (!p) {
      if (current.length) segments.push(current.join(" "));
      current = [];
      continue;
    }
    current.push(`${current.length ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`);
  }
  if (current.length) segments.push(current.join(" "));
  return { max: top, points, path: segments.join(" ") };
}

// ---- DORA ----

export const TIER_LABELS: Record<DoraTier, string> = { elite: "Elite", high: "High", medium: "Medium", low: "Low", unknown: "No data" };

/** A duration in seconds as people say it: 45 s, 12 min, 3 h, 1 h 15 min, 2.5 days. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) {
    const h = Math.floor(seconds / 3600);
    const m = Math.round((seconds - h * 3600) / 60);
    return m === 60 ? `${h + 1} h` : m ? `${h} h ${m} min` : `${h} h`;
  }
  const days = seconds / 86400;
  return `${days >= 10 ? Math.round(days) : Number(days.toFixed(1))} days`;
}

/** Deployments per day as a rate a person reads: "2.5 per day", "3 per week", "1.2 per month". */
export function formatFrequency(perDay: number, deployments: number): string {
  if (!deployments) return "none";
  if (perDay >= 1) return `${Number(perDay.toFixed(1))} per day`;
  if (perDay * 7 >= 1) return `${Number((perDay * 7).toFixed(1))} per week`;
  return `${Number((perDay * 30).toFixed(1))} per month`;
}

/** 0.1667 → "16.7 %"; null → "—". */
export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return "—";
  return `${Number((rate * 100).toFixed(1))} %`;
}

/** The weekday-free short date of an ISO date (2026-11-26 → 26 Nov). */
export function shortDate(iso: string) {
  const d = new Date(`${iso}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
}
