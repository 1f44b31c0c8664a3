#!/usr/bin/env bash
# The s3.sync benchmark: N small objects bucket -> bucket on SeaweedFS (127.0.0.1), ripcord's
# s3.sync (the release `ripcord run` binary, crates/ripcord-aws/benches/s3-sync.yaml) against
# `aws s3 sync` (awscli from .venv-services, default settings), each into a fresh empty bucket.
# Prints wall time, the ratio and peak RSS (/usr/bin/time -v) of each.
#
#   scripts/bench-s3-sync.sh              # 2,000 and 20,000 objects
#   scripts/bench-s3-sync.sh 500 5000     # other sizes
#
# Source buckets are filled once (bench-src-N) and reused by later runs while SeaweedFS keeps
# running; destination buckets are removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(2000 20000)

scripts/services.sh start
eval "$(scripts/services.sh env)"
export AWS_ACCESS_KEY_ID=$RIPCORD_TEST_SEAWEED_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$RIPCORD_TEST_SEAWEED_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
endpoint=$RIPCORD_TEST_SEAWEED_URL
aws=("$RIPCORD_SERVICES_AWS" --endpoint-url "$endpoint")

echo "==> building ripcord (release)" >&2
cargo build -q --release -p ripcord-cli
ripcord=$root/target/release/ripcord
runbook=$root/crates/ripcord-aws/benches/s3-sync.yaml

work=$(mktemp -d /tmp/ripcord-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

count() {
  "${aws[@]}" s3 ls --recursive "s3://$1/" | wc -l
}

fill() {
  local bucket=$1 n=$2
  if "${aws[@]}" s3api head-bucket --bucket "$bucket" 2>/dev/null && [ "$(count "$bucket")" = "$n" ]; then
    return
  fi
  echo "==> filling s3://$bucket with $n small objects" >&2
  "${aws[@]}" s3 mb "s3://$bucket" >/dev/null 2>&1 || true
  local dir=$work/fill-$n
  mkdir -p "$dir"
  python3 - "$dir" "$n" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, f"shard-{i % 50:02d}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"object-{i:06d}.json"), "w") as f:
        f.write('{"artifact": %d, "payload": "%s"}\n' % (i, "x" * (100 + i % 900)))
EOF
  "${aws[@]}" s3 sync --only-show-errors "$dir" "s3://$bucket/" >&2
  rm -rf "$dir"
}

# measure NAME CMD...: runs CMD under /usr/bin/time -v; sets secs and rss_mb.
measure() {
  local name=$1
  shift
  local log=$work/$name.time
  if ! /usr/bin/time -v -o "$log" "$@" > "$work/$name.out" 2>&1; then
    echo "$name failed:" >&2
    tail -n 20 "$work/$name.out" >&2
    exit 1
  fi
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$log")
  rss_mb=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$log")
}

results=()
for n in "${sizes[@]}"; do
  src=bench-src-$n
  fill "$src" "$n"
  tag=$(date +%s)
  dst_aws=bench-dst-aws-$n-$tag
  dst_rc=bench-dst-ripcord-$n-$tag
  "${aws[@]}" s3 mb "s3://$dst_aws" >/dev/null
  "${aws[@]}" s3 mb "s3://$dst_rc" >/dev/null

  echo "==> $n objects: aws s3 sync" >&2
  measure "aws-$n" "${aws[@]}" s3 sync --only-show-errors "s3://$src/" "s3://$dst_aws/"
  aws_secs=$secs aws_rss=$rss_mb

  echo "==> $n objects: ripcord s3.sync" >&2
  measure "ripcord-$n" "$ripcord" --runs-dir "$work/runs" --color never \
    --aws-endpoint-url "$endpoint" --aws-region us-east-1 \
    run "$runbook" --yes -o json -p "source=s3://$src/" -p "dest=s3://$dst_rc/"
  rc_secs=$secs rc_rss=$rss_mb

  got_aws=$(count "$dst_aws")
  got_rc=$(count "$dst_rc")
  if [ "$got_aws" != "$n" ] || [ "$got_rc" != "$n" ]; then
    echo "destination counts wrong: aws s3 sync $got_aws, ripcord $got_rc, expected $n" >&2
    exit 1
  fi
  ratio=$(awk -v a="$aws_secs" -v r="$rc_secs" 'BEGIN { printf "%.1f", a / r }')
  results+=("$(printf '%7s  %10.2f s  %8.1f MB  %10.2f s  %8.1f MB  %6sx' \
    "$n" "$aws_secs" "$aws_rss" "$rc_secs" "$rc_rss" "$ratio")")

  "${aws[@]}" s3 rb --force "s3://$dst_aws" >/dev/null 2>&1 || true
  "${aws[@]}" s3 rb --force "s3://$dst_rc" >/dev/null 2>&1 || true
done

echo
echo "s3 sync, bucket -> bucket on SeaweedFS ($endpoint), empty destination"
printf '%7s  %12s  %11s  %12s  %11s  %7s\n' objects "aws s3 sync" "aws RSS" "ripcord" "ripcord RSS" ratio
for r in "${results[@]}"; do echo "$r"; done
