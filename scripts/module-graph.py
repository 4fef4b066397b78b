#!/usr/bin/env python3
"""Prints the graph of `use crate::` edges between pgchaos's top-level modules (non-test
code) as a Mermaid diagram, and fails if the graph has a cycle.

    python3 scripts/module-graph.py            # Mermaid, for docs/architecture.md
    python3 scripts/module-graph.py --check    # only the cycle check
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*(\{|;)")


def edges():
    out = {}
    for d, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".rs") or f == "tests.rs" or f.endswith("_tests.rs"):
                continue
            path = os.path.join(d, f)
            parts = os.path.relpath(path, SRC).split(os.sep)
            top = parts[0][:-3] if len(parts) == 1 else parts[0]
            if top in ("main", "lib"):
                continue
            text = open(path, encoding="utf-8").read()
            m = TEST_MOD.search(text)
            if m:
                text = text[: m.start()]
            text = re.sub(r"//[^\n]*", "", text)
            out.setdefault(top, set())
            for m in re.finditer(r"crate::([a-z_0-9]+)", text):
                if m.group(1) != top:
                    out[top].add(m.group(1))
    return out


def cycles(g):
    index, low, stack, on, found, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def main():
    g = edges()
    bad = cycles(g)
    if "--check" not in sys.argv:
        print("```mermaid")
        print("graph TD")
        for a in sorted(g):
            for b in sorted(g[a]):
                print(f"    {a} --> {b}")
        print("```")
    if bad:
        print("import cycles between modules: " + "; ".join(" <-> ".join(c) for c in bad),
              file=sys.stderr)
        sys.exit(1)
    print(f"{len(g)} modules, {sum(len(v) for v in g.values())} edges, no cycle",
          file=sys.stderr)


if __name__ == "__main__":
    main()
