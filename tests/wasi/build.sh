#!/bin/sh
# Rebuilds the WASI test programs (*.c -> *.wasm). The .wasm files are
# committed, so tests and CI never need this; run it after changing a
# source. Needs clang, lld and wasi-libc for wasm32-wasi, e.g. on Debian 12:
#   apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32
# Debian's wasi-libc lives in /usr (no --sysroot needed); a wasi-sdk style
# sysroot is used when WASI_SYSROOT is set or /usr/share/wasi-sysroot exists.
set -eu
cd "$(dirname "$0")"
cc=${CC:-clang}
sysroot=${WASI_SYSROOT:-}
if [ -z "$sysroot" ] && [ -d /usr/share/wasi-sysroot ]; then
    sysroot=/usr/share/wasi-sysroot
fi
set -- --target=wasm32-wasi -mcpu=mvp -O2 -s -Wall -Wextra
if [ -n "$sysroot" ]; then
    set -- "$@" --sysroot="$sysroot"
fi
for src in *.c; do
    "$cc" "$@" -o "${src%.c}.wasm" "$src"
    echo "built ${src%.c}.wasm"
done
