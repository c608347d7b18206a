import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { configureClient } from "../../api/client";
import { applyEvent } from "../../api/live";
import { phaseInfo, type ActionSummary } from "../../api/actions";
import { pointerToProperty, schemaErrors } from "../../lib/schemaValidator";
import { filterActions, groupByCategory } from "./Actions";
import RunAction, { targetProblem } from "./RunAction";
import RunPage from "./Run";

const scale: ActionSummary = {
  namespace: "team-checkout",
  name: "aks-scale-deployment",
  title: "Scale a service",
  description: "Sets the replica count.",
  category: "AKS",
  version: "1.0.0",
  targetKinds: ["Component"],
  inputs: {
    type: "object",
    required: ["replicas"],
    additionalProperties: false,
    properties: {
      replicas: { type: "integer", minimum: 0, maximum: 50, description: "Desired number of replicas." },
      deployment: { type: "string", pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63 },
    },
  },
  approval: { stages: [{ name: "lead", required: 1, approvers: { groups: ["nexus-team-leads"] } }], timeout: "24h", onTimeout: "Reject" },
  timeout: "10m",
  ready: true,
  canRun: true,
};

describe("the inputs validator (no eval, so the CSP holds)", () => {
  it("turns JSON pointers into rjsf property paths", () => {
    expect(pointerToProperty("#")).toBe("");
    expect(pointerToProperty("#/replicas")).toBe(".replicas");
    expect(pointerToProperty("#/tags/0/name")).toBe(".tags[0].name");
    expect(pointerToProperty("#/app~1settings/my-key")).toBe(".['app/settings']['my-key']".replace(".[", "["));
  });
  it("reports each broken field once, where the form shows it", () => {
    const schema = scale.inputs as never;
    expect(schemaErrors(schema, { replicas: 3 })).toEqual([]);
    const missing = schemaErrors(schema, {});
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({ property: ".replicas", message: "is required" });
    const bad = schemaErrors(schema, { replicas: 99, deployment: "Not_Valid" });
    expect(bad.map((e) => e.property).sort()).toEqual([".deployment", ".replicas"]);
    expect(bad.find((e) => e.property === ".replicas")!.message).toMatch(/50/);
    expect(schemaErrors(schema, { replicas: 1, extra: true }).map((e) => e.name)).toContain("additionalProperties");
  });
});

describe("action catalogue helpers", () => {
  it("checks a target against the kinds an action acts on", () => {
    expect(targetProblem("component:team-checkout/checkout-api", ["Component"])).toBeNull();
    expect(targetProblem("", ["Component"])).toMatch(/Choose the Component/);
    expect(targetProblem("checkout-api", ["Component"])).toMatch(/kind:namespace\/name/);
    expect(targetProblem("azureresource:team-checkout/kv", ["Component"])).toMatch(/not azureresource/);
    expect(targetProblem("", [])).toBeNull();
  });
  it("filters by words and runnability, groups by category with Other last", () => {
    const other = { ...scale, name: "x", title: "Rotate a secret", category: undefined, canRun: false };
    const a = { ...scale, name: "y", title: "Restart", category: "App Service" };
    expect(filterActions([scale, other, a], "scale", false).map((x) => x.name)).toEqual(["aks-scale-deployment"]);
    expect(filterActions([scale, other, a], "", true)).toHaveLength(2);
    expect(groupByCategory([other, scale, a]).map(([c]) => c)).toEqual(["AKS", "App Service", "Other"]);
  });
  it("words every phase", () => {
    expect(phaseInfo("WaitingForApproval")).toMatchObject({ label: "Waiting for approval", done: false });
    expect(phaseInfo("Refused").tone).toBe("bad");
    expect(phaseInfo("Succeeded")).toMatchObject({ tone: "ok", done: true });
  });
  it("refreshes a run's page at once when the stream says it moved", () => {
    const client = new QueryClient();
    const spy = vi.spyOn(client, "invalidateQueries");
    const runs = vi.fn();
    applyEvent(client, { event: "run", data: JSON.stringify({ namespace: "ns", name: "r1", phase: "Running" }) }, () => {}, runs);
    expect(spy).toHaveBeenCalledWith({ queryKey: ["run", "ns/r1"] });
    expect(runs).toHaveBeenCalledTimes(1);
    applyEvent(client, { event: "approval", data: "not json" }, () => {}, runs);
    expect(runs).toHaveBeenCalledTimes(2);
  });
});

