#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from ../shared/corpus (copies made at run time; corpus/ is
# git-ignored, nothing here is committed). Targets whose first byte selects an event or a REST
# resource get that byte prepended. Idempotent: re-running refreshes the seeds and keeps whatever
# libFuzzer added.
#   fuzz/seed.sh [CORPUS_DIR]   (default: ../shared/corpus relative to the repository)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${1:-$here/../../shared/corpus}"
out="$here/corpus"
if [[ ! -d "$src" ]]; then
    echo "seed.sh: $src not found; targets start from an empty corpus" >&2
    exit 0
fi
src="$(cd "$src" && pwd)"

# copy TARGET FILE [PREFIX_BYTE]: one seed, named after its source path.
copy() {
    local target="$1" file="$2" prefix="${3:-}" name
    name="$(echo "${file#"$src"/}" | tr '/' '_')"
    mkdir -p "$out/$target"
    if [[ -n "$prefix" ]]; then
        { printf %b "\\x$(printf %02x "$prefix")"; cat "$file"; } >"$out/$target/$prefix-$name"
    else
        cp "$file" "$out/$target/$name"
    fi
}

# each TARGET FOLDER: every payload file under FOLDER (not SOURCE.md).
each() {
    local target="$1" dir="$src/$2" f
    [[ -d "$dir" ]] || return 0
    while IFS= read -r -d '' f; do copy "$target" "$f"; done \
        < <(find "$dir" -type f ! -name 'SOURCE.md' ! -name 'README.md' -print0)
}

# index_of NAME LIST...: position of NAME in LIST, or empty.
index_of() {
    local name="$1" i=0 x
    shift
    for x in "$@"; do
        [[ "$x" == "$name" ]] && { echo "$i"; return; }
        i=$((i + 1))
    done
}

# The resource lists, read from the parsers' REST_RESOURCES so the selector bytes stay in step.
rest_resources() {
    sed -n '/^pub const REST_RESOURCES/,/^];/p' "$1" | grep -o '"[^"]*"' | tr -d '"'
}

# github_webhook: first byte = index in github_events.txt.
mapfile -t events < <(grep -v '^[[:space:]]*$' "$here/github_events.txt")
for dir in "$src"/github-webhooks/*/*/; do
    event="$(basename "$dir")"
    i="$(index_of "$event" "${events[@]}")"
    [[ -n "$i" ]] || continue
    for f in "$dir"*.json; do copy github_webhook "$f" "$i"; done
done

# github_rest: first byte = resource index (bit 7 set: the context names the repository).
mapfile -t gh_rest < <(rest_resources "$here/../ingest/src/github/mod.rs")
gh_map=(
    dependabot-alert-dismissed.json:dependabot-alerts dependabot-alert-open.json:dependabot-alerts
    dependabot-alerts-for-repository.json:dependabot-alerts deployment-items.json:deployments
    deployment.json:deployments deployment-status-items.json:deployment-statuses
    deployment-status.json:deployment-statuses full-repository.json:repositories
    minimal-repository-items.json:repositories pull-request-simple-items.json:pulls
    pull-request.json:pulls repository-ruleset.json:rulesets workflow-run-paginated.json:workflow-runs
    workflow-run.json:workflow-runs codeowners-errors.json:codeowners
)
for pair in "${gh_map[@]}"; do
    f="$src/github-rest-api/${pair%%:*}"
    i="$(index_of "${pair#*:}" "${gh_rest[@]}")"
    [[ -f "$f" && -n "$i" ]] && copy github_rest "$f" $((i + 128))
done

# ado_rest: first byte = resource index; the spec example files hold the body at responses.200.body.
mapfile -t ado_res < <(rest_resources "$here/../ingest/src/ado/mod.rs")
ado_map=(
    git__7.1__pullRequests__GET__git_repositories__repositoryId__pullRequests.json:pullRequests
    git__7.1__pushes__GET__git_repositories__repositoryId__pushes.json:pushes
    release__7.1__deployments__GET__ListDeploymentsForAGivenDefinitionId.json:deployments
    release__7.1__releases__GET__GetARelease.json:releases
    release__7.1__releases__Query_ListAllReleases.json:releases
    wit__7.1__workItems__GET__wit_WorkItems_id.json:workItems
    wit__7.1__workItems__GET__wit_WorkItems_ids-_ids_.json:workItems
)
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
for pair in "${ado_map[@]}"; do
    f="$src/ado-rest-api/${pair%%:*}"
    i="$(index_of "${pair#*:}" "${ado_res[@]}")"
    [[ -f "$f" && -n "$i" ]] || continue
    if python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["responses"]["200"]["body"], open(sys.argv[2],"w"))' "$f" "$tmp" 2>/dev/null; then
        mkdir -p "$out/ado_rest"
        { printf %b "\\x$(printf %02x "$i")"; cat "$tmp"; } >"$out/ado_rest/$i-${pair%%:*}"
    fi
done

each ado_service_hook ado-service-hooks
each resource_graph azure-resource-graph
each terraform_state terraform-state
each arm_deployment arm-deployments
each azure_monitor azure-monitor-alerts
each pagerduty pagerduty
each opsgenie opsgenie
each catalog_info backstage-examples

# codeowners: the corpus has no CODEOWNERS file; a small one in GitHub's syntax.
mkdir -p "$out/codeowners"
cat >"$out/codeowners/seed-CODEOWNERS" <<'CODEOWNERS'
# Default owners
*       @octocat/platform
*.js    @js-owner #This is an inline comment.
/build/logs/ @doctocat
docs/*  docs@example.com
apps/   @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/github
\#notacomment @x
[Section] @team
CODEOWNERS

# runbook: the corpus has no Markdown runbook; one in the documented front matter format, and
# one whose first line is a path-pattern list (the target reads it as one).
mkdir -p "$out/runbook"
cat >"$out/runbook/seed-runbook.md" <<'RUNBOOK'
---
title: Ledger database failover
tags: [database, failover]
appliesTo: [component:payments/ledger, azureresource:ledger-sql]
alerts: [ledger-db-cpu-high, "ledger-db-*"]
resourceTypes: [microsoft.sql/servers/databases]
owner: team:payments/payments
---
# Ledger database failover

1. Check [the dashboard](../dashboards/ledger.md).
RUNBOOK
printf 'runbooks/,docs/**/*.md,ops/*.md\nrunbooks/a/b.md\ndocs/x.md\nops/deep/x.md\n' >"$out/runbook/seed-paths"

for d in "$out"/*/; do echo "seeded $(basename "$d"): $(find "$d" -type f | wc -l) files"; done
