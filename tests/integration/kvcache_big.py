# SPDX-License-Identifier: MIT
"""The answers to gets of a big value that a client pipelined and read late.

test_kvcache.sh (a client reading slowly) and test_kvcache_update.sh
(clients an update held) each pipeline gets of the item "big", a value of
`size` bytes "v", and count what comes back: every answer whole, none lost
or cut, however the server's output filled up in between.
"""
import socket


def read_answers(c, size, gets):
    """Read from socket `c` until `gets` answers are in, the server closes
    or the socket's timeout passes; print "answers N of GETS bytes B"."""
    answer = b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (size, b"v" * size)
    got = b""
    try:
        while len(got) < gets * len(answer):
            more = c.recv(1 << 20)
            if not more:
                break
            got += more
    except socket.timeout:
        pass
    print("answers", got.count(answer), "of", gets, "bytes", len(got))
