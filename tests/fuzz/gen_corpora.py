#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the fuzz targets whose inputs are byte streams
in a harness's own record format (see the comment at the top of each
tests/fuzz/fuzz_*.c).  The messages in them are what the real writers
send: the requests `baton status` and `baton update` write (as
tools/baton/cmd_control.c builds them), the replies devsim gives the
vfio-user client, the messages baton_transfer_send() sends; then edge
cases around each.  Seeds that real code writes to files (ELF objects,
module trees, handover environments) are made by the harnesses
themselves: run a target with FUZZ_WRITE_SEEDS=DIR (see its comment).

usage: gen_corpora.py TARGET [DIR]   (default: tests/fuzz/corpus-TARGET)
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(d, name, data):
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- fuzz_control: ctl (1), len (2, LE), bytes ----

NOFD, PIPE, THREE, TWENTY = 0, 1, 2, 3
RUN, HANGUP, PAD = 0x10, 0x20, 0x40


def rec(data, ctl=RUN):
    return struct.pack('<BH', ctl, len(data)) + data


def line(obj):
    # json-c's plain form, as the baton command writes it
    return json.dumps(obj, separators=(',', ':')).encode() + b'\n'


def control(d):
    status = line({'cmd': 'status'})
    update = {'cmd': 'update', 'target': '/proc/self/exe', 'mode': 'exec',
              'dry_run': False, 'force': False}
    seeds = {
        'status': rec(status),
        'status-split-fds': rec(status[:3], PIPE) + rec(status[3:9], THREE | RUN) +
                            rec(status[9:], TWENTY | RUN),
        'status-twice': rec(status + status),
        'update-exec': rec(line(update)),
        'update-dry-run': rec(line(dict(update, dry_run=True))),
        'update-socket-reset': rec(line(dict(update, mode='socket', orphan='reset',
                                             timeout_ms=3000, force=True))),
        'update-quarantine-dry': rec(line(dict(update, orphan='quarantine',
                                               dry_run=True, timeout_ms=0))),
        'update-not-elf': rec(line(dict(update, target='/dev/null', dry_run=True))),
        'update-directory': rec(line(dict(update, target='/'))),
        'update-missing': rec(line(dict(update, target='/nonexistent/v2'))),
        'update-no-target': rec(line({'cmd': 'update'})),
        'update-bad-mode': rec(line(dict(update, mode='fork'))),
        'update-bad-orphan': rec(line(dict(update, orphan='drop'))),
        'update-types': rec(line({'cmd': 'update', 'target': 7, 'mode': None,
                                  'dry_run': 'yes', 'timeout_ms': -1})),
        'unknown-cmd': rec(line({'cmd': 'reboot'})),
        'not-object': rec(b'["status"]\n'),
        'not-json': rec(b'{"cmd":"status"\n'),
        'nul-in-line': rec(b'{"cmd":"st\0atus"}\n'),
        'cut-short': rec(status[:-1], PIPE | RUN),
        'empty-line': rec(b'\n'),
        'too-long': rec(b'{"cmd":"', PAD | RUN) + rec(b' ', PAD) + rec(b' ', PAD) +
                    rec(b' ', PAD | RUN) + rec(b'"}\n'),
        'hangups': rec(status[:5], HANGUP | RUN) + rec(status[5:], HANGUP | THREE | RUN),
    }
    for name, data in seeds.items():
        write(d, name + '.bin', data)


# ---- fuzz_kernel: file (1), len (2, LE), bytes; files[] of fuzz_kernel.c ----
# The target's module tree has a fixed index (kernel-index/, made here by
# depmod): edu_lu in extra/edu_lu.ko, edu_next in extra/edu_next.ko.xz,
# edu_zst in extra/edu_zst.ko.zst, edu_link in extra/edu_link.ko (a
# symbolic link in the target, to the record's bytes); an input gives the
# files' bytes.

(KO_LU, KO_NEXT, KO_ZST, KO_LINK,
 A_VENDOR, A_DEVICE, A_SUBVENDOR, A_SUBDEVICE, A_CLASS, A_SCHEMA, A_STATE, A_DRIVER,
 B_VENDOR, B_DEVICE, B_SUBVENDOR, B_SUBDEVICE, B_CLASS, B_SCHEMA, B_STATE, B_DRIVER,
 BAD_SCHEMA, NEXT_DRIVER, PROBE, A_RESET, A_OVERRIDE, B_OVERRIDE,
 LU_UNBIND) = range(27)

