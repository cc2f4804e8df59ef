#!/usr/bin/env python3
"""Per-state cost breakdown of a `perf record --call-graph dwarf` profile of
`rmapcheck check` (docs/speed.md). Reads `perf script` output on stdin and
assigns every sample to one phase of the BFS by the frames on its stack, the
first rule that matches winning; prints percent per phase and, given the
run's generated successor count and its CPU seconds, ns per generated state.
usage: perf script -i perf.data -F comm,ip,sym | phases.py [GENERATED CPU_SECS]
"""
import sys

# (phase, substrings of a frame that put a sample in it), first match wins.
RULES = [
    ("symmetry representative", ["canon::representative", "canon::sorted_keys", "canon::process_key"]),
    ("canonicalisation (normalize)", ["canon::normalize", "canon::renumber"]),
    ("state clone per successor", ["<rmapcheck_model::state::State as core::clone::Clone>::clone"]),
    ("fingerprint (encoding or Hash walk, + XXH3)", ["bfs::fingerprint::fingerprint"]),
    ("invariants", ["Explorer::violations", "Explorer::check", "rmapcheck_invariants::"]),
    ("enabled actions", ["enabled_actions"]),
    ("successor generation (kernel model)", ["rmapcheck_model::step::step"]),
    ("frontier decode", ["frontier::decode"]),
    ("frontier encode", ["frontier::encode"]),
    ("seen-set lookup", ["FpSet::contains", "FpSet::prefetch", "hashbrown::"]),
    ("state drop", ["drop_in_place<rmapcheck_model::state::State>"]),
    ("insert phase", ["bfs::Search::insert", "fpset::Table::insert", "FpSet::insert"]),
]


def main():
    counts, total, stack = {}, 0, []

    def flush():
        nonlocal total
        if not stack:
            return
        total += 1
        phase = "other (allocator, level bookkeeping, kernel)"
        for name, keys in RULES:
            if any(k in f for f in stack for k in keys):
                phase = name
                break
        counts[phase] = counts.get(phase, 0) + 1
        stack.clear()

    for line in sys.stdin:
        if not line.strip():
            flush()
        elif line[0] in " \t":
            stack.append(line.strip())
        else:
            flush()
    flush()
    gen = float(sys.argv[1]) if len(sys.argv) > 2 else None
    cpu = float(sys.argv[2]) if len(sys.argv) > 2 else None
    print(f"| phase | share | ns per generated state |\n|---|---|---|")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        ns = f"{cpu * 1e9 * n / total / gen:.0f}" if gen else "-"
        print(f"| {name} | {100 * n / total:.1f}% | {ns} |")
    if gen:
        print(f"| total | 100% | {cpu * 1e9 / gen:.0f} |")
    print(f"({total} samples)")


main()
