#!/usr/bin/env python3
"""Offline consistency check of the example catalog (examples/*.yaml, not subdirectories).

Checks, without a cluster, what the catalog controller would otherwise report later:
  * every entity reference ([kind:][namespace/]name) parses, uses an allowed kind and
    resolves to an entity defined in the examples (the controller marks dangling references
    Ready=False);
  * every entity whose kind has an owner can get one without ingestion: spec.owner, an Azure
    `owner`/`team` tag matching a Team or User, or a `nexus.dev/entra-group` annotation
    matching a Team's Entra ID group (CODEOWNERS needs GitHub ingestion, so it is not counted);
  * namespaces used are declared, names are unique per kind and namespace, the names Teams and
    Users are recognised by (name, display name, alias, email, GitHub handle, Entra group)
    do not collide, and every API has a provider and a consumer.

The field list mirrors `declared_refs` in api/src/catalog/*.rs. Needs PyYAML.
Usage: examples/check-refs.py [DIR]   (exit status 1 when something is wrong)
"""

import collections
import glob
import os
import re
import sys

import yaml

# kind as written in references -> Kubernetes kind
KINDS = {
    "component": "Component", "system": "System", "domain": "Domain",
    "repository": "Repository", "pipeline": "Pipeline", "azureresource": "AzureResource",
    "environment": "Environment", "team": "Team", "user": "User", "api": "API",
    "package": "Package", "incident": "Incident", "workitem": "WorkItem", "runbook": "Runbook",
}
ALIASES = {"group": "team", "resource": "azureresource"}
OWNER = ("team", ["team", "user"])

# Kubernetes kind -> [(field path, default kind, allowed kinds or [] for any)]
REF_FIELDS = {
    "Component": [
        ("spec.owner", *OWNER), ("spec.system", "system", ["system"]),
        ("spec.subcomponentOf", "component", ["component"]),
        ("spec.providesApis[]", "api", ["api"]), ("spec.consumesApis[]", "api", ["api"]),
        ("spec.dependsOn[]", "component", ["component", "azureresource", "package", "system"]),
        ("spec.repository", "repository", ["repository"]),
        ("spec.environments[]", "environment", ["environment"]),
    ],
    "System": [("spec.owner", *OWNER), ("spec.domain", "domain", ["domain"])],
    "Domain": [("spec.owner", *OWNER), ("spec.subdomainOf", "domain", ["domain"])],
    "Repository": [("spec.owner", *OWNER)],
    "Pipeline": [
        ("spec.owner", *OWNER), ("spec.component", "component", ["component"]),
        ("spec.repository", "repository", ["repository"]),
        ("spec.deploysTo[]", "environment", ["environment"]),
    ],
    "AzureResource": [
        ("spec.owner", *OWNER), ("spec.system", "system", ["system"]),
        ("spec.environment", "environment", ["environment"]),
    ],
    "Environment": [("spec.owner", *OWNER), ("spec.system", "system", ["system"])],
    # spec.onCall.primary is not a declared relation, but it must name a real user too.
    "Team": [("spec.parent", "team", ["team"]), ("spec.members[]", "user", ["user"]),
             ("spec.onCall.primary", "user", ["user"])],
    "User": [("spec.memberOf[]", "team", ["team"])],
    "API": [("spec.owner", *OWNER), ("spec.system", "system", ["system"])],
    "Package": [("spec.owner", *OWNER), ("spec.producedBy", "component", ["component"])],
    "Incident": [("spec.affects[]", "component",
                  ["component", "system", "azureresource", "api", "environment"])],
    "WorkItem": [("spec.relatesTo[]", "component", [])],
    "Runbook": [("spec.owner", *OWNER), ("spec.appliesTo[]", "component", []),
                ("spec.source.repository", "repository", ["repository"])],
}
# Kinds that have an owner (Team, User, Incident and WorkItem do not).
OWNED = {"Component", "System", "Domain", "Repository", "Pipeline", "AzureResource",
         "Environment", "API", "Package", "Runbook"}

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def parse_ref(raw, default_kind, allowed, namespace):
    """Returns ((kind, namespace, name), None) or (None, error)."""
    raw = raw.strip()
    if not raw:
        return None, "empty reference"
    kind = default_kind
    if ":" in raw:
        k, raw = raw.split(":", 1)
        k = ALIASES.get(k.lower(), k.lower())
        if k not in KINDS:
            return None, f"unknown kind {k!r}"
        kind = k
    if allowed and kind not in allowed:
        return None, f"kind {kind} not allowed here (allowed: {', '.join(allowed)})"
    if "/" in raw:
        namespace, raw = raw.split("/", 1)
    if not DNS_LABEL.match(namespace):
        return None, f"invalid namespace {namespace!r}"
    if not raw or len(raw) > 253 or not all(DNS_LABEL.match(p) for p in raw.split(".")):
        return None, f"invalid name {raw!r}"
    return (KINDS[kind], namespace, raw), None