function Where() {
  const l = useLocation();
  return <p data-testid="where">{l.pathname + l.search}</p>;
}

function at(path: string, route: string, element: React.ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={route} element={element} />
          <Route path="*" element={<Where />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

beforeEach(() => configureClient(async () => "t", () => {}));
afterEach(() => vi.unstubAllGlobals());

describe("run form", () => {
  it("is generated from the schema, refuses bad input before sending, then creates the run as the user", async () => {
    const posted: unknown[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init?: RequestInit) => {
        if (url.startsWith("/api/v1/actions/")) return new Response(JSON.stringify(scale));
        if (url.startsWith("/api/v1/search")) return new Response(JSON.stringify({ items: [], total: 0 }));
        if (url === "/api/v1/runs/team-checkout" && init?.method === "POST") {
          posted.push(JSON.parse(String(init.body)));
          return new Response(JSON.stringify({ namespace: "team-checkout", name: "aks-scale-deployment-abc12" }), { status: 201 });
        }
        return new Response(JSON.stringify({ kind: "Status", code: 404, reason: "NotFound", message: "no" }), { status: 404 });
      }),
    );
    const user = userEvent.setup();
    at("/actions/team-checkout/aks-scale-deployment?target=component:team-checkout/checkout-api", "/actions/:namespace/:name", <RunAction />);
    await screen.findByRole("heading", { level: 1, name: "Scale a service" });
    const replicas = await screen.findByLabelText(/replicas/);
    expect(screen.getByText("Desired number of replicas.")).toBeInTheDocument();
    expect(screen.getByText(/approvers: group nexus-team-leads/)).toBeInTheDocument();
    await user.type(replicas, "99");
    await user.click(screen.getByRole("button", { name: "Request run" }));
    expect((await screen.findAllByText(/50/)).length).toBeGreaterThan(0);
    expect(posted).toHaveLength(0);
    await user.clear(replicas);
    await user.type(replicas, "3");
    await user.click(screen.getByRole("button", { name: "Request run" }));
    await waitFor(() => expect(screen.getByTestId("where").textContent).toBe("/runs/team-checkout/aks-scale-deployment-abc12"));
    expect(posted).toEqual([{ action: "aks-scale-deployment", target: "component:team-checkout/checkout-api", inputs: { replicas: 3 } }]);
  });
});

describe("run page", () => {
  const run = {
    namespace: "team-checkout",
    name: "r1",
    action: "aks-scale-deployment",
    actionTitle: "Scale a service",
    target: "component:team-checkout/checkout-api",
    requester: "aisha.khan@contoso.com",
    phase: "WaitingForApproval",
    attempt: 1,
    cancel: false,
    createdAt: new Date().toISOString(),
    stages: [{ name: "lead", required: 1, state: "Open", approvals: [] }],
    inputs: { replicas: 3 },
    outputs: {},
    logTail: [],
    conditions: [{ type: "Validated", status: "True", reason: "Valid", message: "inputs are valid" }],
    approvals: [],
    canApprove: { stage: "lead", allowed: false, whyNot: "You requested this run; someone else must approve it." },
    canCancel: true,
  };
  it("shows the policy's refusal verbatim when a decision is refused", async () => {
    const message = 'admission webhook denied: ValidatingAdmissionPolicy \'nexus-action-approvals\' denied request: nobody approves their own run';
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init?: RequestInit) => {
        if (init?.method === "POST") return new Response(JSON.stringify({ kind: "Status", code: 403, reason: "Forbidden", message }), { status: 403 });
        if (url === "/api/v1/runs/team-checkout/r1") return new Response(JSON.stringify(run));
        return new Response("{}", { status: 404 });
      }),
    );
    const user = userEvent.setup();
    at("/runs/team-checkout/r1", "/runs/:namespace/:name", <RunPage />);
    await screen.findByText("Waiting for approval");
    expect(screen.getByText(/someone else must approve it/)).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Approve" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Your decision was refused");
    expect(alert).toHaveTextContent("nobody approves their own run");
  });
});