S0 = '0c2a9e1f4b7d4c6e8a1b2c3d4e5f6071'
S1 = '3f7174ac46a957ecb761b29cdbf15055'
S2 = '9b1c5d2e7f3a4b6c8d0e1f2a3b4c5d6e'
EDU = 'alias=pci:v00001234d000011E8sv*sd*bc*sc*i*'


def ko(name, *modinfo):
    """A module file as the compiler writes one (test_kernel.sh's way),
    cut down to its .modinfo section."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, name + '.c')
        with open(src, 'w') as f:
            for i, kv in enumerate(modinfo):
                f.write('static const char __attribute__((used, '
                        'section(".modinfo"))) i%d[] = "%s";\n' % (i, kv))
            f.write('int %s;\n' % name)
        obj = os.path.join(tmp, name + '.ko')
        subprocess.run(['cc', '-c', '-g0', '-o', obj, src], check=True)
        subprocess.run(['llvm-objcopy', '-j', '.modinfo', obj], check=True)
        with open(obj, 'rb') as f:
            return f.read()


def xz(data):
    import lzma
    # CRC32 as kmod's xz files have it (xz's default check is CRC64, also read).
    return lzma.compress(data, check=lzma.CHECK_CRC32)


def zst(data):
    import subprocess
    return subprocess.run(['zstd', '-q', '-c'], input=data, check=True,
                          stdout=subprocess.PIPE).stdout


def kernel_index():
    """tests/fuzz/kernel-index/: depmod's modules.alias.bin and
    modules.dep.bin of the target's tree."""
    import shutil
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        mods = os.path.join(tmp, 'lib/modules/0.0.0')
        os.makedirs(os.path.join(mods, 'extra'))
        files = {
            'edu_lu.ko': ko('edu_lu', EDU, 'alias=liveupdate:G' + S1),
            'edu_next.ko.xz': xz(ko('edu_next', EDU, 'alias=liveupdate:G' + S2,
                                    'alias=liveupdate:G' + S1)),
            'edu_zst.ko.zst': zst(ko('edu_zst', 'alias=liveupdate:G' + S0)),
            'edu_link.ko': ko('edu_link', EDU, 'alias=liveupdate:G' + S1),
        }
        for name, data in files.items():
            write(os.path.join(mods, 'extra'), name, data)
        subprocess.run(['depmod', '-b', tmp, '0.0.0'], check=True,
                       stderr=subprocess.DEVNULL)
        out = os.path.join(HERE, 'kernel-index')
        os.makedirs(out, exist_ok=True)
        for name in ('modules.alias.bin', 'modules.dep.bin'):
            shutil.copy(os.path.join(mods, name), os.path.join(out, name))


def frec(file, data):
    if isinstance(data, str):
        data = data.encode()
    return struct.pack('<BH', file, len(data)) + data


def device(prefix, schema, state, driver='edu_lu'):
    a = prefix
    return (frec(a + 0, '0x1234\n') + frec(a + 1, '0x11e8\n') +
            frec(a + 2, '0x1af4\n') + frec(a + 3, '0x1100\n') +
            frec(a + 4, '0x00ff00\n') + frec(a + 5, schema + '\n') +
            (frec(a + 6, state) if state is not None else b'') +
            (frec(a + 7, driver) if driver else b''))


