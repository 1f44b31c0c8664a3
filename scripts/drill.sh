#!/usr/bin/env bash
# The main job: a DR drill against a local sandbox this script starts itself, ending with the
# run's timeline. Nothing outside 127.0.0.1 and a temporary directory is touched.
#
#   scripts/drill.sh            # build, start the sandbox, run the drill, print the timeline
#
# The sandbox today: a stand-in service (HTTP on 127.0.0.1: /health/ready, /metrics) and a
# backup directory laid out like the DR plan's backup bucket. Kubernetes and AWS endpoints join
# it as their executors land (see docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."

sandbox=$(mktemp -d /tmp/ripcord-sandbox.XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$sandbox"
}
trap cleanup EXIT

echo "==> building ripcord"
cargo build -q -p ripcord-cli
ripcord=target/debug/ripcord

echo "==> starting the sandbox in $sandbox"
mkdir -p "$sandbox/www/health"
echo ok > "$sandbox/www/health/ready"
printf 'artifacts_total 5\nartifacts_errors_total 0\n' > "$sandbox/www/metrics"
stamp=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$sandbox/backup/$stamp/artifacts"
for i in 1 2 3 4 5; do echo "artifact $i" > "$sandbox/backup/$stamp/artifacts/file-$i.bin"; done
printf '{"status": "success", "file_count": 5, "timestamp": "%s"}\n' "$stamp" \
  > "$sandbox/backup/$stamp/metadata.json"
echo "$stamp" > "$sandbox/backup/latest.txt"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$sandbox/www" >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health/ready', timeout=1)" 2>/dev/null && break
  sleep 0.1
done

echo "==> plan"
"$ripcord" plan examples/sandbox-drill.yaml -p "service_url=http://127.0.0.1:$port" \
  -p "service_root=$sandbox/www" -p "backup_dir=$sandbox/backup" | sed -n '/RTO check/,$p'

echo "==> drill"
status=0
"$ripcord" run examples/sandbox-drill.yaml --yes --approve approve_failure \
  -p "service_url=http://127.0.0.1:$port" -p "service_root=$sandbox/www" \
  -p "backup_dir=$sandbox/backup" || status=$?

echo "==> journal"
"$ripcord" verify last
exit "$status"