def values(obj, path):
    """Values at a dotted path; a trailing [] iterates a list. Yields (field, value)."""
    parts = path.split(".")
    cur = obj
    for p in parts[:-1]:
        cur = (cur or {}).get(p)
        if cur is None:
            return
    last = parts[-1]
    if last.endswith("[]"):
        for i, v in enumerate((cur or {}).get(last[:-2]) or []):
            yield f"{path[:-2]}[{i}]", v
    else:
        v = (cur or {}).get(last)
        if v is not None:
            yield path, v


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    problems, warnings = [], []
    entities = {}  # (kind, ns, name) -> (file, obj)
    namespaces = set()
    for path in sorted(glob.glob(os.path.join(root, "*.yaml")) + glob.glob(os.path.join(root, "*.yml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc:
                    continue
                kind = doc.get("kind")
                meta = doc.get("metadata") or {}
                if kind == "Namespace":
                    namespaces.add(meta["name"])
                    continue
                if kind not in REF_FIELDS:
                    warnings.append(f"{os.path.basename(path)}: ignoring {kind}")
                    continue
                key = (kind, meta.get("namespace"), meta.get("name"))
                if key[1] is None:
                    problems.append(f"{kind} {key[2]}: no metadata.namespace")
                if key in entities:
                    problems.append(f"duplicate {kind} {key[1]}/{key[2]}")
                entities[key] = (os.path.basename(path), doc)

    # Owner match keys (as the controller's MatchIndex builds them).
    names, github, entra = {}, {}, {}

    def index(table, k, who):
        k = k.lower()
        if k in table and table[k] != who:
            problems.append(f"match key {k!r} is claimed by both {table[k]} and {who}")
        table[k] = who

    for (kind, ns, name), (_, doc) in entities.items():
        s = doc.get("spec") or {}
        who = f"{kind.lower()}:{ns}/{name}"
        if kind == "Team":
            for k in [name, s.get("displayName"), s.get("email"), *(s.get("aliases") or [])]:
                if k:
                    index(names, k, who)
            if s.get("github"):
                index(github, f"{s['github']['org']}/{s['github']['slug']}", who)
                index(github, s["github"]["slug"], who)
            if s.get("entraGroup"):
                index(entra, s["entraGroup"]["id"], who)
        elif kind == "User":
            index(names, name, who)
            index(names, s["email"], who)
            if s.get("githubLogin"):
                index(github, s["githubLogin"], who)

    counts = collections.Counter()
    api_providers, api_consumers = collections.defaultdict(list), collections.defaultdict(list)
    for (kind, ns, name), (file, doc) in sorted(entities.items()):
        counts[kind] += 1
        where = f"{file}: {kind} {ns}/{name}"
        if ns not in namespaces:
            problems.append(f"{where}: namespace {ns} is not declared in the examples")
        spec = doc.get("spec") or {}
        for path, default, allowed in REF_FIELDS[kind]:
            for field, raw in values(spec and {"spec": spec}, path):
                target, err = parse_ref(str(raw), default, allowed, ns)
                if err:
                    problems.append(f"{where}: {field} {raw!r}: {err}")
                elif target not in entities:
                    problems.append(f"{where}: {field} {raw!r} -> {target[0]} {target[1]}/{target[2]} does not exist")
                elif kind == "Component" and field.startswith("spec.providesApis"):
                    api_providers[target].append(name)
                elif kind == "Component" and field.startswith("spec.consumesApis"):
                    api_consumers[target].append(name)
        if kind in OWNED and not spec.get("owner"):
            tags = {k.lower(): v for k, v in (spec.get("tags") or {}).items()} if kind == "AzureResource" else {}
            by_tag = [tags[t] for t in ("owner", "team") if t in tags and str(tags[t]).strip().lower() in names]
            groups = [g.strip().lower() for g in
                      ((doc["metadata"].get("annotations") or {}).get("nexus.dev/entra-group", "")).split(",")]
            by_entra = [g for g in groups if g in entra]
            if not by_tag and not by_entra:
                problems.append(f"{where}: no owner without ingestion (no spec.owner, no matching Azure tag, no matching nexus.dev/entra-group)")

    for (kind, ns, name) in entities:
        if kind == "API":
            if not api_providers[(kind, ns, name)]:
                warnings.append(f"API {ns}/{name} has no provider")
            if not api_consumers[(kind, ns, name)]:
                warnings.append(f"API {ns}/{name} has no consumer")

    for w in warnings:
        print(f"warning: {w}")
    for p in problems:
        print(f"error: {p}")
    total = sum(counts.values())
    print(", ".join(f"{k}: {counts[k]}" for k in sorted(counts)) + f"; total {total}")
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    print("all references resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
