#!/usr/bin/env bash
# Registers a locally running nexus-apiserver with a local control plane (hack/cluster.sh):
# an ExternalName Service pointing at 127.0.0.1 and the APIService v1alpha1.portal.nexus.dev,
# trusting the cluster CA that signed the apiserver's certificate (pki/nexus-apiserver.crt).
#
#   hack/dev-apiservice.sh register <aggregated-port>   apply, then wait until Available
#   hack/dev-apiservice.sh unregister
#
# Needs KUBECONFIG (from `hack/cluster.sh up`) and kubectl on PATH. In a real cluster the Helm
# chart creates these objects for the in-cluster Service instead.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${NEXUS_CLUSTER_DIR:-$REPO/.nexus/cluster}"
CA="$STATE/pki/ca.crt"
TIMEOUT="${NEXUS_APISERVICE_TIMEOUT:-60}"

die() { echo "dev-apiservice: $*" >&2; exit 1; }

register() {
    local port="${1:-}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "usage: $0 register <aggregated-port>"
    [[ -s "$CA" ]] || die "no cluster CA at $CA (run hack/cluster.sh up)"
    local bundle
    bundle="$(base64 -w0 <"$CA")"
    kubectl apply --server-side --field-manager nexus-dev -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: nexus-system
---
apiVersion: v1
kind: Service
metadata:
  name: nexus-apiserver
  namespace: nexus-system
spec:
  type: ExternalName
  externalName: 127.0.0.1
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1alpha1.portal.nexus.dev
spec:
  group: portal.nexus.dev
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  caBundle: $bundle
  service:
    namespace: nexus-system
    name: nexus-apiserver
    port: $port
YAML
    if ! kubectl wait --for=condition=Available apiservice/v1alpha1.portal.nexus.dev \
        --timeout="${TIMEOUT}s" >/dev/null; then
        kubectl get apiservice v1alpha1.portal.nexus.dev -o jsonpath='{.status.conditions}' >&2 || true
        echo >&2
        die "APIService v1alpha1.portal.nexus.dev did not become Available"
    fi
}

unregister() {
    kubectl delete apiservice v1alpha1.portal.nexus.dev --ignore-not-found >/dev/null
    kubectl -n nexus-system delete service nexus-apiserver --ignore-not-found >/dev/null
}

case "${1:-}" in
register) shift; register "$@" ;;
unregister) unregister ;;
*) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
