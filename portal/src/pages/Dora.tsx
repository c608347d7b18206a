// DORA metrics of a service or a team: pick one (kept in the URL), see the four keys with their
// tiers over a window, and the weekly trend.
import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router";
import { api, queryString } from "../api/client";
import type { DoraScope, SearchResult } from "../api/types";
import { DoraPanel } from "../components/Dora";
import { ErrorMessage, Loading } from "../components/Status";
import { useTitle } from "../lib/useTitle";

function useChoices(kind: "team" | "component") {
  return useQuery({
    queryKey: ["search", "dora-choices", kind],
    queryFn: ({ signal }) => api.get<SearchResult>(`/search${queryString({ kind, limit: 500, facets: false, sort: "name" })}`, signal),
    staleTime: 60_000,
  });
}

const TIERS = [
  ["Deployment frequency", "on demand (≥ 1 a day)", "≥ weekly", "≥ monthly", "less than monthly"],
  ["Lead time for changes", "< 1 day", "< 1 week", "< 30 days", "≥ 30 days"],
  ["Change failure rate", "≤ 5 %", "≤ 10 %", "≤ 15 %", "> 15 %"],
  ["Recovery time", "< 1 hour", "< 1 day", "< 1 week", "≥ 1 week"],
];

export default function DoraPage() {
  const [params, setParams] = useSearchParams();
  const scope: DoraScope = params.get("scope") === "service" ? "service" : "team";
  const name = params.get("name") ?? "";
  const choices = useChoices(scope === "team" ? "team" : "component");
  useTitle("DORA");
  const set = (next: Record<string, string>) => setParams(new URLSearchParams({ scope, ...(name ? { name } : {}), ...next }));

  return (
    <div className="page dora-page">
      <header className="page-header">
        <h1>DORA metrics</h1>
        <p className="lead">Deployment frequency, lead time for changes, change failure rate and recovery time, with their performance tiers.</p>
        <form className="inline-form" onSubmit={(e) => e.preventDefault()}>
          <fieldset className="segmented">
            <legend className="visually-hidden">Of</legend>
            {(["team", "service"] as const).map((s) => (
              <label key={s} className={s === scope ? "chosen" : undefined}>
                <input type="radio" name="dora-scope" value={s} checked={s === scope} onChange={() => setParams(new URLSearchParams({ scope: s }))} />
                {s === "team" ? "Team" : "Service"}
              </label>
            ))}
          </fieldset>
          <label htmlFor="dora-name">{scope === "team" ? "Which team" : "Which service"}</label>
          <select id="dora-name" value={name} onChange={(e) => set({ name: e.target.value })} disabled={choices.isPending}>
            <option value="">{choices.isPending ? "Loading…" : `Choose a ${scope === "team" ? "team" : "service"}`}</option>
            {choices.data?.items.map((e) => (
              <option key={e.ref} value={e.ref}>
                {e.title || e.name} ({e.namespace})
              </option>
            ))}
          </select>
        </form>
      </header>
      {choices.error && <ErrorMessage error={choices.error} retry={() => void choices.refetch()} />}
      {name ? (
        <DoraPanel key={`${scope}|${name}`} scope={scope} name={name} title={choices.data?.items.find((e) => e.ref === name)?.title ?? name} />
      ) : choices.isPending ? (
        <Loading label="Loading" />
      ) : (
        <p className="empty">Choose a {scope === "team" ? "team" : "service"} to see its metrics.</p>
      )}
      <section className="panel" aria-labelledby="tiers">
        <h2 id="tiers">Tiers</h2>
        <div className="table-scroll">
          <table className="table">
            <caption className="visually-hidden">Cut-offs of the performance tiers (2023 State of DevOps report, as Apache DevLake)</caption>
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col">Elite</th>
                <th scope="col">High</th>
                <th scope="col">Medium</th>
                <th scope="col">Low</th>
              </tr>
            </thead>
            <tbody>
              {TIERS.map(([metric, ...cells]) => (
                <tr key={metric}>
                  <th scope="row">{metric}</th>
                  {cells.map((c, i) => (
                    <td key={i}>{c}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <p className="small muted">A metric without data in the window is “No data”, never Elite. Read deployment frequency from the 30- and 90-day windows.</p>
      </section>
    </div>
  );
}
