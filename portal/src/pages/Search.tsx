import { useEffect, useState } from "react";
import { Link } from "react-router";
import { useSearchPages } from "../api/queries";
import { KindBadge, ReadyBadge } from "../components/EntityLink";
import { FacetPanel } from "../components/FacetPanel";
import { ErrorMessage, Loading } from "../components/Status";
import { useFilters } from "../lib/filters";
import { entityPath, shortRef } from "../lib/refs";
import { useTitle } from "../lib/useTitle";

export default function SearchPage() {
  const [filters, setFilters] = useFilters();
  const [text, setText] = useState(filters.q ?? "");
  useEffect(() => setText(filters.q ?? ""), [filters.q]);
  useTitle(filters.q ? `“${filters.q}”` : "Search");
  const pages = useSearchPages(filters, 25);
  const first = pages.data?.pages[0];
  const items = pages.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <div className="page with-sidebar">
      <FacetPanel facets={first?.facets} filters={filters} onChange={(f) => setFilters(f)} />
      <div className="content">
        <form
          className="inline-form"
          role="search"
          aria-label="Refine the search"
          onSubmit={(e) => {
            e.preventDefault();
            setFilters({ ...filters, q: text.trim() || undefined });
          }}
        >
          <label htmlFor="search-q">Search</label>
          <input id="search-q" type="search" value={text} onChange={(e) => setText(e.target.value)} />
          <label htmlFor="search-sort">Sort</label>
          <select id="search-sort" value={filters.sort ?? (filters.q ? "relevance" : "name")} onChange={(e) => setFilters({ ...filters, sort: e.target.value })}>
            {filters.q && <option value="relevance">Relevance</option>}
            <option value="name">Name</option>
            <option value="kind">Kind</option>
            <option value="namespace">Namespace</option>
          </select>
          <button type="submit">Search</button>
        </form>
        <h1 aria-live="polite">
          {pages.isPending ? "Searching…" : first ? `${first.total} result${first.total === 1 ? "" : "s"}${filters.q ? ` for “${filters.q}”` : ""}` : "Search"}
        </h1>
        {pages.isPending ? (
          <Loading label="Searching" />
        ) : pages.error ? (
          <ErrorMessage error={pages.error} retry={() => void pages.refetch()} />
        ) : items.length === 0 ? (
          <p className="empty">
            Nothing matches. Every word must match; try fewer words, remove filters, or <Link to="/catalog">browse the catalog</Link>. Entities
            you may not see are never shown.
          </p>
        ) : (
          <>
            <ol className="results">
              {items.map((hit) => (
                <li key={hit.ref} className="result">
                  <div>
                    <KindBadge kind={hit.kind} /> <Link to={entityPath(hit)} className="result-title">{hit.title || hit.name}</Link>{" "}
                    <span className="muted small">
                      {hit.namespace}/{hit.name}
                    </span>{" "}
                    {hit.ready !== "True" && <ReadyBadge ready={hit.ready} reason={hit.readyReason} />}
                  </div>
                  {hit.description && <p className="small">{hit.description}</p>}
                  <div className="muted small">
                    {hit.owner && <>Owner {shortRef(hit.owner, false)} · </>}
                    {hit.type && <>{hit.type} · </>}
                    {hit.lifecycle && <>{hit.lifecycle}</>}
                    {hit.tags?.length ? <> · {hit.tags.map((t) => `#${t}`).join(" ")}</> : null}
                  </div>
                </li>
              ))}
            </ol>
            {pages.hasNextPage && (
              <button type="button" onClick={() => void pages.fetchNextPage()} disabled={pages.isFetchingNextPage}>
                {pages.isFetchingNextPage ? "Loading…" : `Show more (${items.length} of ${first?.total})`}
              </button>
            )}
          </>
        )}
      </div>
    </div>
  );
}
