#!/usr/bin/env bash
# Checks that the apiserver rejects every manifest in examples/invalid/ with the error its
# `nexus.dev/expected-error` annotation names.
#
#   examples/invalid/check.sh [FILE…]     (default: every *.yaml next to this script)
#
# Needs kubectl pointed at a cluster with the CRDs installed (kubectl apply --server-side -f
# crds/). Creates namespace invalid-examples if it is missing, and deletes whatever a file
# managed to create (the first item of azureresource-resourceid-changed.yaml, or an object that
# was wrongly accepted) so that the next run starts clean: CRD validation ratcheting would let
# an already-stored invalid object through on re-apply.
# Exit status: 0 when every file was rejected with the expected message, 1 otherwise.
set -uo pipefail

KUBECTL="${KUBECTL:-kubectl}"
NS=invalid-examples
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ $# -gt 0 ]]; then
    files=("$@")
else
    files=("$DIR"/*.yaml)
fi

"$KUBECTL" get namespace "$NS" >/dev/null 2>&1 || "$KUBECTL" create namespace "$NS" >/dev/null || exit 1

pass=0
fail=0
for f in "${files[@]}"; do
    name="$(basename "$f")"
    # The annotation is always written as: nexus.dev/expected-error: "<text without quotes>"
    mapfile -t expected < <(sed -n 's/^ *nexus\.dev\/expected-error: *"\(.*\)" *$/\1/p' "$f")
    if [[ ${#expected[@]} -ne 1 || -z "${expected[0]}" ]]; then
        echo "FAIL $name: needs exactly one nexus.dev/expected-error annotation (found ${#expected[@]})"
        fail=$((fail + 1))
        continue
    fi
    if out="$("$KUBECTL" apply --server-side -f "$f" 2>&1)"; then
        echo "FAIL $name: was accepted"
        sed 's/^/    /' <<<"$out"
        fail=$((fail + 1))
    elif grep -qF -- "${expected[0]}" <<<"$out"; then
        echo "ok   $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name: rejected, but without: ${expected[0]}"
        sed 's/^/    /' <<<"$out"
        fail=$((fail + 1))
    fi
    "$KUBECTL" delete --ignore-not-found --wait=false -f "$f" >/dev/null 2>&1 || true
done

echo "$pass rejected as expected, $fail failed"
[[ $fail -eq 0 ]]
