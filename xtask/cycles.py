#!/usr/bin/env python3
"""cycles.py SRC_DIR -- import circles between the files of one crate (exit 1 when there is one).

Run by the test `no_import_circles` (xtask/src/test.rs) over every crate of the workspace.

Reads every `use` item (braces expanded, relative `self::`/`super::`/child paths resolved) and
every `crate::…`/`super::…` path written in code (not in comments), maps each path to the file
that defines its longest module prefix, and prints the file graph's strongly connected
components of more than one file (each a circle), with the edges inside them. Inline modules
(`mod tests { … }`) count as part of their file. `mod x;` declarations are not edges.
With --docs, intra-doc links (`[..](crate::…)`) count as edges too."""
import os
import re
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
docs = "--docs" in sys.argv
src = os.path.abspath(args[0])

# module path (tuple) -> file
modules = {}
for root, _, names in os.walk(src):
    for name in names:
        if not name.endswith(".rs"):
            continue
        path = os.path.join(root, name)
        rel = os.path.relpath(path, src)[:-3].split(os.sep)
        if rel[0] in ("main", "bin"):
            continue  # other crates: they reach this one by its name, not `crate::`
        if rel == ["lib"]:
            mod = ()
        elif rel[-1] == "mod":
            mod = tuple(rel[:-1])
        else:
            mod = tuple(rel)
        modules[mod] = path


def file_of(segments):
    for n in range(len(segments), -1, -1):
        if tuple(segments[:n]) in modules:
            return modules[tuple(segments[:n])]
    return None


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]"""
    tree = tree.strip()
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner = tree[:start], tree[start + 1 : i]
                parts, d, last = [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        d += 1
                    elif c == "}":
                        d -= 1
                    elif c == "," and d == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                return [r for p in parts if p.strip() for r in expand(prefix + p.strip())]
    return [re.sub(r"\s+as\s+\w+$", "", tree)]


def resolve(segments, here, inline_depth, children):
    """Absolute module segments of a path written in the module `here`."""
    base = list(here)
    segs = list(segments)
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] == "self":
        return base + segs[1:]
    if segs[0] == "super":
        while segs and segs[0] == "super":
            segs.pop(0)
            if inline_depth > 0:
                inline_depth -= 1  # `super` of an inline module is its file's module
            else:
                base = base[:-1]
        return base + segs
    if segs[0] in children:
        return base + segs
    return None  # std, an external crate, or a local name


STRIP = re.compile(r'"(\\.|[^"\\])*"|//.*$')
edges = {}
for mod, path in modules.items():
    text = open(path, encoding="utf-8").read()
    children = {
        m.group(1)
        for m in re.finditer(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+(\w+)\s*;", text, re.M)
    }
    lines = text.split("\n")
    code_lines, inline_at = [], []
    depth, inline_stack = 0, []
    for line in lines:
        if docs:
            for m in re.finditer(r"\]\(((?:crate|super|self)::[\w:]+)\)", line):
                code_lines.append((m.group(1), len(inline_stack)))
        code = STRIP.sub("", line)
        if re.match(r"^\s*(pub(\([a-z]+\))?\s+)?mod\s+\w+\s*\{", code):
            inline_stack.append(depth)
        code_lines.append((code, len(inline_stack)))
        depth += code.count("{") - code.count("}")
        while inline_stack and depth <= inline_stack[-1]:
            inline_stack.pop()
    found = set()
    # `use` items, possibly over several lines
    joined, buf, buf_depth = [], None, 0
    for code, d in code_lines:
        if buf is None:
            m = re.match(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?use\s+(.*)$", code)
            if m:
                buf, buf_depth = m.group(1), d
        else:
            buf += " " + code
        if buf is not None and ";" in buf:
            joined.append((buf.split(";")[0], buf_depth))
            buf = None
    for tree, d in joined:
        for item in expand(tree):
            segs = [s for s in item.split("::") if s and s != "*"]
            target = resolve(segs, mod, d, children) if segs else None
            if target is not None:
                found.add(file_of(target))
    # paths written in code
    for code, d in code_lines:
        for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", code):
            segs = m.group(1).split("::")
            found.add(file_of(resolve(segs, mod, d, children)))
    found.discard(None)
    found.discard(path)
    edges[path] = found

# Tarjan's strongly connected components
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]


def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            strong(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        scc = []
        while True:
            w = stack.pop()
            on.discard(w)
            scc.append(w)
            if w == v:
                break
        if len(scc) > 1:
            sccs.append(sorted(scc))


sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index:
        strong(v)
rel = lambda p: os.path.relpath(p, os.path.dirname(src))
print(f"{len(edges)} files, {sum(len(e) for e in edges.values())} edges, {len(sccs)} circles")
for scc in sccs:
    print("circle: " + ", ".join(rel(f) for f in scc))
    for f in scc:
        for t in sorted(edges[f]):
            if t in scc:
                print(f"  {rel(f)} -> {rel(t)}")
sys.exit(1 if sccs else 0)
