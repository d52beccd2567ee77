#!/usr/bin/env python3
"""Second opinion on a differential case: replays the calls of a case in
wasmtime (`pip install wasmtime`) and prints each outcome next to
vibewasm's, then every exported global and a hash of every exported memory.

    fuzz/replay_wasmtime.py /tmp/vibewasm-differential-SEED.wasm calls.txt

calls.txt holds the "calls:" lines the differential test prints for a
case that did not agree, e.g.
    "3" [I32(7), F64(4607182418800017408)] -> Values([I32(1)])
"""
import hashlib
import re
import struct
import sys

import wasmtime


def value(token):
    kind, val = re.match(r'(\w+)\((.*)\)', token).groups()
    if kind in ('I32', 'I64'):
        return int(val)
    if kind == 'F64':
        return struct.unpack('<d', struct.pack('<Q', int(val)))[0]
    if kind == 'F32':
        return struct.unpack('<f', struct.pack('<I', int(val)))[0]
    return None  # FuncRef(None), ExternRef(None)


def main():
    wasm = open(sys.argv[1], 'rb').read()
    engine = wasmtime.Engine(wasmtime.Config())
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, wasm)
    instance = wasmtime.Instance(store, module, [])
    exports = instance.exports(store)
    for line in open(sys.argv[2]).read().splitlines():
        m = re.match(r'\s*"(.*?)" \[(.*?)\] -> (.*)', line)
        if not m:
            continue
        name, args, vibewasm = m.groups()
        args = [value(t) for t in re.findall(r'\w+\([^)]*\)', args)]
        try:
            out = repr(exports[name](store, *args))
        except Exception as e:  # a trap
            traps = [l.strip() for l in str(e).splitlines() if 'trap' in l]
            out = 'trap: ' + (traps[0] if traps else str(e).splitlines()[0])
        print(f'{name!r}: wasmtime {out[:70]} | vibewasm {vibewasm[:70]}')
    for export in module.exports:
        item = exports[export.name]
        if isinstance(item, wasmtime.Global):
            print(f'global {export.name!r} = {item.value(store)!r}')
        elif isinstance(item, wasmtime.Memory):
            data = bytes(item.read(store, 0, item.data_len(store)))
            print(f'memory {export.name!r}: {len(data)} bytes, '
                  f'sha256 {hashlib.sha256(data).hexdigest()[:16]}')


if __name__ == '__main__':
    main()
