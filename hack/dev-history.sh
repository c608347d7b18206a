#!/usr/bin/env bash
# Deployment history for DORA on the example org (make dev, the portal's browser tests).
#
# Writes what GitHub ingestion would: status.deployments of two team-catalog Components and
# status.pushes of their Repository (server-side apply on the status subresource, field
# manager nexus-github), plus two resolved Incidents on catalog-api. Times are relative to
# today (UTC), so the figures are the same whatever the date:
#
#   catalog-api   production successes 1, 3, 5, 8, 11, 14, 17, 20, 23, 26, 45, 70 days ago
#                 (10:00 UTC), each shipping one commit pushed 3 h before; plus a failed
#                 production deployment and a staging one 2 days ago (neither counts)
#   search-api    production successes 2 and 4 days ago (commits not in any push: no lead time)
#   incidents     8 days ago 14:00, resolved after 2 h; 20 days ago 12:00, resolved after 30 min
#                 (each attributed to that morning's catalog-api deployment)
#
# Expected (docs/portal.md#dora): catalog-api month — 10 deployments (0.33/day, High), lead
# time 3 h (Elite), change failure rate 20 % (Low), recovery 1 h 15 min (High); team Catalog
# month — 12 deployments (0.4/day, High), change failure rate 16.7 % (Low).
#
# The DORA controller credits a deployment to the owner the Component has when it counts it,
# so this waits until the catalog controller has resolved the owners. Needs kubectl on PATH and
# KUBECONFIG set.
set -euo pipefail

day() { date -u -d "today -$1 days" +%Y-%m-%d; }
at() { echo "$(day "$1")T$2:00Z"; }

for c in catalog-api search-api; do
  kubectl wait --for=jsonpath='{.status.owner.ref}'=team:team-catalog/catalog \
    components.catalog.nexus.dev/"$c" -n team-catalog --timeout=120s >/dev/null
done

prod_days=(1 3 5 8 11 14 17 20 23 26 45 70)

{
  echo "apiVersion: catalog.nexus.dev/v1alpha1"
  echo "kind: Repository"
  echo "metadata: {name: catalog-service, namespace: team-catalog}"
  echo "status:"
  echo "  pushes:"
  for k in "${prod_days[@]}"; do
    sha=$(printf 'c0ffee%02d%032d' "$k" 0)
    echo "    - {sha: $sha, branch: main, pusher: grace-liu, pushedAt: \"$(at "$k" 07:05)\", commits: [{sha: $sha, timestamp: \"$(at "$k" 07:00)\", author: grace-liu}]}"
  done
} | kubectl apply --server-side --subresource=status --field-manager=nexus-github --force-conflicts -f - >/dev/null

{
  echo "apiVersion: catalog.nexus.dev/v1alpha1"
  echo "kind: Component"
  echo "metadata: {name: catalog-api, namespace: team-catalog}"
  echo "status:"
  echo "  deployments:"
  echo "    - {id: \"seed:catalog-api:failed\", environment: production, sha: deadbeef, version: v1.13.0-rc1, status: failure, createdAt: \"$(at 2 09:00)\", updatedAt: \"$(at 2 09:20)\", creator: grace-liu}"
  echo "    - {id: \"seed:catalog-api:staging\", environment: staging, sha: deadbeef, version: v1.13.0-rc1, status: success, createdAt: \"$(at 2 08:00)\", updatedAt: \"$(at 2 08:10)\", creator: grace-liu}"
  n=${#prod_days[@]}
  for k in "${prod_days[@]}"; do
    sha=$(printf 'c0ffee%02d%032d' "$k" 0)
    echo "    - {id: \"seed:catalog-api:$k\", environment: production, sha: $sha, version: v1.$n.0, status: success, createdAt: \"$(at "$k" 09:50)\", updatedAt: \"$(at "$k" 10:00)\", creator: grace-liu}"
    n=$((n - 1))
  done
} | kubectl apply --server-side --subresource=status --field-manager=nexus-github --force-conflicts -f - >/dev/null

{
  echo "apiVersion: catalog.nexus.dev/v1alpha1"
  echo "kind: Component"
  echo "metadata: {name: search-api, namespace: team-catalog}"
  echo "status:"
  echo "  deployments:"
  for k in 2 4; do
    echo "    - {id: \"seed:search-api:$k\", environment: production, sha: 5ea7c4$k, version: v3.$k.0, status: success, createdAt: \"$(at "$k" 10:50)\", updatedAt: \"$(at "$k" 11:00)\", creator: grace-liu}"
  done
} | kubectl apply --server-side --subresource=status --field-manager=nexus-github --force-conflicts -f - >/dev/null

kubectl apply --server-side --field-manager=nexus-dev-history -f - >/dev/null <<YAML
apiVersion: catalog.nexus.dev/v1alpha1
kind: Incident
metadata: {name: catalog-api-latency-seed-1, namespace: team-catalog}
spec:
  title: Catalog API p99 latency above 2 s after deploy
  source: manual
  severity: high
  state: resolved
  startedAt: "$(at 8 14:00)"
  resolvedAt: "$(at 8 16:00)"
  affects: [catalog-api]
---
apiVersion: catalog.nexus.dev/v1alpha1
kind: Incident
metadata: {name: catalog-api-errors-seed-2, namespace: team-catalog}
spec:
  title: Catalog API 5xx on product pages
  source: manual
  severity: medium
  state: resolved
  startedAt: "$(at 20 12:00)"
  resolvedAt: "$(at 20 12:30)"
  affects: [catalog-api]
YAML
echo "dev-history: DORA history for team-catalog/catalog-api and search-api applied"
