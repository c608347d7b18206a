// Spec/status fields rendered for people: references become links, URLs become links,
// timestamps say how long ago, nested objects become nested lists.
import { RefLink } from "./EntityLink";
import { ExternalLink } from "./Facts";
import { fieldLabel, timeAgo } from "../lib/words";

const REF = /^[a-z]+:[a-z0-9-]+\/[A-Za-z0-9._-]+$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

export function Value({ value, depth = 0 }: { value: unknown; depth?: number }) {
  if (value === null || value === undefined || value === "") return <span className="muted">—</span>;
  if (typeof value === "boolean") return <>{value ? "yes" : "no"}</>;
  if (typeof value === "number") return <>{value.toLocaleString()}</>;
  if (typeof value === "string") {
    if (REF.test(value)) return <RefLink refString={value} />;
    if (/^https?:\/\//.test(value)) return <ExternalLink href={value}>{value}</ExternalLink>;
    if (TIME.test(value)) return <time dateTime={value} title={value}>{timeAgo(value)}</time>;
    return <>{value}</>;
  }
  if (Array.isArray(value)) {
    if (!value.length) return <span className="muted">none</span>;
    if (value.every((v) => typeof v !== "object" || v === null)) {
      return (
        <>
          {value.map((v, i) => (
            <span key={i}>
              {i > 0 && ", "}
              <Value value={v} depth={depth + 1} />
            </span>
          ))}
        </>
      );
    }
    return (
      <ol className="value-list">
        {value.slice(0, 20).map((v, i) => (
          <li key={i}>
            <Value value={v} depth={depth + 1} />
          </li>
        ))}
        {value.length > 20 && <li className="muted">… {value.length - 20} more</li>}
      </ol>
    );
  }
  if (typeof value === "object") {
    if (depth > 3) return <code>{JSON.stringify(value)}</code>;
    return <Fields data={value as Record<string, unknown>} depth={depth + 1} />;
  }
  return <>{String(value)}</>;
}

export function Fields({ data, depth = 0, skip = [] }: { data: Record<string, unknown>; depth?: number; skip?: string[] }) {
  const entries = Object.entries(data).filter(([k, v]) => !skip.includes(k) && v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0));
  if (!entries.length) return <span className="muted">—</span>;
  return (
    <dl className={depth ? "facts nested" : "facts"}>
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{fieldLabel(k)}</dt>
          <dd>
            <Value value={v} depth={depth} />
          </dd>
        </div>
      ))}
    </dl>
  );
}
