// SPDX-License-Identifier: MIT
/*
 * reap [-l LOG] [-t SECONDS] -- COMMAND [ARG...]
 *
 * Runs COMMAND and accounts for every process it leads to, however it gets
 * there: the versions an update execs or starts, the keeper, the version
 * the keeper brings back - processes a test script does not start and
 * could not otherwise wait for.  reap is a child subreaper
 * (PR_SET_CHILD_SUBREAPER): every orphaned descendant becomes its child,
 * so it can wait for each one.  It returns when no descendant is left.
 *
 * LOG gets one line per process, as it ends:
 *
 *	PID NAME exit STATUS
 *	PID NAME signal NUMBER
 *
 * -t SECONDS: after that, every descendant still there is killed, logged
 * as it ends, and reap exits with 124.  Otherwise its exit status is
 * COMMAND's (128 + the signal that ended it).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

/* The name of @pid, a zombie not yet reaped. */
static void comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, (int)len, f))
		snprintf(buf, len, "?");
	buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* SIGKILL every child we have now; those orphaned by it come to us next. */
static void kill_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		char path[300], line[256];
		FILE *f;
		int ppid = -1;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "PPid: %d", &ppid) == 1)
				break;
		if (f)
			fclose(f);
		if (ppid == getpid())
			kill(atoi(de->d_name), SIGKILL);
	}
	if (d)
		closedir(d);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	const char *log_path = NULL;
	int opt, status = 0, seconds = 0;
	bool main_done = false;
	pid_t main_pid;
	FILE *log = NULL;

	while ((opt = getopt(argc, argv, "+l:t:")) != -1) {
		switch (opt) {
		case 'l': log_path = optarg; break;
		case 't': seconds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: reap [-l LOG] [-t SECONDS] -- COMMAND...\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "reap: no command\n");
		return 2;
	}
	if (log_path && !(log = fopen(log_path, "a"))) {
		perror(log_path);
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		perror("reap: PR_SET_CHILD_SUBREAPER");
		return 2;
	}
	sigaction(SIGALRM, &sa, NULL);
	main_pid = fork();
	if (main_pid < 0) {
		perror("reap: fork");
		return 2;
	}
	if (!main_pid) {
		if (log)
			fclose(log);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "reap: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	if (seconds > 0)
		alarm((unsigned)seconds);
	for (;;) {
		siginfo_t si = { 0 };
		char name[64];
		int st;

		if (timed_out == 1) {
			timed_out = 2;
			kill_children();
		}
		if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			break;	/* ECHILD: nobody left */
		}
		comm(si.si_pid, name, sizeof(name));
		while (waitpid(si.si_pid, &st, 0) < 0 && errno == EINTR)
			;
		if (log) {
			if (WIFSIGNALED(st))
				fprintf(log, "%d %s signal %d\n", (int)si.si_pid, name, WTERMSIG(st));
			else
				fprintf(log, "%d %s exit %d\n", (int)si.si_pid, name, WEXITSTATUS(st));
			fflush(log);
		}
		if (si.si_pid == main_pid) {
			main_done = true;
			status = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
		}
		/* After a timeout, whoever came to us since is killed too. */
		if (timed_out)
			kill_children();
	}
	if (log)
		fclose(log);
	return timed_out ? 124 : main_done ? status : 2;
}
