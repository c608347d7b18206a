// The custom scorecard builder: start empty or from a template, drag rules from the palette into
// levels (or use the Add buttons), reorder by drag or with Move up / Move down, edit each rule,
// and watch the Scorecard manifest (YAML) change. Download it, or have nexus-apiserver validate
// (dry run) or apply it: the API server's answer is shown next to the form, verbatim.
import { useEffect, useId, useMemo, useRef, useState } from "react";
import { Link } from "react-router";
import { api } from "../api/client";
import type { ScorecardManifest } from "../api/types";
import { isApiError } from "../api/client";
import { ErrorMessage } from "../components/Status";
import { SNIPPETS, type Snippet } from "../lib/ruleSnippets";
import {
  CATALOG_KINDS,
  draftFrom,
  emptyDraft,
  groups,
  moveRule,
  newKey,
  ordered,
  placeRule,
  problems,
  toManifest,
  toYaml,
  uniqueId,
  type Draft,
  type DraftRule,
} from "../lib/scorecardBuilder";
import { useTitle } from "../lib/useTitle";

type Template = { file: string; metadata: { name: string }; spec: ScorecardManifest["spec"] };

const DRAG_TYPE = "text/plain";

function ruleFromSnippet(s: Snippet, rules: DraftRule[]): DraftRule {
  return { key: newKey(), id: uniqueId(rules, s.id), title: s.title, level: "", weight: s.weight, expression: s.expression, message: s.message, facts: [...(s.facts ?? [])] };
}

