#!/usr/bin/env python3
"""Import loops in a Rust crate, from its `use` lines and `crate::`/`super::` paths.

Each file is a module; every path is resolved through `mod` declarations and `pub use`
re-exports to the module that defines the item, so `crate::index::Index` counts as a dependency
on `index/handle.rs`, not on `index/mod.rs`. Reported, and failing (exit 1):
- a cycle between files;
- a cycle between the children of one module, each child taken with everything under it
  (e.g. `index::read` <-> `index::snapshot`);
- a dependency the layout forbids (`--forbid FROM=TO`, module paths, prefixes match).

Usage: check-imports.py CRATE_SRC [CRATE_SRC ...] [--forbid index::read=index::write ...]
"""
import re
import sys
from pathlib import Path

USE_RE = re.compile(r"\b(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
PATH_RE = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
MOD_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return strip_test_modules(text)


def strip_test_modules(text):
    """Drop `#[cfg(test)] mod name { ... }`: a test may build its fixtures with any module."""
    out, pos = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < pos:
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append(text[pos : m.start()])
        pos = i
    out.append(text[pos:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d, e as f}, self}` -> [[a,b], [a,c,d], [a,c,e], [a]] (aliases dropped)."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, s):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:i])
                start = i + 1
        parts.append(s[start:])
        for p in filter(None, parts):
            if "{" in p:
                head, rest = p.split("{", 1)
                walk(prefix + [x for x in head.split("::") if x], rest[: rest.rindex("}")])
            else:
                p = p.split("as")[0] if re.search(r"[a-z0-9_]as[A-Za-z_]", p) is None else p
                segs = [x for x in re.split(r"::", re.sub(r"as[A-Za-z_][A-Za-z0-9_]*$", "", p)) if x]
                segs = [x for x in segs if x != "*"]
                out.append(prefix + [x for x in segs if x != "self"] if segs != ["self"] else prefix)

    walk([], tree)
    return out


class Crate:
    def __init__(self, src):
        self.src = Path(src)
        self.files = {}  # module path (tuple) -> file
        self.children = {}  # module -> set of child names
        self.aliases = {}  # (module, name) -> path segments (relative to module)
        root = self.src / "lib.rs"
        if not root.exists():
            root = self.src / "main.rs"
        self.load((), root)

    def load(self, module, path):
        self.files[module] = path
        text = strip_comments(path.read_text())
        self.children[module] = set()
        # Inline `mod name { ... }` blocks count as part of their file.
        for name in MOD_RE.findall(text):
            base = path.parent if path.name in ("mod.rs", "lib.rs", "main.rs") else path.with_suffix("")
            for cand in (base / f"{name}.rs", base / name / "mod.rs"):
                if cand.exists():
                    self.children[module].add(name)
                    self.load(module + (name,), cand)
                    break
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for segs in expand(m.group(1)):
                if segs:
                    self.aliases[(module, segs[-1])] = segs

    def absolute(self, module, segs):
        """Segments relative to `module` (crate/super/self/child/extern) -> absolute, or None."""
        segs = list(segs)
        cur = module
        if segs and segs[0] == "crate":
            cur, segs = (), segs[1:]
        elif segs and segs[0] in ("super", "self"):
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    cur = cur[:-1]
                segs = segs[1:]
        elif not segs or segs[0] not in self.children.get(module, ()):
            return None  # an external crate or a local name
        return cur, segs

    def resolve(self, module, segs, depth=0):
        """The module that defines what `segs` (seen from `module`) names."""
        start = self.absolute(module, segs)
        if start is None or depth > 20:
            return None
        cur, rest = start
        while rest:
            name = rest[0]
            if name in self.children.get(cur, ()):
                cur, rest = cur + (name,), rest[1:]
            elif (cur, name) in self.aliases:
                target = self.resolve(cur, self.aliases[(cur, name)], depth + 1)
                if target is None:
                    return cur
                return target if len(rest) == 1 else (self.resolve(target, ["self"] + rest[1:], depth + 1) or target)
            else:
                break
        return cur

    def edges(self):
        out = {m: set() for m in self.files}
        for module, path in self.files.items():
            text = strip_comments(path.read_text())
            paths = [segs for m in USE_RE.finditer(text) for segs in expand(m.group(1))]
            paths += [p.split("::") for p in PATH_RE.findall(text)]
            for segs in paths:
                if not segs:
                    continue
                # A bare child name in a `use` (e.g. `use read::search;` in mod.rs) is relative.
                target = self.resolve(module, segs)
                if target is None or target == module:
                    continue
                # A module's own `mod`/`pub use` of its descendants is structure, not a dependency.
                if target[: len(module)] == module:
                    continue
                out[module].add(target)
        return out


def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
            strong(v)
    return out


def name(m):
    return "::".join(m) or "crate"


def main(argv):
    forbid = []
    srcs = []
    it = iter(argv)
    for a in it:
        if a == "--forbid":
            f, t = next(it).split("=")
            forbid.append((tuple(f.split("::")), tuple(t.split("::"))))
        else:
            srcs.append(a)
    failed = False
    for src in srcs:
        crate = Crate(src)
        edges = crate.edges()
        n_edges = sum(len(v) for v in edges.values())
        for comp in sccs(edges):
            failed = True
            print(f"{src}: files import each other in a loop: {', '.join(map(name, comp))}")
        # Between the children of each module, each child collapsed with its descendants.
        for parent, kids in crate.children.items():
            graph = {k: set() for k in kids}
            for m, targets in edges.items():
                if m[: len(parent)] != parent or len(m) <= len(parent):
                    continue
                a = m[len(parent)]
                for t in targets:
                    if t[: len(parent)] == parent and len(t) > len(parent) and t[len(parent)] != a:
                        graph[a].add(t[len(parent)])
            for comp in sccs(graph):
                failed = True
                print(f"{src}: modules under {name(parent)} import each other in a loop: {', '.join(comp)}")
        for f, t in forbid:
            for m, targets in edges.items():
                for x in targets:
                    if m[: len(f)] == f and x[: len(t)] == t:
                        failed = True
                        print(f"{src}: {name(m)} imports {name(x)}, which the layout forbids ({name(f)} -> {name(t)})")
        print(f"{src}: {len(crate.files)} modules, {n_edges} imports checked")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
