import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { Component, lazy, Suspense, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router";
import { isApiError } from "./api/client";
import { LiveProvider } from "./api/live";
import type { PortalConfig } from "./api/types";
import { AuthProvider, useAuth } from "./auth/AuthContext";
import { Layout } from "./components/Layout";
import { ErrorMessage, Loading } from "./components/Status";

const SignIn = lazy(() => import("./pages/SignIn"));
const Dashboard = lazy(() => import("./pages/Dashboard"));
const SearchPage = lazy(() => import("./pages/Search"));
const Catalog = lazy(() => import("./pages/Catalog"));
const EntityPage = lazy(() => import("./pages/Entity"));
const GraphPage = lazy(() => import("./pages/Graph"));
const TeamPage = lazy(() => import("./pages/Team"));
const NotFound = lazy(() => import("./pages/NotFound"));
const ActionsPage = lazy(() => import("./pages/actions/Actions"));
const RunAction = lazy(() => import("./pages/actions/RunAction"));
const RunsPage = lazy(() => import("./pages/actions/Runs"));
const RunPage = lazy(() => import("./pages/actions/Run"));
const ApprovalsPage = lazy(() => import("./pages/actions/Approvals"));
const AuditPage = lazy(() => import("./pages/actions/Audit"));
const ScorecardsPage = lazy(() => import("./pages/Scorecards"));
const ScorecardBuilder = lazy(() => import("./pages/ScorecardBuilder"));
const DoraPage = lazy(() => import("./pages/Dora"));
const RunbooksPage = lazy(() => import("./pages/Runbooks"));
const RunbookPage = lazy(() => import("./pages/Runbook"));

export function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        refetchOnWindowFocus: false,
        // 4xx answers will not change on retry; network errors and 503 may.
        retry: (count, error) => count < 2 && !(isApiError(error) && error.status >= 400 && error.status < 500),
      },
    },
  });
}

/** Catches render errors (and failed lazy chunks) so a page never goes blank. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: string }, { error: unknown }> {
  state = { error: null as unknown };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  componentDidUpdate(prev: { resetKey?: string }) {
    if (prev.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }
  render() {
    if (this.state.error) return <ErrorMessage error={this.state.error} />;
    return this.props.children;
  }
}

function RequireAuth({ children }: { children: ReactNode }) {
  const { status } = useAuth();
  const location = useLocation();
  if (status === "loading") return <Loading label="Signing in" />;
  if (status !== "signedIn") {
    const next = location.pathname + location.search;
    return <Navigate to={next === "/" ? "/signin" : `/signin?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}

function Page({ children }: { children: ReactNode }) {
  const location = useLocation();
  return (
    <ErrorBoundary resetKey={location.pathname}>
      <Suspense fallback={<Loading />}>{children}</Suspense>
    </ErrorBoundary>
  );
}

function Shell() {
  const { status } = useAuth();
  return (
    <LiveProvider enabled={status === "signedIn"}>
      <Routes>
        <Route path="/signin" element={<Page><SignIn /></Page>} />
        <Route element={<RequireAuth><Layout /></RequireAuth>}>
          <Route index element={<Page><Dashboard /></Page>} />
          <Route path="search" element={<Page><SearchPage /></Page>} />
          <Route path="catalog" element={<Page><Catalog /></Page>} />
          <Route path="entities/:kind/:namespace/:name" element={<Page><EntityPage /></Page>} />
          <Route path="entities/:kind/:namespace/:name/graph" element={<Page><GraphPage /></Page>} />
          <Route path="teams/:namespace/:name" element={<Page><TeamPage /></Page>} />
          <Route path="actions" element={<Page><ActionsPage /></Page>} />
          <Route path="actions/:namespace/:name" element={<Page><RunAction /></Page>} />
          <Route path="runs" element={<Page><RunsPage /></Page>} />
          <Route path="runs/:namespace/:name" element={<Page><RunPage /></Page>} />
          <Route path="approvals" element={<Page><ApprovalsPage /></Page>} />
          <Route path="audit" element={<Page><AuditPage /></Page>} />
          <Route path="scorecards" element={<Page><ScorecardsPage /></Page>} />
          <Route path="scorecards/new" element={<Page><ScorecardBuilder /></Page>} />
          <Route path="dora" element={<Page><DoraPage /></Page>} />
          <Route path="runbooks" element={<Page><RunbooksPage /></Page>} />
          <Route path="runbooks/:namespace/:name" element={<Page><RunbookPage /></Page>} />
          <Route path="*" element={<Page><NotFound /></Page>} />
        </Route>
      </Routes>
    </LiveProvider>
  );
}

export function App({ config, client }: { config: PortalConfig; client?: QueryClient }) {
  return (
    <QueryClientProvider client={client ?? makeQueryClient()}>
      <AuthProvider config={config}>
        <BrowserRouter>
          <Shell />
        </BrowserRouter>
      </AuthProvider>
    </QueryClientProvider>
  );
}
