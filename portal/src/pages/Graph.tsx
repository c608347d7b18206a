// The relationship graph: depth and relation-type filters in the URL, a node's upstream (what it
// needs) and downstream (what needs it) highlighted, click to select, double-click (or the list
// below, for keyboards and screen readers) to open.
import type { Core, ElementDefinition } from "cytoscape";
import cytoscape from "cytoscape";
import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { refKey, useGraph } from "../api/queries";
import type { Graph } from "../api/types";
import { KindBadge, ReadyBadge } from "../components/EntityLink";
import { ErrorMessage, Loading } from "../components/Status";
import { directions } from "../lib/graph";
import { entityPath, kindLabel, parseRef, type Ref } from "../lib/refs";
import { useTitle } from "../lib/useTitle";
import { RELATION_TYPES, relationLabel } from "../lib/words";

const KIND_COLOURS: Record<string, string> = {
  component: "#1f6feb",
  api: "#8250df",
  system: "#0a7d5a",
  domain: "#116329",
  team: "#bf3989",
  user: "#9a6700",
  repository: "#57606a",
  pipeline: "#6e7781",
  azureresource: "#0969da",
  environment: "#1a7f37",
  package: "#953800",
  incident: "#cf222e",
  workitem: "#7d4e00",
  runbook: "#3e5b84",
};

/** The declared relation types (edges use these; each also follows its inverse). */
const DECLARED = RELATION_TYPES.filter((_, i) => i % 2 === 0);

function elements(graph: Graph): ElementDefinition[] {
  return [
    ...graph.nodes.map((n) => ({
      data: {
        id: n.ref,
        label: n.title || n.name,
        kind: n.kind.toLowerCase(),
        colour: KIND_COLOURS[n.kind.toLowerCase()] ?? "#57606a",
        depth: n.depth,
      },
      classes: n.ref === graph.root ? "root" : "",
    })),
    ...graph.edges.map((e) => ({ data: { id: `${e.from}|${e.type}|${e.to}`, source: e.from, target: e.to, label: relationLabel(e.type) } })),
  ];
}

