#!/usr/bin/env bash
# Installs what wflow needs on a machine with Rust: the wasm32-wasip2 target
# that guest components are built for.
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
    echo "wflow needs Rust: install it from https://rustup.rs" >&2
    exit 1
fi
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
