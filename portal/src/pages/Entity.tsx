// One entity: overview, owner (and how Nexus knows), status conditions in plain words, links,
// relations, kind-specific panels and impact. Refreshed live when the entity changes.
import { Link, useParams } from "react-router";
import { useEntity, useImpact } from "../api/queries";
import type { EntityView, Impact, ScorecardResult, Summary } from "../api/types";
import { DoraPanel } from "../components/Dora";
import { RunbooksFor } from "../components/RunbooksFor";
import { ScorecardResults } from "../components/ScorecardResults";
import { EntityLink, KindBadge, ReadyBadge, RefLink, SummaryList } from "../components/EntityLink";
import { DeploymentRow, ExternalLink } from "../components/Facts";
import { ErrorMessage, Loading } from "../components/Status";
import { Fields, Value } from "../components/Value";
import { entityPath, kindLabel, teamPath, type Ref } from "../lib/refs";
import { useTitle } from "../lib/useTitle";
import { conditionSentence, conditionTone, ownerSourceText, relationLabel, timeAgo } from "../lib/words";
import EntityActions from "./actions/EntityActions";
import RecentChanges from "./incident/RecentChanges";

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const str = (v: unknown) => (typeof v === "string" ? v : undefined);

/** Spec fields shown elsewhere on the page (overview, relations, links). */
const SPEC_SHOWN = ["title", "description", "tags", "links", "owner", "type", "lifecycle"];
const STATUS_SHOWN = ["conditions", "relations", "owner", "observedGeneration", "unresolvedRefs", "relationsTruncated", "scorecards", "dora"];

function Section({ id, title, children, count }: { id: string; title: string; children: React.ReactNode; count?: number }) {
  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>
        {title} {count !== undefined && <span className="count">{count}</span>}
      </h2>
      {children}
    </section>
  );
}

function Owner({ view }: { view: EntityView }) {
  const owner = obj(view.object.status?.owner);
  const source = view.ownerSource ?? str(owner.source);
  if (!view.owner) {
    return <p className="warning">No owner is known. Set spec.owner to a Team (or let CODEOWNERS, Azure tags or an Entra group decide).</p>;
  }
  return (
    <p>
      <RefLink refString={view.owner} /> <span className="muted">— {ownerSourceText(source)}
        {str(owner.detail) && !ownerSourceText(source).includes(str(owner.detail)!) ? ` (${str(owner.detail)})` : ""}</span>
    </p>
  );
}

function Conditions({ view }: { view: EntityView }) {
  const conditions = view.object.status?.conditions ?? [];
  const unresolved = view.object.status?.unresolvedRefs ?? [];
  return (
    <Section id="status" title="Status">
      {conditions.length === 0 ? (
        <p className="empty">The catalog controller has not reported on this entity yet (it sets conditions on its first visit).</p>
      ) : (
        <ul className="conditions">
          {conditions.map((c) => (
            <li key={c.type} className={`condition tone-${conditionTone(c)}`}>
              <span className="condition-icon" aria-hidden="true">{conditionTone(c) === "ok" ? "✓" : conditionTone(c) === "bad" ? "✕" : "…"}</span>
              <span>
                {conditionSentence(c)}
                {c.lastTransitionTime && <span className="muted small"> Since {timeAgo(c.lastTransitionTime)}.</span>}
              </span>
            </li>
          ))}
        </ul>
      )}
      {unresolved.length > 0 && (
        <>
          <h3>References that do not resolve</h3>
          <ul>
            {unresolved.map((u) => (
              <li key={`${u.field}-${u.targetRef}`}>
                <code>{u.field}</code> → <code>{u.targetRef}</code>: {u.reason}
              </li>
            ))}
          </ul>
        </>
      )}
    </Section>
  );
}

function Links({ view }: { view: EntityView }) {
  const links = arr(view.object.spec?.links);
  if (!links.length) return null;
  return (
    <Section id="links" title="Links">
      <ul className="links">
        {links.map((l, i) => (
          <li key={i}>
            <ExternalLink href={str(l.url) ?? ""}>{str(l.title) ?? str(l.url)}</ExternalLink>
          </li>
        ))}
      </ul>
    </Section>
  );
}