def kernel(d):
    kernel_index()
    lu = ko('edu_lu', 'liveupdate_writes=' + S1, EDU, 'alias=liveupdate:G' + S1,
            'license=GPL')
    nxt = ko('edu_next', 'liveupdate_writes=' + S2, 'liveupdate_priority=5', EDU,
             'alias=liveupdate:G' + S2, 'alias=liveupdate:G' + S1, 'license=GPL')
    old = ko('edu_zst', 'liveupdate_writes=' + S0, 'alias=liveupdate:G' + S0)
    tree = (frec(KO_LU, lu) + frec(KO_NEXT, xz(nxt)) + frec(KO_ZST, zst(old)) +
            frec(KO_LINK, 'edu_lu.ko'))
    devices = (device(A_VENDOR, S1, b'\x01\x02\x03\x04') +
               device(B_VENDOR, S0, b'state of S0', driver=None))
    binder = (frec(NEXT_DRIVER, '') + frec(PROBE, '') + frec(A_OVERRIDE, '') +
              frec(B_OVERRIDE, '') + frec(LU_UNBIND, '') + frec(A_RESET, ''))
    seeds = {
        'tree': tree,
        'sysfs': devices,
        'bind': tree + devices + binder,
        'bind-no-override': tree + devices,
        'bad-alias': frec(KO_LU, ko('edu_lu', 'alias=liveupdate:Gnothex')) +
                     frec(KO_NEXT, xz(nxt)),
        'missing-files': frec(KO_LU, lu),
        'not-elf': frec(KO_LU, 'not a module') + frec(KO_NEXT, xz(nxt)[:100]) +
                   frec(KO_ZST, zst(b'not a module')),
        'truncated': frec(KO_LU, lu[:200]) + frec(KO_NEXT, xz(nxt)[:-20]) +
                     frec(KO_ZST, zst(old)[:40]),
        'link-loop': frec(KO_LU, lu) + frec(KO_LINK, 'edu_link.ko'),
        'bad-modinfo': frec(KO_LU, ko('edu_lu', 'liveupdate_writes=' + S1[:31],
                                      'liveupdate_priority=9999999999',
                                      'alias=liveupdate:G' + S1)) +
                       frec(KO_NEXT, xz(ko('edu_next', 'liveupdate_priority=-3x',
                                           'alias=liveupdate:G' + S2))) +
                       frec(KO_ZST, zst(ko('edu_zst', 'liveupdate_priority=',
                                           'alias=liveupdate:G' + S0, 'noequals'))),
        'no-ids': frec(KO_LU, ko('edu_lu', 'liveupdate_writes=' + S1,
                                 'alias=liveupdate:G' + S1)),
        'bad-ids': frec(A_VENDOR, 'vendor\n') + frec(A_SCHEMA, S1 + '\n'),
        'bad-schema': device(A_VENDOR, S1[:30] + 'zz', None) + frec(BAD_SCHEMA, S1),
        'big-state': device(A_VENDOR, S1, b'\xff' * 4097),
        'long-lines': frec(KO_LU, ko('edu_lu', 'alias=' + 'x' * 2000,
                                     'liveupdate_writes=' + 'a' * 5000)),
    }
    for name, data in seeds.items():
        write(d, name + '.bin', data)


# ---- fuzz_vfio_user: n calls, the calls, then ctl (1), len (2, LE), bytes ----

VERSION, DMA_MAP, DMA_UNMAP, GET_INFO, GET_REGION_INFO = 1, 2, 3, 4, 5
SET_IRQS, REGION_READ, REGION_WRITE, DMA_READ, RESET = 8, 9, 10, 11, 13
REPLY, NO_REPLY, ERROR = 1, 1 << 4, 1 << 5
FD_NONE, FD_MEMFD, FD_EVENTFD, FD_NINE = 0, 1, 2, 3
# Call bytes (fuzz_vfio_user.c: op % 10, index (op >> 4) & 7, size op >> 6)
C_INFO, C_REGION_INFO, C_READ4, C_WRITE4, C_READ32, C_WRITE64 = 0, 1, 2, 3, 4, 5
C_DMA_MAP, C_DMA_UNMAP, C_SET_IRQ, C_RESET = 6, 7, 8, 9
C_READ_BIG = 192 + 2		# 65544 bytes: two transfers
C_SET_IRQ_OFF = 128 + 8		# no eventfd: every vector off
CAPS = b'{"capabilities":{"max_msg_fds":8,"max_data_xfer_size":65536}}\0'


def hdr(msg_id, cmd, payload=b'', flags=REPLY, error=0, size=None):
    return struct.pack('<HHIII', msg_id, cmd, size or 16 + len(payload), flags,
                       error) + payload


def version(json=CAPS, major=0, minor=1):
    return hdr(1, VERSION, struct.pack('<HH', major, minor) + json)


def vfu(calls, *replies):
    """replies: bytes, or (bytes, fds)."""
    out = bytearray([len(calls)]) + bytes(calls)
    for r in replies:
        data, fds = r if isinstance(r, tuple) else (r, FD_NONE)
        out += struct.pack('<BH', fds, len(data)) + data
    return bytes(out)


def access(offset, region, count, data=b''):
    return struct.pack('<QII', offset, region, count) + data


