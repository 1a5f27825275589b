#!/usr/bin/env bash
# The compiled-component cache on a Python-sized component: build an ~18 MB
# component from benches/python-guest with componentize-py, then time
# `wflow run` on it with a cold cache and then warm.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${TMPDIR:-/tmp}/wflow-cache-bench"
mkdir -p "$work"
if [ ! -x "$work/venv/bin/componentize-py" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q componentize-py==0.25.1
fi
"$work/venv/bin/componentize-py" -d wit -w steps componentize -p benches/python-guest app -o "$work/py-joke.wasm" >/dev/null
cargo build --release -q
export WFLOW_CACHE_DIR="$work/cache"
rm -rf "$WFLOW_CACHE_DIR"
echo "component: $(du -h "$work/py-joke.wasm" | cut -f1)"
for run in cold warm warm; do
    start=$(date +%s.%N)
    ./target/release/wflow run "$work/py-joke.wasm" --input '{"topic": "pythons"}' >/dev/null
    end=$(date +%s.%N)
    printf '%s: %.3f s\n' "$run" "$(echo "$end - $start" | bc)"
done
