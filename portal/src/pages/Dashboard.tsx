import { Link } from "react-router";
import { useDashboard } from "../api/queries";
import type { IncidentItem, Section } from "../api/types";
import { EntityLink, RefLink, SummaryList } from "../components/EntityLink";
import { DeploymentRow, ExternalLink, PullRequestRow } from "../components/Facts";
import { ErrorMessage, Loading } from "../components/Status";
import { teamPath } from "../lib/refs";
import { timeAgo } from "../lib/words";
import { useTitle } from "../lib/useTitle";

function Panel<T>({ title, section, render, id }: { title: string; id: string; section: Section<T>; render: (items: T[]) => React.ReactNode }) {
  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>
        {title} <span className="count">{section.total}</span>
      </h2>
      {section.items.length ? render(section.items) : <p className="empty">{section.emptyState ?? "Nothing here yet."}</p>}
    </section>
  );
}

export function IncidentList({ items }: { items: IncidentItem[] }) {
  return (
    <ul className="summary-list">
      {items.map((i) => (
        <li key={i.ref}>
          <span className={`badge sev sev-${i.severity.toLowerCase()}`}>{i.severity}</span> <EntityLink entity={i} />{" "}
          <span className="muted small">
            {i.state}
            {i.startedAt && `, started ${timeAgo(i.startedAt)}`}
          </span>
          {i.url && (
            <>
              {" "}
              <ExternalLink href={i.url}>source</ExternalLink>
            </>
          )}
          {i.affects.length > 0 && (
            <div className="small">
              Affects:{" "}
              {i.affects.map((a, n) => (
                <span key={a}>
                  {n > 0 && ", "}
                  <RefLink refString={a} />
                </span>
              ))}
            </div>
          )}
        </li>
      ))}
    </ul>
  );
}

export default function Dashboard() {
  const { data, error, isPending, refetch } = useDashboard();
  useTitle("Dashboard");
  if (isPending) return <Loading label="Loading your dashboard" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;
  const me = data.user.entity;
  return (
    <div className="page">
      <header className="page-header">
        <h1>Hello{me ? `, ${me.title}` : ""}</h1>
        <p className="muted">
          Signed in as <strong>{data.user.username}</strong>
          {me && (
            <>
              {" "}
              (<EntityLink entity={me} />)
            </>
          )}
          {data.teams.length > 0 && (
            <>
              {" · "}
              {data.teams.length === 1 ? "Team" : "Teams"}:{" "}
              {data.teams.map((t, i) => (
                <span key={t.ref}>
                  {i > 0 && ", "}
                  <Link to={teamPath(t.namespace, t.name)}>{t.title}</Link>
                </span>
              ))}
            </>
          )}
        </p>
      </header>
      <div className="grid">
        <Panel id="my-services" title="My services" section={data.myServices} render={(items) => <SummaryList items={items} />} />
        <Panel id="my-alerts" title="My alerts" section={data.myAlerts} render={(items) => <IncidentList items={items} />} />
        <Panel
          id="my-deployments"
          title="My deployments"
          section={data.myDeployments}
          render={(items) => (
            <ul className="summary-list">
              {items.slice(0, 15).map((d, i) => (
                <DeploymentRow key={i} d={d} showService />
              ))}
            </ul>
          )}
        />
        <Panel
          id="my-prs"
          title="My pull requests"
          section={data.myPullRequests}
          render={(items) => (
            <ul className="summary-list">
              {items.map((pr, i) => (
                <PullRequestRow key={i} pr={pr} />
              ))}
            </ul>
          )}
        />
        <Panel id="my-costs" title="My costs" section={data.myCosts} render={() => null} />
      </div>
    </div>
  );
}
