// TanStack Query hooks over the portal API. Query keys start with the endpoint name so the live
// stream can invalidate exactly what a change may affect.
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, queryString } from "./client";
import type {
  Dashboard,
  DoraAnswer,
  DoraScope,
  DoraTrend,
  DoraWindow,
  EntityView,
  Graph,
  Heatmap,
  Impact,
  Me,
  Rankings,
  RunbooksFor,
  ScoreDistribution,
  ScoreTrend,
  SearchResult,
  StatusView,
  TeamView,
} from "./types";
import { entityApiPath, type Ref } from "../lib/refs";

export interface SearchFilters {
  q?: string;
  kind?: string[];
  namespace?: string[];
  owner?: string[];
  lifecycle?: string[];
  type?: string[];
  tag?: string[];
  sort?: string;
}

export function filterParams(f: SearchFilters) {
  return {
    q: f.q?.trim() || undefined,
    kind: f.kind,
    namespace: f.namespace,
    owner: f.owner,
    lifecycle: f.lifecycle,
    type: f.type,
    tag: f.tag,
    sort: f.sort,
  };
}

export const refKey = (r: Ref) => `${r.kind}:${r.namespace}/${r.name}`;

/** Typeahead: a handful of matches, no facets. */
export function useTypeahead(q: string) {
  const text = q.trim();
  return useQuery({
    queryKey: ["search", "typeahead", text],
    queryFn: ({ signal }) => api.get<SearchResult>(`/search${queryString({ q: text, limit: 8, facets: false })}`, signal),
    enabled: text.length > 0,
    placeholderData: keepPreviousData,
    staleTime: 10_000,
  });
}

/** Pages of search results (cursor pagination); facets come with the first page. */
export function useSearchPages(filters: SearchFilters, pageSize: number) {
  const params = filterParams(filters);
  return useInfiniteQuery({
    queryKey: ["search", "pages", params, pageSize],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam, signal }) =>
      api.get<SearchResult>(
        `/search${queryString({ ...params, limit: pageSize, cursor: pageParam, facets: pageParam ? false : undefined })}`,
        signal,
      ),
    getNextPageParam: (last) => last.nextCursor,
    placeholderData: keepPreviousData,
  });
}

export function useEntity(r: Ref) {
  return useQuery({
    queryKey: ["entity", refKey(r)],
    queryFn: ({ signal }) => api.get<EntityView>(entityApiPath(r), signal),
  });
}

export function useImpact(r: Ref, enabled = true) {
  return useQuery({
    queryKey: ["impact", refKey(r)],
    queryFn: ({ signal }) => api.get<Impact>(`${entityApiPath(r)}/impact`, signal),
    enabled,
  });
}

export function useGraph(r: Ref, depth: number, relations: string[]) {
  return useQuery({
    queryKey: ["graph", refKey(r), depth, relations],
    queryFn: ({ signal }) =>
      api.get<Graph>(`${entityApiPath(r)}/graph${queryString({ depth, relations })}`, signal),
    placeholderData: keepPreviousData,
  });
}

export function useTeam(namespace: string, name: string) {
  return useQuery({
    queryKey: ["team", namespace, name],
    queryFn: ({ signal }) =>
      api.get<TeamView>(`/teams/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`, signal),
  });
}

export function useDashboard() {
  return useQuery({ queryKey: ["dashboard"], queryFn: ({ signal }) => api.get<Dashboard>("/me/dashboard", signal) });
}

export function useMe(enabled = true) {
  return useQuery({ queryKey: ["me"], queryFn: ({ signal }) => api.get<Me>("/me", signal), enabled, staleTime: 60_000 });
}

export function useStatus() {
  return useQuery({ queryKey: ["status"], queryFn: ({ signal }) => api.get<StatusView>("/status", signal) });
}

// ---- Insights: scorecards and DORA (`/insights/<view>`) ----

export function useHeatmap() {
  return useQuery({ queryKey: ["insights", "heatmap"], queryFn: ({ signal }) => api.get<Heatmap>("/insights/heatmap", signal) });
}

export function useRankings(scorecard: string | undefined) {
  return useQuery({
    queryKey: ["insights", "rankings", scorecard],
    queryFn: ({ signal }) => api.get<Rankings>(`/insights/rankings${queryString({ scorecard })}`, signal),
    enabled: !!scorecard,
  });
}

export function useDistribution(scorecard: string | undefined, team?: string) {
  return useQuery({
    queryKey: ["insights", "distribution", scorecard, team],
    queryFn: ({ signal }) => api.get<ScoreDistribution>(`/insights/distribution${queryString({ scorecard, team })}`, signal),
    enabled: !!scorecard,
    placeholderData: keepPreviousData,
  });
}

export function useScoreTrend(scorecard: string | undefined, team?: string, days = 30) {
  return useQuery({
    queryKey: ["insights", "trends", scorecard, team, days],
    queryFn: ({ signal }) => api.get<ScoreTrend>(`/insights/trends${queryString({ scorecard, team, days })}`, signal),
    enabled: !!scorecard,
    placeholderData: keepPreviousData,
  });
}

export function useDora(scope: DoraScope, name: string | undefined, window: DoraWindow, end?: string) {
  return useQuery({
    queryKey: ["insights", "dora", scope, name, window, end],
    queryFn: ({ signal }) => api.get<DoraAnswer>(`/insights/dora${queryString({ scope, name, window, end })}`, signal),
    enabled: !!name,
    placeholderData: keepPreviousData,
  });
}

export function useDoraTrend(scope: DoraScope, name: string | undefined, weeks = 12, end?: string) {
  return useQuery({
    queryKey: ["insights", "dora-trend", scope, name, weeks, end],
    queryFn: ({ signal }) => api.get<DoraTrend>(`/insights/dora-trend${queryString({ scope, name, weeks, end })}`, signal),
    enabled: !!name,
    placeholderData: keepPreviousData,
  });
}

// ---- Runbooks ----

export interface RunbookFilters {
  q?: string;
  tag?: string[];
  namespace?: string[];
  sort?: string;
}

export function useRunbookSearch(f: RunbookFilters) {
  const params = { q: f.q?.trim() || undefined, tag: f.tag, namespace: f.namespace, sort: f.sort, limit: 100 };
  return useQuery({
    queryKey: ["runbooks", "search", params],
    queryFn: ({ signal }) => api.get<SearchResult>(`/runbooks${queryString(params)}`, signal),
    placeholderData: keepPreviousData,
  });
}

export function useRunbooksFor(r: Ref, enabled = true) {
  return useQuery({
    queryKey: ["runbooks", "for", refKey(r)],
    queryFn: ({ signal }) => api.get<RunbooksFor>(`/runbooks/for${entityApiPath(r).replace(/^\/entities/, "")}`, signal),
    enabled,
  });
}

export function useRunbookHtml(namespace: string, name: string) {
  return useQuery({
    queryKey: ["runbooks", "html", namespace, name],
    queryFn: ({ signal }) => api.text(`/runbooks/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/html`, signal),
  });
}
