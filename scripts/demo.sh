#!/usr/bin/env bash
# Sets up a fresh machine and runs the `joke` example end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release
./target/release/wflow run examples-guests/joke --input '{"topic": "pirates"}'
