#!/usr/bin/env bash
# Supply-chain check: licenses, banned/duplicate crates and sources, as deny.toml says.
# A script of its own (not part of scripts/test.sh) because installing cargo-deny compiles it
# from crates.io, which took 6.5 minutes on the CI machine; the tests should not wait for it.
# `advisories` is not checked: its database is on GitHub, which CI cannot reach (see deny.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo deny --version >/dev/null 2>&1; then
    cargo install --locked cargo-deny
fi
cargo deny --version
# The duplicate-version warnings would print each crate's whole inclusion tree (~1,900 lines).
cargo deny check --hide-inclusion-graph bans licenses sources
