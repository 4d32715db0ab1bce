#!/usr/bin/env bash
# Apply an overlay in the order a release needs (docs/deploy-kubernetes.md, "Order of operations"):
#   1. everything but the API workload and the migration Job (PostgreSQL, Pooler, Redis, collector, monitoring),
#   2. wait until the PostgreSQL cluster is ready,
#   3. the migration Job (the previous one deleted first: a Job's pod template is immutable), wait until it
#      completes; on failure print its logs and stop — the running API version is untouched,
#   4. the API (ConfigMap, Deployment, Service, HPA, PDB, NetworkPolicy), wait for the rollout.
# Usage: deploy/kubernetes/rollout.sh deploy/kubernetes/overlays/production [--context NAME]
# Environment: KUBECTL (default kubectl), MIGRATION_TIMEOUT (default 15m), ROLLOUT_TIMEOUT (default 10m).
set -euo pipefail

overlay=${1:?usage: rollout.sh OVERLAY_DIR [kubectl flags...]}
shift
kubectl=(${KUBECTL:-kubectl} "$@")
rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT

"${kubectl[@]}" kustomize "$overlay" > "$rendered"
namespace=$(awk '/^kind: Namespace$/ {ns=1} ns && /^  name: / {print $2; exit}' "$rendered")
if [ -z "$namespace" ]; then
  echo "error: $overlay renders no Namespace" >&2
  exit 1
fi
ns=(--namespace "$namespace")

echo "==> 1/4 platform (namespace $namespace)"
"${kubectl[@]}" apply -f "$rendered" -l 'app.kubernetes.io/component notin (api,migration)'

echo "==> 2/4 waiting for PostgreSQL"
"${kubectl[@]}" "${ns[@]}" wait cluster.postgresql.cnpg.io/foundation-pg --for=condition=Ready --timeout=15m

echo "==> 3/4 migration"
"${kubectl[@]}" "${ns[@]}" delete job foundation-migrate --ignore-not-found --wait=true
"${kubectl[@]}" apply -f "$rendered" -l 'app.kubernetes.io/component=migration'
if ! "${kubectl[@]}" "${ns[@]}" wait job/foundation-migrate --for=condition=Complete \
    --timeout="${MIGRATION_TIMEOUT:-15m}"; then
  echo "error: the migration Job did not complete; the API was not rolled out" >&2
  "${kubectl[@]}" "${ns[@]}" logs job/foundation-migrate --all-containers --tail=50 >&2 || true
  exit 1
fi

echo "==> 4/4 API"
"${kubectl[@]}" apply -f "$rendered" -l 'app.kubernetes.io/component=api'
"${kubectl[@]}" "${ns[@]}" rollout status deployment/foundation-api --timeout="${ROLLOUT_TIMEOUT:-10m}"
