// Search/catalog filters live in the URL (deep links, back button).
import { useCallback, useMemo } from "react";
import { useSearchParams } from "react-router";
import type { SearchFilters } from "../api/queries";
import { FACET_NAMES, type FacetName } from "../api/types";

export function filtersFromParams(params: URLSearchParams): SearchFilters {
  const list = (k: string) =>
    params
      .getAll(k)
      .flatMap((v) => v.split(","))
      .map((v) => v.trim())
      .filter(Boolean);
  const f: SearchFilters = { q: params.get("q") ?? undefined, sort: params.get("sort") ?? undefined };
  for (const name of FACET_NAMES) {
    const values = list(name);
    if (values.length) f[name] = values;
  }
  return f;
}

export function paramsFromFilters(f: SearchFilters): URLSearchParams {
  const p = new URLSearchParams();
  if (f.q) p.set("q", f.q);
  for (const name of FACET_NAMES) {
    const values = f[name];
    if (values?.length) p.set(name, values.join(","));
  }
  if (f.sort) p.set("sort", f.sort);
  return p;
}

export function toggleValue(f: SearchFilters, facet: FacetName, value: string): SearchFilters {
  const current = f[facet] ?? [];
  const next = current.includes(value) ? current.filter((v) => v !== value) : [...current, value];
  return { ...f, [facet]: next.length ? next : undefined };
}

export function useFilters() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  const setFilters = useCallback(
    (f: SearchFilters, replace = false) => setParams(paramsFromFilters(f), { replace }),
    [setParams],
  );
  return [filters, setFilters] as const;
}

export function activeFilterCount(f: SearchFilters) {
  return FACET_NAMES.reduce((n, k) => n + (f[k]?.length ?? 0), 0);
}

/**
 * The page's query string with a setter for one parameter at a time (empty removes it), for
 * pages whose filters are plain `key=value` pairs. `reset` names parameters that a change of
 * another invalidates (e.g. a paging cursor).
 */
export function useUrlParams(options: { replace?: boolean; reset?: string[] } = {}) {
  const [params, setParams] = useSearchParams();
  const { replace = false, reset } = options;
  const set = useCallback(
    (key: string, value: string | null | undefined) => {
      const next = new URLSearchParams(params);
      for (const r of reset ?? []) if (r !== key) next.delete(r);
      if (value) next.set(key, value);
      else next.delete(key);
      setParams(next, { replace });
    },
    [params, setParams, replace, reset],
  );
  return [params, set] as const;
}