def vfio_user(d):
    region = struct.pack('<IIIIQQ', 32, 1 | 2 | 4, 0, 0, 4096, 0)
    info = struct.pack('<IIII', 16, 2, 9, 5)
    unmap = struct.pack('<IIQQ', 24, 0, 0x100000, 4096)
    session = vfu([C_INFO, C_REGION_INFO, C_READ32, C_WRITE64, C_DMA_MAP,
                   C_DMA_UNMAP, C_SET_IRQ, C_SET_IRQ_OFF, C_RESET],
                  version(), hdr(2, GET_INFO, info),
                  (hdr(3, GET_REGION_INFO, region), FD_MEMFD),
                  hdr(4, REGION_READ, access(0, 0, 4, b'\x01\0\0\x01')),
                  hdr(5, REGION_WRITE, access(8, 0, 8)),
                  hdr(6, DMA_MAP), hdr(7, DMA_UNMAP, unmap), hdr(8, SET_IRQS),
                  hdr(9, SET_IRQS), hdr(10, RESET))
    seeds = {
        'session': session,
        'connect-only': vfu([], version()),
        'version-no-json': vfu([C_INFO], version(b''), hdr(2, GET_INFO, info)),
        'version-bad': vfu([], version(b'{"capabilities":', major=1)),
        # 65544 bytes in transfers of 4096: the first two, then the end.
        'big-read': vfu([C_READ_BIG], version(
            b'{"capabilities":{"max_data_xfer_size":4096}}\0'),
                        hdr(2, REGION_READ, access(0x10, 0, 4096, b'\xaa' * 4096)),
                        hdr(3, REGION_READ, access(0x1010, 0, 4096, b'\xbb' * 4096))),
        'errors': vfu([C_INFO, C_RESET, C_DMA_UNMAP, C_RESET], version(),
                      hdr(2, GET_INFO, flags=REPLY | ERROR, error=22),
                      hdr(3, RESET, flags=REPLY | ERROR, error=4097),
                      hdr(4, DMA_UNMAP, flags=REPLY | ERROR, error=0),
                      hdr(5, RESET, b'junk', flags=REPLY | ERROR, error=5)),
        'server-commands': vfu([C_INFO, C_RESET], version(),
                               hdr(77, DMA_READ, access(0, 0, 4), flags=0),
                               hdr(78, DMA_READ, flags=NO_REPLY),
                               hdr(2, GET_INFO, info), hdr(3, RESET)),
        'wrong-replies': vfu([C_INFO], version(), hdr(9, GET_INFO, info),
                             hdr(2, RESET), hdr(2, GET_INFO, info, flags=7),
                             hdr(2, GET_INFO, info)),
        'short-and-long': vfu([C_INFO, C_INFO], version(),
                              hdr(2, GET_INFO, info[:8]), hdr(3, GET_INFO, info + b'x')),
        'bad-sizes': vfu([C_INFO], version(), hdr(2, GET_INFO, size=8)),
        'huge-size': vfu([C_INFO], version(), hdr(2, GET_INFO, size=(1 << 20) + 1)),
        'cut-short': vfu([C_REGION_INFO], version(),
                         (hdr(2, GET_REGION_INFO, region)[:20], FD_MEMFD)),
        'fds': vfu([C_REGION_INFO, C_INFO, C_REGION_INFO], version(),
                   (hdr(2, GET_REGION_INFO, struct.pack('<IIIIQQ', 32, 1, 0, 0, 4096, 0)),
                    FD_NINE),
                   (hdr(3, GET_INFO, info), FD_EVENTFD),
                   (hdr(4, GET_REGION_INFO, region), FD_NINE)),
        'split': vfu([C_INFO], version()[:5], (version()[5:], FD_EVENTFD),
                     hdr(2, GET_INFO, info)[:3], hdr(2, GET_INFO, info)[3:]),
    }
    for name, data in seeds.items():
        write(d, name + '.bin', data)


# ---- fuzz_transfer: ctl (1), len (2, LE), bytes; fds fd_counts[ctl & 7] ----

MAGIC = 0x42544658		# "BTFX", lib/host/socket.c
FDS = {0: 0, 1: 1, 2: 2, 3: 3, 100: 4, 250: 5, 251: 6, 253: 7}


def msg(data, nfds=0):
    return struct.pack('<BH', FDS[nfds], len(data)) + data


def header(n, nfds=1, magic=MAGIC):
    return msg(struct.pack('<II', magic, n), nfds)


def batch(n, nfds=None):
    return msg(struct.pack('<I', n), n if nfds is None else nfds)


