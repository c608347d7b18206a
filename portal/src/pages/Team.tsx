import { Link, useParams } from "react-router";
import { useTeam } from "../api/queries";
import { DoraPanel } from "../components/Dora";
import { EntityLink, SummaryList } from "../components/EntityLink";
import { ErrorMessage, Loading } from "../components/Status";
import { entityPath, kindLabel, teamPath } from "../lib/refs";
import { fieldLabel } from "../lib/words";
import { useTitle } from "../lib/useTitle";
import { IncidentList } from "./Dashboard";

export default function TeamPage() {
  const { namespace = "", name = "" } = useParams();
  const { data, error, isPending, refetch } = useTeam(namespace, name);
  useTitle(data?.team.title ?? name);
  if (isPending) return <Loading label="Loading the team" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;
  const owned = Object.entries(data.owned);
  return (
    <div className="page">
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to="/catalog?kind=team">Teams</Link> / {namespace}
        </p>
        <h1>{data.team.title}</h1>
        {data.team.description && <p>{data.team.description}</p>}
        <p className="muted">
          <Link to={entityPath(data.team)}>Entity details</Link>
          {" · "}
          <Link to={`/scorecards?team=${encodeURIComponent(data.team.ref)}`}>Scorecards of this team</Link>
          {" · "}
          <Link to={`/dora?scope=team&name=${encodeURIComponent(data.team.ref)}`}>DORA page</Link>
          {data.parent && (
            <>
              {" · Part of "}
              <Link to={teamPath(data.parent.namespace, data.parent.name)}>{data.parent.title}</Link>
            </>
          )}
        </p>
      </header>
      <div className="grid">
        <section className="panel" aria-labelledby="members">
          <h2 id="members">
            Members <span className="count">{data.members.length}</span>
          </h2>
          <SummaryList items={data.members} empty="No members listed: add them to the Team's spec.members or set memberOf on their User." />
        </section>
        <section className="panel" aria-labelledby="oncall">
          <h2 id="oncall">On call</h2>
          {data.onCall.schedule && (
            <dl className="facts">
              {Object.entries(data.onCall.schedule).map(([k, v]) => (
                <div key={k}>
                  <dt>{fieldLabel(k)}</dt>
                  <dd>{typeof v === "string" ? v : JSON.stringify(v)}</dd>
                </div>
              ))}
            </dl>
          )}
          {data.onCall.people.length > 0 ? (
            <SummaryList items={data.onCall.people} />
          ) : (
            <p className="empty">{data.onCall.emptyState ?? "Nobody is linked as on call."}</p>
          )}
        </section>
        <section className="panel" aria-labelledby="incidents">
          <h2 id="incidents">
            Open incidents <span className="count">{data.openIncidents.length}</span>
          </h2>
          {data.openIncidents.length ? <IncidentList items={data.openIncidents} /> : <p className="empty">No open incidents on what this team owns.</p>}
        </section>
        {data.subteams.length > 0 && (
          <section className="panel" aria-labelledby="subteams">
            <h2 id="subteams">Sub-teams</h2>
            <ul className="summary-list">
              {data.subteams.map((t) => (
                <li key={t.ref}>
                  <Link to={teamPath(t.namespace, t.name)}>{t.title}</Link>
                </li>
              ))}
            </ul>
          </section>
        )}
      </div>
      <DoraPanel scope="team" name={data.team.ref} title="DORA metrics of the team's services" />
      <section className="panel" aria-labelledby="owned">
        <h2 id="owned">Owns</h2>
        {owned.length === 0 ? (
          <p className="empty">This team owns nothing you can see. Entities name it in spec.owner (or CODEOWNERS, Azure tags, Entra groups map to it).</p>
        ) : (
          owned.map(([kind, group]) => (
            <div key={kind} className="owned-group">
              <h3>
                {kindLabel(kind)} <span className="count">{group.count}</span>
                {group.count > group.items.length && (
                  <>
                    {" "}
                    <Link className="small" to={`/catalog?kind=${encodeURIComponent(kind.toLowerCase())}&owner=${encodeURIComponent(data.team.ref)}`}>
                      all {group.count}
                    </Link>
                  </>
                )}
              </h3>
              <ul className="chips">
                {group.items.map((e) => (
                  <li key={e.ref}>
                    <EntityLink entity={e} />
                  </li>
                ))}
              </ul>
            </div>
          ))
        )}
      </section>
    </div>
  );
}
