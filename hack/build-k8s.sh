#!/usr/bin/env bash
# Builds the local control plane binaries from the official Go modules at pinned versions and
# caches them by version, so the second run is instant:
#   kube-apiserver, kube-controller-manager,
#   kube-scheduler, kubectl                            (k8s.io/kubernetes)
#   etcd                                               (go.etcd.io/etcd/server/v3)
#   helm                                               (helm.sh/helm/v3)
#   kwok (simulated nodes and pods)                    (sigs.k8s.io/kwok)
#
# FORCE=1 rebuilds the Kubernetes binaries even when cached; NEXUS_CACHE moves the cache.
#
# k8s.io/kubernetes points its staging modules (k8s.io/api, …) at ./staging with replace
# directives, which `go install pkg@version` refuses; so we build from a throw-away wrapper module
# that requires k8s.io/kubernetes and replaces every staging module with its published v0.x twin.
set -euo pipefail

# shellcheck source=versions.env
source "$(dirname "${BASH_SOURCE[0]}")/versions.env"
: "${KWOK_VERSION:?hack/versions.env must set KWOK_VERSION}"

CACHE="${NEXUS_CACHE:-$HOME/.cache/nexus}"
# BUILD_REV changes when the way we build changes, so caches from older recipes are not reused.
# Binaries added later (kube-scheduler, kwok) are built into an existing cache dir on demand, so
# adding one needs no bump; kwok's version is checked through a stamp file (kwok.version).
BUILD_REV=2
OUT="$CACHE/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION-r$BUILD_REV/bin"
mkdir -p "$OUT"

export GOFLAGS="-trimpath -mod=mod"
export CGO_ENABLED=0
LDFLAGS="-s -w"

log() { echo "build-k8s: $*" >&2; }

KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

# The wrapper's tools.go imports every command we build, so `go mod tidy` keeps their deps. It is
# rewritten on every build so wrappers prepared before a binary was added learn about it too
# (-mod=mod then adds any missing requirement).
write_tools_go() {
    {
        printf '//go:build tools\n\npackage tools\n\nimport (\n'
        printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "${KUBE_BINARIES[@]}"
        printf ')\n'
    } >"$1/tools.go"
}

