#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fd_limit.py N COMMAND [ARG...]: COMMAND under a limit of N open files
(soft and hard), with no fd open but 0-2 whatever its caller inherited.

The host tests' scenarios at an fd limit count on the table's size: run
under `ulimit -n` from a shell that held 8 more fds, two of them failed."""
import os
import resource
import sys

limit = int(sys.argv[1])
os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
os.execvp(sys.argv[2], sys.argv[2:])