function RuleCard({ rule, levels, index, count, onChange, onMove, onRemove, onDropBefore }: {
  rule: DraftRule;
  levels: string[];
  index: number;
  count: number;
  onChange: (r: DraftRule) => void;
  onMove: (dir: -1 | 1) => void;
  onRemove: () => void;
  onDropBefore: (data: string) => void;
}) {
  const id = useId();
  const [over, setOver] = useState(false);
  const label = rule.title || rule.id || "rule";
  return (
    <li
      className={`rule-card${over ? " drop-before" : ""}`}
      data-rule={rule.id}
      data-key={rule.key}
      onDragOver={(e) => {
        e.preventDefault();
        e.stopPropagation();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        e.stopPropagation();
        setOver(false);
        onDropBefore(e.dataTransfer.getData(DRAG_TYPE));
      }}
    >
      <div className="rule-card-head">
        <span
          className="drag-handle"
          draggable
          onDragStart={(e) => {
            e.dataTransfer.setData(DRAG_TYPE, `rule:${rule.key}`);
            e.dataTransfer.effectAllowed = "move";
          }}
          title="Drag to move (or use Move up / Move down)"
          aria-hidden="true"
        >
          ⠿
        </span>
        <strong className="rule-card-title">{label}</strong>
        <span className="rule-card-actions">
          <button type="button" onClick={() => onMove(-1)} disabled={index === 0} aria-label={`Move ${label} up`}>
            ↑ <span className="visually-hidden">Move up</span>
          </button>
          <button type="button" onClick={() => onMove(1)} disabled={index === count - 1} aria-label={`Move ${label} down`}>
            ↓ <span className="visually-hidden">Move down</span>
          </button>
          <button type="button" onClick={onRemove} aria-label={`Remove ${label}`}>
            Remove
          </button>
        </span>
      </div>
      <div className="rule-fields">
        <label htmlFor={`${id}-title`}>Title</label>
        <input id={`${id}-title`} value={rule.title} onChange={(e) => onChange({ ...rule, title: e.target.value })} />
        <label htmlFor={`${id}-id`}>Id</label>
        <input id={`${id}-id`} value={rule.id} onChange={(e) => onChange({ ...rule, id: e.target.value })} spellCheck={false} />
        <label htmlFor={`${id}-level`}>Level</label>
        <select id={`${id}-level`} value={rule.level} onChange={(e) => onChange({ ...rule, level: e.target.value })}>
          {groups(levels).map((l) => (
            <option key={l} value={l}>
              {l || "Score only (no level)"}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-weight`}>Weight</label>
        <input id={`${id}-weight`} type="number" min={1} max={100} value={rule.weight} onChange={(e) => onChange({ ...rule, weight: Number(e.target.value) })} />
        <label htmlFor={`${id}-expr`}>CEL expression</label>
        <textarea id={`${id}-expr`} className="code" rows={2} value={rule.expression} onChange={(e) => onChange({ ...rule, expression: e.target.value })} spellCheck={false} />
        <label htmlFor={`${id}-facts`}>Facts</label>
        <input
          id={`${id}-facts`}
          value={rule.facts.join(", ")}
          placeholder="e.g. github.branchProtection"
          onChange={(e) => onChange({ ...rule, facts: e.target.value.split(",").map((f) => f.trim()).filter(Boolean) })}
          spellCheck={false}
        />
        <label htmlFor={`${id}-msg`}>What to fix</label>
        <textarea id={`${id}-msg`} rows={2} value={rule.message} onChange={(e) => onChange({ ...rule, message: e.target.value })} />
      </div>
    </li>
  );
}

/** The API server's refusal, verbatim (a Kubernetes validation message names the field at fault). */
function SubmitError({ error }: { error: unknown }) {
  if (!isApiError(error) || error.status === 0 || error.status === 401 || error.status === 403 || error.status === 503) return <ErrorMessage error={error} />;
  if (error.status === 404 && /scorecards/.test(error.path) && !/namespace/i.test(error.message)) {
    return (
      <div className="error" role="alert" data-status={404}>
        <h2>This Nexus cannot apply scorecards from the portal</h2>
        <p>{error.message}</p>
        <p>Download the YAML and apply it with kubectl apply -f, or ask a platform engineer to upgrade nexus-apiserver.</p>
      </div>
    );
  }
  return (
    <div className="error" role="alert" data-status={error.status}>
      <h2>The API server refused the Scorecard ({error.status} {error.reason})</h2>
      <p className="verbatim">{error.message}</p>
      <p className="small">Fix what it names in the form, then validate again.</p>
    </div>
  );
}

type Outcome = { kind: "ok"; dryRun: boolean; object: ScorecardManifest } | { kind: "error"; error: unknown } | null;

export default function ScorecardBuilder() {
  useTitle("New scorecard");
  const [draft, setDraft] = useState<Draft>(() => emptyDraft());
  const [templates, setTemplates] = useState<Template[]>([]);
  const [addTo, setAddTo] = useState("Bronze");
  const [busy, setBusy] = useState<"" | "validate" | "apply">("");
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [announce, setAnnounce] = useState("");
  const [overGroup, setOverGroup] = useState<string | null>(null);
  const focusAfterMove = useRef<string | null>(null);

  // The templates (scorecards/templates/*.yaml) come as their own small chunk.
  useEffect(() => {
    void import("../lib/scorecard-templates.json").then((m) => setTemplates(m.default as Template[]));
  }, []);
  useEffect(() => {
    if (!draft.levels.includes(addTo) && addTo !== "") setAddTo(draft.levels[0] ?? "");
  }, [draft.levels, addTo]);
  useEffect(() => {
    if (!focusAfterMove.current) return;
    const [key, dir] = focusAfterMove.current.split("|");
    focusAfterMove.current = null;
    const button = document.querySelector<HTMLButtonElement>(`[data-key="${key}"] button[aria-label^="Move"][aria-label$="${dir}"]`);
    (button && !button.disabled ? button : document.querySelector<HTMLElement>(`[data-key="${key}"] .rule-card-actions button:not(:disabled)`))?.focus();
  });

  const rules = ordered(draft.rules, draft.levels);
  const manifest = useMemo(() => toManifest(draft), [draft]);
  const yaml = useMemo(() => toYaml(manifest), [manifest]);
  const issues = problems(draft);

  const update = (d: Partial<Draft>) => {
    setDraft((old) => ({ ...old, ...d }));
    setOutcome(null);
  };
  const setRules = (r: DraftRule[]) => update({ rules: r });
  const levelName = (l: string) => l || "Score only";

  const drop = (data: string, level: string, beforeKey?: string) => {
    if (data.startsWith("snippet:")) {
      const s = SNIPPETS.find((x) => x.id === data.slice(8));
      if (!s) return;
      const rule = ruleFromSnippet(s, draft.rules);
      setRules(placeRule(draft.rules, draft.levels, rule, level, beforeKey));
      setAnnounce(`Added ${rule.title} to ${levelName(level)}.`);
    } else if (data.startsWith("rule:")) {
      const rule = draft.rules.find((r) => r.key === data.slice(5));
      if (!rule || rule.key === beforeKey) return;
      setRules(placeRule(draft.rules, draft.levels, rule, level, beforeKey));
      setAnnounce(`Moved ${rule.title} to ${levelName(level)}.`);
    }
  };

  const move = (rule: DraftRule, dir: -1 | 1) => {
    const next = moveRule(draft.rules, draft.levels, rule.key, dir);
    setRules(next);
    const moved = next.find((r) => r.key === rule.key)!;
    const pos = next.filter((r) => r.level === moved.level).indexOf(moved) + 1;
    setAnnounce(`${rule.title} is now number ${pos} in ${levelName(moved.level)}.`);
    focusAfterMove.current = `${rule.key}|${dir === -1 ? "up" : "down"}`;
  };

  const loadTemplate = (name: string) => {
    if (!name) {
      setDraft(emptyDraft(draft.namespace));
    } else {
      const t = templates.find((x) => x.metadata.name === name);
      if (!t) return;
      const d = draftFrom({ metadata: { name: `${t.metadata.name}-custom` }, spec: t.spec }, draft.namespace);
      setDraft(d);
    }
    setOutcome(null);
    setAnnounce(name ? `Loaded the ${name} template.` : "Started an empty scorecard.");
  };

  const submit = async (dryRun: boolean) => {
    setBusy(dryRun ? "validate" : "apply");
    setOutcome(null);
    try {
      const object = await api.post<ScorecardManifest>(`/scorecards/${encodeURIComponent(draft.namespace)}?dryRun=${dryRun}`, manifest);
      setOutcome({ kind: "ok", dryRun, object });
    } catch (error) {
      setOutcome({ kind: "error", error });
    } finally {
      setBusy("");
    }
  };

  const download = () => {
    const url = URL.createObjectURL(new Blob([yaml], { type: "application/yaml" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `${draft.name || "scorecard"}.yaml`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  return (
    <div className="page builder">
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to="/scorecards">Scorecards</Link> / new
        </p>
        <h1>New scorecard</h1>
        <p className="lead">Drag rules from the palette into levels, edit them, and apply the Scorecard manifest.</p>
        <div className="inline-form">
          <label htmlFor="template">Start from</label>
          <select id="template" onChange={(e) => loadTemplate(e.target.value)} defaultValue="">
            <option value="">Empty scorecard</option>
            {templates.map((t) => (
              <option key={t.metadata.name} value={t.metadata.name}>
                Template: {t.spec.title}
              </option>
            ))}
          </select>
        </div>
      </header>
      <p className="visually-hidden" role="status" aria-live="polite">
        {announce}
      </p>
      <div className="builder-layout">
        <aside className="panel palette" aria-labelledby="palette">
          <h2 id="palette">Rules</h2>
          <p className="small muted">Drag a rule onto a level, or choose the level and press Add.</p>
          <label htmlFor="add-to">Add to</label>{" "}
          <select id="add-to" value={addTo} onChange={(e) => setAddTo(e.target.value)}>
            {groups(draft.levels).map((l) => (
              <option key={l} value={l}>
                {levelName(l)}
              </option>
            ))}
          </select>
          {(["Catalog", "Delivery", "Security", "Azure", "Facts not integrated yet"] as const).map((g) => (
            <div key={g}>
              <h3>{g}</h3>
              <ul className="snippets">
                {SNIPPETS.filter((s) => s.group === g).map((s) => (
                  <li
                    key={s.id}
                    className="snippet"
                    draggable
                    data-snippet={s.id}
                    onDragStart={(e) => {
                      e.dataTransfer.setData(DRAG_TYPE, `snippet:${s.id}`);
                      e.dataTransfer.effectAllowed = "copy";
                    }}
                    title={s.expression}
                  >
                    <span className="drag-handle" aria-hidden="true">
                      ⠿
                    </span>
                    <span className="snippet-title">{s.title}</span>
                    <button type="button" onClick={() => drop(`snippet:${s.id}`, addTo)} aria-label={`Add ${s.title} to ${levelName(addTo)}`}>
                      Add
                    </button>
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </aside>

        <form className="builder-form" onSubmit={(e) => e.preventDefault()} aria-label="Scorecard">
          <fieldset className="panel">
            <legend>Scorecard</legend>
            <div className="form-grid">
              <label htmlFor="sc-name">Name</label>
              <input id="sc-name" value={draft.name} onChange={(e) => update({ name: e.target.value })} placeholder="api-standards" spellCheck={false} required />
              <label htmlFor="sc-ns">Namespace</label>
              <input id="sc-ns" value={draft.namespace} onChange={(e) => update({ namespace: e.target.value })} spellCheck={false} required />
              <label htmlFor="sc-title">Title</label>
              <input id="sc-title" value={draft.title} onChange={(e) => update({ title: e.target.value })} required />
              <label htmlFor="sc-desc">Description</label>
              <textarea id="sc-desc" rows={2} value={draft.description} onChange={(e) => update({ description: e.target.value })} />
              <label htmlFor="sc-levels">Levels (lowest first)</label>
              <input
                id="sc-levels"
                value={draft.levels.join(", ")}
                onChange={(e) => update({ levels: e.target.value.split(",").map((l) => l.trim()).filter(Boolean) })}
              />
              <label htmlFor="sc-filter">Filter (CEL, optional)</label>
              <textarea id="sc-filter" className="code" rows={2} value={draft.filter} onChange={(e) => update({ filter: e.target.value })} spellCheck={false} placeholder="entity.spec.type == 'service'" />
              <label htmlFor="sc-namespaces">Namespaces (empty: all)</label>
              <input id="sc-namespaces" value={draft.namespaces.join(", ")} onChange={(e) => update({ namespaces: e.target.value.split(",").map((l) => l.trim()).filter(Boolean) })} spellCheck={false} />
              <label htmlFor="sc-gate-level">Gate: minimum level</label>
              <select id="sc-gate-level" value={draft.gateLevel} onChange={(e) => update({ gateLevel: e.target.value })}>
                <option value="">No level gate</option>
                {draft.levels.map((l) => (
                  <option key={l} value={l}>
                    {l}
                  </option>
                ))}
              </select>
              <label htmlFor="sc-gate-score">Gate: minimum score</label>
              <input id="sc-gate-score" inputMode="numeric" value={draft.gateScore} onChange={(e) => update({ gateScore: e.target.value.trim() })} placeholder="0–100" />
            </div>
            <fieldset className="kinds">
              <legend>Applies to kinds</legend>
              {CATALOG_KINDS.map((k) => (
                <label key={k} className="choice">
                  <input type="checkbox" checked={draft.kinds.includes(k)} onChange={(e) => update({ kinds: e.target.checked ? [...draft.kinds, k] : draft.kinds.filter((x) => x !== k) })} />
                  {k}
                </label>
              ))}
            </fieldset>
          </fieldset>

          {groups(draft.levels).map((level) => {
            const members = rules.filter((r) => (r.level || "") === level);
            return (
              <section
                key={level || "score-only"}
                className={`panel level-zone${overGroup === level ? " drop-target" : ""}`}
                aria-labelledby={`level-${level || "none"}`}
                data-level={level || "none"}
                onDragOver={(e) => {
                  e.preventDefault();
                  setOverGroup(level);
                }}
                onDragLeave={(e) => {
                  if (!e.currentTarget.contains(e.relatedTarget as Node)) setOverGroup(null);
                }}
                onDrop={(e) => {
                  e.preventDefault();
                  setOverGroup(null);
                  drop(e.dataTransfer.getData(DRAG_TYPE), level);
                }}
              >
                <h2 id={`level-${level || "none"}`}>
                  {level ? `Level: ${level}` : "Score only (no level)"} <span className="count">{members.length}</span>
                </h2>
                {members.length === 0 ? (
                  <p className="empty drop-hint">Drop rules here.</p>
                ) : (
                  <ol className="rule-list">
                    {members.map((r) => {
                      const i = rules.indexOf(r);
                      return (
                          <RuleCard
                            key={r.key}
                            rule={r}
                            levels={draft.levels}
                            index={i}
                            count={rules.length}
                            onChange={(next) => setRules(draft.rules.map((x) => (x.key === r.key ? next : x)))}
                            onMove={(dir) => move(r, dir)}
                            onRemove={() => {
                              setRules(draft.rules.filter((x) => x.key !== r.key));
                              setAnnounce(`Removed ${r.title}.`);
                            }}
                            onDropBefore={(data) => drop(data, level, r.key)}
                          />
                      );
                    })}
                  </ol>
                )}
              </section>
            );
          })}
        </form>

        <section className="panel preview" aria-labelledby="preview">
          <h2 id="preview">Manifest</h2>
          <div className="inline-form">
            <button type="button" onClick={download}>
              Download YAML
            </button>
            <button type="button" onClick={() => void submit(true)} disabled={busy !== "" || issues.length > 0}>
              {busy === "validate" ? "Validating…" : "Validate"}
            </button>
            <button type="button" className="primary" onClick={() => void submit(false)} disabled={busy !== "" || issues.length > 0}>
              {busy === "apply" ? "Applying…" : "Apply"}
            </button>
          </div>
          {issues.length > 0 && (
            <div className="warning small" id="builder-issues">
              <strong>Before it can be validated:</strong>
              <ul>
                {issues.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            </div>
          )}
          {outcome?.kind === "ok" && (
            <p className="notice" role="status">
              {outcome.dryRun
                ? "Valid: the Kubernetes API server accepted the Scorecard (dry run, nothing was stored)."
                : `Applied: Scorecard ${outcome.object.metadata.namespace}/${outcome.object.metadata.name} is stored; the scorecard controller compiles it and evaluates entities within seconds.`}
              {!outcome.dryRun && (
                <>
                  {" "}
                  <Link to={`/scorecards?scorecard=${encodeURIComponent(`${outcome.object.metadata.namespace}/${outcome.object.metadata.name}`)}`}>See results</Link>
                </>
              )}
            </p>
          )}
          {outcome?.kind === "error" && <SubmitError error={outcome.error} />}
          <pre className="yaml" tabIndex={0} aria-label="Scorecard manifest (YAML)" data-testid="yaml-preview">
            {yaml}
          </pre>
        </section>
      </div>
    </div>
  );
}
