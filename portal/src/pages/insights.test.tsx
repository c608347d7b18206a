import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { ApiError } from "../api/client";
import { ScorecardResults } from "../components/ScorecardResults";
import { emptyDraft, moveRule, newKey, toManifest, toYaml, type DraftRule } from "../lib/scorecardBuilder";
import ScorecardBuilder from "./ScorecardBuilder";
import ScorecardsPage from "./Scorecards";

afterEach(() => vi.unstubAllGlobals());

function wrap(ui: React.ReactNode, path = "/") {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter>
    </QueryClientProvider>,
  );
}

const rule = (id: string, level: string): DraftRule => ({ key: newKey(), id, title: id, level, weight: 1, expression: "true", message: "m", facts: [] });

describe("builder → manifest", () => {
  it("writes a Scorecard the CRD accepts, in the templates' key order", () => {
    const d = {
      ...emptyDraft(),
      name: "api-standards",
      title: "API standards",
      description: "Every API: owner: and runbook",
      filter: "entity.spec.type in ['service', 'website']",
      gateLevel: "Bronze",
      rules: [
        { ...rule("runbook-linked", "Silver"), weight: 2, expression: "size(relations.hasRunbook) > 0", message: "Link a runbook." },
        { ...rule("branch-protection", "Bronze"), weight: 3, facts: ["github.branchProtection"], expression: "facts.github.branchProtection.protected", message: "Protect main: no force pushes." },
        { ...rule("anything", ""), expression: "true", message: "yes" },
      ],
    };
    expect(toYaml(toManifest(d))).toBe(
      [
        "apiVersion: scorecards.nexus.dev/v1alpha1",
        "kind: Scorecard",
        "metadata:",
        "  name: api-standards",
        "  namespace: nexus-org",
        "spec:",
        "  title: API standards",
        '  description: "Every API: owner: and runbook"',
        "  appliesTo:",
        "    kinds: [Component]",
        "    filter: entity.spec.type in ['service', 'website']",
        "  levels: [Bronze, Silver, Gold]",
        "  rules:",
        "    - id: branch-protection",
        "      title: branch-protection",
        "      level: Bronze",
        "      weight: 3",
        "      facts: [github.branchProtection]",
        "      expression: facts.github.branchProtection.protected",
        '      message: "Protect main: no force pushes."',
        "    - id: runbook-linked",
        "      title: runbook-linked",
        "      level: Silver",
        "      weight: 2",
        "      expression: size(relations.hasRunbook) > 0",
        "      message: Link a runbook.",
        "    - id: anything",
        "      title: anything",
        "      weight: 1",
        '      expression: "true"',
        "      message: \"yes\"",
        "  gate:",
        "    minLevel: Bronze",
        "",
      ].join("\n"),
    );
  });
});

