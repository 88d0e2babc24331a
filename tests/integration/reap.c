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
 * Sanitizers in any of those processes report to files, not to a stderr
 * a test may not read: reap points ASan's, LSan's and UBSan's log_path
 * into a directory of its own.  When every process has ended, each report
 * found there is copied to reap's stderr and logged as
 *
 *	PID NAME report LINES
 *
 * and reap exits with 125: a report is a failure whatever the exit status.
 * (gcc's UBSan, linked with its ASan, ignores log_path and reports on
 * stderr; with halt_on_error, as make check runs it, the process then
 * exits 1, which its line shows.)
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

/* The processes that ended, for naming the ones that left a report. */
static struct ended {
	pid_t pid;
	char name[64];
} *ended;
static size_t n_ended;

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

static void remember(pid_t pid, const char *name)
{
	struct ended *grown = realloc(ended, (n_ended + 1) * sizeof(*ended));

	if (!grown)
		return;	/* only the name in a report's line is lost */
	ended = grown;
	ended[n_ended].pid = pid;
	snprintf(ended[n_ended].name, sizeof(ended[n_ended].name), "%s", name);
	n_ended++;
}

static const char *name_of(pid_t pid)
{
	for (size_t i = 0; i < n_ended; i++)
		if (ended[i].pid == pid)
			return ended[i].name;
	return "?";
}

/*
 * Each sanitizer writes to @dir/<its name>.EXE.PID: a process another
 * descendant reaped never reaches our wait, so its report has to name it.
 * Appended to the options the caller set, since the last setting of an
 * option wins.
 */
static int redirect_reports(const char *dir)
{
	static const char *const vars[][2] = {
		{ "ASAN_OPTIONS", "asan" },
		{ "LSAN_OPTIONS", "lsan" },
		{ "UBSAN_OPTIONS", "ubsan" },
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *old = getenv(vars[i][0]);
		char *value;
		int err;

		if (asprintf(&value, "%s%slog_path=%s/%s:log_exe_name=1", old ? old : "",
			     old && *old ? ":" : "", dir, vars[i][1]) < 0)
			return -1;
		err = setenv(vars[i][0], value, 1);
		free(value);
		if (err)
			return -1;
	}
	return 0;
}

/* Copies every report in @dir to stderr and @log, removes it; the count. */
static int collect_reports(const char *dir, FILE *log)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int reports = 0;

	while (d && (de = readdir(d)) != NULL) {
		const char *dot = strrchr(de->d_name, '.');
		const char *exe = strchr(de->d_name, '.');
		char path[4096 + 256 + 2], line[4096], name[256];
		int lines = 0;
		pid_t pid;
		FILE *f;

		if (de->d_name[0] == '.' || !dot)
			continue;
		pid = (pid_t)atoi(dot + 1);
		if (exe < dot)
			snprintf(name, sizeof(name), "%.*s", (int)(dot - exe - 1), exe + 1);
		else
			snprintf(name, sizeof(name), "%s", name_of(pid));
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "r");
		fprintf(stderr, "reap: a sanitizer report from process %d (%s):\n",
			(int)pid, name);
		while (f && fgets(line, sizeof(line), f)) {
			fputs(line, stderr);
			lines++;
		}
		if (f)
			fclose(f);
		if (log)
			fprintf(log, "%d %s report %d\n", (int)pid, name, lines);
		unlink(path);
		reports++;
	}
	if (d)
		closedir(d);
	rmdir(dir);
	return reports;
}

/*
 * SIGKILL every child we have now; those orphaned by it come to us next.
 * reap has one thread, so its task's children file lists them all.
 */
static void kill_children(void)
{
	char path[64];
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	f = fopen(path, "r");
	while (f && fscanf(f, "%d", &pid) == 1)
		kill(pid, SIGKILL);
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	const char *log_path = NULL, *tmpdir = getenv("TMPDIR");
	int opt, status = 0, seconds = 0, reports;
	char reports_dir[4096];
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
	snprintf(reports_dir, sizeof(reports_dir), "%s/reap-reports.XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(reports_dir) || redirect_reports(reports_dir)) {
		perror("reap: a directory for sanitizer reports");
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
		rmdir(reports_dir);
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
		remember(si.si_pid, name);
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
	reports = collect_reports(reports_dir, log);
	if (log)
		fclose(log);
	free(ended);
	return timed_out ? 124 : reports ? 125 : main_done ? status : 2;
}
