#!/usr/bin/env python3
"""The README's Wasm 3.0 conformance table, file by file.

Runs every top-level script of the 3.0 suite (and of legacy/) through
`vibewasmc wast -v --no-fail` and prints a Markdown table: passed, failed
and skipped per file, and for a file with failures what they need, read
from the runner's messages (the validator names the missing proposal).

    tests/spec/conformance.py target/release/vibewasmc ../shared/spec-testsuite/wasm-3.0 \
        [--update README.md] [--bounds-checks explicit]

With `--update FILE`, the table replaces what lies between the lines
`<!-- conformance:begin -->` and `<!-- conformance:end -->` of FILE;
without, it is printed.
"""
import collections
import pathlib
import re
import subprocess
import sys

# What a failure message says -> what the file needs (first match wins).
NEEDS = [
    (r"cannot parse: unknown operator", "exception handling (legacy `try`, which the script parser refuses)"),
    (r"exception|exnref|\btag\b|try_table|throw", "exception handling"),
    (r"tail call", "tail calls"),
    (r"gc feature|gc proposal|\bgc\b|array|struct|i31|sub type|subtyp|rec group|cast", "GC"),
    (r"function.references|typed func|call_ref|non-nullable|br_on_null|ref\.as_non_null|concrete",
     "typed function references"),
    (r"global\.get of local", "GC (wasmparser takes `global.get` of a defined global in a "
     "constant only with GC)"),
    (r"limits 4294967295", "a table of 2^32 - 1 elements (refused when loaded)"),
    (r"unknown import", "a module registered before failed (its exports are missing)"),
    (r"shared|threads|atomic", "threads"),
    (r"custom page|page size", "custom page sizes"),
    (r"wide arithmetic", "wide arithmetic"),
]


def needs_of(message):
    text = message.lower()
    for pattern, name in NEEDS:
        if re.search(pattern, text):
            return name
    return None


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    vibewasmc, suite, extra = args[0], pathlib.Path(args[1]), args[2:]
    update = None
    if "--update" in extra:
        i = extra.index("--update")
        update = pathlib.Path(extra[i + 1])
        del extra[i:i + 2]
    files = sorted(suite.glob("*.wast")) + sorted((suite / "legacy").glob("**/*.wast"))
    out = subprocess.run(
        [vibewasmc, "wast", "-v", "--no-fail", *extra, *map(str, files)],
        capture_output=True, text=True, check=False,
    ).stdout
    counts = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+\.wast)\s+(\d+)\s+(\d+)\s+(\d+)$", line)
        if m:
            counts[m.group(1)] = tuple(int(g) for g in m.groups()[1:])
    reasons = collections.defaultdict(collections.Counter)
    current = None
    for line in out.splitlines():
        m = re.match(r"^(\S+\.wast) \(\d+ failed\)$", line)
        if m:
            current = m.group(1)
            continue
        if current and line.startswith("  line "):
            reasons[current][needs_of(line) or "other: " + line.split(": ", 2)[-1][:80]] += 1
    total = [0, 0, 0]
    lines = []
    print = lines.append  # noqa: A001 (the table is collected, then written)
    print("| file | passed | failed | skipped | what the failures need |")
    print("|---|---:|---:|---:|---|")
    for name in sorted(counts):
        passed, failed, skipped = counts[name]
        for i, n in enumerate(counts[name]):
            total[i] += n
        need = ", ".join(f"{k} ({v})" for k, v in reasons[name].most_common()) if failed else ""
        print(f"| `{name}` | {passed} | {failed} | {skipped} | {need} |")
    print(f"| **total ({len(counts)} files)** | **{total[0]}** | **{total[1]}** | **{total[2]}** | |")
    by_need = collections.Counter()
    for name, c in reasons.items():
        for k, v in c.items():
            by_need[k.split(":")[0]] += v
    print("")
    print("Failed assertions by what they need: " +
          ", ".join(f"{k} {v}" for k, v in by_need.most_common()) + ".")
    table = "\n".join(lines) + "\n"
    if update is None:
        sys.stdout.write(table)
        return
    text = update.read_text()
    begin, end = "<!-- conformance:begin -->\n", "<!-- conformance:end -->"
    start, stop = text.index(begin) + len(begin), text.index(end)
    update.write_text(text[:start] + table + text[stop:])


if __name__ == "__main__":
    main()