function Relations({ view }: { view: EntityView }) {
  const groups = Object.entries(view.relations).filter(([, items]) => items.length);
  return (
    <Section id="relations" title="Relations">
      {groups.length === 0 ? (
        <p className="empty">No relations you can see. Relations come from references in the spec (dependsOn, system, repository, …), resolved in both directions.</p>
      ) : (
        <dl className="relations">
          {groups.map(([type, items]) => (
            <div key={type}>
              <dt>{relationLabel(type)}</dt>
              <dd>
                <ul className="chips">
                  {items.map((e) => (
                    <li key={e.ref}>
                      <EntityLink entity={e} showKind={type !== "ownedBy"} />
                    </li>
                  ))}
                </ul>
              </dd>
            </div>
          ))}
        </dl>
      )}
    </Section>
  );
}

function rel(view: EntityView, type: string): Summary[] {
  return view.relations[type] ?? [];
}

function ComponentPanels({ view, impact }: { view: EntityView; impact?: Impact }) {
  const deployments = [...arr(view.object.status?.deployments)].sort((a, b) => (str(b.createdAt) ?? "").localeCompare(str(a.createdAt) ?? ""));
  const latest = deployments.find((d) => /success|succeeded/i.test(str(d.status) ?? "")) ?? deployments[0];
  const incidents = impact?.openIncidents ?? rel(view, "affectedBy");
  return (
    <>
      <Section id="health" title="Health">
        <p>
          <ReadyBadge ready={view.ready} reason={view.readyReason} />{" "}
          {incidents.length ? (
            <strong className="bad">{incidents.length} open incident{incidents.length === 1 ? "" : "s"} nearby</strong>
          ) : (
            <span>No open incidents on this service or what it depends on.</span>
          )}
        </p>
        {incidents.length > 0 && <SummaryList items={incidents} />}
        <h3>Last deployed</h3>
        {latest ? (
          <p>
            <strong>{str(latest.version) ?? str(latest.sha)?.slice(0, 7) ?? "unknown version"}</strong> to {str(latest.environment)}{" "}
            {str(latest.createdAt) && <span className="muted">{timeAgo(str(latest.createdAt))}</span>}
          </p>
        ) : (
          <p className="empty">No deployments recorded. They arrive from GitHub deployment_status events and Azure DevOps releases.</p>
        )}
        {deployments.length > 1 && (
          <details>
            <summary>Recent deployments ({deployments.length})</summary>
            <ul className="summary-list">
              {deployments.slice(0, 20).map((d, i) => (
                <DeploymentRow key={i} d={d} />
              ))}
            </ul>
          </details>
        )}
      </Section>
      <Section id="delivery" title="Code and delivery">
        <h3>Repository</h3>
        <SummaryList items={rel(view, "hasRepository")} empty="No repository linked: set spec.repository." />
        <h3>Pipelines</h3>
        <SummaryList items={rel(view, "builtBy")} empty="No pipeline builds this component (Pipeline spec.builds)." />
        <h3>Work items</h3>
        <SummaryList items={rel(view, "trackedBy")} empty="No linked work items." />
      </Section>
      <Section id="operations" title="Operations">
        <h3>Runbooks</h3>
        <RunbooksFor subject={{ kind: "component", namespace: view.namespace, name: view.name }} />
        <h3>Cost</h3>
        <p className="empty">Cost per service arrives with the FinOps integration (Azure Cost Management); not available yet.</p>
      </Section>
    </>
  );
}

