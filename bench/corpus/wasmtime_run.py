#!/usr/bin/env python3
"""Runs a WASI preview1 program under wasmtime (PyPI package `wasmtime`),
the independent engine the corpus's expected outputs come from.

    python3 wasmtime_run.py PROG.wasm [ARGS...]

Writes the program's stdout and stderr to ours and exits with its exit
status (a trap: message on stderr, exit status 3, as `vibewasmc run`).
argv[0] is the file name without directory or `.wasm`, no environment
variables, no preopened directories.
"""
import os
import sys
import tempfile

import wasmtime


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = sys.argv[1]
    name = os.path.basename(path)
    if name.endswith(".wasm"):
        name = name[: -len(".wasm")]
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, path)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "stdout")
        err_path = os.path.join(tmp, "stderr")
        wasi = wasmtime.WasiConfig()
        wasi.argv = [name] + sys.argv[2:]
        wasi.stdout_file = out_path
        wasi.stderr_file = err_path
        store.set_wasi(wasi)
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        status = 0
        try:
            start(store)
        except wasmtime.ExitTrap as e:
            status = e.code
        except wasmtime.Trap as e:
            print(f"trap: {e}", file=sys.stderr)
            status = 3
        del store
        sys.stdout.flush()
        with open(out_path, "rb") as f:
            sys.stdout.buffer.write(f.read())
        with open(err_path, "rb") as f:
            sys.stderr.buffer.write(f.read())
    return status


if __name__ == "__main__":
    sys.exit(main())
