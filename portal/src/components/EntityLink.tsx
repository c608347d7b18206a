import { Link } from "react-router";
import type { Summary } from "../api/types";
import { entityPath, kindLabel, refPath, shortRef } from "../lib/refs";
import { readyText } from "../lib/words";

export function ReadyBadge({ ready, reason }: { ready: string; reason?: string }) {
  const tone = ready === "True" ? "ok" : ready === "False" ? "bad" : "pending";
  return (
    <span className={`badge badge-${tone}`} title={reason}>
      {readyText(ready)}
    </span>
  );
}

export function KindBadge({ kind }: { kind: string }) {
  return <span className="kind">{kindLabel(kind)}</span>;
}

export function EntityLink({ entity, showKind = false }: { entity: Pick<Summary, "kind" | "namespace" | "name" | "title">; showKind?: boolean }) {
  return (
    <span className="entity-link">
      {showKind && <KindBadge kind={entity.kind} />}
      <Link to={entityPath(entity)}>{entity.title || entity.name}</Link>
    </span>
  );
}

/** A link for a bare reference (`kind:namespace/name`). */
export function RefLink({ refString }: { refString: string }) {
  const path = refPath(refString);
  if (!path) return <span>{refString}</span>;
  return <Link to={path}>{shortRef(refString)}</Link>;
}

export function SummaryList({ items, empty }: { items: Summary[]; empty?: string }) {
  if (!items.length) return <p className="empty">{empty ?? "None."}</p>;
  return (
    <ul className="summary-list">
      {items.map((e) => (
        <li key={e.ref}>
          <EntityLink entity={e} showKind />
          <span className="muted"> {e.namespace}</span>
          {e.ready !== "True" && <> <ReadyBadge ready={e.ready} reason={e.readyReason} /></>}
          {e.description && <div className="muted small">{e.description}</div>}
        </li>
      ))}
    </ul>
  );
}