describe("builder keyboard reorder", () => {
  const levels = ["Bronze", "Silver", "Gold"];
  it("swaps within a level, and crosses to the next level at its edge", () => {
    const a = rule("a", "Bronze");
    const b = rule("b", "Bronze");
    const c = rule("c", "Gold");
    let rules = [a, b, c];
    rules = moveRule(rules, levels, b.key, -1);
    expect(rules.map((r) => r.id)).toEqual(["b", "a", "c"]);
    rules = moveRule(rules, levels, a.key, 1); // last of Bronze → first of Silver (empty)
    expect(rules.map((r) => `${r.id}:${r.level}`)).toEqual(["b:Bronze", "a:Silver", "c:Gold"]);
    rules = moveRule(rules, levels, c.key, -1); // first of Gold → last of Silver
    expect(rules.map((r) => `${r.id}:${r.level}`)).toEqual(["b:Bronze", "a:Silver", "c:Silver"]);
    rules = moveRule(rules, levels, b.key, -1); // already first: unchanged
    expect(rules.map((r) => r.id)).toEqual(["b", "a", "c"]);
    rules = moveRule(rules, levels, c.key, 1);
    rules = moveRule(rules, levels, c.key, 1);
    rules = moveRule(rules, levels, c.key, 1); // Gold → score only; then stays last
    expect(rules.map((r) => `${r.id}:${r.level}`)).toEqual(["b:Bronze", "a:Silver", "c:"]);
  });

  it("Add and Move up / Move down with the keyboard update the YAML and keep focus", async () => {
    const user = userEvent.setup();
    wrap(<ScorecardBuilder />, "/scorecards/new");
    await user.click(screen.getByRole("button", { name: "Add Runbook linked to Bronze" }));
    await user.selectOptions(screen.getByLabelText("Add to"), "Silver");
    await user.click(screen.getByRole("button", { name: "Add Owner assigned to Silver" }));
    const silver = screen.getByRole("region", { name: /Level: Silver/ });
    expect(within(silver).getByText("Owner assigned")).toBeInTheDocument();
    const up = screen.getByRole("button", { name: "Move Owner assigned up" });
    up.focus();
    await user.keyboard("{Enter}");
    const bronze = screen.getByRole("region", { name: /Level: Bronze/ });
    expect(within(bronze).getAllByRole("listitem").map((li) => li.getAttribute("data-rule"))).toEqual(["runbook-linked", "owner-assigned"]);
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Move Owner assigned up" }));
    await user.keyboard("{Enter}");
    expect(within(bronze).getAllByRole("listitem").map((li) => li.getAttribute("data-rule"))).toEqual(["owner-assigned", "runbook-linked"]);
    const yaml = screen.getByTestId("yaml-preview").textContent!;
    expect(yaml.indexOf("id: owner-assigned")).toBeLessThan(yaml.indexOf("id: runbook-linked"));
    expect(yaml).toMatch(/id: owner-assigned\n\s+title: Owner assigned\n\s+level: Bronze/);
    expect(screen.getByRole("status").textContent).toMatch(/Owner assigned is now number 1 in Bronze/);
  });

  it("shows the API server's refusal verbatim next to the form", async () => {
    const user = userEvent.setup();
    const message = 'Scorecard.scorecards.nexus.dev "x" is invalid: spec.rules[0].id: Invalid value: "Bad": should match';
    const fetch = vi.fn(async () => new Response(JSON.stringify({ kind: "Status", code: 422, reason: "Invalid", message }), { status: 422 }));
    vi.stubGlobal("fetch", fetch);
    wrap(<ScorecardBuilder />, "/scorecards/new");
    await user.type(screen.getByLabelText("Name"), "x");
    await user.type(screen.getByLabelText("Title"), "X");
    await user.click(screen.getByRole("button", { name: "Add Runbook linked to Bronze" }));
    await user.click(screen.getByRole("button", { name: "Validate" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent(message);
    expect(alert).toHaveTextContent("422");
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/v1/scorecards/nexus-org?dryRun=true");
    expect(init.method).toBe("POST");
    expect(JSON.parse(init.body as string).spec.rules[0].id).toBe("runbook-linked");
    expect(new ApiError(422, "Invalid", message, url).message).toBe(message);
  });
});

describe("scorecards page", () => {
  it("heatmap cells are links with their value as text, to the filtered view", async () => {
    const cell = { entities: 5, passed: 3, passRate: 60, averageScore: 42, perLevel: [{ level: "Bronze", entities: 3 }], noLevel: 2 };
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        if (url.includes("/insights/heatmap"))
          return new Response(JSON.stringify({ scorecards: [{ scorecard: "nexus-org/production-readiness", title: "Production Readiness", levels: ["Bronze"] }], teams: [{ team: "team:team-checkout/checkout", title: "Checkout", cells: { "nexus-org/production-readiness": cell } }] }));
        if (url.includes("/insights/rankings")) return new Response(JSON.stringify({ scorecard: "nexus-org/production-readiness", title: "Production Readiness", levels: [], teams: [{ rank: 1, team: "team:team-checkout/checkout", title: "Checkout", ...cell }] }));
        if (url.includes("/insights/distribution")) return new Response(JSON.stringify({ scorecard: "nexus-org/production-readiness", title: "Production Readiness", levels: [], ...cell, bins: [] }));
        return new Response(JSON.stringify({ scorecard: "nexus-org/production-readiness", title: "Production Readiness", levels: [], days: 30, from: "2026-10-28", snapshotsListed: true, points: [] }));
      }),
    );
    wrap(<ScorecardsPage />, "/scorecards");
    const link = await screen.findByRole("link", { name: /Checkout, Production Readiness: average score 42.0 \(weak\), 3 of 5 pass/ });
    expect(link).toHaveTextContent("42.0");
    expect(link).toHaveTextContent("3/5 pass");
    expect(link.getAttribute("href")).toBe("/scorecards?scorecard=nexus-org%2Fproduction-readiness&team=team%3Ateam-checkout%2Fcheckout");
  });

  it("an entity's results list failing rules with what to fix", () => {
    wrap(
      <ScorecardResults
        results={[
          { scorecard: "nexus-org/production-readiness", score: 30, passed: false, rulesPassed: 1, rulesTotal: 5, evaluatedAt: new Date().toISOString(), failing: [{ ruleId: "runbook-linked", title: "Runbook linked", message: "Link a runbook." }], unknown: [{ ruleId: "slo", title: "SLO documented", message: "fact slo.objectives has no source yet" }] },
        ]}
      />,
    );
    expect(screen.getByText("What to fix")).toBeInTheDocument();
    expect(screen.getByText("Link a runbook.")).toBeInTheDocument();
    expect(screen.getByText("Below the gate")).toBeInTheDocument();
    expect(screen.getByText("1 rule could not be decided")).toBeInTheDocument();
  });
});
