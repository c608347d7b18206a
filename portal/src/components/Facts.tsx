// Deployment and pull-request records (status facts) as rows.
import { RefLink } from "./EntityLink";
import { timeAgo } from "../lib/words";

type Fact = Record<string, unknown>;
const str = (v: unknown) => (typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined);

export function ExternalLink({ href, children }: { href: string; children: React.ReactNode }) {
  const safe = /^https?:\/\//i.test(href);
  if (!safe) return <>{children}</>;
  return (
    <a href={href} target="_blank" rel="noopener noreferrer">
      {children}
      <span className="visually-hidden"> (opens in a new tab)</span>
    </a>
  );
}

export function DeploymentRow({ d, showService = false }: { d: Fact; showService?: boolean }) {
  const status = str(d.status) ?? "unknown";
  const when = str(d.createdAt) ?? str(d.updatedAt);
  const label = `${str(d.version) ?? str(d.sha)?.slice(0, 7) ?? "unknown version"} → ${str(d.environment) ?? "?"}`;
  return (
    <li>
      {str(d.url) ? <ExternalLink href={str(d.url)!}>{label}</ExternalLink> : label}{" "}
      <span className={`badge badge-${/success|succeeded/i.test(status) ? "ok" : /fail|error/i.test(status) ? "bad" : "pending"}`}>{status}</span>
      {showService && str(d.service) && (
        <>
          {" "}
          <RefLink refString={str(d.service)!} />
        </>
      )}
      {when && <span className="muted small"> {timeAgo(when)}</span>}
      {str(d.creator) && <span className="muted small"> by {str(d.creator)}</span>}
    </li>
  );
}

export function PullRequestRow({ pr }: { pr: Fact }) {
  const title = `#${str(pr.number) ?? "?"} ${str(pr.title) ?? ""}`;
  return (
    <li>
      {str(pr.url) ? <ExternalLink href={str(pr.url)!}>{title}</ExternalLink> : title}
      {pr.draft === true && <span className="badge badge-pending">draft</span>}
      {str(pr.repository) && (
        <>
          {" "}
          <RefLink refString={str(pr.repository)!} />
        </>
      )}
      {str(pr.createdAt) && <span className="muted small"> opened {timeAgo(str(pr.createdAt))}</span>}
    </li>
  );
}
