#!/usr/bin/env python3
"""Print the file dependency graph of src/*.c and fail on a cycle.

A file A depends on file B when A calls, or takes the address of, a
function defined in B, or names a global variable defined in B.  The
definitions are found the OpenBSD way: a function's name starts its line
("name(" at column 0), a global is a declaration at column 0 ending in
";" or "=" that is not static, extern or a prototype.

Usage: depgraph.py [--dot] SRCDIR
Exit status: 0 no cycle, 1 a cycle (each strongly connected group of
files is printed), 2 usage.
"""
import os
import re
import sys

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FUNC_DEF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")
GLOBAL_DEF = re.compile(
    r"^(?!static\b|extern\b|typedef\b|#)[A-Za-z_][^();{}]*?"
    r"\b(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^\]]*\])*\s*(?:=|;)")


def strip(text):
    """Remove comments, string and character literals, keep newlines."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def definitions(text):
    funcs, globs, statics = set(), set(), set()
    prev = ""
    depth = 0
    for line in text.split("\n"):
        if depth == 0:
            m = FUNC_DEF.match(line)
            if m and not prev.rstrip().endswith(";"):
                if prev.startswith("static") or prev.startswith(
                        "static ") or "static" in prev.split():
                    statics.add(m.group(1))
                else:
                    funcs.add(m.group(1))
            m = GLOBAL_DEF.match(line)
            if m and "(" not in line.split("=")[0]:
                globs.add(m.group("name"))
        depth += line.count("{") - line.count("}")
        if line.strip():
            prev = line
    return funcs, globs, statics


def graph(srcdir):
    files = sorted(f for f in os.listdir(srcdir) if f.endswith(".c"))
    texts, owner = {}, {}
    for f in files:
        with open(os.path.join(srcdir, f), encoding="utf-8") as fp:
            texts[f] = strip(fp.read())
        funcs, globs, _ = definitions(texts[f])
        for name in funcs | globs:
            owner.setdefault(name, f)
    edges = {f: {} for f in files}
    for f in files:
        _, _, statics = definitions(texts[f])
        for m in IDENT.finditer(texts[f]):
            name = m.group(0)
            g = owner.get(name)
            if g is None or g == f or name in statics:
                continue
            edges[f].setdefault(g, set()).add(name)
    return files, edges


def sccs(files, edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in files:
        if v not in index:
            visit(v)
    return out


def main(argv):
    dot = "--dot" in argv
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        sys.stderr.write("usage: depgraph.py [--dot] SRCDIR\n")
        return 2
    files, edges = graph(args[0])
    if dot:
        print("digraph src {")
        for f in files:
            for g in sorted(edges[f]):
                print('  "%s" -> "%s";' % (f, g))
        print("}")
    else:
        for f in files:
            print("%s -> %s" % (f, " ".join(sorted(edges[f])) or "-"))
    cycles = [c for c in sccs(files, edges) if len(c) > 1]
    narrows = sum(len(e) for e in edges.values())
    if not cycles:
        print("no cycle among %d files (%d arrows)" % (len(files), narrows))
        return 0
    for c in cycles:
        print("CYCLE among %s:" % " ".join(c))
        for f in c:
            for g in sorted(edges[f]):
                if g in c:
                    print("  %s -> %s: %s" % (f, g,
                                              " ".join(sorted(edges[f][g]))))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