def transfer(d):
    seeds = {
        # What baton_transfer_send() sends: the header with the image's fd,
        # then batches of at most 250.
        'none': header(0),
        'three': header(3) + batch(3),
        'six-hundred': header(600) + batch(250) + batch(250) + batch(100),
        'bad-magic': header(3, magic=0x58465442) + batch(3),
        'no-image-fd': header(3, nfds=0) + batch(3),
        'two-image-fds': header(0, nfds=2),
        'too-many': header(1 << 20 | 1),
        'batch-says-more': header(3) + batch(3, nfds=2),
        'batch-carries-more': header(3) + batch(2, nfds=3),
        'more-than-announced': header(2) + batch(3),
        'empty-batch': header(3) + batch(0) + batch(3),
        'batch-too-long': header(3) + msg(struct.pack('<II', 3, 0), 3),
        'header-short': msg(struct.pack('<I', MAGIC), 1),
        'cut-short': header(600) + batch(250),
        'over-a-message': header(253) + batch(253),
        'zero-length': header(1) + msg(b'', 1) + batch(1),
    }
    for name, data in seeds.items():
        write(d, name + '.bin', data)


# ---- fuzz_handover: var (1), len (1), bytes; then freeze_ns (8), why ----

VARS = ['BATON_IMAGE_FD', 'BATON_FDS', 'BATON_HANDOVER_FD', 'BATON_DRY_RUN',
        'BATON_KEEPER_FD', 'BATON_CELL_FD', 'BATON_KEEPER_PID',
        'BATON_FREEZE_NS', 'BATON_DEADLINE_NS', 'BATON_PREV_ARGV',
        'BATON_ROLLBACK', 'BATON_ROLLBACK_WHY', 'BATON_FORCE', 'BATON_ORPHAN',
        'BATON_IMAGE_FDS', 'FUZZ_HANDOVER_OTHER']


def env(pairs, freeze_ns=None, why=b''):
    out = b''
    for name, value in pairs:
        value = value.encode() if isinstance(value, str) else value
        out += struct.pack('<BB', VARS.index(name), len(value)) + value
    if freeze_ns is not None:
        out += struct.pack('<Q', freeze_ns) + why
    return out


def argv(*args):
    # as format_argv() writes it: LENGTH:BYTES per argument
    return ''.join('%d:%s' % (len(a), a) for a in args)


def handover(d):
    keeper = [('BATON_KEEPER_FD', '7'), ('BATON_CELL_FD', '8'),
              ('BATON_KEEPER_PID', '4242')]
    times = [('BATON_FREEZE_NS', '%020d' % 1234567890123),
             ('BATON_DEADLINE_NS', '%020d' % 11234567890123)]
    prev = [('BATON_PREV_ARGV', argv('/usr/bin/host-prog', '--listen', 'a b:c'))]
    seeds = {
        # baton_handover_env() of an exec-mode update, a socket-mode one,
        # a dry run, and the keeper bringing the previous version back
        'exec': env([('BATON_IMAGE_FD', '9'), ('BATON_FDS', '3,4,5,10')] + keeper +
                    times + prev, 1234567899999, b'updated'),
        'socket': env([('BATON_HANDOVER_FD', '3'), ('BATON_CELL_FD', '4'),
                       ('BATON_KEEPER_FD', '5'), ('BATON_KEEPER_PID', '77')] + times +
                      [('BATON_FORCE', '1'), ('BATON_ORPHAN', 'reset')]),
        'dry-run': env([('BATON_IMAGE_FD', '3'), ('BATON_DRY_RUN', '4'),
                        ('BATON_ORPHAN', 'quarantine')]),
        'rollback': env([('BATON_IMAGE_FD', '9'), ('BATON_FDS', '3')] + keeper + times +
                        prev + [('BATON_ROLLBACK', '1'),
                                ('BATON_ROLLBACK_WHY', 'the new version died' + ' ' * 40)],
                        99, b'host-prog v2 could not restore: 0000:00:10.0 (tally)'),
        'cold': env([], 0, b''),
        'out-of-range': env([('BATON_IMAGE_FD', '2147483648'),
                             ('BATON_DEADLINE_NS', '18446744073709551616')]),
        'bad-fds': env([('BATON_IMAGE_FD', '3'), ('BATON_FDS', '3,,4,')]),
        'bad-argv': env([('BATON_IMAGE_FD', '3'), ('BATON_PREV_ARGV', '5:ab')]),
        'empty-argv': env([('BATON_IMAGE_FD', '3'), ('BATON_PREV_ARGV', '0:')]),
        'bad-orphan': env([('BATON_ORPHAN', 'drop')]),
        'stale-others': env([('BATON_IMAGE_FDS', '1'), ('FUZZ_HANDOVER_OTHER', 'x'),
                             ('BATON_FORCE', '0')], 2 ** 64 - 1, b' ' * 300),
    }
    for name, data in seeds.items():
        write(d, name + '.bin', data)


