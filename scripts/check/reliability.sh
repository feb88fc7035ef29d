#!/usr/bin/env bash
#! Print every figure docs/reliability.md quotes, straight from the tests that measure them (each test
#! prints its own counts), so the page can be refreshed after a change:
#
#   bash scripts/check/reliability.sh          the malformed-file, open-check, resource, crash and kill -9 tests
#   bash scripts/check/reliability.sh --fuzz   and the CI fuzz step (scripts/check/fuzz.sh 60), for executions per target
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

cargo test --release -p ember-tests --features models --test malformed --test open_checks --test resources --test crash \
  -- --nocapture --test-threads 2 2>&1 |
  grep -E '^(malformed|open_checks|resources):|points|no-space|test result|panicked'
cargo test --release -p ember-cli --features models --test cli_living -- --nocapture 2>&1 |
  grep -E 'kill -9 rounds|test result|panicked'
if [ "${1:-}" = --fuzz ]; then
  bash scripts/check/fuzz.sh 60 | tail -n 9
fi