function AzureResourcePanels({ view }: { view: EntityView }) {
  const spec = view.object.spec ?? {};
  const status = view.object.status ?? {};
  const health = obj(status.health);
  return (
    <>
    <Section id="runbooks" title="Runbooks">
      <RunbooksFor subject={{ kind: "azureresource", namespace: view.namespace, name: view.name }} />
    </Section>
    <Section id="azure" title="Azure resource">
      <dl className="facts">
        {(["resourceId", "type", "subscriptionId", "resourceGroup", "region", "sku"] as const).map((k) =>
          spec[k] !== undefined ? (
            <div key={k}>
              <dt>{k === "sku" ? "SKU" : k === "resourceId" ? "Resource ID" : k.replace(/([A-Z])/g, " $1").replace(/^./, (c) => c.toUpperCase())}</dt>
              <dd>
                <Value value={spec[k]} />
              </dd>
            </div>
          ) : null,
        )}
        <div>
          <dt>Health</dt>
          <dd>
            {str(health.state) ? (
              <>
                <strong>{str(health.state)}</strong> {str(health.summary)} {str(health.observedAt) && <span className="muted">({timeAgo(str(health.observedAt))})</span>}
              </>
            ) : (
              <span className="muted">Not observed yet (Azure Resource Health arrives with the Azure integration).</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Tags</dt>
          <dd>
            <Value value={spec.tags ?? status.observedTags} />
          </dd>
        </div>
        {status.cost !== undefined && (
          <div>
            <dt>Cost</dt>
            <dd>
              <Value value={status.cost} />
            </dd>
          </div>
        )}
      </dl>
    </Section>
    </>
  );
}

function IncidentPanels({ view, impact }: { view: EntityView; impact?: Impact }) {
  const spec = view.object.spec ?? {};
  const timeline = [
    ["Started", str(spec.startedAt)],
    ["Acknowledged", str(spec.acknowledgedAt)],
    ["Resolved", str(spec.resolvedAt)],
  ].filter(([, t]) => t) as [string, string][];
  return (
    <>
      <Section id="incident" title="Incident">
        <p>
          <span className={`badge sev sev-${(str(spec.severity) ?? "").toLowerCase()}`}>{str(spec.severity) ?? "unknown severity"}</span>{" "}
          <strong>{str(spec.state) ?? "unknown state"}</strong>
          {str(spec.source) && <span className="muted"> · from {str(spec.source)}</span>}
          {str(spec.url) && (
            <>
              {" · "}
              <ExternalLink href={str(spec.url)!}>open in {str(spec.source) ?? "source"}</ExternalLink>
            </>
          )}
        </p>
        <h3>Timeline</h3>
        {timeline.length ? (
          <ol className="timeline">
            {timeline.map(([label, t]) => (
              <li key={label}>
                <strong>{label}</strong> <time dateTime={t}>{new Date(t).toLocaleString()}</time> <span className="muted">({timeAgo(t)})</span>
              </li>
            ))}
          </ol>
        ) : (
          <p className="empty">No times recorded.</p>
        )}
      </Section>
      {impact && (
        <Section id="impacted" title="Impacted services" count={impact.affected.length + impact.downstream.length}>
          <h3>Directly affected</h3>
          <SummaryList items={impact.affected} empty="The incident names nothing it affects (spec.affects)." />
          <h3>Depending on them</h3>
          <SummaryList items={impact.downstream} empty="Nothing you can see depends on the affected entities." />
        </Section>
      )}
      {impact && <RecentChanges impact={impact} startedAt={str(spec.startedAt)} />}
      <Section id="runbooks" title="Runbooks">
        <RunbooksFor subject={{ kind: "incident", namespace: view.namespace, name: view.name }} />
      </Section>
    </>
  );
}

function ImpactPanel({ impact, refObj }: { impact: Impact; refObj: Ref }) {
  return (
    <Section id="impact" title="Impact">
      <p>
        Depends on <strong>{impact.upstream.length}</strong> · depended on by <strong>{impact.downstream.length}</strong>
        {impact.truncated && " (truncated)"} · <Link to={`${entityPath(refObj)}/graph`}>show the graph</Link>
      </p>
      <h3>Owners to notify when it breaks</h3>
      <SummaryList items={impact.owners} empty="No owners found downstream." />
    </Section>
  );
}

export default function EntityPage() {
  const params = useParams();
  const r: Ref = { kind: (params.kind ?? "").toLowerCase(), namespace: params.namespace ?? "", name: params.name ?? "" };
  const { data: view, error, isPending, refetch } = useEntity(r);
  const impact = useImpact(r, !!view);
  useTitle(view?.title ?? r.name);

  if (isPending) return <Loading label="Loading the entity" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;

  const kind = view.kind.toLowerCase();
  const spec = view.object.spec ?? {};
  const status = view.object.status ?? {};
  const restSpec = Object.fromEntries(Object.entries(spec).filter(([k]) => !SPEC_SHOWN.includes(k)));
  const restStatus = Object.fromEntries(Object.entries(status).filter(([k]) => !STATUS_SHOWN.includes(k) && !(kind === "component" && k === "deployments")));

  return (
    <div className="page entity" data-resource-version={view.resourceVersion}>
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to={`/catalog?kind=${kind}`}>{kindLabel(view.kind)}s</Link> / <Link to={`/catalog?namespace=${encodeURIComponent(view.namespace)}`}>{view.namespace}</Link>
        </p>
        <h1>
          <KindBadge kind={view.kind} /> {view.title || view.name} <ReadyBadge ready={view.ready} reason={view.readyReason} />
        </h1>
        {view.description ? <p className="lead">{view.description}</p> : <p className="muted">No description (spec.description).</p>}
        <div className="meta">
          <span>
            <span className="muted">Name</span> <code>{view.namespace}/{view.name}</code>
          </span>
          {view.type && (
            <span>
              <span className="muted">Type</span> {view.type}
            </span>
          )}
          {view.lifecycle && (
            <span>
              <span className="muted">Lifecycle</span> {view.lifecycle}
            </span>
          )}
          {view.tags?.length ? (
            <span>
              <span className="muted">Tags</span>{" "}
              {view.tags.map((t) => (
                <Link key={t} className="tag" to={`/catalog?tag=${encodeURIComponent(t)}`}>
                  {t}
                </Link>
              ))}
            </span>
          ) : null}
        </div>
        <nav className="entity-actions" aria-label="Entity views">
          <Link to={`${entityPath(r)}/graph`} className="button">
            Relationship graph
          </Link>
          {kind === "team" && (
            <Link to={teamPath(view.namespace, view.name)} className="button">
              Team page
            </Link>
          )}
        </nav>
      </header>
      <div className="grid">
        <Section id="owner" title="Owner">
          {kind === "team" || kind === "user" ? <p className="muted">{kindLabel(view.kind)}s are not owned.</p> : <Owner view={view} />}
        </Section>
        <Conditions view={view} />
        <Links view={view} />
        {kind === "component" && <ComponentPanels view={view} impact={impact.data} />}
        {kind === "azureresource" && <AzureResourcePanels view={view} />}
        {kind === "incident" && <IncidentPanels view={view} impact={impact.data} />}
        {kind !== "user" && kind !== "team" && <EntityActions target={`${kind}:${view.namespace}/${view.name}`} />}
      </div>
      {(Array.isArray(status.scorecards) || kind === "component") && (
        <Section id="scorecards" title="Scorecards" count={Array.isArray(status.scorecards) ? status.scorecards.length : 0}>
          <ScorecardResults results={Array.isArray(status.scorecards) ? (status.scorecards as ScorecardResult[]) : []} />
        </Section>
      )}
      {kind === "component" && <DoraPanel scope="service" name={`component:${view.namespace}/${view.name}`} />}
      <Relations view={view} />
      {impact.error ? (
        <ErrorMessage error={impact.error} retry={() => void impact.refetch()} />
      ) : impact.data && kind !== "incident" ? (
        <ImpactPanel impact={impact.data} refObj={r} />
      ) : null}
      {(Object.keys(restSpec).length > 0 || Object.keys(restStatus).length > 0) && (
        <Section id="details" title="Details">
          {Object.keys(restSpec).length > 0 && (
            <>
              <h3>Declared (spec)</h3>
              <Fields data={restSpec} />
            </>
          )}
          {Object.keys(restStatus).length > 0 && (
            <>
              <h3>Observed (status)</h3>
              <Fields data={restStatus} />
            </>
          )}
        </Section>
      )}
      <p className="muted small">
        {view.object.metadata?.creationTimestamp && <>Created {timeAgo(view.object.metadata.creationTimestamp)} · </>}
        resourceVersion {view.resourceVersion ?? view.object.metadata?.resourceVersion}
      </p>
    </div>
  );
}
