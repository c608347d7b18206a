#!/usr/bin/env bash
# A real, throw-away Kubernetes control plane on loopback: etcd + kube-apiserver +
# kube-controller-manager + kube-scheduler, built from source by hack/build-k8s.sh, and kwok,
# which simulates one node (kwok-node-0): scheduled pods turn Running without containers, Job pods
# Succeeded, so Jobs complete. No kubelet, no docker — enough for an operator's e2e tests and
# benchmarks (CRDs, RBAC, namespaces, GC, Jobs, Deployments, aggregation layer).
#
#   hack/cluster.sh up              start (idempotent); prints `export KUBECONFIG=…` on stdout
#   hack/cluster.sh down [--purge]  stop; --purge also deletes the state dir
#   hack/cluster.sh status          exit 0 iff every component runs and /readyz is ok
#   hack/cluster.sh env             `export KUBECONFIG=…` and `export PATH=<bindir>:$PATH`
#   hack/cluster.sh logs [component] [-f]
#   hack/cluster.sh stop-apiserver | start-apiserver   an apiserver outage, for resilience tests
#
# State lives in ${NEXUS_CLUSTER_DIR:-<repo>/.nexus/cluster}; clusters with different state dirs
# run side by side because every port is picked freely on 127.0.0.1.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${NEXUS_CLUSTER_DIR:-$REPO/.nexus/cluster}"

