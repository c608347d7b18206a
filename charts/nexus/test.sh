#!/usr/bin/env bash
# Tests of the nexus Helm chart; exits non-zero on the first failure.
#
#   charts/nexus/test.sh
#
# 1. helm lint (and --strict) with the defaults and with every values variant below;
# 2. helm template of the variants, with checks on what is (and is not) rendered;
# 3. values that the schema must reject (typos, bad enums, bad GUIDs) make helm fail;
# 4. with KUBECONFIG set: a server-side dry run (kubectl apply --server-side --dry-run=server)
#    of the CRDs and of every variant except the ServiceMonitor and cert-manager ones (those need
#    the Prometheus Operator and cert-manager CRDs). The namespace ($NEXUS_CHART_TEST_NAMESPACE,
#    default nexus-system) is created when missing and then deleted again;
# 5. with KUBECONFIG set and NEXUS_CHART_TEST_APPLY=1 (throw-away clusters only: it creates and
#    then deletes the cluster-scoped nexus-* ClusterRoles): a real apply (without the APIService,
#    whose backend never becomes ready without nodes), then SubjectAccessReviews prove the role
#    aggregation and the least privilege of the controller and the apiserver.
#
# helm and kubectl come from PATH, else from hack/build-k8s.sh (which builds them if needed).
set -euo pipefail

CHART="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$CHART/../.." && pwd)"
NS="${NEXUS_CHART_TEST_NAMESPACE:-nexus-system}"
WORK="$(mktemp -d)"
CREATED_NS=""
APPLIED=""

cleanup() {
    if [[ -n "$APPLIED" ]]; then
        kubectl delete --ignore-not-found -f "$APPLIED" >/dev/null 2>&1 || true
    fi
    if [[ -n "$CREATED_NS" ]]; then
        kubectl delete namespace "$CREATED_NS" --timeout=60s >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PASSED=0
FAILED=0
log() { echo "chart-test: $*" >&2; }
ok() {
    PASSED=$((PASSED + 1))
    echo "ok   $*"
}
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL $*"
    echo "$PASSED passed, $FAILED failed"
    exit 1
}

if ! command -v helm >/dev/null || ! command -v kubectl >/dev/null; then
    PATH="$("$REPO/hack/build-k8s.sh" path):$PATH"
    command -v helm >/dev/null || "$REPO/hack/build-k8s.sh" helm >/dev/null
    export PATH
fi

# A throw-away CA for apiserver.tls.mode=secret (its caBundle must be a PEM certificate).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=nexus-chart-test-ca \
    -keyout "$WORK/test-ca.key" -out "$WORK/test-ca.crt" 2>/dev/null || fail "openssl: cannot create a test CA"
TEST_CA_B64="$(openssl base64 -A <"$WORK/test-ca.crt")"

# Values variants: name and helm arguments. The release namespace is $NS throughout, so the
# namespaced variants also pass the server-side dry run in a cluster where only $NS exists.
GROUP_DEV=6f1c2a4e-0b9d-4c1e-9f3a-2d7e8b5c4a10
GROUP_LEAD=0d4b7e21-5c3a-4f68-8e9b-7a1c2d3e4f50
GROUP_PE=9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
GROUP_ADMIN=1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9
OIDC_ISSUER=https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0
OIDC_CLIENT=3f0c8c55-1a2b-4c3d-9e8f-0a1b2c3d4e5f
ROLE_BINDINGS=(
    --set "roleBindings[0].role=developer,roleBindings[0].group=$GROUP_DEV,roleBindings[0].namespaces[0]=$NS"
    --set "roleBindings[1].role=team-lead,roleBindings[1].group=$GROUP_LEAD,roleBindings[1].namespaces[0]=$NS"
    --set "roleBindings[2].role=platform-engineer,roleBindings[2].group=$GROUP_PE"
    --set "roleBindings[3].role=admin,roleBindings[3].group=$GROUP_ADMIN"
)
declare -A VARIANT=(
    [defaults]=""
    [watch-namespace]="--set watchNamespace=$NS"
    [single-replica]="--set replicaCount=1"
    [workload-identity]="--set azureWorkloadIdentity.enabled=true --set azureWorkloadIdentity.clientId=3f0c8c55-1a2b-4c3d-9e8f-0a1b2c3d4e5f --set azureWorkloadIdentity.tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47"
    [pinned-digest]="--set image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef --set logFormat=text --set logLevel=debug --set metrics.bindAddress=::"
    [no-user-roles]="--set rbac.userRoles.create=false --set rbac.userRoles.aggregateToDefaultRoles=false --set metrics.service.enabled=false"
    [role-bindings]="${ROLE_BINDINGS[*]}"
    [apiserver-disabled]="--set apiserver.enabled=false"
    [no-ingestion]="--set ingestion.enabled=false"
    [audit-azure-monitor]="--set actions.audit.azureMonitor.endpoint=https://nexus-dce.westeurope-1.ingest.monitor.azure.com --set actions.audit.azureMonitor.dcrImmutableId=dcr-0123456789abcdef0123456789abcdef --set actions.audit.retentionDays=365 --set actions.audit.persistence.storageClassName=azurefile-csi"
    [no-audit]="--set actions.audit.enabled=false"
    [scorecards-gate]="--set scorecards.gate.token.secretName=nexus-gate --set scorecards.gate.scorecards={production-readiness,platform/security} --set scorecards.snapshotRetentionDays=90 --set scorecards.namespace=org-standards"
    [no-scorecards]="--set scorecards.enabled=false"
    [apiserver-secret]="--set apiserver.tls.mode=secret --set apiserver.tls.secretName=nexus-apiserver-byo-tls --set apiserver.tls.caBundle=$TEST_CA_B64"
    [apiserver-oidc]="--set apiserver.portal.oidc.issuerUrl=$OIDC_ISSUER --set apiserver.portal.oidc.audiences={api://nexus-portal,$OIDC_CLIENT} --set apiserver.portal.oidc.groupsPrefix=entra: --set apiserver.portal.oidc.clockSkew=30s --set apiserver.portal.tls.secretName=nexus-portal-tls --set apiserver.portal.ingress.enabled=true --set apiserver.portal.ingress.className=nginx --set apiserver.portal.ingress.host=nexus.contoso.example --set apiserver.portal.ingress.tls.secretName=nexus-portal-public-tls --set apiserver.replicaCount=3 --set apiserver.image.tag=1.2.3 --set apiserver.portal.ui.assetsDir=/usr/share/nexus/portal --set apiserver.portal.ui.msal.clientId=$OIDC_CLIENT --set apiserver.portal.ui.msal.scopes={api://nexus-portal/access_as_user}"
)
# Rendered only (needs monitoring.coreos.com CRDs on a cluster).
SERVICE_MONITOR_ARGS="--set watchNamespace=team-a --set metrics.serviceMonitor.enabled=true --set metrics.serviceMonitor.labels.release=kube-prometheus-stack"
# Rendered only (needs cert-manager's CRDs on a cluster).
CERT_MANAGER_ARGS="--set apiserver.tls.mode=cert-manager"
# Rendered only (its integrations namespace does not exist in the dry-run cluster).
INGESTION_HOOKS_ARGS="--set ingestion.namespace=nexus-integrations --set ingestion.webhooks.ingress.enabled=true --set ingestion.webhooks.ingress.host=hooks.contoso.example --set ingestion.webhooks.ingress.tls.secretName=hooks-tls --set ingestion.polling=false --set scorecards.gate.token.secretName=nexus-gate --set scorecards.gate.exposeOnIngress=true"