function GraphCanvas({ graph, selected, onSelect, onOpen }: { graph: Graph; selected: string; onSelect: (ref: string) => void; onOpen: (ref: string) => void }) {
  const container = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | null>(null);
  const handlers = useRef({ onSelect, onOpen });
  handlers.current = { onSelect, onOpen };

  useEffect(() => {
    if (!container.current) return;
    const maxDepth = Math.max(1, ...graph.nodes.map((n) => n.depth));
    const instance = cytoscape({
      container: container.current,
      elements: elements(graph),
      wheelSensitivity: 0.3,
      minZoom: 0.2,
      maxZoom: 1.5,
      style: [
        {
          selector: "node",
          style: {
            "background-color": "data(colour)",
            label: "data(label)",
            color: "#1f2328",
            "font-size": 11,
            "text-valign": "bottom",
            "text-margin-y": 4,
            "text-wrap": "ellipsis",
            "text-max-width": "120px",
            width: 22,
            height: 22,
          },
        },
        { selector: "node.root", style: { width: 34, height: 34, "border-width": 3, "border-color": "#1f2328", "font-weight": "bold" } },
        { selector: "node.selected", style: { "border-width": 4, "border-color": "#e3b341" } },
        { selector: "node.upstream", style: { "border-width": 3, "border-color": "#0969da" } },
        { selector: "node.downstream", style: { "border-width": 3, "border-color": "#bc4c00" } },
        { selector: ".faded", style: { opacity: 0.25 } },
        {
          selector: "edge",
          style: {
            width: 1.5,
            "line-color": "#afb8c1",
            "target-arrow-color": "#afb8c1",
            "target-arrow-shape": "triangle",
            "curve-style": "bezier",
            label: "data(label)",
            "font-size": 8,
            color: "#57606a",
            "text-rotation": "autorotate",
            "text-background-color": "#ffffff",
            "text-background-opacity": 0.8,
          },
        },
      ],
      layout: {
        name: "concentric",
        concentric: (n: cytoscape.NodeSingular) => maxDepth - (n.data("depth") as number),
        levelWidth: () => 1,
        minNodeSpacing: 30,
        animate: false,
      } as cytoscape.LayoutOptions,
    });
    instance.on("tap", "node", (e) => handlers.current.onSelect(e.target.id() as string));
    instance.on("dbltap", "node", (e) => handlers.current.onOpen(e.target.id() as string));
    cy.current = instance;
    return () => {
      instance.destroy();
      cy.current = null;
    };
  }, [graph]);

  useEffect(() => {
    const instance = cy.current;
    if (!instance) return;
    const { upstream, downstream } = directions(graph.edges, selected);
    instance.batch(() => {
      instance.elements().removeClass("selected upstream downstream faded");
      instance.nodes().forEach((n) => {
        const id = n.id();
        if (id === selected) n.addClass("selected");
        else if (upstream.has(id)) n.addClass("upstream");
        else if (downstream.has(id)) n.addClass("downstream");
        else n.addClass("faded");
      });
      instance.edges().forEach((e) => {
        const s = e.source().id();
        const t = e.target().id();
        const on = (x: string) => x === selected || upstream.has(x) || downstream.has(x);
        if (!(on(s) && on(t))) e.addClass("faded");
      });
    });
  }, [graph, selected]);

  return (
    <div
      ref={container}
      className="graph-canvas"
      role="img"
      aria-label={`Relationship graph of ${graph.nodes.length} entities and ${graph.edges.length} relations; the list below has the same entities`}
      data-testid="graph-canvas"
      data-nodes={graph.nodes.length}
      data-edges={graph.edges.length}
    />
  );
}

