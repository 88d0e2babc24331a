#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The manual is whole: generate it into a scratch directory and check
that there is a section-3 page per public call and a section-7 page per
header DOC comment, that each has NAME, SYNOPSIS and DESCRIPTION, that
baton_host_update(3) tells about BATON_HANDED_OVER, and that every page
(man/baton.1.in too) renders with groff without a warning; without groff
the check fails.

usage: check_man_pages.py SOURCE_ROOT
"""

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile


def load(path):
    loader = importlib.machinery.SourceFileLoader('baton_doc_check', path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def main(src):
    failures = []
    dc = load(os.path.join(src, 'scripts', 'doc-check'))
    headers = dc.public_headers(os.path.join(src, 'include'))
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, os.path.join(src, 'scripts',
                                                     'man-pages'),
                        '--include', os.path.join(src, 'include'),
                        '--outdir', out], check=True)
        pages = sorted(os.listdir(out))
        want = {d.name + '.3' for h in headers for d in h.decls}
        want |= {('libbaton' if h.name == 'baton.h' else
                  'baton-' + h.name[:-2].replace('_', '-')) + '.7'
                 for h in headers if h.overview()}
        for name in sorted(want - set(pages)):
            failures.append('%s: not generated' % name)
        for name in sorted(set(pages) - want):
            failures.append('%s: generated, but for no call or DOC' % name)

        texts = {}
        for name in pages:
            with open(os.path.join(out, name), encoding='utf-8') as f:
                texts[name] = f.read()
            for sh in ('.SH NAME', '.SH SYNOPSIS', '.SH DESCRIPTION'):
                if sh not in texts[name]:
                    failures.append('%s: no %s' % (name, sh))
            if name.endswith('.3') and '.SH SEE ALSO' not in texts[name]:
                failures.append('%s: no .SH SEE ALSO' % name)
        page = texts.get('baton_host_update.3', '')
        if 'BATON_HANDED_OVER' not in page:
            failures.append('baton_host_update.3: BATON_HANDED_OVER is '
                            'not mentioned')
        if '.SH RETURN VALUE' not in page:
            failures.append('baton_host_update.3: no .SH RETURN VALUE')

        # A page that is never rendered is never checked: without groff
        # (scripts/deps installs groff-base) this fails, it does not pass.
        groff = shutil.which('groff')
        if not groff:
            failures.append('groff is not installed: the pages cannot be '
                            'rendered (run scripts/deps as root)')
        paths = [os.path.join(out, p) for p in pages] + \
            [os.path.join(src, 'man', 'baton.1.in')]
        for path in paths if groff else []:
            r = subprocess.run([groff, '-man', '-Tutf8', '-ww', '-z', path],
                               capture_output=True, text=True)
            if r.returncode or r.stderr.strip():
                failures.append('%s: groff: %s' % (os.path.basename(path),
                                                    r.stderr.strip()))
    for f in failures:
        print(f)
    print('%d pages: %s' % (len(pages), 'FAILED' if failures else 'ok'))
    return 1 if failures else 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
