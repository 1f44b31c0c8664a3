#!/usr/bin/env bash
# The s3.sync benchmark: N small objects bucket -> bucket on SeaweedFS (127.0.0.1), ripcord's
# s3.sync (the release `ripcord run` binary, crates/ripcord-aws/benches/s3-sync.yaml) against
# `aws s3 sync` (awscli from .venv-services, default settings), each into a fresh empty bucket.
# Each tool runs RIPCORD_BENCH_RUNS times (default 3), alternating which goes first; prints the
# median wall time, the ratio of the medians, peak RSS (/usr/bin/time -v), and the CPU time of
# the client and of SeaweedFS during the runs (both share this machine's cores).
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
  # `aws s3 ls` fails on an empty listing: that is a count of 0, not an error.
  { "${aws[@]}" s3 ls --recursive "s3://$1/" 2>/dev/null || true; } | wc -l
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

# CPU seconds SeaweedFS (every process of its group) has used so far.
store_cpu() {
  local pgid pids
  pgid=$(cat "$root/.services/seaweed.pid" 2>/dev/null || true)
  pids=$( [ -n "$pgid" ] && pgrep -g "$pgid" || true)
  if [ -z "$pids" ]; then
    echo "cannot find SeaweedFS's processes (.services/seaweed.pid): restart it with" \
      "scripts/services.sh stop && scripts/services.sh start" >&2
    return 1
  fi
  # A process may end between pgrep and the read: awk skips files it cannot open.
  # shellcheck disable=SC2086
  awk -v hz="$(getconf CLK_TCK)" '{ t += $14 + $15 } END { printf "%.2f", t / hz }' \
    $(printf '/proc/%s/stat ' $pids) 2>/dev/null
}

# measure NAME CMD...: runs CMD under /usr/bin/time -v; sets secs, rss_mb, cpu (the command's
# user + system seconds) and store (SeaweedFS's CPU seconds meanwhile).
measure() {
  local name=$1
  shift
  local log=$work/$name.time
  local before
  before=$(store_cpu)
  if ! /usr/bin/time -v -o "$log" "$@" > "$work/$name.out" 2>&1; then
    echo "$name failed:" >&2
    tail -n 20 "$work/$name.out" >&2
    exit 1
  fi
  store=$(awk -v a="$before" -v b="$(store_cpu)" 'BEGIN { printf "%.2f", b - a }')
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$log")
  rss_mb=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$log")
  cpu=$(awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.2f", t }' "$log")
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

max() {
  printf '%s\n' "$@" | sort -g | tail -n 1
}

# run_one TOOL N SRC: one sync by TOOL (aws or ripcord) into a fresh bucket, checked and removed.
run_one() {
  local tool=$1 n=$2 src=$3
  local dst
  dst=bench-dst-$tool-$n-$(date +%s%N)
  "${aws[@]}" s3 mb "s3://$dst" >/dev/null
  echo "==> $n objects: $tool, run $run of $runs" >&2
  if [ "$tool" = aws ]; then
    measure "$tool-$n-$run" "${aws[@]}" s3 sync --only-show-errors "s3://$src/" "s3://$dst/"
  else
    measure "$tool-$n-$run" "$ripcord" --runs-dir "$work/runs" --color never \
      --aws-endpoint-url "$endpoint" --aws-region us-east-1 \
      run "$runbook" --yes -o json -p "source=s3://$src/" -p "dest=s3://$dst/"
  fi
  local got
  got=$(count "$dst")
  if [ "$got" != "$n" ]; then
    echo "$tool left $got objects in s3://$dst, expected $n" >&2
    exit 1
  fi
  "${aws[@]}" s3 rb --force "s3://$dst" >/dev/null 2>&1 || true
}

runs=${RIPCORD_BENCH_RUNS:-3}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "RIPCORD_BENCH_RUNS must be a whole number of at least 1, not \`$runs\`" >&2
  exit 2
fi
results=()
for n in "${sizes[@]}"; do
  src=bench-src-$n
  fill "$src" "$n"
  declare -a aws_secs=() aws_rss=() aws_cpu=() aws_store=() rc_secs=() rc_rss=() rc_cpu=() rc_store=()
  # Alternate the tools, each going first in every other round, so that a change in the
  # machine's load or the store's state touches both alike.
  for run in $(seq 1 "$runs"); do
    if [ $((run % 2)) = 1 ]; then order=(aws ripcord); else order=(ripcord aws); fi
    for tool in "${order[@]}"; do
      run_one "$tool" "$n" "$src"
      if [ "$tool" = aws ]; then
        aws_secs+=("$secs") aws_rss+=("$rss_mb") aws_cpu+=("$cpu") aws_store+=("$store")
      else
        rc_secs+=("$secs") rc_rss+=("$rss_mb") rc_cpu+=("$cpu") rc_store+=("$store")
      fi
    done
  done
  a=$(median "${aws_secs[@]}") r=$(median "${rc_secs[@]}")
  ratio=$(awk -v a="$a" -v r="$r" 'BEGIN { printf "%.1f", a / r }')
  results+=("$(printf '%7s  %9.2f s  %7.1f MB  %6.2f s  %6.2f s  %9.2f s  %7.1f MB  %6.2f s  %6.2f s  %5sx' \
    "$n" "$a" "$(max "${aws_rss[@]}")" "$(median "${aws_cpu[@]}")" "$(median "${aws_store[@]}")" \
    "$r" "$(max "${rc_rss[@]}")" "$(median "${rc_cpu[@]}")" "$(median "${rc_store[@]}")" "$ratio")")
  echo "    aws s3 sync: ${aws_secs[*]} s; ripcord: ${rc_secs[*]} s" >&2
done

echo
echo "s3 sync, bucket -> bucket on SeaweedFS ($endpoint), empty destination, median of $runs runs each"
echo "(RSS: the largest of the runs; CPU: the client's user + system; store: SeaweedFS's CPU meanwhile)"
printf '%7s  %11s  %10s  %8s  %8s  %11s  %10s  %8s  %8s  %6s\n' objects "aws s3 sync" "RSS" "CPU" "store" \
  "ripcord" "RSS" "CPU" "store" ratio
for r in "${results[@]}"; do echo "$r"; done