# ---- fuzz_kvregion: flags (1), patches (1), then each offset (3, LE), ----
# ---- len (1), bytes; then v1's requests, OP and ARG              ----

V1, SHORT, CHECK, SERVE = 1, 2, 4, 8
# Where fuzz_kvregion's region of 3 pages keeps things (struct kv_region in
# examples/kvcache/store.h; the rest as kv_store_format() lays them out):
# the header's fields, the page table, the hash table, then the arena, its
# first page the small items', its second the 3000-byte ones'.
MAGIC_OFF, LAYOUT_OFF, ITEM_VERSION_OFF, REGION_SIZE_OFF = 0, 8, 16, 24
N_PAGES_OFF, PAGES_USED_OFF, PAGE_TABLE_OFF_OFF, BUCKETS_OFF_OFF = 40, 48, 56, 64
N_BUCKETS_OFF, ARENA_OFF_OFF, N_CLASSES_OFF, CLASSES = 72, 80, 96, 248
CURR_ITEMS = 104
PAGE_TABLE, BUCKETS, ARENA, PAGE = 2936, 2944, 20480, (1 << 20) + 4096
# A class (struct kv_class, 56 bytes): free_count at 16, items at 40, uncut
# at 48.  Class 0 (96-byte chunks) has cut 7 chunks: k0-k5 and n, k3's
# on its free list.
CLASS, FREE_COUNT, ITEMS, UNCUT = 56, 16, 40, 48
# A v1 item's header (56 bytes): h_next, lru_prev, lru_next, cas, exptime,
# flags, nbytes, hash, nkey, slab_class, state; its key, then its value.
# k0 is the first chunk of the first page, k6 of the second.
I_LRU_PREV, I_EXPTIME, I_FLAGS, I_HASH, I_KEY = 8, 32, 40, 48, 56
# The requests (fuzz_kvregion.c): the low 3 bits, bit 3 the variant.
STEP, GET, SET, DELETE, ARITH, APPEND, TOUCH, UPDATE = range(8)
VARIANT = 8
KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9', 'k10',
        'k11', 'n', 'new', 'x', 'y']


def patch(at, data):
    return struct.pack('<I', at)[:3] + bytes([len(data)]) + data


def region_input(flags, *patches, requests=b''):
    return bytes([flags, len(patches)]) + b''.join(patches) + requests


def req(op, key, arg=0, variant=False):
    return bytes([KEYS.index(key) << 4 | (VARIANT if variant else 0) | op, arg])


def u64(v):
    return struct.pack('<Q', v)


def u32(v):
    return struct.pack('<I', v)


def key_hash(key):
    # store.c's: FNV-1a, then a mixer
    m = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in key:
        h = ((h ^ b) * 0x100000001b3) & m
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & m
    h ^= h >> 33
    return h & 0xffffffff


