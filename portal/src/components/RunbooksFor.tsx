// The runbooks that match an entity (incident, resource, component), ranked, each with why.
import { Link } from "react-router";
import { useRunbooksFor } from "../api/queries";
import type { RunbookReason } from "../api/types";
import type { Ref } from "../lib/refs";
import { shortRef } from "../lib/refs";
import { ErrorMessage, Loading } from "./Status";

export function reasonText(r: RunbookReason): string {
  switch (r.match) {
    case "entity":
      return r.via === "affected" ? `names ${shortRef(r.ref ?? "")}, which this affects` : "names this entity";
    case "alertRule":
      return r.pattern && r.pattern !== r.alertRule ? `alert pattern ${r.pattern} matches ${r.alertRule ?? ""}` : `alert ${r.alertRule ?? r.pattern ?? ""}`;
    case "resourceType":
      return `resource type ${r.pattern ?? ""} matches ${r.type ?? ""}${r.ref ? ` (${shortRef(r.ref)})` : ""}`;
  }
}

export const runbookPath = (namespace: string, name: string) => `/runbooks/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;

export function RunbooksFor({ subject }: { subject: Ref }) {
  const { data, error, isPending, refetch } = useRunbooksFor(subject);
  if (isPending) return <Loading label="Finding runbooks" />;
  if (error) return <ErrorMessage error={error} retry={() => void refetch()} />;
  if (!data.items.length) {
    return (
      <p className="empty">
        No runbook matches. A runbook matches when its appliesTo names this entity{subject.kind === "incident" ? ", one of its alerts matches the alert rule, or one of its resourceTypes matches an affected Azure resource" : subject.kind === "azureresource" ? " or its resourceTypes match this resource's type" : ""}.
      </p>
    );
  }
  return (
    <>
      {data.alertRule && (
        <p className="muted small">
          Matched against alert <code>{data.alertRule}</code>
          {data.alertFrom === "spec.title" ? " (the incident's title: its source names no alert rule)" : ""}.
        </p>
      )}
      <ol className="summary-list runbook-matches">
        {data.items.map((m) => (
          <li key={m.ref}>
            <Link to={runbookPath(m.namespace, m.name)}>{m.title || m.name}</Link> <span className="badge badge-neutral">{m.match === "alertRule" ? "alert" : m.match === "resourceType" ? "resource type" : "named"}</span>
            {m.description && <div className="muted small">{m.description}</div>}
            <ul className="reasons small">
              {m.reasons.map((r, i) => (
                <li key={i}>{reasonText(r)}</li>
              ))}
            </ul>
          </li>
        ))}
      </ol>
    </>
  );
}
