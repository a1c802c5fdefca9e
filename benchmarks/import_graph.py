"""Import graph of the musicrnn package, from the `import` statements (ast), both eager
(module level) and lazy (inside a function). Reports:
  1. cycles between modules (strongly connected components), eager imports only and all;
  2. imports between subpackages (core, codec, style, tasks) and cycles between them;
  3. upward imports out of the core (core -> any other part of musicrnn);
  4. private names (leading underscore) imported from a different subpackage.
Usage: python benchmarks/import_graph.py [ROOT]  (ROOT holds musicrnn/, default .)"""

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
PKG = ROOT / "musicrnn"
SUBPKGS = ("core", "codec", "style", "tasks")


def modname(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


files = {modname(p): p for p in PKG.rglob("*.py")}
ispkg = {m for m, p in files.items() if p.name == "__init__.py"}


def resolve(mod: str, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = mod.split(".") if mod in ispkg else mod.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


edges = defaultdict(lambda: defaultdict(set))  # a -> b -> {(line, lazy)}
private = []
for mod, path in sorted(files.items()):
    tree = ast.parse(path.read_text(), str(path))
    lazy_nodes = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lazy_nodes |= {id(n) for n in ast.walk(fn)}
    for node in ast.walk(tree):
        lazy = id(node) in lazy_nodes
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "musicrnn":
                    edges[mod][a.name].add((node.lineno, lazy))
        elif isinstance(node, ast.ImportFrom):
            src = resolve(mod, node.level, node.module)
            if src.split(".")[0] != "musicrnn":
                continue
            for a in node.names:
                sub = f"{src}.{a.name}"
                tgt = sub if sub in files else src
                edges[mod][tgt].add((node.lineno, lazy))
                if a.name.startswith("_") and not a.name.startswith("__") and tgt == src:
                    a_sub = mod.split(".")[1] if mod.count(".") else mod
                    b_sub = src.split(".")[1] if src.count(".") else src
                    if a_sub != b_sub:
                        private.append(f"{files[mod].relative_to(ROOT)}:{node.lineno}: from {src} import {a.name}")


def sccs(graph):
    index, low, stack, on, out, i = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = i[0]
        i[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def graph(eager_only: bool):
    g = defaultdict(set)
    for a, bs in edges.items():
        for b, where in bs.items():
            if a != b and (not eager_only or any(not lazy for _, lazy in where)):
                g[a].add(b)
    return g


def show_cycles(title, g):
    comps = sccs(g)
    print(f"{title}: {len(comps) or 'none'}")
    for c in comps:
        print("  cycle:", " <-> ".join(c))
        for a in c:
            for b in sorted(g[a]):
                if b in c:
                    lines = sorted(edges[a][b])
                    where = ", ".join(f"{n}" + (" lazy" if lz else "") for n, lz in lines)
                    print(f"    {a} -> {b}  (line {where})")


def part(m: str) -> str:
    p = m.split(".")
    return p[1] if len(p) > 1 and p[1] in SUBPKGS else ("musicrnn" if len(p) == 1 else f"top:{p[1]}")


show_cycles("module cycles, eager (module-level) imports", graph(True))
show_cycles("module cycles, all imports (lazy included)", graph(False))

pg = defaultdict(set)
for a, bs in edges.items():
    for b in bs:
        if part(a) != part(b) and part(a) in SUBPKGS and part(b) in SUBPKGS:
            pg[part(a)].add(part(b))
print("subpackage imports:", {k: sorted(v) for k, v in sorted(pg.items())})
comps = sccs(pg)
print(f"subpackage cycles: {len(comps) or 'none'}")
for c in comps:
    print("  cycle:", " <-> ".join(c))
    for a, bs in sorted(edges.items()):
        for b, where in sorted(bs.items()):
            if part(a) in c and part(b) in c and part(a) != part(b):
                print(f"    {files[a].relative_to(ROOT)}:{','.join(str(n) + (' lazy' if lz else '') for n, lz in sorted(where))}: {a} -> {b}")
print("subpackages importing top-level modules of musicrnn:")
for a, bs in sorted(edges.items()):
    for b, where in sorted(bs.items()):
        if part(a) in SUBPKGS and part(b).startswith("top:"):
            print(f"  {files[a].relative_to(ROOT)}:{','.join(str(n) + (' lazy' if lz else '') for n, lz in sorted(where))}: {a} -> {b}")

print("core imports of other parts of musicrnn:")
n = 0
for a, bs in sorted(edges.items()):
    if part(a) != "core":
        continue
    for b, where in sorted(bs.items()):
        if part(b) != "core" and b != "musicrnn":
            for line, lazy in sorted(where):
                n += 1
                print(f"  {files[a].relative_to(ROOT)}:{line}: {a} -> {b}{' (lazy)' if lazy else ''}")
print(f"  {n or 'none'}")
print("private names imported across subpackages:")
for p in private:
    print("  " + p)
print(f"  {len(private) or 'none'}")
