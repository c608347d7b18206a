import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { bars, binScores, formatDuration, formatFrequency, formatRate, heatCell, linePoints, niceMax, scoreBand, SCORE_BANDS } from "./insights";
import templates from "./scorecard-templates.json";

// WCAG relative luminance and contrast ratio.
function luminance(hex: string) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}
const contrast = (a: string, b: string) => {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x! + 0.05) / (y! + 0.05);
};

describe("histogram bins", () => {
  it("bins scores like the server: 0–9 … 90–100, 100 in the last bin", () => {
    const bins = binScores([0, 9, 10, 30, 30, 50, 99, 100]);
    expect(bins).toHaveLength(10);
    expect(bins[0]).toEqual({ from: 0, to: 9, entities: 2 });
    expect(bins[1]!.entities).toBe(1);
    expect(bins[3]!.entities).toBe(2);
    expect(bins[5]!.entities).toBe(1);
    expect(bins[9]).toEqual({ from: 90, to: 100, entities: 2 });
    expect(bins.reduce((n, b) => n + b.entities, 0)).toBe(8);
  });
  it("the example org's Production Readiness: 3 at 0, 12 at 30, 8 at 50", () => {
    const scores = [...Array(3).fill(0), ...Array(12).fill(30), ...Array(8).fill(50)];
    const bins = binScores(scores);
    expect(bins.map((b) => b.entities)).toEqual([3, 0, 0, 12, 0, 8, 0, 0, 0, 0]);
  });
  it("bar geometry: tallest bar fills the height of a round maximum", () => {
    const { bars: b, max } = bars([{ label: "0", value: 3 }, { label: "30", value: 12 }, { label: "50", value: 8 }], 300, 100, 0);
    expect(max).toBe(20);
    expect(b[1]!.height).toBe(60);
    expect(b[1]!.y).toBe(40);
    expect(b[0]!.width).toBe(100);
    expect(b[2]!.x).toBe(200);
  });
  it("niceMax rounds up to 1, 2, 5 × 10ⁿ", () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(3)).toBe(5);
    expect(niceMax(12)).toBe(20);
    expect(niceMax(100)).toBe(100);
    expect(niceMax(101)).toBe(200);
  });
});

describe("heatmap colour scale", () => {
  it("bands by score, each with a word", () => {
    expect(scoreBand(0).label).toBe("poor");
    expect(scoreBand(24.9).label).toBe("poor");
    expect(scoreBand(42).label).toBe("weak");
    expect(scoreBand(50).label).toBe("fair");
    expect(scoreBand(89.9).label).toBe("good");
    expect(scoreBand(100).label).toBe("excellent");
  });
  it("every band's text has at least 4.5:1 contrast on its background", () => {
    for (const b of SCORE_BANDS) expect(contrast(b.fg, b.bg)).toBeGreaterThanOrEqual(4.5);
  });
  it("a cell carries its value as text and a full sentence", () => {
    const c = heatCell({ averageScore: 42, entities: 5, passed: 3, passRate: 60 }, "Checkout & Storefront", "Production Readiness");
    expect(c.text).toBe("42.0");
    expect(c.detail).toBe("3/5 pass");
    expect(c.label).toBe("Checkout & Storefront, Production Readiness: average score 42.0 (weak), 3 of 5 pass (60%)");
    expect(c.bg).toBe(scoreBand(42).bg);
  });
});

describe("line chart", () => {
  it("breaks the line at missing values", () => {
    const { path: d, points } = linePoints([1, null, 2, 4], 300, 100, 4);
    expect(points[1]).toBeNull();
    expect(d).toBe("M0.0,75.0 M200.0,50.0 L300.0,0.0");
  });
});

describe("DORA units", () => {
  it("durations", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(45)).toBe("45 s");
    expect(formatDuration(720)).toBe("12 min");
    expect(formatDuration(10800)).toBe("3 h");
    expect(formatDuration(4500)).toBe("1 h 15 min");
    expect(formatDuration(86400 * 2.5)).toBe("2.5 days");
  });
  it("frequency and rates", () => {
    expect(formatFrequency(0, 0)).toBe("none");
    expect(formatFrequency(2.5, 75)).toBe("2.5 per day");
    expect(formatFrequency(10 / 30, 10)).toBe("2.3 per week");
    expect(formatFrequency(1 / 30, 1)).toBe("1 per month");
    expect(formatRate(0.2)).toBe("20 %");
    expect(formatRate(2 / 12)).toBe("16.7 %");
    expect(formatRate(null)).toBe("—");
  });
});

describe("builder templates", () => {
  it("are the rules of scorecards/templates/*.yaml", () => {
    const dir = path.resolve(__dirname, "../../../scorecards/templates");
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
    expect(templates.map((t) => t.file)).toEqual(files);
    for (const t of templates) {
      const text = readFileSync(path.join(dir, t.file), "utf8");
      const ids = [...text.matchAll(/^\s+- id: (\S+)/gm)].map((m) => m[1]);
      expect(t.spec.rules.map((r) => r.id)).toEqual(ids);
      expect(text).toContain(`name: ${t.metadata.name}`);
    }
  });
});
