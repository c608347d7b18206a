import { useState } from "react";
import type { SearchFilters } from "../api/queries";
import { FACET_NAMES, type FacetName, type Facets } from "../api/types";
import { toggleValue } from "../lib/filters";
import { kindLabel, shortRef } from "../lib/refs";

const FACET_LABELS: Record<FacetName, string> = {
  kind: "Kind",
  namespace: "Namespace",
  owner: "Owner",
  lifecycle: "Lifecycle",
  type: "Type",
  tag: "Tag",
};

function valueLabel(facet: FacetName, value: string) {
  if (facet === "kind") return kindLabel(value);
  if (facet === "owner") return shortRef(value, false);
  return value;
}

const SHOWN = 8;

function FacetGroup({ facet, values, filters, onChange }: { facet: FacetName; values: { value: string; count: number }[]; filters: SearchFilters; onChange: (f: SearchFilters) => void }) {
  const [all, setAll] = useState(false);
  const selected = filters[facet] ?? [];
  // Selected values stay visible even when the current answer has no count for them.
  const merged = [...values];
  for (const s of selected) if (!merged.some((v) => v.value.toLowerCase() === s.toLowerCase())) merged.push({ value: s, count: 0 });
  const shown = all ? merged : merged.slice(0, SHOWN);
  if (!merged.length) return null;
  return (
    <fieldset className="facet">
      <legend>{FACET_LABELS[facet]}</legend>
      {shown.map((v) => {
        const checked = selected.some((s) => s.toLowerCase() === v.value.toLowerCase());
        return (
          <label key={v.value} className="facet-value">
            <input type="checkbox" checked={checked} onChange={() => onChange(toggleValue(filters, facet, checked ? selected.find((s) => s.toLowerCase() === v.value.toLowerCase())! : v.value))} />
            <span className="facet-name" title={v.value}>
              {valueLabel(facet, v.value)}
            </span>
            <span className="count">{v.count}</span>
          </label>
        );
      })}
      {merged.length > SHOWN && (
        <button type="button" className="link-button small" onClick={() => setAll((a) => !a)} aria-expanded={all}>
          {all ? "Show fewer" : `Show all ${merged.length}`}
        </button>
      )}
    </fieldset>
  );
}

export function FacetPanel({ facets, filters, onChange }: { facets?: Facets; filters: SearchFilters; onChange: (f: SearchFilters) => void }) {
  if (!facets) return null;
  const any = FACET_NAMES.some((n) => filters[n]?.length);
  return (
    <aside className="facets" aria-label="Filters">
      <div className="facets-header">
        <h2>Filters</h2>
        {any && (
          <button
            type="button"
            className="link-button small"
            onClick={() => onChange({ q: filters.q, sort: filters.sort })}
          >
            Clear all
          </button>
        )}
      </div>
      {FACET_NAMES.map((name) => (
        <FacetGroup key={name} facet={name} values={facets[name] ?? []} filters={filters} onChange={onChange} />
      ))}
    </aside>
  );
}
