// One runbook, rendered: the server's sanitised HTML (pulldown-cmark + ammonia) in a styled
// container, next to what it applies to and where the file lives.
import { Link, useParams } from "react-router";
import { useEntity, useRunbookHtml } from "../api/queries";
import { RefLink, SummaryList } from "../components/EntityLink";
import { ExternalLink } from "../components/Facts";
import { ErrorMessage, Loading } from "../components/Status";
import { entityPath } from "../lib/refs";
import { useTitle } from "../lib/useTitle";

const strs = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []);

export default function RunbookPage() {
  const { namespace = "", name = "" } = useParams();
  const ref = { kind: "runbook", namespace, name };
  const entity = useEntity(ref);
  const html = useRunbookHtml(namespace, name);
  useTitle(entity.data?.title ?? name);

  if (entity.isPending) return <Loading label="Loading the runbook" />;
  if (entity.error) return <ErrorMessage error={entity.error} retry={() => void entity.refetch()} />;
  const view = entity.data;
  const spec = view.object.spec ?? {};
  const source = view.object.metadata?.annotations?.["nexus.dev/source-url"];
  const alerts = strs(spec.alerts);
  const types = strs(spec.resourceTypes);
  const appliesTo = view.relations.runbookFor ?? [];

  return (
    <div className="page runbook">
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to="/runbooks">Runbooks</Link> / {namespace}
        </p>
        <h1>{view.title || view.name}</h1>
        {view.description && <p className="lead">{view.description}</p>}
        <div className="meta">
          {view.owner && (
            <span>
              <span className="muted">Owner</span> <RefLink refString={view.owner} />
            </span>
          )}
          {view.tags?.length ? (
            <span>
              <span className="muted">Tags</span>{" "}
              {view.tags.map((t) => (
                <Link key={t} className="tag" to={`/runbooks?tag=${encodeURIComponent(t)}`}>
                  {t}
                </Link>
              ))}
            </span>
          ) : null}
          {source && (
            <span>
              <ExternalLink href={source}>Edit the source file</ExternalLink>
            </span>
          )}
          <Link to={entityPath(ref)}>Entity details</Link>
        </div>
      </header>
      <div className="runbook-layout">
        <article className="panel runbook-body" aria-label="Runbook">
          {html.isPending ? (
            <Loading label="Rendering" />
          ) : html.error ? (
            <ErrorMessage error={html.error} retry={() => void html.refetch()} />
          ) : (
            // Sanitised by the server (ammonia: no scripts, styles, event handlers or unsafe URLs);
            // the page's CSP forbids inline scripts besides.
            <div className="markdown" dangerouslySetInnerHTML={{ __html: html.data }} />
          )}
        </article>
        <aside className="panel runbook-side" aria-labelledby="applies">
          <h2 id="applies">Applies to</h2>
          <SummaryList items={appliesTo} empty="It names no entity you can see (spec.appliesTo)." />
          {alerts.length > 0 && (
            <>
              <h3>Alerts</h3>
              <ul className="value-list">
                {alerts.map((a) => (
                  <li key={a}>
                    <code>{a}</code>
                  </li>
                ))}
              </ul>
            </>
          )}
          {types.length > 0 && (
            <>
              <h3>Azure resource types</h3>
              <ul className="value-list">
                {types.map((a) => (
                  <li key={a}>
                    <code>{a}</code>
                  </li>
                ))}
              </ul>
            </>
          )}
        </aside>
      </div>
    </div>
  );
}
