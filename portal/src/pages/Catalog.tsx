// The catalog browser: filters (facets) and sort in the URL, pages of 200 fetched by cursor as
// the table scrolls, and only the visible rows in the DOM (100,000 entities stay smooth).
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { useSearchPages } from "../api/queries";
import { ReadyBadge } from "../components/EntityLink";
import { FacetPanel } from "../components/FacetPanel";
import { ErrorMessage, Loading } from "../components/Status";
import { activeFilterCount, useFilters } from "../lib/filters";
import { entityPath, kindLabel, shortRef } from "../lib/refs";
import { useTitle } from "../lib/useTitle";

export const PAGE_SIZE = 200;
const ROW_HEIGHT = 40;

const COLUMNS = [
  { key: "name", label: "Name", sortable: true },
  { key: "kind", label: "Kind", sortable: true },
  { key: "namespace", label: "Namespace", sortable: true },
  { key: "owner", label: "Owner", sortable: false },
  { key: "type", label: "Type", sortable: false },
  { key: "lifecycle", label: "Lifecycle", sortable: false },
  { key: "ready", label: "Status", sortable: false },
] as const;

export default function Catalog() {
  const [filters, setFilters] = useFilters();
  const [text, setText] = useState(filters.q ?? "");
  useEffect(() => setText(filters.q ?? ""), [filters.q]);
  useTitle("Catalog");
  const pages = useSearchPages(filters, PAGE_SIZE);
  const first = pages.data?.pages[0];
  const rows = pages.data?.pages.flatMap((p) => p.items) ?? [];
  const total = first?.total ?? 0;
  const sort = filters.sort ?? (filters.q ? "relevance" : "name");

  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: pages.hasNextPage ? rows.length + 1 : rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });
  const virtualRows = virtualizer.getVirtualItems();
  const last = virtualRows[virtualRows.length - 1];

  useEffect(() => {
    if (last && last.index >= rows.length - 40 && pages.hasNextPage && !pages.isFetchingNextPage) {
      void pages.fetchNextPage();
    }
  }, [last, rows.length, pages]);

  // New filters: back to the top.
  const key = JSON.stringify(filters);
  useEffect(() => {
    scroller.current?.scrollTo({ top: 0 });
  }, [key]);

  return (
    <div className="page with-sidebar catalog">
      <FacetPanel facets={first?.facets} filters={filters} onChange={(f) => setFilters(f)} />
      <div className="content">
        <div className="catalog-header">
          <h1>
            Catalog{" "}
            <span className="count" aria-live="polite">
              {pages.isPending ? "…" : `${total.toLocaleString()} ${total === 1 ? "entity" : "entities"}`}
            </span>
          </h1>
          <form
            className="inline-form"
            role="search"
            aria-label="Filter the catalog by text"
            onSubmit={(e) => {
              e.preventDefault();
              setFilters({ ...filters, q: text.trim() || undefined });
            }}
          >
            <label htmlFor="catalog-q">Text</label>
            <input id="catalog-q" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="Filter by text" />
            <label htmlFor="catalog-sort">Sort by</label>
            <select id="catalog-sort" value={sort} onChange={(e) => setFilters({ ...filters, sort: e.target.value })}>
              {filters.q && <option value="relevance">Relevance</option>}
              <option value="name">Name</option>
              <option value="kind">Kind</option>
              <option value="namespace">Namespace</option>
            </select>
            <button type="submit">Apply</button>
          </form>
        </div>
        {pages.error && !pages.data ? (
          <ErrorMessage error={pages.error} retry={() => void pages.refetch()} />
        ) : pages.isPending ? (
          <Loading label="Loading the catalog" />
        ) : rows.length === 0 ? (
          <p className="empty">
            No entities match{activeFilterCount(filters) ? " these filters; remove some on the left" : ""}. You only see what your account may read.
          </p>
        ) : (
          <div className="vtable" role="table" aria-label="Catalog entities" aria-rowcount={total + 1}>
            <div role="rowgroup" className="vtable-head">
              <div role="row" className="vrow" aria-rowindex={1}>
                {COLUMNS.map((c) => (
                  <div
                    key={c.key}
                    role="columnheader"
                    className={`vcell col-${c.key}`}
                    aria-sort={c.sortable && sort === c.key ? "ascending" : undefined}
                  >
                    {c.sortable ? (
                      <button type="button" className="link-button" onClick={() => setFilters({ ...filters, sort: c.key })} title={`Sort by ${c.label.toLowerCase()}`}>
                        {c.label}
                        {sort === c.key && <span aria-hidden="true"> ▲</span>}
                      </button>
                    ) : (
                      c.label
                    )}
                  </div>
                ))}
              </div>
            </div>
            <div ref={scroller} className="vtable-body" role="rowgroup" data-testid="catalog-scroller">
              <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
                {virtualRows.map((v) => {
                  const e = rows[v.index];
                  return (
                    <div
                      key={v.key}
                      role="row"
                      aria-rowindex={v.index + 2}
                      className={`vrow${v.index % 2 ? " odd" : ""}`}
                      style={{ position: "absolute", top: 0, left: 0, right: 0, height: ROW_HEIGHT, transform: `translateY(${v.start}px)` }}
                    >
                      {e ? (
                        <>
                          <div role="cell" className="vcell col-name">
                            <Link to={entityPath(e)} title={e.description}>
                              {e.title || e.name}
                            </Link>
                          </div>
                          <div role="cell" className="vcell col-kind">{kindLabel(e.kind)}</div>
                          <div role="cell" className="vcell col-namespace">{e.namespace}</div>
                          <div role="cell" className="vcell col-owner">{e.owner ? shortRef(e.owner, false) : "—"}</div>
                          <div role="cell" className="vcell col-type">{e.type ?? "—"}</div>
                          <div role="cell" className="vcell col-lifecycle">{e.lifecycle ?? "—"}</div>
                          <div role="cell" className="vcell col-ready">
                            <ReadyBadge ready={e.ready} reason={e.readyReason} />
                          </div>
                        </>
                      ) : (
                        <div role="cell" className="vcell muted">
                          {pages.error ? "Could not load more rows; scroll up and down to retry." : "Loading more…"}
                        </div>
                      )}
                    </div>
                  );
                })}
              </div>
            </div>
            <p className="muted small table-foot">
              {rows.length >= total
                ? `All ${total.toLocaleString()} loaded.`
                : `${rows.length.toLocaleString()} of ${total.toLocaleString()} loaded; more load as you scroll.`}
            </p>
          </div>
        )}
      </div>
    </div>
  );
}
