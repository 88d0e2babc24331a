#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_devsim (tests/fuzz/corpus-devsim/).

Each seed is one client session in the harness's input format (see the
comment at the top of tests/fuzz/fuzz_devsim.c): a device byte, then
records of ctl (1 byte), length (2 bytes, little endian) and the bytes
written in one sendmsg.  ctl & 7 picks the fds sent with the record,
ctl & 0x80 ticks the devices afterwards.

usage: gen_devsim_corpus.py [DIR]   (default: the corpus-devsim next to it)
"""
import os
import struct
import sys

EDU, PKTGEN, LEGACY, STATUS = 0, 1, 2, 3

# ctl: the fds a record carries
NOFD, SEALED, UNSEALED, EVENTFD, FULL_EVENTFD, PIPE, NINE, WSEALED = range(8)
RECONNECT, SECOND, PAD, TICK = 0x10, 0x20, 0x40, 0x80

# vfio-user commands (lib/backends/vfio-user/protocol.h)
VERSION, DMA_MAP, DMA_UNMAP, GET_INFO, GET_REGION_INFO = 1, 2, 3, 4, 5
GET_IRQ_INFO, SET_IRQS, REGION_READ, REGION_WRITE, RESET = 7, 8, 9, 10, 13
NO_REPLY = 1 << 4

# <linux/vfio.h>
BAR0, BAR2, CONFIG = 0, 2, 7
INTX, MSI = 0, 1
DATA_NONE, DATA_BOOL, DATA_EVENTFD = 1, 2, 4
ACTION_MASK, ACTION_TRIGGER = 8, 32
DMA_RW = 3


class Session:
    def __init__(self, device):
        self.out = bytearray([device])
        self.msg_id = 0

    def record(self, data, ctl=NOFD):
        self.out += struct.pack('<BH', ctl, len(data)) + data
        return self

    def msg(self, cmd, payload=b'', flags=0, size=None):
        """A message; @size in the header if not the real one (PAD)."""
        self.msg_id += 1
        return struct.pack('<HHII', self.msg_id & 0xffff, cmd,
                           size or 16 + len(payload), flags) + b'\0' * 4 + payload

    def send(self, cmd, payload=b'', ctl=NOFD, flags=0, size=None):
        return self.record(self.msg(cmd, payload, flags, size), ctl)

    def version(self, json=b'{}\0', ctl=NOFD):
        return self.send(VERSION, struct.pack('<HH', 0, 1) + json, ctl)

    def dma_map(self, iova, size, offset=0, flags=DMA_RW, ctl=SEALED):
        return self.send(DMA_MAP, struct.pack('<IIQQQ', 32, flags, offset, iova,
                                              size), ctl)

    def dma_unmap(self, iova, size):
        return self.send(DMA_UNMAP, struct.pack('<IIQQ', 24, 0, iova, size))

    def read(self, region, offset, count, ctl=NOFD):
        return self.send(REGION_READ, struct.pack('<QII', offset, region, count),
                         ctl)

    def write(self, region, offset, data, ctl=NOFD):
        return self.send(REGION_WRITE, struct.pack('<QII', offset, region,
                                                   len(data)) + data, ctl)

    def write32(self, region, offset, value, ctl=NOFD):
        return self.write(region, offset, struct.pack('<I', value), ctl)

    def write64(self, region, offset, value, ctl=NOFD):
        return self.write(region, offset, struct.pack('<Q', value), ctl)

    def set_irqs(self, flags, index, start, count, data=b'', ctl=NOFD):
        return self.send(SET_IRQS, struct.pack('<IIIII', 20 + len(data), flags,
                                               index, start, count) + data, ctl)


def edu_registers():
    s = Session(EDU).version()
    s.send(GET_INFO, struct.pack('<IIII', 16, 0, 0, 0))
    for index in range(9):
        s.send(GET_REGION_INFO, struct.pack('<IIIIQQ', 32, 0, index, 0, 0, 0))
    for index in range(5):
        s.send(GET_IRQ_INFO, struct.pack('<IIII', 16, 0, index, 0))
    s.read(CONFIG, 0, 64)
    s.write(CONFIG, 4, struct.pack('<H', 0xffff))
    s.read(BAR0, 0x00, 4)
    s.write32(BAR0, 0x04, 0x12345678).read(BAR0, 0x04, 4)
    s.write32(BAR0, 0x20, 0x80).write32(BAR0, 0x08, 10).read(BAR0, 0x08, 4)
    s.read(BAR0, 0x20, 4)
    s.write32(BAR0, 0x60, 0x10).read(BAR0, 0x24, 4).write32(BAR0, 0x64, 0x10)
    s.read(BAR0, 0x80, 32)
    return s.send(RESET)


def edu_dma():
    s = Session(EDU).version()
    s.dma_map(0x100000, 0x10000)
    s.set_irqs(DATA_EVENTFD | ACTION_TRIGGER, MSI, 0, 1, ctl=EVENTFD)
    # RAM -> device, then device -> RAM with an interrupt.
    s.write64(BAR0, 0x80, 0x100000).write64(BAR0, 0x88, 0x40000)
    s.write64(BAR0, 0x90, 256).write64(BAR0, 0x98, 0x1)
    s.write64(BAR0, 0x80, 0x40000).write64(BAR0, 0x88, 0x101000)
    s.write64(BAR0, 0x98, 0x1 | 0x2 | 0x4).read(BAR0, 0x98, 8)
    # Out of the mapping: the error bit.
    s.write64(BAR0, 0x88, 0x200000).write64(BAR0, 0x98, 0x3)
    s.read(BAR0, 0x24, 4)
    s.set_irqs(DATA_NONE | ACTION_TRIGGER, MSI, 0, 1)
    s.set_irqs(DATA_BOOL | ACTION_TRIGGER, MSI, 0, 1, b'\1')
    s.set_irqs(DATA_NONE | ACTION_TRIGGER, MSI, 0, 0)
    s.dma_unmap(0x100000, 0x10000)
    # An eventfd the client filled up: an interrupt must not block devsim.
    s.set_irqs(DATA_EVENTFD | ACTION_TRIGGER, INTX, 0, 1, ctl=FULL_EVENTFD)
    return s.write32(BAR0, 0x60, 0x1).read(BAR0, 0x24, 4)


def pktgen_ring():
    s = Session(PKTGEN).version()
    s.send(GET_REGION_INFO, struct.pack('<IIIIQQ', 32, 0, BAR2, 0, 0, 0))
    s.dma_map(0x200000, 0x10000)
    s.set_irqs(DATA_EVENTFD | ACTION_TRIGGER, INTX, 0, 1, ctl=EVENTFD)
    s.write32(BAR0, 0x08, 0x200000).write32(BAR0, 0x0c, 0)
    s.write32(BAR0, 0x10, 256).write32(BAR0, 0x14, 100000)
    s.write32(BAR0, 0x04, 1, ctl=TICK)
    s.read(BAR2, 0, 4, ctl=TICK)
    s.write32(BAR2, 64, 100, ctl=TICK)
    s.read(BAR0, 0x18, 4).read(BAR0, 0x20, 16, ctl=TICK)
    # The ring leaves the mapping: STATUS bit 0.
    s.write32(BAR0, 0x0c, 1, ctl=TICK).read(BAR0, 0x18, 4)
    return s.write64(BAR0, 0x08, 0x200000).send(RESET)


def legacy_registers():
    s = Session(LEGACY).version(json=b'{"capabilities":{"max_msg_fds":8}}\0')
    s.read(CONFIG, 0, 256)
    s.write32(BAR0, 0x04, 0xdeadbeef).write32(BAR0, 0x04, 1)
    s.read(BAR0, 0x00, 12)
    s.send(GET_INFO, struct.pack('<IIII', 16, 0, 0, 0), flags=NO_REPLY)
    return s.read(BAR0, 0x08, 4)


def framing():
    """Several messages in one write, one message over several writes."""
    s = Session(EDU)
    together = s.msg(VERSION, struct.pack('<HH', 0, 1))
    together += s.msg(GET_INFO, struct.pack('<IIII', 16, 0, 0, 0))
    together += s.msg(REGION_READ, struct.pack('<QII', 0, CONFIG, 4))
    s.record(together)
    split = s.msg(REGION_WRITE, struct.pack('<QII', 4, BAR0, 4) + b'\1\2\3\4')
    s.record(split[:3]).record(split[3:17]).record(split[17:])
    return s.read(BAR0, 4, 4)


def hostile():
    """Refusals: each one answered, the connection kept."""
    s = Session(EDU)
    s.send(GET_INFO, struct.pack('<IIII', 16, 0, 0, 0))     # before VERSION
    s.version().version()                                   # a second VERSION
    s.dma_map(0x100000, 0x1000, ctl=NOFD)                   # no fd
    s.dma_map(0x100000, 0x1000, ctl=UNSEALED)               # not sealed
    s.dma_map(0x100000, 0x1000, ctl=WSEALED)                # writes sealed
    s.dma_map(0x100000, 0x1000, ctl=NINE)                   # eight fds
    s.dma_map(0x100000, 0x1000, offset=0x100)               # unaligned offset
    s.dma_map(0x100000, 0x200000)                           # past the file
    s.dma_map(0x100000, 0x1000).dma_map(0x100800, 0x1000)   # overlap
    s.dma_unmap(0x100000, 0x800)
    s.set_irqs(DATA_EVENTFD | ACTION_TRIGGER, INTX, 0, 1, ctl=PIPE)
    s.set_irqs(DATA_EVENTFD | ACTION_MASK, INTX, 0, 1, ctl=EVENTFD)
    s.send(GET_INFO, struct.pack('<IIII', 16, 0, 0, 0), ctl=NINE)
    s.read(BAR0, 0xffffc, 8).read(9, 0, 4).send(99)
    return s.send(11, struct.pack('<QQ', 0x1000, 8))        # DMA_READ


def unframeable():
    s = Session(LEGACY).version()
    s.record(struct.pack('<HHII', 7, GET_INFO, 8, 0) + b'\0' * 4)
    return s


def large():
    """Messages beyond max_len, completed with zeros (PAD)."""
    s = Session(EDU).version()
    s.send(REGION_WRITE, struct.pack('<QII', 0x40000, BAR0, 0x10000) + b'\xff' * 8,
           ctl=PAD, size=32 + 0x10000)
    s.read(BAR0, 0, 0x10000).read(BAR0, 0x40000, 8)
    s.send(GET_INFO, struct.pack('<IIII', 16, 0, 0, 0), ctl=PAD, size=200000)
    return s


def clients():
    """A second client refused; a reconnect before the close is seen."""
    s = Session(LEGACY).version()
    s.write32(BAR0, 0x04, 7, ctl=SECOND)
    s.version(ctl=RECONNECT).read(BAR0, 0x04, 4)
    return s


def status():
    s = Session(STATUS)
    s.record(b'status\n').record(b'pause\nresume\n')
    s.record(b'wait-generated 0 10\nstat', ctl=TICK).record(b'us\r\nfrob\n')
    return s.record(b'wait-generated 1 100\nstatus\n', ctl=TICK)


def dma_many():
    """More mappings than max_dma_maps: ENOSPC."""
    s = Session(EDU).version()
    for i in range(65):
        s.dma_map(0x100000 + i * 0x1000, 0x1000, offset=i * 0x1000)
    return s.dma_unmap(0x100000, 0x1000)


def fds_overflow():
    """Fds without a message to own them, 8 at a time: the connection closes."""
    s = Session(PKTGEN).version()
    part = s.msg(GET_INFO, struct.pack('<IIII', 16, 0, 0, 0))
    for i in range(5):
        s.record(part[i:i + 1], ctl=NINE)
    return s


def read_flood():
    """Replies faster than the client reads them: the connection closes."""
    s = Session(EDU).version()
    flood = b''.join(s.msg(REGION_READ, struct.pack('<QII', 0, BAR0, 0x10000))
                     for _ in range(8))
    return s.record(flood).read(BAR0, 0, 4)


SEEDS = {
    'edu-registers': edu_registers,
    'edu-dma': edu_dma,
    'pktgen-ring': pktgen_ring,
    'legacy-registers': legacy_registers,
    'framing': framing,
    'hostile': hostile,
    'unframeable': unframeable,
    'large': large,
    'clients': clients,
    'status': status,
    'dma-many': dma_many,
    'fds-overflow': fds_overflow,
    'read-flood': read_flood,
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus-devsim')
    os.makedirs(out, exist_ok=True)
    for name, make in SEEDS.items():
        with open(os.path.join(out, name + '.bin'), 'wb') as f:
            f.write(make().out)


if __name__ == '__main__':
    main()
