import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { ApiError, configureClient } from "../api/client";
import Dashboard from "../pages/Dashboard";
import { SearchBox } from "./SearchBox";
import { ErrorMessage } from "./Status";

function Where() {
  const l = useLocation();
  return <p data-testid="where">{l.pathname + l.search}</p>;
}

function wrap(ui: React.ReactNode, path = "/") {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        {ui}
        <Routes>
          <Route path="*" element={<Where />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const hit = (name: string, kind = "Component") => ({ ref: `${kind.toLowerCase()}:team-a/${name}`, kind, namespace: "team-a", name, title: name, ready: "True" });

beforeEach(() => configureClient(async () => "t", () => {}));
afterEach(() => vi.unstubAllGlobals());

describe("SearchBox", () => {
  it("suggests as you type; arrows and Enter open an entity", async () => {
    const fetch = vi.fn(async (url: string) => {
      expect(url).toContain("facets=false");
      return new Response(JSON.stringify({ items: [hit("checkout-api"), hit("checkout", "System")], total: 2 }));
    });
    vi.stubGlobal("fetch", fetch);
    wrap(<SearchBox />);
    const box = screen.getByRole("combobox", { name: "Search the catalog" });
    await userEvent.type(box, "chekout");
    const options = await screen.findAllByRole("option");
    expect(options).toHaveLength(2);
    expect(fetch.mock.calls[0]![0]).toContain("q=chekout");
    await userEvent.keyboard("{ArrowDown}{ArrowDown}");
    expect(box).toHaveAttribute("aria-activedescendant", options[1]!.id);
    expect(options[1]).toHaveAttribute("aria-selected", "true");
    await userEvent.keyboard("{Enter}");
    expect(screen.getByTestId("where")).toHaveTextContent("/entities/system/team-a/checkout");
  });

  it("Enter without a highlighted suggestion opens the results page; Escape closes", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ items: [], total: 0 }))));
    wrap(<SearchBox />);
    const box = screen.getByRole("combobox");
    await userEvent.type(box, "pay ments");
    expect(await screen.findByText(/No matches/)).toBeInTheDocument();
    await userEvent.keyboard("{Escape}");
    expect(box).toHaveAttribute("aria-expanded", "false");
    await userEvent.keyboard("{Enter}");
    expect(screen.getByTestId("where")).toHaveTextContent("/search?q=pay%20ments");
  });
});

describe("ErrorMessage", () => {
  it("explains a 403 with what to ask for", () => {
    render(
      <MemoryRouter>
        <ErrorMessage error={new ApiError(403, "Forbidden", 'user "x" cannot get resource "graphs"', "/api/v1/x")} />
      </MemoryRouter>,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("You do not have access");
    expect(screen.getByRole("alert")).toHaveTextContent('cannot get resource "graphs"');
    expect(screen.getByRole("alert")).toHaveTextContent(/Ask your team lead/);
  });

  it("a 404 says hidden entities look missing", () => {
    render(
      <MemoryRouter>
        <ErrorMessage error={new ApiError(404, "NotFound", "no", "/x")} />
      </MemoryRouter>,
    );
    expect(screen.getByRole("alert")).toHaveTextContent(/may not see it/);
    expect(screen.getByRole("link", { name: "Go to your dashboard" })).toBeInTheDocument();
  });
});

describe("Dashboard", () => {
  it("shows the sections, with the server's empty states", async () => {
    const empty = (text: string) => ({ items: [], total: 0, emptyState: text });
    vi.stubGlobal(
      "fetch",
      vi.fn(async () =>
        new Response(
          JSON.stringify({
            user: { username: "lars.jensen@contoso.com", groups: [], entity: { ...hit("lars-jensen", "User"), title: "Lars Jensen" } },
            teams: [{ ...hit("payments", "Team"), title: "Payments" }],
            myServices: { items: [hit("payments-api")], total: 1 },
            myDeployments: empty("No deployments recorded for your services yet."),
            myPullRequests: empty("No open pull requests by you."),
            myAlerts: empty("No open incidents on anything your teams own."),
            myCosts: empty("Cost data arrives with the FinOps integration"),
          }),
        ),
      ),
    );
    wrap(<Dashboard />);
    expect(await screen.findByRole("heading", { level: 1 })).toHaveTextContent("Hello, Lars Jensen");
    expect(screen.getByRole("link", { name: "payments-api" })).toHaveAttribute("href", "/entities/component/team-a/payments-api");
    expect(screen.getByRole("link", { name: "Payments" })).toHaveAttribute("href", "/teams/team-a/payments");
    expect(screen.getByText("No deployments recorded for your services yet.")).toBeInTheDocument();
    expect(screen.getByText(/FinOps integration/)).toBeInTheDocument();
  });
});