build_kubernetes() {
    local targets=()
    for b in "${KUBE_BINARIES[@]}"; do
        [[ -x "$OUT/$b" && "${FORCE:-}" != 1 ]] || targets+=("$b")
    done
    [[ ${#targets[@]} -eq 0 ]] && return 0
    local work="$CACHE/src/kubernetes-$KUBE_VERSION"
    mkdir -p "$work"
    local staging_version="v0.${KUBE_VERSION#v1.}"
    if [[ ! -f "$work/go.sum" ]]; then
        log "preparing wrapper module for k8s.io/kubernetes $KUBE_VERSION"
        (
            cd "$work"
            cat >go.mod <<EOF
module nexus.dev/k8sbuild

go 1.26.0

require k8s.io/kubernetes $KUBE_VERSION
EOF
            go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
            local gomod
            gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod"
            {
                echo "replace ("
                grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" |
                    awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
                echo ")"
            } >>go.mod
            write_tools_go .
            go mod tidy -e >/dev/null 2>&1 || true
            # tidy drops requires it cannot see through the build tag on some Go versions; make
            # sure every package we build resolves.
            go get "k8s.io/kubernetes@$KUBE_VERSION"
        )
    fi
    write_tools_go "$work"
    # Stamp the version the way the upstream build does, so /version, `kubectl version` and
    # Helm's kubeVersion checks see v1.x.y rather than v0.0.0-master.
    local minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    local vpkg=k8s.io/component-base/version
    local ldflags="$LDFLAGS -X $vpkg.gitVersion=$KUBE_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
    for b in "${targets[@]}"; do
        log "building $b $KUBE_VERSION (cold: several minutes on 2 cores)"
        # Build beside and rename, so a running cluster's binary is replaced atomically.
        (cd "$work" && go build -ldflags "$ldflags" -o "$OUT/$b.tmp" "k8s.io/kubernetes/cmd/$b")
        mv -f "$OUT/$b.tmp" "$OUT/$b"
    done
}

build_etcd() {
    [[ -x "$OUT/etcd" ]] && return 0
    local work="$CACHE/src/etcd-$ETCD_VERSION"
    mkdir -p "$work"
    log "building etcd $ETCD_VERSION"
    (
        cd "$work"
        [[ -f go.mod ]] || printf 'module nexus.dev/etcdbuild\n\ngo 1.26.0\n' >go.mod
        go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
        go build -ldflags "$LDFLAGS" -o "$OUT/etcd" go.etcd.io/etcd/server/v3
    )
}

build_helm() {
    [[ -x "$OUT/helm" ]] && return 0
    local work="$CACHE/src/helm-$HELM_VERSION"
    mkdir -p "$work"
    log "building helm $HELM_VERSION"
    (
        cd "$work"
        [[ -f go.mod ]] || printf 'module nexus.dev/helmbuild\n\ngo 1.26.0\n' >go.mod
        go get "helm.sh/helm/v3@$HELM_VERSION"
        go build -ldflags "$LDFLAGS" -o "$OUT/helm" helm.sh/helm/v3/cmd/helm
    )
}

# kwok's module has no replace directives, so `go install pkg@version` works; run from a
# throw-away dir so no surrounding go.mod/go.work interferes. The cache dir is not keyed by
# KWOK_VERSION, so the version is checked through a stamp file written last.
# Beside the binary, in ../share/kwok, go the manifests hack/cluster.sh applies: the Stage, Exec
# and Logs CRDs and
# the stages kwokctl uses by default (node: initialize + lease heartbeat; pod: fast = ready,
# complete for Job pods, delete).
KWOK_MANIFESTS="$(dirname "$OUT")/share/kwok"
build_kwok() {
    [[ -x "$OUT/kwok" && -s "$KWOK_MANIFESTS/stages.yaml" && -s "$KWOK_MANIFESTS/crd-logs.yaml" &&
        "$(cat "$OUT/kwok.version" 2>/dev/null)" == "$KWOK_VERSION" ]] && return 0
    local work="$CACHE/src/kwok-$KWOK_VERSION"
    mkdir -p "$work/bin" "$KWOK_MANIFESTS"
    log "building kwok $KWOK_VERSION"
    (
        cd "$work"
        GOFLAGS=-trimpath GOBIN="$work/bin" GOWORK=off \
            go install -ldflags "$LDFLAGS" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    )
    local src
    src="$(cd "$work" && GOFLAGS='' GOWORK=off go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [[ -d "$src/kustomize" ]] || { log "kwok module source not found (got '$src')"; exit 1; }
    cp "$src/kustomize/crd/bases/kwok.x-k8s.io_stages.yaml" "$KWOK_MANIFESTS/crd-stages.yaml.tmp"
    cp "$src/kustomize/crd/bases/kwok.x-k8s.io_execs.yaml" "$KWOK_MANIFESTS/crd-execs.yaml.tmp"
    cp "$src/kustomize/crd/bases/kwok.x-k8s.io_logs.yaml" "$KWOK_MANIFESTS/crd-logs.yaml.tmp"
    local f
    for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
        pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
        echo "---"
        cat "$src/kustomize/stage/$f.yaml"
    done >"$KWOK_MANIFESTS/stages.yaml.tmp"
    chmod 644 "$KWOK_MANIFESTS"/*.tmp # the module cache is read-only
    mv -f "$KWOK_MANIFESTS/crd-stages.yaml.tmp" "$KWOK_MANIFESTS/crd-stages.yaml"
    mv -f "$KWOK_MANIFESTS/crd-execs.yaml.tmp" "$KWOK_MANIFESTS/crd-execs.yaml"
    mv -f "$KWOK_MANIFESTS/crd-logs.yaml.tmp" "$KWOK_MANIFESTS/crd-logs.yaml"
    mv -f "$KWOK_MANIFESTS/stages.yaml.tmp" "$KWOK_MANIFESTS/stages.yaml"
    mv -f "$work/bin/kwok" "$OUT/kwok"
    echo "$KWOK_VERSION" >"$OUT/kwok.version"
}

what="${1:-all}"
case "$what" in
all) build_etcd; build_kubernetes; build_helm; build_kwok ;;
etcd) build_etcd ;;
kubernetes) build_kubernetes ;;
helm) build_helm ;;
kwok) build_kwok ;;
path) ;;
*) echo "usage: $0 [all|etcd|kubernetes|helm|kwok|path]" >&2; exit 2 ;;
esac
echo "$OUT"
