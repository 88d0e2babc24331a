#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libbaton exports its public API and nothing else (docs/abi.md).

Three lists must be one: the functions declared in include/baton/ (read
with scripts/doc-check's parser), the names in lib/libbaton.map, and the
symbols the built shared library exports (nm -D), each under the map's
one version node.  Each name missing from a list is reported, both ways.
The version in version.h must be the project's, and the soname must be
libbaton.so.MAJOR.  And the library needs no libkmod: the kernel path opens
it in the child that uses it (lib/kernel/kmod.c), so that a program does
not load it, and libcrypto with it, at every start.  TAP output.

usage: check_exports.py SOURCE_ROOT LIBBATON_SO PROJECT_VERSION
"""

import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys

n = failed = 0


def tap(good, what, *detail):
    global n, failed
    n += 1
    failed += not good
    print('%s %d - %s' % ('ok' if good else 'not ok', n, what))
    for line in detail if not good else ():
        print('#   %s' % line)


def declared(src):
    """The functions the public headers declare."""
    path = os.path.join(src, 'scripts', 'doc-check')
    loader = importlib.machinery.SourceFileLoader('doc_check', path)
    spec = importlib.util.spec_from_loader('doc_check', loader)
    doc_check = importlib.util.module_from_spec(spec)
    loader.exec_module(doc_check)
    return {d.name for h in doc_check.public_headers(os.path.join(src, 'include'))
            for d in h.decls if d.kind == 'function'}


def mapped(src):
    """The names the version script exports, and its version nodes."""
    with open(os.path.join(src, 'lib', 'libbaton.map')) as f:
        text = re.sub(r'/\*.*?\*/', '', f.read(), flags=re.S)
    nodes = re.findall(r'^\s*(\w+)\s*\{', text, flags=re.M)
    glob = re.search(r'global:(.*?)local:', text, flags=re.S)
    names = set(re.findall(r'(\w+)\s*;', glob.group(1))) if glob else set()
    return names, nodes


def exported(lib):
    """{name: version node} of the defined dynamic symbols, and the soname."""
    out = subprocess.run(['nm', '-D', '--defined-only', '--with-symbol-versions', lib],
                         capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        # ADDR TYPE NAME@@NODE; the node's own symbol is of type A.
        name, _, node = line.split()[-1].partition('@@')
        syms[name] = node.lstrip('@') or None
    dyn = subprocess.run(['objdump', '-p', lib], capture_output=True, text=True,
                         check=True).stdout
    soname = re.search(r'SONAME\s+(\S+)', dyn)
    needed = re.findall(r'NEEDED\s+(\S+)', dyn)
    return syms, soname.group(1) if soname else None, needed


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    src, lib, version = argv[1:]
    headers = declared(src)
    names, nodes = mapped(src)
    syms, soname, needed = exported(lib)

    tap(len(nodes) == 1, 'the version script has one version node', 'nodes: %s' % nodes)
    tap(headers == names, 'the version script names exactly the declared functions',
        *['declared, not in the map: %s' % s for s in sorted(headers - names)],
        *['in the map, declared nowhere: %s' % s for s in sorted(names - headers)])
    funcs = {s for s in syms if s not in nodes}
    tap(headers <= funcs, 'every declared function is exported',
        *['not exported: %s' % s for s in sorted(headers - funcs)])
    tap(funcs <= headers, 'nothing else is exported',
        *['exported, declared nowhere: %s' % s for s in sorted(funcs - headers)])
    tap(nodes and all(syms[s] == nodes[0] for s in funcs),
        'every export is under the version node %s' % (nodes[:1] or ['?']),
        *['%s: %s' % (s, syms[s]) for s in sorted(funcs) if nodes and syms[s] != nodes[0]])

    with open(os.path.join(src, 'include', 'baton', 'version.h')) as f:
        text = f.read()
    header = '.'.join(re.search(r'#define BATON_VERSION_%s (\d+)' % part, text).group(1)
                      for part in ('MAJOR', 'MINOR', 'PATCH'))
    tap(header == version, 'version.h says %s, the project %s' % (header, version))
    tap(soname == 'libbaton.so.%s' % version.split('.')[0],
        'the soname is libbaton.so.MAJOR', 'soname: %s' % soname)
    tap(needed and not any(lib.startswith(('libkmod.', 'libelf.')) for lib in needed),
        'the library needs neither libkmod nor libelf at start', 'NEEDED: %s' % needed)
    print('1..%d' % n)
    print('# %d passed, %d failed' % (n - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
