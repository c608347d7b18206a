// Runbooks: search (title, tags, description, the Markdown, alerts) with a tag filter; both in
// the URL.
import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useRunbookSearch } from "../api/queries";
import { RefLink } from "../components/EntityLink";
import { runbookPath } from "../components/RunbooksFor";
import { ErrorMessage, Loading } from "../components/Status";
import { useTitle } from "../lib/useTitle";

export default function RunbooksPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const tags = (params.get("tag") ?? "").split(",").filter(Boolean);
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  const { data, error, isPending, refetch, isFetching } = useRunbookSearch({ q, tag: tags });
  useTitle("Runbooks");
  const update = (next: { q?: string; tag?: string[] }) => {
    const p = new URLSearchParams();
    const nq = next.q ?? q;
    const nt = next.tag ?? tags;
    if (nq) p.set("q", nq);
    if (nt.length) p.set("tag", nt.join(","));
    setParams(p);
  };
  const tagFacet = data?.facets?.tag ?? [];

  return (
    <div className="page runbooks">
      <header className="page-header">
        <h1>Runbooks</h1>
        <p className="lead">What to do when something breaks: Markdown from your repositories (runbooks/ with front matter), searchable and shown next to the incidents and resources they are for.</p>
        <form
          role="search"
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            update({ q: text.trim() });
          }}
        >
          <label htmlFor="runbook-q">Search runbooks</label>
          <input id="runbook-q" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="redis failover, sql, 5xx…" />
          <button type="submit" className="primary">
            Search
          </button>
        </form>
      </header>
      <div className="with-sidebar">
        <aside className="facets" aria-label="Filters">
          <fieldset className="facet">
            <legend>Tag</legend>
            {tagFacet.length === 0 && <p className="muted small">{isPending ? "Loading…" : "No tags."}</p>}
            {tagFacet.map((t) => (
              <label key={t.value} className="facet-value">
                <input
                  type="checkbox"
                  checked={tags.includes(t.value)}
                  onChange={(e) => update({ tag: e.target.checked ? [...tags, t.value] : tags.filter((x) => x !== t.value) })}
                />
                <span className="facet-name">{t.value}</span>
                <span className="count">{t.count}</span>
              </label>
            ))}
          </fieldset>
        </aside>
        <div aria-busy={isFetching}>
          {isPending ? (
            <Loading label="Searching runbooks" />
          ) : error ? (
            <ErrorMessage error={error} retry={() => void refetch()} />
          ) : (
            <>
              <p className="muted" role="status">
                {data.total} runbook{data.total === 1 ? "" : "s"}
                {q && ` for “${q}”`}
                {tags.length > 0 && ` tagged ${tags.join(", ")}`}
              </p>
              {data.items.length === 0 ? (
                <p className="empty">No runbook matches. Try fewer words, or remove a tag.</p>
              ) : (
                <ul className="results">
                  {data.items.map((r) => (
                    <li key={r.ref} className="result">
                      <Link className="result-title" to={runbookPath(r.namespace, r.name)}>
                        {r.title || r.name}
                      </Link>
                      <span className="muted small"> {r.namespace}</span>
                      {r.description && <p>{r.description}</p>}
                      <p className="small">
                        {r.tags?.map((t) => (
                          <button key={t} type="button" className="tag" onClick={() => update({ tag: tags.includes(t) ? tags : [...tags, t] })} aria-label={`Filter by tag ${t}`}>
                            {t}
                          </button>
                        ))}
                        {r.owner && (
                          <span className="muted">
                            {" "}
                            Owner <RefLink refString={r.owner} />
                          </span>
                        )}
                      </p>
                    </li>
                  ))}
                </ul>
              )}
            </>
          )}
        </div>
      </div>
    </div>
  );
}