def twin_expired():
    # A v1 region that passes kv_store_check() holding k5 twice: k4's item
    # renamed k5 (hash and all), moved out of its own hash chain into k5's,
    # behind the expired k5.  k5 is gone, and the older copy must not come
    # back in its place (it did, until store.c's pull() dropped it).
    n_buckets = 2048
    # The class-0 chunks, in put order; k3 was deleted.
    offs = {k: ARENA + 96 * i for i, k in enumerate(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'n'])}
    live = ['k0', 'k1', 'k2', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9', 'k10', 'k11', 'n']
    bucket = {k: key_hash(k.encode()) & (n_buckets - 1) for k in live}
    assert [bucket[k] for k in live].count(bucket['k4']) == 1
    assert [bucket[k] for k in live].count(bucket['k5']) == 1
    return [patch(BUCKETS + 8 * bucket['k4'], u64(0)),
            patch(offs['k5'], u64(offs['k4'])),
            patch(offs['k4'], u64(0)),
            patch(offs['k4'] + I_HASH, u32(key_hash(b'k5'))),
            patch(offs['k4'] + I_KEY, b'k5')]


def kvregion(d):
    # A client's day during the conversion: each request, interleaved with
    # steps, an update half way.
    day = (req(GET, 'k0') + req(STEP, 'k0', 3) + req(SET, 'x', 20) +
           req(DELETE, 'k2') + req(ARITH, 'n', 5) + req(APPEND, 'k6', 7) +
           req(TOUCH, 'k7', 3) + req(GET, 'k8') + req(UPDATE, 'k0', 200) +
           req(STEP, 'k0', 1) + req(ARITH, 'n', 9, True) +
           req(SET, 'y', 4, True) + req(APPEND, 'k9', 2, True) +
           req(TOUCH, 'k10', 200) + req(GET, 'k10') + req(GET, 'k5') +
           req(SET, 'k4', 0) + req(DELETE, 'new') + req(GET, 'k11'))
    steps = req(STEP, 'k0', 2) * 3
    seeds = {
        'v1': region_input(V1), 'v2': region_input(0),
        'v1-checked': region_input(V1 | CHECK), 'v2-checked': region_input(CHECK),
        'v1-served': region_input(V1 | SERVE | CHECK),
        'short-map': region_input(SHORT), 'v1-short-map': region_input(V1 | SHORT),
        'bad-magic': region_input(CHECK, patch(MAGIC_OFF, b'KVCACHF\0')),
        'other-layout': region_input(V1, patch(LAYOUT_OFF, u32(1))),
        'other-version': region_input(0, patch(ITEM_VERSION_OFF, u32(1))),
        'region-size': region_input(CHECK, patch(REGION_SIZE_OFF, u64(1 << 40))),
        'pages': region_input(V1 | CHECK, patch(N_PAGES_OFF, u64(1 << 30)),
                              patch(PAGES_USED_OFF, u64(3))),
        'tables': region_input(CHECK, patch(PAGE_TABLE_OFF_OFF, u64(3 << 20)),
                               patch(BUCKETS_OFF_OFF, u64(BUCKETS + 4)),
                               patch(N_BUCKETS_OFF, u64(3))),
        'arena': region_input(V1, patch(ARENA_OFF_OFF, u64(ARENA - 8))),
        'classes': region_input(CHECK, patch(N_CLASSES_OFF, u32(49)),
                                patch(CLASSES, u32(0)), patch(CLASSES + 8, u64(ARENA + 1))),
        'lru': region_input(V1 | CHECK, patch(CLASSES + 24, u64(PAGE * 3)),
                            patch(CLASSES + CLASS + 32, u64(ARENA))),
        'page-table': region_input(0, patch(PAGE_TABLE, b'\x05\xff')),
        'bucket': region_input(V1 | CHECK, patch(BUCKETS, u64(ARENA + 3) * 4)),
        'item-links': region_input(CHECK, patch(ARENA, u64(ARENA) + u64(ARENA) + u64(1))),
        'item-lengths': region_input(V1, patch(ARENA + 40, u32(0xffffffff) * 3 +
                                               b'\xff\xff\x30\x17')),
        'item-state': region_input(V1 | CHECK, patch(ARENA + PAGE + 54, b'\xf3')),
        'item-key': region_input(V1 | CHECK, patch(ARENA + 56, b'k1')),
        # The lazy conversion: an intact region, then damage v1's check
        # passes (values, flags, exptime) and damage it does not (a hash,
        # an LRU link, a bucket, the counts), each under the day's
        # requests.
        'lazy-day': region_input(V1, requests=day),
        'lazy-day-served': region_input(V1 | SERVE, requests=day),
        'lazy-steps-update': region_input(V1, requests=steps + req(UPDATE, 'k0', 99) +
                                          steps + req(GET, 'k0') + steps),
        'lazy-flush': region_input(V1, requests=steps + req(UPDATE, 'k0', 3) +
                                   req(GET, 'k6')),
        'lazy-value': region_input(V1, patch(ARENA + I_KEY + 2, b'VALUE'),
                                   patch(ARENA + PAGE + I_FLAGS, u32(77)),
                                   requests=day),
        'lazy-expired': region_input(V1, patch(ARENA + PAGE + I_EXPTIME, u64(5)),
                                     requests=req(GET, 'k6') + steps),
        'lazy-hash': region_input(V1, patch(ARENA + I_HASH, u32(0x12345678)),
                                  requests=steps + req(GET, 'k0') + day),
        'lazy-lru': region_input(V1, patch(ARENA + PAGE + I_LRU_PREV, u64(ARENA + PAGE + 8)),
                                 requests=req(GET, 'k6') + day),
        'lazy-bucket': region_input(V1, patch(BUCKETS, u64(ARENA) * 31), requests=day),
        'regress-twin-expired': region_input(V1, *twin_expired(),
                                             requests=req(GET, 'k5') + steps),
        'regress-twin-expired-step': region_input(V1, *twin_expired(), requests=steps),
        'lazy-counts': region_input(V1, patch(CLASSES + FREE_COUNT, u64(2)),
                                    patch(CLASSES + ITEMS, u64(5)),
                                    patch(CURR_ITEMS, u64(11)),
                                    requests=steps * 4 + day),
        # Counts that agree with each other and not with the lists: an
        # update half way must find the v1 region valid still (its class
        # counts wrapped, and the next version refused it).
        'regress-counts-update': region_input(V1, patch(CLASSES + FREE_COUNT, u64(2)),
                                              patch(CLASSES + ITEMS, u64(5)),
                                              patch(CURR_ITEMS, u64(11)),
                                              requests=req(STEP, 'k0', 4) +
                                              req(UPDATE, 'k0', 99) + steps),
        # Class 0 says it has cut five chunks, not seven, and counts
        # agree: k5 and n are items where it has not cut yet, which are
        # never to be read (the next cut would write over them).
        'uncut-back': region_input(V1, patch(CLASSES + UNCUT, u64(ARENA + 96 * 5)),
                                   patch(CLASSES + ITEMS, u64(4)),
                                   patch(CURR_ITEMS, u64(10)),
                                   requests=req(GET, 'n') + day),
        'uncut-past': region_input(CHECK, patch(CLASSES + UNCUT, u64(ARENA + PAGE))),
    }
    for name, data in seeds.items():
        write(d, name + '.bin', data)


# ---- fuzz_kvprotocol: (byte 0 & 0x7f) + 1 bytes per read, bit 7 restore ----

def bin_req(opcode, key=b'', value=b'', extras=b'', opaque=0, cas=0):
    # memcached's binary protocol request header (protocol_binary.h)
    return struct.pack('>BBHBBHIIQ', 0x80, opcode, len(key), len(extras), 0, 0,
                       len(extras) + len(key) + len(value), opaque, cas) + \
        extras + key + value


def kvprotocol(d):
    # What memcached's clients write (libmemcached, the text protocol's
    # doc/protocol.txt), each line as a client sends it.
    session = (b'set k 0 0 5\r\nhello\r\nget k\r\ngets k j\r\n'
               b'add k 1 0 1\r\nx\r\ncas k 3 0 2 1\r\nhi\r\n'
               b'incr n 1\r\nset n 0 0 2\r\n41\r\nincr n 1\r\ndecr n 50\r\n'
               b'delete k\r\ndelete k noreply\r\nstats\r\nversion\r\nquit\r\n')
    seeds = {
        'session-whole': bytes([0x7f]) + session,
        'session-bytes': bytes([0]) + session,
        'session-restored': bytes([0x80 | 7]) + session,
        'noreply': bytes([0x7f]) + b'set a 1 2 3 noreply\r\nabc\r\nget a b c\n',
        'bad-data-chunk': bytes([3]) + b'set a 0 0 3\r\nabcd\r\nget a\r\n',
        'too-large': bytes([0x7f]) + b'set big 0 0 2000000\r\n' + b'x' * 300 +
                     b'\r\nget big\r\n',
        'bad-lines': bytes([0x7f]) + b'get\r\nset a b c d\r\nincr a x\r\n'
                     b'set a 0 0 -1\r\n\r\nbogus\r\n\x00\xff\r\n',
        'line-too-long': bytes([0x7f]) + b'get ' + b'k' * 8200 + b'\r\n',
        'key-too-long': bytes([0x7f]) + b'get ' + b'k' * 251 + b'\r\n',
        'binary': bytes([0x7f]) + bin_req(1, b'k', b'val', struct.pack('>II', 0, 0)) +
                  bin_req(0, b'k', opaque=7) + bin_req(4, b'k') + bin_req(7),
        'binary-bad-lengths': bytes([0x7f]) +
                              struct.pack('>BBHBBHIIQ', 0x80, 0, 10, 4, 0, 0, 3, 0, 0),
        'meta': bytes([0x7f]) + b'ms k 2 T0\r\nhi\r\nmg k v f t\r\nmd k\r\nmn\r\n',
    }
    for name, data in seeds.items():
        write(d, name + '.bin', data)


TARGETS = {'control': control, 'kernel': kernel, 'vfio-user': vfio_user,
           'transfer': transfer, 'handover': handover, 'kvregion': kvregion,
           'kvprotocol': kvprotocol}

if __name__ == '__main__':
    target = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, 'corpus-' + target)
    os.makedirs(out, exist_ok=True)
    TARGETS[target](out)
