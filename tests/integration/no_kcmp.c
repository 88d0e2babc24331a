// SPDX-License-Identifier: MIT
/*
 * Run a program where kcmp() fails with ENOSYS, as on a kernel without
 * CONFIG_KCMP: a seccomp filter, kept across every exec that follows.
 * An exec-mode update then cannot tell a preserved fd's own number from
 * another file, and leaves those numbers to the exec, as before
 * (lib/host/linger.c; tests/integration/test_host.sh).
 *
 *   no-kcmp PROGRAM [ARGS...]
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kcmp, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };

	if (argc < 2) {
		fprintf(stderr, "usage: no-kcmp PROGRAM [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		perror("no-kcmp: seccomp");
		return 1;
	}
	execv(argv[1], argv + 1);
	perror("no-kcmp: exec");
	return 127;
}