export default function GraphPage() {
  const params = useParams();
  const r: Ref = { kind: (params.kind ?? "").toLowerCase(), namespace: params.namespace ?? "", name: params.name ?? "" };
  const root = refKey(r);
  const [search, setSearch] = useSearchParams();
  const navigate = useNavigate();
  const depth = Math.min(6, Math.max(1, Number(search.get("depth")) || 2));
  const relations = useMemo(() => (search.get("relations") ?? "").split(",").filter(Boolean), [search]);
  const selected = search.get("focus") ?? root;
  const { data, error, isPending, isFetching, refetch } = useGraph(r, depth, relations);
  const [showTypes, setShowTypes] = useState(false);
  useTitle(`Graph of ${r.name}`);

  const update = (changes: Record<string, string | null>, replace = false) => {
    const next = new URLSearchParams(search);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === "") next.delete(k);
      else next.set(k, v);
    }
    setSearch(next, { replace });
  };
  const open = (ref: string) => {
    const p = parseRef(ref);
    if (p) navigate(entityPath(p));
  };

  const typesPresent = useMemo(() => new Set(data?.edges.map((e) => e.type) ?? []), [data]);
  const dirs = useMemo(() => (data ? directions(data.edges, selected) : { upstream: new Set<string>(), downstream: new Set<string>() }), [data, selected]);
  const selectedNode = data?.nodes.find((n) => n.ref === selected);

  return (
    <div className="page graph-page">
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to={entityPath(r)}>{r.namespace}/{r.name}</Link> / graph
        </p>
        <h1>Relationship graph</h1>
        <form className="inline-form graph-controls" onSubmit={(e) => e.preventDefault()} aria-label="Graph options">
          <label htmlFor="graph-depth">Depth</label>
          <select id="graph-depth" value={depth} onChange={(e) => update({ depth: e.target.value })}>
            {[1, 2, 3, 4, 5, 6].map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
          <button type="button" aria-expanded={showTypes} aria-controls="relation-types" onClick={() => setShowTypes((s) => !s)}>
            Relation types{relations.length ? ` (${relations.length})` : ": all"}
          </button>
          {isFetching && !isPending && <span className="muted small" role="status">Updating…</span>}
          <span className="legend" aria-hidden="true">
            <span className="legend-up">■ upstream (what it needs)</span> <span className="legend-down">■ downstream (what needs it)</span>
          </span>
        </form>
        {showTypes && (
          <fieldset id="relation-types" className="relation-types">
            <legend>Follow only these relations</legend>
            {DECLARED.map((t) => (
              <label key={t} className="choice">
                <input
                  type="checkbox"
                  checked={relations.includes(t)}
                  onChange={(e) => update({ relations: (e.target.checked ? [...relations, t] : relations.filter((x) => x !== t)).join(",") || null })}
                />
                {relationLabel(t)}
                {typesPresent.has(t) && <span className="muted small"> (shown)</span>}
              </label>
            ))}
            {relations.length > 0 && (
              <button type="button" className="link-button" onClick={() => update({ relations: null })}>
                Follow all relations
              </button>
            )}
          </fieldset>
        )}
      </header>
      {isPending ? (
        <Loading label="Loading the graph" />
      ) : error ? (
        <ErrorMessage error={error} retry={() => void refetch()} />
      ) : (
        <div className="graph-layout">
          <GraphCanvas graph={data} selected={selected} onSelect={(ref) => update({ focus: ref === root ? null : ref }, true)} onOpen={open} />
          <aside className="panel graph-side" aria-label="Selected entity">
            {selectedNode ? (
              <>
                <h2>
                  <KindBadge kind={selectedNode.kind} /> {selectedNode.title || selectedNode.name}
                </h2>
                <p>
                  <ReadyBadge ready={selectedNode.ready} /> <span className="muted">{selectedNode.namespace}</span>
                </p>
                <p>
                  Needs <strong>{dirs.upstream.size}</strong> · needed by <strong>{dirs.downstream.size}</strong> (in this view)
                </p>
                <p>
                  <Link to={entityPath(selectedNode)}>Open {kindLabel(selectedNode.kind).toLowerCase()}</Link>
                  {selectedNode.ref !== root && (
                    <>
                      {" · "}
                      <Link to={`${entityPath(selectedNode)}/graph?depth=${depth}${relations.length ? `&relations=${relations.join(",")}` : ""}`}>Centre the graph here</Link>
                    </>
                  )}
                </p>
              </>
            ) : (
              <p>Select an entity in the graph or the list.</p>
            )}
            {data.truncated && <p className="warning">The graph was cut at the server's node limit; lower the depth or filter relation types.</p>}
          </aside>
          <section className="panel graph-list" aria-labelledby="graph-list-title">
            <h2 id="graph-list-title">
              Entities in this graph <span className="count">{data.nodes.length}</span>
            </h2>
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Entity</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Hops</th>
                  <th scope="col">Direction</th>
                  <th scope="col">
                    <span className="visually-hidden">Highlight</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {[...data.nodes]
                  .sort((a, b) => a.depth - b.depth || a.name.localeCompare(b.name))
                  .map((n) => (
                    <tr key={n.ref} className={n.ref === selected ? "selected" : undefined}>
                      <td>
                        <Link to={entityPath(n)}>{n.title || n.name}</Link> <span className="muted small">{n.namespace}</span>
                      </td>
                      <td>{kindLabel(n.kind)}</td>
                      <td>{n.depth}</td>
                      <td>{n.ref === selected ? "selected" : dirs.upstream.has(n.ref) ? "upstream" : dirs.downstream.has(n.ref) ? "downstream" : "—"}</td>
                      <td>
                        <button type="button" className="link-button small" onClick={() => update({ focus: n.ref === root ? null : n.ref }, true)} aria-pressed={n.ref === selected}>
                          Highlight
                        </button>
                      </td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </section>
        </div>
      )}
    </div>
  );
}
