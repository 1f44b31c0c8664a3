#!/usr/bin/env bash
# The test command: every crate's unit, integration and end-to-end tests.
# Local services the tests need are started here: moto and SeaweedFS for ripcord-aws
# (scripts/services.sh installs them into .venv-services on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start
eval "$(scripts/services.sh env)"
cargo test --workspace --locked "$@"