render() { # variant-name, extra args… → $WORK/<variant>.yaml
    local name="$1"
    shift
    # shellcheck disable=SC2086 # the variant's arguments are meant to split
    helm template nexus "$CHART" --namespace "$NS" "$@" >"$WORK/$name.yaml" 2>"$WORK/$name.err" ||
        fail "helm template ($name): $(cat "$WORK/$name.err")"
}

# Kind/[namespace/]name of every rendered object, one a line.
objects() {
    awk '
        function flush() { if (kind != "") print kind "/" (ns != "" ? ns "/" : "") name; kind = name = ns = ""; meta = 0 }
        /^---/ { flush(); next }
        /^kind: / { kind = $2 }
        /^metadata:/ { meta = 1; next }
        /^[^ #]/ { meta = 0 }
        meta && /^  name: / && name == "" { name = $2 }
        meta && /^  namespace: / && ns == "" { ns = $2 }
        END { flush() }
    ' "$1"
}

has() { # file, Kind/[ns/]name
    objects "$1" | grep -qxF "$2"
}

expect_object() { # variant, Kind/[ns/]name
    has "$WORK/$1.yaml" "$2" || fail "$1: expected $2 to be rendered; got: $(objects "$WORK/$1.yaml" | tr '\n' ' ')"
}
expect_no_object() { # variant, Kind/[ns/]name
    ! has "$WORK/$1.yaml" "$2" || fail "$1: expected no $2"
}
expect_text() { # variant, fixed string
    grep -qF -- "$2" "$WORK/$1.yaml" || fail "$1: expected the output to contain '$2'"
}
expect_no_text() { # variant, fixed string
    ! grep -qF -- "$2" "$WORK/$1.yaml" || fail "$1: expected the output not to contain '$2'"
}

# ---------------------------------------------------------------------------------------------
# 1. lint

helm lint "$CHART" >"$WORK/lint.out" 2>&1 || fail "helm lint: $(cat "$WORK/lint.out")"
ok "helm lint"
helm lint --strict "$CHART" >"$WORK/lint.out" 2>&1 || fail "helm lint --strict: $(cat "$WORK/lint.out")"
ok "helm lint --strict"
for name in "${!VARIANT[@]}"; do
    # shellcheck disable=SC2086
    helm lint --strict "$CHART" --namespace "$NS" ${VARIANT[$name]} >"$WORK/lint.out" 2>&1 ||
        fail "helm lint --strict ($name): $(cat "$WORK/lint.out")"
done
# shellcheck disable=SC2086
helm lint --strict "$CHART" $SERVICE_MONITOR_ARGS >"$WORK/lint.out" 2>&1 ||
    fail "helm lint --strict (service-monitor): $(cat "$WORK/lint.out")"
# shellcheck disable=SC2086
helm lint --strict "$CHART" $CERT_MANAGER_ARGS >"$WORK/lint.out" 2>&1 ||
    fail "helm lint --strict (apiserver-cert-manager): $(cat "$WORK/lint.out")"
ok "helm lint --strict with every values variant"

# ---------------------------------------------------------------------------------------------
# 2. template

[[ -z "$(diff -r "$REPO/crds" "$CHART/crds")" ]] ||
    fail "charts/nexus/crds differs from crds/: regenerate the CRDs (make crds)"
ok "charts/nexus/crds is the same as crds/"

for name in "${!VARIANT[@]}"; do
    # shellcheck disable=SC2086
    render "$name" ${VARIANT[$name]}
done
# shellcheck disable=SC2086
render service-monitor $SERVICE_MONITOR_ARGS
# shellcheck disable=SC2086
render apiserver-cert-manager $CERT_MANAGER_ARGS
# shellcheck disable=SC2086
render ingestion-hooks $INGESTION_HOOKS_ARGS
ok "helm template with every values variant"

C=nexus-controller
# defaults: cluster-wide controller RBAC, HA, hardening, probes, downward API.
for o in Deployment/$NS/$C ServiceAccount/$NS/$C ClusterRole/$C ClusterRoleBinding/$C \
    Role/$NS/$C-leader-election RoleBinding/$NS/$C-leader-election Service/$NS/$C-metrics \
    PodDisruptionBudget/$NS/$C ClusterRole/nexus-developer ClusterRole/nexus-team-lead \
    ClusterRole/nexus-platform-engineer ClusterRole/nexus-admin; do
    expect_object defaults "$o"
done
expect_no_object defaults "ServiceMonitor/$NS/$C"
for t in "replicas: 2" "runAsNonRoot: true" "readOnlyRootFilesystem: true" "allowPrivilegeEscalation: false" \
    'drop: ["ALL"]' "type: RuntimeDefault" "path: /healthz" "path: /readyz" "fieldPath: metadata.name" \
    "fieldPath: metadata.namespace" "topologyKey: kubernetes.io/hostname" "minAvailable: 1" \
    "image: \"ghcr.io/contoso/nexus-controller:0.1.0\"" "--metrics-addr=0.0.0.0:8080" \
    "--lease-name=nexus-controller" "--lease-namespace=$NS" "--log-format=json" "--dora=true" \
    "rbac.authorization.k8s.io/aggregate-to-view: \"true\"" \
    "rbac.authorization.k8s.io/aggregate-to-edit: \"true\"" \
    "app.kubernetes.io/managed-by: Helm" "helm.sh/chart: nexus-0.1.0" "app.kubernetes.io/version: \"0.1.0\""; do
    expect_text defaults "$t"
done
expect_no_text defaults "--watch-namespace"
expect_text ingestion-hooks "--dora=true"
ok "defaults: controller, least-privilege RBAC, HA and hardening"

# Every catalog CRD is in the controller's rules (with its /status) and in the read role.
[[ "$(awk '/^    plural: /{n++} END{print n+0}' "$REPO"/crds/*.yaml)" -ge 14 ]] ||
    fail "expected the 14 catalog CRDs in crds/"
for crd in "$REPO"/crds/*.yaml; do
    plural="$(awk '/^    plural: /{print $2}' "$crd")"
    expect_text defaults "      - $plural"
    # Kinds without a status subresource (ScorecardSnapshot: a record written whole) have none.
    if grep -q '^      status: {}' "$crd"; then
        expect_text defaults "      - $plural/status"
    fi
done
ok "every catalog kind in crds/ is covered by the RBAC rules"

# The controller's ClusterRole is exactly: read the catalog, write status, create/update/delete
# discovered entities (ingestion), record Events.
doc() { # file, kind, name → that object's YAML
    awk -v want_kind="$2" -v want_name="$3" '
        function flush() { if (kind == want_kind && name == want_name) printf "%s", buf; buf = ""; kind = name = "" }
        /^---/ { flush(); next }
        { buf = buf $0 "\n" }
        /^kind: / { kind = $2 }
        /^  name: / && name == "" { name = $2 }
        END { flush() }
    ' "$1"
}
doc "$WORK/defaults.yaml" ClusterRole "$C" >"$WORK/controller-role.yaml"
got="$(grep -E '^ *(- )?(apiGroups|verbs):' "$WORK/controller-role.yaml" | sed 's/^ *- */  /; s/^ */  /' | tr -s ' ')"
want=' apiGroups: ["catalog.nexus.dev"]
 verbs: ["get", "list", "watch"]
 apiGroups: ["catalog.nexus.dev"]
 verbs: ["get", "patch", "update"]
 apiGroups: ["catalog.nexus.dev"]
 verbs: ["create", "patch", "delete"]
 apiGroups: [""]
 verbs: ["create", "patch"]
 apiGroups: ["events.k8s.io"]
 verbs: ["create", "patch"]'
[[ "$got" == "$want" ]] || fail "defaults: the controller ClusterRole is not exactly read + status + ingestion writes + events:
$got"
grep -qF '"*"' "$WORK/controller-role.yaml" && fail "defaults: wildcard in the controller ClusterRole"
ok "defaults: the controller ClusterRole is exactly read + status + ingestion writes + events"

# Without ingestion: read + status + events only, no receiver, no Secret access.
doc "$WORK/no-ingestion.yaml" ClusterRole "$C" >"$WORK/controller-role-noingest.yaml"
got="$(grep -E '^ *(- )?(apiGroups|verbs):' "$WORK/controller-role-noingest.yaml" | sed 's/^ *- */  /; s/^ */  /' | tr -s ' ')"
want=' apiGroups: ["catalog.nexus.dev"]
 verbs: ["get", "list", "watch"]
 apiGroups: ["catalog.nexus.dev"]
 verbs: ["get", "patch", "update"]
 apiGroups: [""]
 verbs: ["create", "patch"]
 apiGroups: ["events.k8s.io"]
 verbs: ["create", "patch"]'
[[ "$got" == "$want" ]] || fail "no-ingestion: the controller ClusterRole is not exactly read + status + events:
$got"
expect_no_object no-ingestion "Role/$NS/$C-ingestion"
expect_no_object no-ingestion "Service/$NS/$C-webhooks"
expect_text no-ingestion "--webhook-addr=off"
ok "ingestion.enabled=false: no receiver, no ingestion writes, no Secret access"

# Ingestion: Secrets readable only in the integrations namespace; receiver Service + Ingress.
expect_object defaults "Role/$NS/$C-ingestion"
expect_object defaults "Service/$NS/$C-webhooks"
expect_object ingestion-hooks "Role/nexus-integrations/$C-ingestion"
expect_object ingestion-hooks "RoleBinding/nexus-integrations/$C-ingestion"
expect_no_object ingestion-hooks "Role/$NS/$C-ingestion"
expect_object ingestion-hooks "Ingress/$NS/$C-webhooks"
expect_text ingestion-hooks "--integrations-namespace=nexus-integrations"
expect_text ingestion-hooks "--polling=false"
expect_text ingestion-hooks "path: /webhooks/"
grep -c 'resources: \["secrets"\]' "$WORK/ingestion-hooks.yaml" | grep -qx 1 ||
    fail "ingestion-hooks: Secrets must be granted exactly once (in the integrations namespace)"
ok "ingestion: Secret access only in the integrations namespace; webhook Service and Ingress"

# Audit: a kept claim mounted where --audit-log-dir points; RWX with 2 replicas, RWO with 1;
# Azure Monitor forwarding only when configured; nothing when disabled.
expect_object defaults "PersistentVolumeClaim/$NS/nexus-audit"
for t in "--audit-log-dir=/var/lib/nexus/audit" "--audit-retention-days=90" "mountPath: /var/lib/nexus/audit" \
    "claimName: nexus-audit" "helm.sh/resource-policy: keep" "- ReadWriteMany"; do
    expect_text defaults "$t"
done
expect_no_text defaults "--audit-azure-endpoint"
expect_text single-replica "- ReadWriteOnce"
for t in "--audit-azure-endpoint=https://nexus-dce.westeurope-1.ingest.monitor.azure.com" \
    "--audit-azure-dcr=dcr-0123456789abcdef0123456789abcdef" "--audit-azure-stream=Custom-NexusAudit" \
    "--audit-azure-credentials=nexus-azure" "--audit-retention-days=365" "storageClassName: azurefile-csi"; do
    expect_text audit-azure-monitor "$t"
done
expect_no_object no-audit "PersistentVolumeClaim/$NS/nexus-audit"
expect_no_text no-audit "--audit-log-dir"
helm template nexus "$CHART" --namespace "$NS" --set actions.audit.azureMonitor.endpoint=https://x \
    >/dev/null 2>"$WORK/audit.err" && fail "an Azure Monitor endpoint without a rule id rendered"
grep -q "dcrImmutableId is required" "$WORK/audit.err" || fail "audit: unclear error: $(cat "$WORK/audit.err")"
ok "audit: persistent claim, retention, Azure Monitor forwarding"

# Scorecards: the controller's flags, the gate token as a mounted file (never an argument), the
# RBAC to write Scorecard status and snapshots only when the controller runs, /gate/ on the
# webhook Ingress only when asked (and only with a token).
for t in "--scorecards=true" "--scorecards-namespace=nexus-org" "--scorecard-snapshot-retention-days=400" \
    "--gate-scorecards=production-readiness"; do
    expect_text defaults "$t"
done
expect_no_text defaults "--gate-token-file"
expect_no_text defaults "mountPath: /etc/nexus/gate"
expect_no_text defaults "path: /gate/"
for t in "--gate-token-file=/etc/nexus/gate/token" "mountPath: /etc/nexus/gate" "secretName: nexus-gate" \
    "--gate-scorecards=production-readiness,platform/security" "--scorecard-snapshot-retention-days=90" \
    "--scorecards-namespace=org-standards" "items: [{key: token, path: token}]"; do
    expect_text scorecards-gate "$t"
done
expect_text no-scorecards "--scorecards=false"
scorecard_rules() { # variant → the apiGroups/resources/verbs lines of the scorecards ClusterRole
    doc "$WORK/$1.yaml" ClusterRole "$C-scorecards" | grep -E '^ *(- )?(apiGroups|verbs|resources):|^ *- [a-z/]+$' |
        sed 's/^ *- */  /; s/^ */  /' | tr -s ' '
}
want=' apiGroups: ["scorecards.nexus.dev"]
 resources:
 scorecards
 scorecardsnapshots
 verbs: ["get", "list", "watch"]
 apiGroups: ["scorecards.nexus.dev"]
 resources:
 scorecards/status
 verbs: ["get", "patch", "update"]
 apiGroups: ["scorecards.nexus.dev"]
 resources: ["scorecardsnapshots"]
 verbs: ["create", "delete"]'
[[ "$(scorecard_rules defaults)" == "$want" ]] || fail "defaults: the scorecards ClusterRole is not read + status + snapshots:
$(scorecard_rules defaults)"
want=' apiGroups: ["scorecards.nexus.dev"]
 resources:
 scorecards
 scorecardsnapshots
 verbs: ["get", "list", "watch"]'
[[ "$(scorecard_rules no-scorecards)" == "$want" ]] || fail "no-scorecards: the scorecards ClusterRole must only read (the gates):
$(scorecard_rules no-scorecards)"
expect_text ingestion-hooks "path: /gate/"
expect_text ingestion-hooks "--gate-token-file=/etc/nexus/gate/token"
ok "scorecards: flags, gate token file, RBAC with and without the controller, /gate/ on the Ingress"

# watchNamespace: Role/RoleBinding in that namespace instead of ClusterRole/ClusterRoleBinding.
expect_object watch-namespace "Role/$NS/$C"
expect_object watch-namespace "RoleBinding/$NS/$C"
expect_no_object watch-namespace "ClusterRole/$C"
expect_no_object watch-namespace "ClusterRoleBinding/$C"
expect_text watch-namespace "--watch-namespace=$NS"
ok "watchNamespace: namespaced controller RBAC and --watch-namespace"

expect_object service-monitor "ServiceMonitor/$NS/$C"
expect_object service-monitor "Role/team-a/$C"
expect_object service-monitor "RoleBinding/team-a/$C"
expect_no_object service-monitor "ClusterRole/$C"
expect_text service-monitor "release: kube-prometheus-stack"
ok "watchNamespace=team-a + serviceMonitor: ServiceMonitor and Role in team-a"

expect_no_object single-replica "PodDisruptionBudget/$NS/$C"
expect_text single-replica "replicas: 1"
ok "replicaCount=1: no PodDisruptionBudget"

expect_text workload-identity "azure.workload.identity/client-id: \"3f0c8c55-1a2b-4c3d-9e8f-0a1b2c3d4e5f\""
expect_text workload-identity "azure.workload.identity/tenant-id: \"72f988bf-86f1-41af-91ab-2d7cd011db47\""
expect_text workload-identity "azure.workload.identity/use: \"true\""
ok "azureWorkloadIdentity: ServiceAccount annotations and pod label"

expect_text pinned-digest "image: \"ghcr.io/contoso/nexus-controller@sha256:0123456789abcdef"
expect_text pinned-digest "--log-format=text"
expect_text pinned-digest "--metrics-addr=[::]:8080"
expect_text pinned-digest 'value: "debug"'
ok "image digest, log format/level and IPv6 bind address"

expect_no_object no-user-roles "ClusterRole/nexus-developer"
expect_no_object no-user-roles "ClusterRole/nexus-catalog-view"
expect_no_object no-user-roles "Service/$NS/$C-metrics"
expect_object no-user-roles "ClusterRole/$C"
ok "rbac.userRoles.create=false and metrics.service.enabled=false"

expect_object role-bindings "RoleBinding/$NS/nexus-developer-$GROUP_DEV"
expect_object role-bindings "RoleBinding/$NS/nexus-team-lead-$GROUP_LEAD"
expect_object role-bindings "ClusterRoleBinding/nexus-platform-engineer-$GROUP_PE"
expect_object role-bindings "ClusterRoleBinding/nexus-admin-$GROUP_ADMIN"
expect_object role-bindings "ClusterRoleBinding/nexus-catalog-view-$GROUP_DEV"
expect_object role-bindings "ClusterRoleBinding/nexus-catalog-view-$GROUP_LEAD"
expect_no_object role-bindings "ClusterRoleBinding/nexus-catalog-view-$GROUP_PE"
expect_text role-bindings "name: \"$GROUP_DEV\""
ok "roleBindings: RoleBindings per namespace, ClusterRoleBindings when cluster-wide"

# ---------------------------------------------------------------------------------------------
# nexus-apiserver

A=nexus-apiserver
APISVC=APIService/v1alpha1.portal.nexus.dev
for o in Deployment/$NS/$A ServiceAccount/$NS/$A Service/$NS/$A PodDisruptionBudget/$NS/$A \
    ClusterRole/$A ClusterRoleBinding/$A ClusterRoleBinding/$A-auth-delegator \
    RoleBinding/kube-system/$A-auth-reader Secret/$NS/$A-tls $APISVC; do
    expect_object defaults "$o"
done
expect_no_object defaults "Ingress/$NS/$A-portal"
expect_no_object defaults "ServiceMonitor/$NS/$A"
doc "$WORK/defaults.yaml" Deployment "$A" >"$WORK/apiserver-deployment.yaml"
for t in "replicas: 2" 'image: "ghcr.io/contoso/nexus-apiserver:0.1.0"' "- serve" \
    "--aggregated-addr=0.0.0.0:8443" "--metrics-addr=0.0.0.0:9090" \
    "--tls-cert-file=/etc/nexus/tls/tls.crt" "--tls-key-file=/etc/nexus/tls/tls.key" \
    "--authz-cache-ttl=10s" "--log-format=json" "containerPort: 8443" "containerPort: 9090" \
    "path: /healthz" "path: /readyz" "mountPath: /etc/nexus/tls" "readOnly: true" \
    "secretName: $A-tls" "runAsNonRoot: true" "readOnlyRootFilesystem: true" \
    "allowPrivilegeEscalation: false" 'drop: ["ALL"]' "type: RuntimeDefault" \
    "preferredDuringSchedulingIgnoredDuringExecution" "topologyKey: kubernetes.io/hostname" \
    "cpu: 500m" "memory: 1Gi" "memory: 2Gi" "serviceAccountName: $A"; do
    grep -qF -- "$t" "$WORK/apiserver-deployment.yaml" || fail "defaults: the apiserver Deployment lacks '$t'"
done
grep -qF "requiredDuringScheduling" "$WORK/apiserver-deployment.yaml" &&
    fail "defaults: the apiserver's pod anti-affinity must be soft"
ok "defaults: apiserver Deployment (args, probes, TLS mount, hardening, soft anti-affinity, resources)"

doc "$WORK/defaults.yaml" Service "$A" >"$WORK/apiserver-service.yaml"
for t in "type: ClusterIP" "name: https" "port: 443" "targetPort: https" "name: metrics" "port: 9090"; do
    grep -qF -- "$t" "$WORK/apiserver-service.yaml" || fail "defaults: the apiserver Service lacks '$t'"
done
doc "$WORK/defaults.yaml" APIService v1alpha1.portal.nexus.dev >"$WORK/apiservice.yaml"
for t in "group: portal.nexus.dev" "version: v1alpha1" "groupPriorityMinimum: 1000" "versionPriority: 15" \
    "namespace: $NS" "name: $A" "port: 443" "caBundle: "; do
    grep -qF -- "$t" "$WORK/apiservice.yaml" || fail "defaults: the APIService lacks '$t'"
done
ok "defaults: apiserver Service (443 → https, metrics) and APIService v1alpha1.portal.nexus.dev"

# helm mode: the caBundle is the CA of the Secret, which signed a certificate for the Service.
secret_field() { # file, key → decoded PEM of that key in the apiserver's TLS Secret
    doc "$1" Secret "$A-tls" | awk -v k="  $2:" 'index($0, k) == 1 {print $2}' | openssl base64 -d -A
}
secret_field "$WORK/defaults.yaml" ca.crt >"$WORK/helm-ca.crt"
secret_field "$WORK/defaults.yaml" tls.crt >"$WORK/helm-tls.crt"
[[ "$(awk '/^  caBundle: /{print $2}' "$WORK/apiservice.yaml" | openssl base64 -d -A)" == "$(cat "$WORK/helm-ca.crt")" ]] ||
    fail "tls.mode=helm: the APIService caBundle is not the Secret's ca.crt"
openssl verify -CAfile "$WORK/helm-ca.crt" "$WORK/helm-tls.crt" >/dev/null 2>&1 ||
    fail "tls.mode=helm: the serving certificate is not signed by the caBundle"
sans="$(openssl x509 -noout -ext subjectAltName -in "$WORK/helm-tls.crt" 2>/dev/null | tail -n +2 | tr -d ' ')"
[[ "$sans" == "DNS:$A,DNS:$A.$NS,DNS:$A.$NS.svc,DNS:$A.$NS.svc.cluster.local" ]] ||
    fail "tls.mode=helm: unexpected SANs: $sans"
ok "tls.mode=helm: generated CA and serving certificate, SANs of the Service, caBundle on the APIService"

for o in Issuer/$NS/$A-selfsigned Certificate/$NS/$A-ca Issuer/$NS/$A-ca Certificate/$NS/$A-tls $APISVC; do
    expect_object apiserver-cert-manager "$o"
done
expect_no_object apiserver-cert-manager "Secret/$NS/$A-tls"
doc "$WORK/apiserver-cert-manager.yaml" APIService v1alpha1.portal.nexus.dev >"$WORK/apiservice-cm.yaml"
grep -qF "cert-manager.io/inject-ca-from: $NS/$A-tls" "$WORK/apiservice-cm.yaml" ||
    fail "tls.mode=cert-manager: the APIService lacks the cert-manager.io/inject-ca-from annotation"
grep -q "^  caBundle:" "$WORK/apiservice-cm.yaml" && fail "tls.mode=cert-manager: the APIService must leave caBundle to cainjector"
doc "$WORK/apiserver-cert-manager.yaml" Certificate "$A-tls" >"$WORK/cert-tls.yaml"
for t in "secretName: $A-tls" "- $A" "- $A.$NS" "- $A.$NS.svc" "- $A.$NS.svc.cluster.local" "name: $A-ca"; do
    grep -qF -- "$t" "$WORK/cert-tls.yaml" || fail "tls.mode=cert-manager: the serving Certificate lacks '$t'"
done
grep -qF "isCA: true" <(doc "$WORK/apiserver-cert-manager.yaml" Certificate "$A-ca") ||
    fail "tls.mode=cert-manager: the CA Certificate is not a CA"
ok "tls.mode=cert-manager: self-signed Issuer, CA Certificate, CA Issuer, serving Certificate, inject-ca-from"

expect_no_object apiserver-secret "Secret/$NS/$A-tls"
expect_text apiserver-secret "secretName: nexus-apiserver-byo-tls"
[[ "$(doc "$WORK/apiserver-secret.yaml" APIService v1alpha1.portal.nexus.dev | awk '/^  caBundle: /{print $2}')" == "$TEST_CA_B64" ]] ||
    fail "tls.mode=secret: the APIService caBundle is not apiserver.tls.caBundle"
render apiserver-secret-pem --set apiserver.tls.mode=secret --set apiserver.tls.secretName=byo \
    --set-file apiserver.tls.caBundle="$WORK/test-ca.crt"
[[ "$(doc "$WORK/apiserver-secret-pem.yaml" APIService v1alpha1.portal.nexus.dev | awk '/^  caBundle: /{print $2}' | openssl base64 -d -A)" == "$(cat "$WORK/test-ca.crt")" ]] ||
    fail "tls.mode=secret: a PEM caBundle is not base64-encoded into the APIService"
ok "tls.mode=secret: existing Secret mounted, caBundle (base64 or PEM) on the APIService"

for f in "$WORK"/*.yaml; do
    if grep -qi "insecureSkipTLSVerify" "$f"; then
        fail "$(basename "$f" .yaml): renders insecureSkipTLSVerify"
    fi
done
ok "no variant renders insecureSkipTLSVerify"

# The portal face: off without an OIDC issuer, on with one.
for t in "--oidc-" "--portal-addr" "containerPort: 9443" "name: portal"; do
    expect_no_text defaults "$t"
done
doc "$WORK/apiserver-oidc.yaml" Deployment "$A" >"$WORK/apiserver-oidc-deployment.yaml"
for t in "--portal-addr=0.0.0.0:9443" "\"--oidc-issuer-url=$OIDC_ISSUER\"" '"--oidc-audience=api://nexus-portal"' \
    "\"--oidc-audience=$OIDC_CLIENT\"" '"--oidc-username-claim=preferred_username"' '"--oidc-groups-claim=groups"' \
    '"--oidc-groups-prefix=entra:"' "--oidc-clock-skew=30s" "containerPort: 9443" \
    "--portal-tls-cert-file=/etc/nexus/portal-tls/tls.crt" "--portal-tls-key-file=/etc/nexus/portal-tls/tls.key" \
    "secretName: nexus-portal-tls" "replicas: 3" 'image: "ghcr.io/contoso/nexus-apiserver:1.2.3"' \
    '"--portal-assets-dir=/usr/share/nexus/portal"' "\"--portal-msal-client-id=$OIDC_CLIENT\"" \
    '"--portal-msal-scope=api://nexus-portal/access_as_user"'; do
    grep -qF -- "$t" "$WORK/apiserver-oidc-deployment.yaml" || fail "apiserver-oidc: the Deployment lacks '$t'"
done
grep -qF -- "--portal-msal-authority" "$WORK/apiserver-oidc-deployment.yaml" &&
    fail "apiserver-oidc: an empty msal.authority must not be passed"
grep -qF -- "--oidc-username-prefix" "$WORK/apiserver-oidc-deployment.yaml" &&
    fail "apiserver-oidc: an empty usernamePrefix must not be passed"
expect_object apiserver-oidc "Ingress/$NS/$A-portal"
doc "$WORK/apiserver-oidc.yaml" Ingress "$A-portal" >"$WORK/ingress.yaml"
for t in "ingressClassName: nginx" 'host: "nexus.contoso.example"' "secretName: nexus-portal-public-tls" \
    "name: portal" "nginx.ingress.kubernetes.io/backend-protocol: HTTPS"; do
    grep -qF -- "$t" "$WORK/ingress.yaml" || fail "apiserver-oidc: the Ingress lacks '$t'"
done
grep -qF "name: portal" <(doc "$WORK/apiserver-oidc.yaml" Service "$A") ||
    fail "apiserver-oidc: the Service lacks the portal port"
ok "apiserver portal: off without OIDC; OIDC args, portal port, portal TLS and Ingress with it"

# RBAC: read only, catalog in watchNamespace only when set.
doc "$WORK/defaults.yaml" ClusterRole "$A" >"$WORK/apiserver-role.yaml"
got="$(grep -E '^ *(- )?(apiGroups|verbs):' "$WORK/apiserver-role.yaml" | sed 's/^ *- */  /; s/^ */  /' | tr -s ' ')"
want=' apiGroups: ["catalog.nexus.dev"]
 verbs: ["get", "list", "watch"]
 apiGroups: ["scorecards.nexus.dev"]
 verbs: ["get", "list", "watch"]
 apiGroups: ["rbac.authorization.k8s.io"]
 verbs: ["get", "list", "watch"]'
[[ "$got" == "$want" ]] || fail "defaults: the apiserver ClusterRole is not exactly catalog + scorecards + RBAC read:
$got"
grep -qF 'resources: ["roles", "clusterroles", "rolebindings", "clusterrolebindings"]' "$WORK/apiserver-role.yaml" ||
    fail "defaults: the apiserver ClusterRole does not read the four RBAC kinds"
grep -qF '"*"' "$WORK/apiserver-role.yaml" && fail "defaults: wildcard in the apiserver ClusterRole"
grep -qF "name: system:auth-delegator" <(doc "$WORK/defaults.yaml" ClusterRoleBinding "$A-auth-delegator") ||
    fail "defaults: the apiserver is not bound to system:auth-delegator"
grep -qF "name: extension-apiserver-authentication-reader" <(doc "$WORK/defaults.yaml" RoleBinding "$A-auth-reader") ||
    fail "defaults: the apiserver is not bound to extension-apiserver-authentication-reader"
expect_object watch-namespace "Role/$NS/$A"
expect_object watch-namespace "RoleBinding/$NS/$A"
expect_object watch-namespace "ClusterRole/$A"
grep -qF "catalog.nexus.dev" <(doc "$WORK/watch-namespace.yaml" ClusterRole "$A") &&
    fail "watch-namespace: the apiserver reads the catalog cluster-wide"
grep -qF "catalog.nexus.dev" <(doc "$WORK/watch-namespace.yaml" Role "$A") ||
    fail "watch-namespace: the apiserver's Role does not read the catalog"
grep -qF -- "--watch-namespace=$NS" <(doc "$WORK/watch-namespace.yaml" Deployment "$A") ||
    fail "watch-namespace: the apiserver lacks --watch-namespace"
expect_object service-monitor "Role/team-a/$A"
ok "apiserver RBAC: read-only, auth-delegator, authentication reader; Role in watchNamespace"

# People: every role includes get/list on the portal.nexus.dev resources.
doc "$WORK/defaults.yaml" ClusterRole nexus-catalog-view >"$WORK/catalog-view.yaml"
grep -qF "rbac.nexus.dev/aggregate-to-developer" "$WORK/catalog-view.yaml" ||
    fail "nexus-catalog-view is not aggregated into nexus-developer"
grep -A 12 'apiGroups: \["portal.nexus.dev"\]' "$WORK/catalog-view.yaml" >"$WORK/portal-rule.yaml" ||
    fail "nexus-catalog-view has no portal.nexus.dev rule"
for r in entities searches graphs impacts teamviews dashboards facets insights; do
    grep -qxF "      - $r" "$WORK/portal-rule.yaml" || fail "nexus-catalog-view: portal.nexus.dev $r missing"
done
grep -qF 'verbs: ["get", "list", "watch"]' "$WORK/portal-rule.yaml" || fail "nexus-catalog-view: portal.nexus.dev verbs are not get/list/watch"
ok "people roles: nexus-catalog-view (in every nexus-* role) grants get/list on portal.nexus.dev"

expect_object service-monitor "ServiceMonitor/$NS/$A"
grep -qF "app.kubernetes.io/component: apiserver" <(doc "$WORK/service-monitor.yaml" ServiceMonitor "$A") ||
    fail "service-monitor: the apiserver ServiceMonitor does not select the apiserver"
ok "metrics.serviceMonitor.enabled: ServiceMonitor for the apiserver too"

for o in Deployment/$NS/$A ServiceAccount/$NS/$A Service/$NS/$A ClusterRole/$A \
    RoleBinding/kube-system/$A-auth-reader Secret/$NS/$A-tls $APISVC; do
    expect_no_object apiserver-disabled "$o"
done
expect_object apiserver-disabled "Deployment/$NS/$C"
ok "apiserver.enabled=false: no apiserver objects, no APIService"

# Nothing may switch on a development or test mode.
for f in "$WORK"/*.yaml; do
    if grep -nEi -- '--(dev|insecure|fake|mock|test)[a-z-]*|dev-mode|NEXUS_DEV|skip-?tls' "$f"; then
        fail "$(basename "$f" .yaml): renders a development/test-only setting"
    fi
done
ok "no development/test-only mode in any variant"

# ---------------------------------------------------------------------------------------------
# 3. the schema rejects bad values

reject() { # description, helm args…
    local what="$1"
    shift
    if helm template nexus "$CHART" --namespace "$NS" "$@" >/dev/null 2>"$WORK/reject.err"; then
        fail "schema: expected helm to reject $what"
    fi
    grep -q "don't meet the specifications of the schema" "$WORK/reject.err" ||
        fail "schema: $what was rejected, but not by values.schema.json: $(cat "$WORK/reject.err")"
}
reject "a misspelt top-level key" --set replicaCont=3
reject "a misspelt nested key" --set image.tga=1.0
reject "a misspelt serviceMonitor key" --set metrics.serviceMonitor.enable=true
reject "an unknown log format" --set logFormat=yaml
reject "zero replicas" --set replicaCount=0
reject "a non-GUID Entra group" --set "roleBindings[0].role=developer,roleBindings[0].group=sg-payments"
reject "an unknown role" --set "roleBindings[0].role=owner,roleBindings[0].group=$GROUP_DEV"
reject "an invalid namespace" --set watchNamespace=Team_A
reject "workload identity without a client id" --set azureWorkloadIdentity.enabled=true
reject "running as root" --set podSecurityContext.runAsUser=0
reject "a malformed digest" --set image.digest=latest
reject "an apiserver devAuth value" --set apiserver.devAuth=true
reject "a misspelt apiserver key" --set apiserver.replicas=3
reject "a dev-auth apiserver flag" --set "apiserver.extraArgs[0]=--dev-auth"
reject "a dev-key-file apiserver flag" --set "apiserver.extraArgs[0]=--dev-key-file=/tmp/k.pem"
reject "a dev-auth apiserver variable" --set "apiserver.extraEnv[0].name=NEXUS_DEV_AUTH" --set "apiserver.extraEnv[0].value=true"
reject "an unknown TLS mode" --set apiserver.tls.mode=none
reject "a plain-HTTP OIDC issuer" --set apiserver.portal.oidc.issuerUrl=http://login.example.com
reject "a misspelt OIDC key" --set apiserver.portal.oidc.audience=x
reject "a misspelt scorecards key" --set scorecards.enable=false
reject "a gate scorecard that is no name" --set "scorecards.gate.scorecards={Production Readiness}"
reject "a negative snapshot retention" --set scorecards.snapshotRetentionDays=-1
reject "no gate scorecard" --set "scorecards.gate.scorecards=null"
reject "an empty gate scorecard list" --set-json "scorecards.gate.scorecards=[]"
reject "a portal client id that is not a GUID" --set apiserver.portal.ui.msal.clientId=nexus
reject "a relative portal assets dir" --set apiserver.portal.ui.assetsDir=portal/dist
ok "values.schema.json rejects typos and invalid values"

# Checks in the templates, with a message naming the value. The dev-auth ones also hold when the
# schema is skipped (helm --skip-schema-validation).
refuse() { # description, expected message, helm args…
    local what="$1" msg="$2"
    shift 2
    if helm template nexus "$CHART" --namespace "$NS" "$@" >/dev/null 2>"$WORK/refuse.err"; then
        fail "templates: expected helm to refuse $what"
    fi
    grep -qF -- "$msg" "$WORK/refuse.err" || fail "templates: $what was refused without '$msg': $(cat "$WORK/refuse.err")"
}
refuse "tls.mode=secret without caBundle" "apiserver.tls.caBundle is required when apiserver.tls.mode is secret" \
    --set apiserver.tls.mode=secret --set apiserver.tls.secretName=byo
refuse "tls.mode=secret without secretName" "apiserver.tls.secretName is required when apiserver.tls.mode is secret" \
    --set apiserver.tls.mode=secret --set apiserver.tls.caBundle="$TEST_CA_B64"
refuse "a caBundle that is not a certificate" "apiserver.tls.caBundle must be a PEM CA certificate" \
    --set apiserver.tls.mode=secret --set apiserver.tls.secretName=byo --set apiserver.tls.caBundle=bm9wZQ==
refuse "extraArgs --dev-auth" 'apiserver.extraArgs: "--dev-auth" is not allowed' \
    --skip-schema-validation --set "apiserver.extraArgs[0]=--dev-auth"
refuse "extraArgs --dev-auth=true" 'apiserver.extraArgs: "--dev-auth=true" is not allowed' \
    --skip-schema-validation --set "apiserver.extraArgs[0]=--log-format=text" --set "apiserver.extraArgs[1]=--dev-auth=true"
refuse "extraArgs --dev-key-file" 'apiserver.extraArgs: "--dev-key-file=/k" is not allowed' \
    --skip-schema-validation --set "apiserver.extraArgs[0]=--dev-key-file=/k"
refuse "extraEnv NEXUS_DEV_AUTH" "apiserver.extraEnv: NEXUS_DEV_AUTH is not allowed" \
    --skip-schema-validation --set "apiserver.extraEnv[0].name=NEXUS_DEV_AUTH" --set "apiserver.extraEnv[0].value=1"
refuse "extraEnv NEXUS_DEV_KEY_FILE" "apiserver.extraEnv: NEXUS_DEV_KEY_FILE is not allowed" \
    --skip-schema-validation --set "apiserver.extraEnv[0].name=NEXUS_DEV_KEY_FILE" --set "apiserver.extraEnv[0].value=/k"
refuse "an OIDC issuer without audiences" "apiserver.portal.oidc.audiences is required" \
    --set apiserver.portal.oidc.issuerUrl="$OIDC_ISSUER"
refuse "the portal Ingress without OIDC" "apiserver.portal.ingress.enabled needs apiserver.portal.oidc.issuerUrl" \
    --set apiserver.portal.ingress.enabled=true --set apiserver.portal.ingress.host=nexus.contoso.example
refuse "a gate token without the webhook listener" "scorecards.gate.token.secretName needs ingestion.enabled" \
    --set ingestion.enabled=false --set scorecards.gate.token.secretName=nexus-gate
refuse "/gate/ on the Ingress without a token" "scorecards.gate.exposeOnIngress needs scorecards.gate.token.secretName" \
    --set ingestion.webhooks.ingress.enabled=true --set scorecards.gate.exposeOnIngress=true
ok "templates refuse: secret mode without caBundle, dev sign-in via extraArgs/extraEnv, incomplete portal settings"

# ---------------------------------------------------------------------------------------------
# 4. server-side dry run

if [[ -z "${KUBECONFIG:-}" ]]; then
    log "KUBECONFIG is not set: skipping the server-side dry run"
    echo "$PASSED passed, $FAILED failed"
    exit 0
fi

kubectl get --raw /readyz >/dev/null || fail "the cluster in KUBECONFIG is not ready"
if ! kubectl get namespace "$NS" >/dev/null 2>&1; then
    kubectl create namespace "$NS" >/dev/null
    CREATED_NS="$NS"
fi
DRY_RUN=(kubectl apply --server-side --force-conflicts --field-manager=nexus-chart-test --dry-run=server)
"${DRY_RUN[@]}" -f "$CHART/crds/" >"$WORK/dry.out" 2>&1 || fail "server-side dry run of the CRDs: $(cat "$WORK/dry.out")"
ok "server-side dry run: CRDs"
for name in "${!VARIANT[@]}"; do
    "${DRY_RUN[@]}" -f "$WORK/$name.yaml" >"$WORK/dry.out" 2>&1 ||
        fail "server-side dry run ($name): $(cat "$WORK/dry.out")"
done
# The pipeline from the docs. Without -n: the apiserver's RoleBinding lives in kube-system, and
# kubectl refuses objects of other namespaces when -n is given (every object carries its own).
helm template nexus "$CHART" -n "$NS" | kubectl apply --server-side --dry-run=server -f - >"$WORK/dry.out" 2>&1 ||
    fail "helm template | kubectl apply --server-side --dry-run=server: $(cat "$WORK/dry.out")"
# With -n, without the apiserver (then every object is in the release namespace or cluster-scoped).
helm template nexus "$CHART" -n "$NS" --set apiserver.enabled=false |
    kubectl apply --server-side --dry-run=server -n "$NS" -f - >"$WORK/dry.out" 2>&1 ||
    fail "helm template --set apiserver.enabled=false | kubectl apply --server-side --dry-run=server -n $NS: $(cat "$WORK/dry.out")"
ok "server-side dry run: every values variant (except service-monitor and apiserver-cert-manager)"

# ---------------------------------------------------------------------------------------------
# 5. optional real apply: aggregation and least privilege, checked by the API server

if [[ "${NEXUS_CHART_TEST_APPLY:-}" != 1 ]]; then
    echo "$PASSED passed, $FAILED failed"
    exit 0
fi

# Everything but the APIService: without nodes its backend never becomes ready, and an
# unavailable aggregated API disturbs discovery (and so namespace deletion) in the cluster.
APPLIED="$WORK/role-bindings-apply.yaml"
awk '
    function flush() { if (kind != "APIService") printf "%s", buf; buf = ""; kind = "" }
    /^---/ { flush(); buf = $0 "\n"; next }
    { buf = buf $0 "\n" }
    /^kind: / { kind = $2 }
    END { flush() }
' "$WORK/role-bindings.yaml" >"$APPLIED"
! grep -q "^kind: APIService" "$APPLIED" || fail "apply: could not leave out the APIService"
kubectl apply --server-side --field-manager=nexus-chart-test -f "$APPLIED" >"$WORK/apply.out" 2>&1 ||
    fail "apply (role-bindings): $(cat "$WORK/apply.out")"

allowed() { # user, group, verb, apiGroup, resource, namespace, [subresource], [name] → true/false
    kubectl create -o jsonpath='{.status.allowed}' -f - <<EOF
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  user: "$1"
  groups: ["$2", "system:authenticated"]
  resourceAttributes:
    verb: "$3"
    group: "$4"
    resource: "$5"
    namespace: "$6"
    subresource: "${7:-}"
    name: "${8:-}"
EOF
}
expect_access() { # want(true/false), user, group, verb, apiGroup, resource, namespace, [subresource], [name]
    local want="$1" got
    shift
    got="$(allowed "$@")"
    [[ "${got:-false}" == "$want" ]] || fail "access: $* → ${got:-false}, want $want"
}

# The aggregation controller fills the roles in asynchronously.
for _ in $(seq 1 30); do
    [[ "$(allowed x "$GROUP_ADMIN" create actions.nexus.dev actionapprovals "$NS")" == true ]] &&
        [[ "$(allowed x "$GROUP_DEV" create catalog.nexus.dev components "$NS")" == true ]] && break
    sleep 1
done
OTHER=nexus-chart-test-elsewhere
# developer: read everywhere (catalog-view binding), write own namespace only, no org structure.
expect_access true alice "$GROUP_DEV" list catalog.nexus.dev components "$OTHER"
expect_access true alice "$GROUP_DEV" create catalog.nexus.dev components "$NS"
expect_access false alice "$GROUP_DEV" create catalog.nexus.dev components "$OTHER"
expect_access false alice "$GROUP_DEV" create catalog.nexus.dev teams "$NS"
expect_access false alice "$GROUP_DEV" create actions.nexus.dev actionapprovals "$NS"
# team-lead: developer + approvals, in its namespace.
expect_access true bob "$GROUP_LEAD" delete catalog.nexus.dev components "$NS"
expect_access true bob "$GROUP_LEAD" create actions.nexus.dev actionapprovals "$NS"
expect_access false bob "$GROUP_LEAD" create actions.nexus.dev actionapprovals "$OTHER"
# platform-engineer (cluster-wide): developer + Teams/Environments/AzureResources + status.
expect_access true carol "$GROUP_PE" create catalog.nexus.dev components "$OTHER"
expect_access true carol "$GROUP_PE" create catalog.nexus.dev teams "$OTHER"
expect_access true carol "$GROUP_PE" update catalog.nexus.dev environments "$OTHER"
expect_access true carol "$GROUP_PE" delete catalog.nexus.dev azureresources "$OTHER"
expect_access true carol "$GROUP_PE" get catalog.nexus.dev components "$OTHER" status
expect_access false carol "$GROUP_PE" patch catalog.nexus.dev components "$OTHER" status
expect_access false carol "$GROUP_PE" create actions.nexus.dev actionapprovals "$OTHER"
# admin: everything on the nexus groups, nothing else.
expect_access true dave "$GROUP_ADMIN" create actions.nexus.dev actionapprovals "$OTHER"
expect_access true dave "$GROUP_ADMIN" deletecollection catalog.nexus.dev teams "$OTHER"
expect_access true dave "$GROUP_ADMIN" patch catalog.nexus.dev components "$OTHER" status
expect_access false dave "$GROUP_ADMIN" get "" secrets "$OTHER"
# the controller: read + status + events + its own Lease, nothing more.
SA="system:serviceaccount:$NS:nexus-controller"
SAG="system:serviceaccounts:$NS"
expect_access true "$SA" "$SAG" watch catalog.nexus.dev teams "$OTHER"
expect_access true "$SA" "$SAG" patch catalog.nexus.dev components "$OTHER" status
expect_access false "$SA" "$SAG" patch catalog.nexus.dev components "$OTHER"
expect_access false "$SA" "$SAG" delete catalog.nexus.dev components "$OTHER"
expect_access true "$SA" "$SAG" create events.k8s.io events "$OTHER"
expect_access true "$SA" "$SAG" create "" events "$OTHER"
expect_access true "$SA" "$SAG" create coordination.k8s.io leases "$NS"
expect_access true "$SA" "$SAG" update coordination.k8s.io leases "$NS" "" nexus-controller
expect_access false "$SA" "$SAG" update coordination.k8s.io leases "$NS" "" kube-scheduler
expect_access false "$SA" "$SAG" create coordination.k8s.io leases "$OTHER"
expect_access false "$SA" "$SAG" list "" secrets "$NS"
# the scorecard controller: Scorecard status and snapshots, never a Scorecard's spec.
expect_access true "$SA" "$SAG" watch scorecards.nexus.dev scorecards "$OTHER"
expect_access true "$SA" "$SAG" patch scorecards.nexus.dev scorecards "$OTHER" status
expect_access false "$SA" "$SAG" patch scorecards.nexus.dev scorecards "$OTHER"
expect_access true "$SA" "$SAG" create scorecards.nexus.dev scorecardsnapshots "$OTHER"
expect_access true "$SA" "$SAG" delete scorecards.nexus.dev scorecardsnapshots "$OTHER"
# people: the portal.nexus.dev read API, namespaced where bound, cluster-scoped via catalog-view.
expect_access true alice "$GROUP_DEV" list portal.nexus.dev entities "$OTHER"
expect_access true alice "$GROUP_DEV" list portal.nexus.dev searches ""
expect_access true alice "$GROUP_DEV" get portal.nexus.dev graphs "$NS" "" some-component
expect_access true carol "$GROUP_PE" get portal.nexus.dev dashboards ""
expect_access true carol "$GROUP_PE" get portal.nexus.dev insights "" "" heatmap
expect_access false alice "$GROUP_DEV" create portal.nexus.dev entities "$NS"
expect_access false eve "some-other-group" list portal.nexus.dev searches ""
# the apiserver: read the catalog and RBAC, delegate authn/authz, read the front-proxy settings.
SA="system:serviceaccount:$NS:nexus-apiserver"
expect_access true "$SA" "$SAG" watch catalog.nexus.dev components "$OTHER"
expect_access true "$SA" "$SAG" list catalog.nexus.dev teams ""
expect_access true "$SA" "$SAG" watch scorecards.nexus.dev scorecardsnapshots "$OTHER"
expect_access false "$SA" "$SAG" create scorecards.nexus.dev scorecardsnapshots "$OTHER"
expect_access false "$SA" "$SAG" patch catalog.nexus.dev components "$OTHER" status
expect_access false "$SA" "$SAG" create catalog.nexus.dev components "$OTHER"
expect_access true "$SA" "$SAG" list rbac.authorization.k8s.io clusterrolebindings ""
expect_access true "$SA" "$SAG" watch rbac.authorization.k8s.io rolebindings "$OTHER"
expect_access false "$SA" "$SAG" create rbac.authorization.k8s.io rolebindings "$OTHER"
expect_access true "$SA" "$SAG" create authorization.k8s.io subjectaccessreviews ""
expect_access true "$SA" "$SAG" create authentication.k8s.io tokenreviews ""
expect_access true "$SA" "$SAG" get "" configmaps kube-system "" extension-apiserver-authentication
expect_access false "$SA" "$SAG" get "" configmaps kube-system "" kubeadm-config
expect_access false "$SA" "$SAG" list "" secrets "$NS"
expect_access false "$SA" "$SAG" create events.k8s.io events "$OTHER"
# Kubernetes' built-in view role covers reading the catalog.
kubectl get clusterrole view -o jsonpath='{.rules[*].apiGroups}' | grep -q catalog.nexus.dev ||
    fail "aggregation: the built-in view ClusterRole does not include catalog.nexus.dev"
ok "real apply: role aggregation and least privilege of controller and apiserver (SubjectAccessReview)"

echo "$PASSED passed, $FAILED failed"
