#!/usr/bin/env bash
# The test command: every crate's unit, integration and end-to-end tests.
# Local services the tests need are started here (none yet beyond what tests start themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