# Absolute and canonical (once the dir exists): the printed KUBECONFIG must work from any
# directory, and pid_of matches the state path in each daemon's command line.
set_paths() {
    [[ "$STATE" == /* ]] || STATE="$PWD/$STATE"
    [[ -d "$STATE" ]] && STATE="$(cd "$STATE" && pwd)"
    PKI="$STATE/pki"
    RUN="$STATE/run"
    LOGS="$STATE/logs"
    PORTS_FILE="$STATE/ports.env"
    KUBECONFIG_FILE="$STATE/kubeconfig"
    KCM_KUBECONFIG="$STATE/kube-controller-manager.kubeconfig"
    SCHED_KUBECONFIG="$STATE/kube-scheduler.kubeconfig"
    KWOK_KUBECONFIG="$STATE/kwok.kubeconfig"
    MARKER="$STATE/.nexus-cluster"
}
set_paths
# Start order; stopped in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
READY_TIMEOUT="${NEXUS_CLUSTER_TIMEOUT:-60}"
# The simulated node kwok manages (it manages only nodes annotated kwok.x-k8s.io/node=fake).
KWOK_NODE=kwok-node-0

ETCD_CLIENT_PORT="" ETCD_PEER_PORT="" APISERVER_PORT="" KCM_PORT="" SCHED_PORT="" KWOK_PORT=""
BIN=""

log() { echo "cluster: $*" >&2; }
die() {
    echo "cluster: error: $*" >&2
    exit 1
}

require_tools() {
    local t
    for t in openssl python3 curl; do
        command -v "$t" >/dev/null || die "'$t' is required but not on PATH"
    done
}

bin_dir() {
    local out
    out="$("$REPO/hack/build-k8s.sh" "$1" | tail -n 1)" # the bin dir is its last line
    (cd "$out" && pwd)
}

# ---------------------------------------------------------------------------------------------
# PKI

# Minimal config so results do not depend on the host's openssl.cnf.
write_ext() { # file, extension lines…
    local f="$1"
    shift
    {
        printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n[ext]\n'
        printf '%s\n' "$@"
    } >"$f"
}

gen_ca() { # name, CN
    local name="$1" cn="$2"
    [[ -s "$PKI/$name.crt" && -s "$PKI/$name.key" ]] && return 1
    log "generating CA $name"
    write_ext "$PKI/$name.cnf" "basicConstraints = critical, CA:TRUE" \
        "keyUsage = critical, keyCertSign, cRLSign, digitalSignature" \
        "subjectKeyIdentifier = hash"
    openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
    openssl req -x509 -new -sha256 -days 3650 -key "$PKI/$name.key" -subj "/CN=$cn" \
        -config "$PKI/$name.cnf" -extensions ext -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$PKI/$name.cnf"
}

gen_cert() { # name, ca, subject, extendedKeyUsage, [subjectAltName]
    local name="$1" ca="$2" subj="$3" eku="$4" san="${5:-}"
    [[ -s "$PKI/$name.crt" && -s "$PKI/$name.key" ]] && return 0
    log "generating certificate $name ($subj)"
    local ext=("basicConstraints = critical, CA:FALSE"
        "keyUsage = critical, digitalSignature, keyEncipherment"
        "extendedKeyUsage = $eku" "authorityKeyIdentifier = keyid")
    [[ -n "$san" ]] && ext+=("subjectAltName = $san")
    write_ext "$PKI/$name.cnf" "${ext[@]}"
    openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
    openssl req -new -key "$PKI/$name.key" -subj "$subj" -config "$PKI/$name.cnf" \
        -out "$PKI/$name.csr" 2>/dev/null
    openssl x509 -req -sha256 -days 3650 -in "$PKI/$name.csr" \
        -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -set_serial "0x$(openssl rand -hex 16)" \
        -extfile "$PKI/$name.cnf" -extensions ext -out "$PKI/$name.crt" 2>/dev/null
    rm -f "$PKI/$name.cnf" "$PKI/$name.csr"
}

gen_pki() {
    mkdir -p "$PKI"
    chmod 700 "$PKI"
    # A fresh CA invalidates everything it signed.
    if gen_ca ca nexus-cluster-ca; then
        rm -f "$PKI"/{apiserver,apiserver-kubelet-client,admin,kube-controller-manager,kube-scheduler,kwok,kwok-serving,nexus-apiserver}.{crt,key}
    fi
    if gen_ca front-proxy-ca nexus-front-proxy-ca; then
        rm -f "$PKI"/front-proxy-client.{crt,key}
    fi
    gen_cert apiserver ca /CN=kube-apiserver serverAuth \
        "IP:127.0.0.1, IP:::1, IP:10.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"
    gen_cert admin ca "/O=system:masters/CN=nexus-admin" clientAuth
    gen_cert kube-controller-manager ca /CN=system:kube-controller-manager clientAuth
    gen_cert kube-scheduler ca /CN=system:kube-scheduler clientAuth
    gen_cert kwok ca /CN=nexus:kwok clientAuth
    # kwok also plays the node's kubelet API (exec, logs): kube-apiserver connects to it over TLS
    # as kubelets are reached, verifying this certificate against the cluster CA.
    gen_cert kwok-serving ca /CN=system:node:kwok-node-0 serverAuth \
        "IP:127.0.0.1, DNS:localhost, DNS:kwok-node-0"
    gen_cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
    gen_cert front-proxy-client front-proxy-ca /CN=front-proxy-client clientAuth
    # Serving certificate of a locally run nexus-apiserver; kube-apiserver checks it against the
    # APIService's Service name, and curl/browsers against localhost.
    gen_cert nexus-apiserver ca /CN=nexus-apiserver serverAuth \
        "DNS:nexus-apiserver.nexus-system.svc, DNS:localhost, IP:127.0.0.1, IP:::1"
    if [[ ! -s "$PKI/sa.key" || ! -s "$PKI/sa.pub" ]]; then
        log "generating service-account key pair"
        openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
        openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    fi
    chmod 600 "$PKI"/*.key
}

# ---------------------------------------------------------------------------------------------
# Ports

load_ports() {
    [[ -f "$PORTS_FILE" ]] || return 1
    # shellcheck source=/dev/null
    source "$PORTS_FILE"
    [[ -n "$ETCD_CLIENT_PORT" && -n "$ETCD_PEER_PORT" && -n "$APISERVER_PORT" && -n "$KCM_PORT" &&
        -n "$SCHED_PORT" && -n "$KWOK_PORT" ]]
}

# Reuse the saved ports when they are all still free (keeps existing kubeconfigs valid across a
# down/up); otherwise let the kernel pick. All sockets are held open together so the picks are
# distinct.
pick_ports() {
    local saved=""
    if load_ports; then
        saved="$ETCD_CLIENT_PORT $ETCD_PEER_PORT $APISERVER_PORT $KCM_PORT $SCHED_PORT $KWOK_PORT"
    fi
    local ports
    # shellcheck disable=SC2086 # word splitting of $saved is intended
    ports="$(python3 - $saved <<'EOF'
import socket, sys

def grab(ports):
    socks = []
    try:
        for p in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # Like Go's listeners: a port whose old connections linger in TIME_WAIT is free.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            s.listen(1)  # a listening socket excludes every other bind, so the picks differ
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()

saved = [int(p) for p in sys.argv[1:]]
try:
    ports = grab(saved) if len(saved) == 6 else None
except OSError:
    ports = None
print(*(ports or grab([0] * 6)))
EOF
)"
    read -r ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHED_PORT KWOK_PORT <<<"$ports"
    cat >"$PORTS_FILE" <<EOF
ETCD_CLIENT_PORT=$ETCD_CLIENT_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
SCHED_PORT=$SCHED_PORT
KWOK_PORT=$KWOK_PORT
EOF
}

# ---------------------------------------------------------------------------------------------
# Processes

# Daemons are re-parented to init; a zombie (init not reaping, e.g. in some containers) counts
# as dead.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]
}

pid_of() { # component → pid on stdout if it is alive and really that binary
    local f="$RUN/$1.pid" pid
    [[ -f "$f" ]] || return 1
    pid="$(<"$f")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    # Guard against pid reuse after a reboot or crash: that binary, with this state dir.
    [[ "$(ps -ww -o args= -p "$pid" 2>/dev/null)" == *"/$1 "*"$STATE/"* ]] || return 1
    echo "$pid"
}

show_log_tail() {
    local f="$LOGS/$1.log"
    [[ -f "$f" ]] || return 0
    echo "----- last 30 lines of $f -----" >&2
    tail -n 30 "$f" >&2
    echo "-----" >&2
}

start() { # component, args…
    local c="$1"
    shift
    mkdir -p "$RUN" "$LOGS"
    log "starting $c"
    # setsid: detach from the caller's process group so Ctrl-C in the calling shell (or a
    # test harness killing its group) does not take the cluster down.
    # 9>&-: do not leak the state-dir lock into a daemon, or the next `up` would block forever.
    setsid "$BIN/$c" "$@" </dev/null >>"$LOGS/$c.log" 2>&1 9>&- &
    echo $! >"$RUN/$c.pid"
}

# Polls `check` until it succeeds; fails fast, with the component's log, if it dies.
wait_for() { # component, description, check command…
    local c="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + READY_TIMEOUT))
    while ! "$@" >/dev/null 2>&1; do
        if ! pid_of "$c" >/dev/null; then
            show_log_tail "$c"
            die "$c exited before $what"
        fi
        if ((SECONDS >= deadline)); then
            show_log_tail "$c"
            die "$c: $what not reached within ${READY_TIMEOUT}s"
        fi
        sleep 0.5
    done
}

stop() { # component
    local c="$1" pid
    if pid="$(pid_of "$c")"; then
        log "stopping $c (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "$c did not exit after 10s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                alive "$pid" || break
                sleep 0.1
            done
        fi
    fi
    rm -f "$RUN/$c.pid"
}

# Reverse start order: an apiserver whose etcd is gone hangs in shutdown.
stop_all() {
    local i
    for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop "${COMPONENTS[i]}"; done
}

# ---------------------------------------------------------------------------------------------
# Health checks

etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health"; }

kubectl_admin() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=10s "$@"; }

apiserver_ready() { [[ "$(kubectl_admin --request-timeout=3s get --raw /readyz 2>/dev/null)" == ok ]]; }

# /healthz is in kube-controller-manager's --authorization-always-allow-paths; its serving cert
# is self-signed, hence -k.
kcm_healthy() { [[ "$(curl -ksS --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz")" == ok ]]; }
# Likewise kube-scheduler's; kwok serves HTTPS with a certificate of the cluster CA.
scheduler_healthy() { [[ "$(curl -ksS --max-time 2 "https://127.0.0.1:$SCHED_PORT/healthz")" == ok ]]; }
kwok_healthy() { [[ "$(curl -sS --max-time 2 --cacert "$PKI/ca.crt" "https://127.0.0.1:$KWOK_PORT/healthz")" == ok ]]; }

node_ready() {
    [[ "$(kubectl_admin get node "$KWOK_NODE" \
        -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

all_running() {
    local c
    for c in "${COMPONENTS[@]}"; do
        pid_of "$c" >/dev/null || return 1
    done
}

# ---------------------------------------------------------------------------------------------
# Kubeconfigs

b64() { openssl base64 -A <"$1"; }

write_kubeconfig() { # file, user name, cert name
    local file="$1" user="$2" cert="$3"
    # Certificates embedded so the file stays valid when copied or mounted elsewhere.
    cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: nexus
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(b64 "$PKI/$cert.crt")
    client-key-data: $(b64 "$PKI/$cert.key")
contexts:
- name: nexus
  context:
    cluster: nexus
    user: $user
current-context: nexus
EOF
    chmod 600 "$file.tmp"
    mv -f "$file.tmp" "$file" # atomic: a concurrent reader never sees half a file
}

# ---------------------------------------------------------------------------------------------
# Components

start_etcd() {
    mkdir -p "$STATE/etcd"
    chmod 700 "$STATE/etcd"
    local client="http://127.0.0.1:$ETCD_CLIENT_PORT" peer="http://127.0.0.1:$ETCD_PEER_PORT"
    # --unsafe-no-fsync: a throw-away dev/test store; skipping fsync makes writes ~10x faster
    # and losing it on a power cut is fine. 4 GiB quota so a 100k-entity benchmark fits.
    start etcd \
        --name nexus \
        --data-dir "$STATE/etcd" \
        --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "nexus=$peer" \
        --unsafe-no-fsync \
        --quota-backend-bytes $((4 * 1024 * 1024 * 1024)) \
        --log-level warn
    wait_for etcd "health" etcd_healthy
}

# Aggregated APIs (nexus-apiserver's portal.nexus.dev) are reached the default way, through
# the Service: locally an ExternalName Service naming 127.0.0.1 (hack/dev-apiservice.sh).
# --enable-aggregator-routing would route to Endpoints instead, which may not hold loopback IPs.
start_apiserver() {
    # --endpoint-reconciler-type none: Endpoints may not hold loopback IPs, so with
    # --advertise-address 127.0.0.1 the default reconciler logs an error every 10s; there are no
    # pods that could use the in-cluster `kubernetes` Service anyway.
    start kube-apiserver \
        --bind-address 127.0.0.1 \
        --secure-port "$APISERVER_PORT" \
        --advertise-address 127.0.0.1 \
        --endpoint-reconciler-type none \
        --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
        --tls-cert-file "$PKI/apiserver.crt" \
        --tls-private-key-file "$PKI/apiserver.key" \
        --client-ca-file "$PKI/ca.crt" \
        --authorization-mode RBAC \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$PKI/sa.pub" \
        --service-account-signing-key-file "$PKI/sa.key" \
        --service-cluster-ip-range 10.0.0.0/24 \
        --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
        --requestheader-allowed-names front-proxy-client \
        --requestheader-extra-headers-prefix X-Remote-Extra- \
        --requestheader-group-headers X-Remote-Group \
        --requestheader-username-headers X-Remote-User \
        --proxy-client-cert-file "$PKI/front-proxy-client.crt" \
        --proxy-client-key-file "$PKI/front-proxy-client.key" \
        --allow-privileged=true \
        --kubelet-certificate-authority "$PKI/ca.crt" \
        --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types InternalIP \
        --max-requests-inflight 1000 \
        --max-mutating-requests-inflight 500
    wait_for kube-apiserver "/readyz" apiserver_ready
}

# With --use-service-account-credentials=false every controller acts as
# system:kube-controller-manager, whose bootstrap role only lists/watches; the namespace
# controller, garbage collector, Job controller … need to delete/create anything. kwok (user
# nexus:kwok) writes node and pod status, leases, events and deletes pods. kube-scheduler makes do
# with its bootstrap roles.
grant_controllers() {
    kubectl_admin apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: nexus:kube-controller-manager
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: system:kube-controller-manager
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: nexus:kwok
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: nexus:kwok
EOF
}

start_kcm() {
    # --flex-volume-plugin-dir: the default is /usr/libexec/kubernetes/…, which it would create.
    # Cloud-provider controllers skip themselves without --cloud-provider, so '*' is safe.
    start kube-controller-manager \
        --kubeconfig "$KCM_KUBECONFIG" \
        --authentication-kubeconfig "$KCM_KUBECONFIG" \
        --authorization-kubeconfig "$KCM_KUBECONFIG" \
        --bind-address 127.0.0.1 \
        --secure-port "$KCM_PORT" \
        --leader-elect=false \
        --service-account-private-key-file "$PKI/sa.key" \
        --root-ca-file "$PKI/ca.crt" \
        --use-service-account-credentials=false \
        --cluster-signing-cert-file "$PKI/ca.crt" \
        --cluster-signing-key-file "$PKI/ca.key" \
        --controllers '*' \
        --flex-volume-plugin-dir "$STATE/flexvolume"
    wait_for kube-controller-manager "/healthz" kcm_healthy
}

start_scheduler() {
    start kube-scheduler \
        --kubeconfig "$SCHED_KUBECONFIG" \
        --authentication-kubeconfig "$SCHED_KUBECONFIG" \
        --authorization-kubeconfig "$SCHED_KUBECONFIG" \
        --bind-address 127.0.0.1 \
        --secure-port "$SCHED_PORT" \
        --leader-elect=false
    wait_for kube-scheduler "/healthz" scheduler_healthy
}

# kwok reads its stages from the Stage API (--enable-crds Stage), so the CRD must be established
# before it starts; tests may add their own stages (e.g. failing pods) at run time. The manifests
# come from kwok's module at KWOK_VERSION (hack/build-k8s.sh copies them beside the binaries).
apply_kwok_stages() {
    local share
    share="$(dirname "$BIN")/share/kwok"
    kubectl_admin apply --server-side -f "$share/crd-stages.yaml" >/dev/null
    kubectl_admin wait --for condition=Established --timeout 30s crd/stages.kwok.x-k8s.io >/dev/null
    kubectl_admin apply --server-side --force-conflicts -f "$share/stages.yaml" >/dev/null
    # Exec and Logs: what `kubectl exec` and `kubectl logs` do on the simulated node (tests
    # declare them per pod: a local command, a log file).
    kubectl_admin apply --server-side -f "$share/crd-execs.yaml" -f "$share/crd-logs.yaml" >/dev/null
    kubectl_admin wait --for condition=Established --timeout 30s \
        crd/execs.kwok.x-k8s.io crd/logs.kwok.x-k8s.io >/dev/null
    # A restarted kwok has a new holder identity and would wait for the old Lease to expire
    # (40 s) before renewing it; drop it so the node's heartbeat continues at once.
    kubectl_admin -n kube-node-lease delete lease "$KWOK_NODE" --ignore-not-found >/dev/null
}

# KWOK_WORKDIR: keep a user's ~/.kwok/kwok.yaml out; it would be loaded as extra config.
# --node-lease-duration-seconds: kwok renews the node's Lease, as kubelet does, so the node
# lifecycle controller keeps the node Ready. Pod IPs (--cidr) and the node IP stay out of the
# Service range (10.0.0.0/24). The node's address is loopback and its kubelet port is kwok's own
# server, so kube-apiserver reaches it for exec and logs.
start_kwok() {
    mkdir -p "$STATE/kwok"
    KWOK_WORKDIR="$STATE/kwok" start kwok \
        --kubeconfig "$KWOK_KUBECONFIG" \
        --server-address "127.0.0.1:$KWOK_PORT" \
        --manage-all-nodes=false \
        --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
        --tls-cert-file "$PKI/kwok-serving.crt" \
        --tls-private-key-file "$PKI/kwok-serving.key" \
        --enable-crds Stage,Exec,Logs \
        --node-lease-duration-seconds 40 \
        --cidr 10.244.0.0/16 \
        --node-ip 127.0.0.1 \
        --node-port "$KWOK_PORT"
    wait_for kwok "/healthz" kwok_healthy
}

# One roomy node; no taints, so every pod lands on it. Status is only taken on create (later
# applies leave it to kwok).
create_node() {
    kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $KWOK_NODE
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: $KWOK_NODE
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
    wait_for kwok "node $KWOK_NODE Ready" node_ready
}

port_conflict() {
    grep -qsi 'address already in use' "$LOGS"/*.log
}

start_all() {
    stop_all
    pick_ports
    write_kubeconfig "$KUBECONFIG_FILE" nexus-admin admin
    write_kubeconfig "$KCM_KUBECONFIG" system:kube-controller-manager kube-controller-manager
    write_kubeconfig "$SCHED_KUBECONFIG" system:kube-scheduler kube-scheduler
    write_kubeconfig "$KWOK_KUBECONFIG" nexus:kwok kwok
    # A fresh log per start, so failure output and port-conflict detection see only this run.
    rm -f "$LOGS"/*.log
    start_etcd
    start_apiserver
    grant_controllers || die "could not bind cluster-admin to kube-controller-manager and kwok"
    start_kcm
    start_scheduler
    apply_kwok_stages || die "could not apply kwok's Stage CRD and stages"
    start_kwok
    create_node
}

# ---------------------------------------------------------------------------------------------
# Subcommands

cmd_up() {
    require_tools
    BIN="$(bin_dir all)"
    # Never adopt a non-empty directory we did not create: `down --purge` deletes it.
    if [[ -d "$STATE" && ! -f "$MARKER" && -n "$(ls -A "$STATE")" ]]; then
        die "$STATE is not empty and not a cluster state dir; choose another NEXUS_CLUSTER_DIR"
    fi
    mkdir -p "$STATE"
    set_paths
    touch "$MARKER"
    # Serialize concurrent `up`/`down` on the same state dir.
    exec 9>"$STATE/.lock"
    command -v flock >/dev/null && flock 9

    if all_running && load_ports; then
        log "already running; waiting for /readyz"
        [[ -f "$KUBECONFIG_FILE" ]] || write_kubeconfig "$KUBECONFIG_FILE" nexus-admin admin
        wait_for kube-apiserver "/readyz" apiserver_ready
        echo "export KUBECONFIG=$KUBECONFIG_FILE"
        return 0
    fi

    local t0=$SECONDS
    gen_pki
    # Free ports are picked, then released, then bound by the component; another cluster
    # starting at the same moment can steal one in between, so retry on a port conflict.
    local attempt rc
    for attempt in 1 2 3; do
        # Not `if (start_all)`: errexit is ignored inside a condition, even in a subshell.
        set +e
        (
            set -e
            start_all
        )
        rc=$?
        set -e
        ((rc == 0)) && break
        if ((attempt < 3)) && port_conflict; then
            log "port conflict, retrying with new ports"
            rm -f "$PORTS_FILE"
            continue
        fi
        stop_all
        die "cluster failed to start (logs: $LOGS)"
    done
    load_ports
    log "up in $((SECONDS - t0))s: apiserver https://127.0.0.1:$APISERVER_PORT, state $STATE"
    echo "export KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_down() {
    local purge=false
    case "${1:-}" in
    --purge) purge=true ;;
    "") ;;
    *) die "usage: $0 down [--purge]" ;;
    esac
    if [[ -f "$MARKER" ]]; then
        exec 9>"$STATE/.lock"
        command -v flock >/dev/null && flock 9
    fi
    stop_all
    if $purge && [[ -d "$STATE" ]]; then
        # Refuse to rm -rf a directory this script did not create (NEXUS_CLUSTER_DIR=$HOME…).
        [[ -f "$MARKER" ]] || die "$STATE does not look like a cluster state dir; not deleting"
        log "deleting $STATE"
        rm -rf "$STATE"
    fi
}

cmd_status() {
    local c pid ok=0
    for c in "${COMPONENTS[@]}"; do
        if pid="$(pid_of "$c")"; then
            echo "$c: running (pid $pid)"
        else
            echo "$c: stopped"
            ok=1
        fi
    done
    if load_ports && [[ -f "$KUBECONFIG_FILE" ]] && { BIN="$(bin_dir path)" && apiserver_ready; }; then
        echo "readyz: ok (https://127.0.0.1:$APISERVER_PORT)"
    else
        echo "readyz: not ready"
        ok=1
    fi
    return "$ok"
}

# Stops only kube-apiserver (etcd keeps the data); start-apiserver brings it back on the same
# port with the same certificates, so clients reconnect as after a real restart.
cmd_stop_apiserver() {
    load_ports || die "no cluster in $STATE"
    stop kube-apiserver
}

cmd_start_apiserver() {
    load_ports || die "no cluster in $STATE"
    BIN="$(bin_dir all)"
    pid_of kube-apiserver >/dev/null && return 0
    start_apiserver
}

cmd_env() {
    BIN="$(bin_dir path)"
    [[ -f "$KUBECONFIG_FILE" ]] || log "warning: $KUBECONFIG_FILE does not exist yet (run: $0 up)"
    echo "export KUBECONFIG=$KUBECONFIG_FILE"
    # \$PATH stays literal: it is expanded by the shell that evals this.
    echo "export PATH=$BIN:\$PATH"
}

cmd_logs() {
    local follow=() names=() a
    for a in "$@"; do
        case "$a" in
        -f | --follow) follow=(-F) ;;
        etcd | kube-apiserver | kube-controller-manager | kube-scheduler | kwok) names+=("$a") ;;
        apiserver) names+=(kube-apiserver) ;;
        kcm | controller-manager) names+=(kube-controller-manager) ;;
        scheduler) names+=(kube-scheduler) ;;
        *) die "unknown component '$a' (${COMPONENTS[*]})" ;;
        esac
    done
    ((${#names[@]})) || names=("${COMPONENTS[@]}")
    local files=()
    for a in "${names[@]}"; do
        [[ -f "$LOGS/$a.log" ]] && files+=("$LOGS/$a.log")
    done
    ((${#files[@]})) || die "no logs in $LOGS"
    exec tail -n "${NEXUS_LOG_LINES:-100}" "${follow[@]}" "${files[@]}"
}

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
status) cmd_status "$@" ;;
env) cmd_env "$@" ;;
logs) cmd_logs "$@" ;;
stop-apiserver) cmd_stop_apiserver "$@" ;;
start-apiserver) cmd_start_apiserver "$@" ;;
*) usage ;;
esac
