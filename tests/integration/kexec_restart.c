// SPDX-License-Identifier: MIT
/*
 * kexec_restart: the two halves of `baton kexec --socket` back to back,
 * without the kernel between them, so that make check runs the path a
 * program takes after a kexec (lib/host/kexec.c, restore.c's BATON_KEXEC)
 * on a machine with no Live Update Orchestrator.
 *
 *   kexec_restart SOCKET [--corrupt] [--log FILE] -- ARGV...
 *
 * asks the program at SOCKET to hand over for a kernel update, as the
 * agent does, and receives its image and its regions' memfds (it waits,
 * frozen); starts ARGV on them with baton_kexec_start(), as
 * `baton kexec --restore` does after the kexec with what the kernel gave
 * back - the same memfds, so the same pages; then tells the first program
 * to resume.  --corrupt hands the second a sealed memfd of garbage in
 * place of the image; --log FILE gives it FILE for its stdout and stderr
 * (appended), as the agent gives each program its log.  Prints two lines:
 *
 *   {"rc":N,"why":"...","pid":P}   what the started program said (rc 0:
 *                                  it took over; its pid)
 *   {"outcome":"resumed",...}      the first program's last answer
 *
 * The started program is left running; exit 0 when both lines were said.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "host/host-internal.h"

static int garbage_image(void)
{
	static const char junk[4096] = "not an image";
	int fd = memfd_create("garbage", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || write(fd, junk, sizeof(junk)) != sizeof(junk) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE))
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	static const char req[] = "{\"cmd\":\"kexec\",\"phase\":\"handover\",\"timeout_ms\":20000}\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	bool corrupt = false;
	const char *log = NULL;
	int first = 2, conn, image_fd, *fds, err, log_fd = -1;
	char *line, why[256];
	size_t n;
	pid_t pid = 0;

	for (; first < argc && strcmp(argv[first], "--"); first++) {
		if (!strcmp(argv[first], "--corrupt"))
			corrupt = true;
		else if (!strcmp(argv[first], "--log") && first + 1 < argc)
			log = argv[++first];
		else
			break;
	}
	first++;
	if (argc <= first || strcmp(argv[first - 1], "--") ||
	    strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: kexec_restart SOCKET [--corrupt] [--log FILE] -- ARGV...\n");
		return 2;
	}
	if (log && (log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		perror(log);
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conn < 0 || connect(conn, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(conn, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
		perror("kexec_restart: connect");
		return 1;
	}
	err = baton_kexec_read_line(conn, baton_now_ns() + 20000000000ull, &line);
	if (err || !strstr(line, "\"outcome\":\"handing-over\"")) {
		fprintf(stderr, "kexec_restart: no handover: %s\n", err ? baton_strerror(err) : line);
		return 1;
	}
	free(line);
	err = baton_transfer_recv(conn, &image_fd, &fds, &n);
	if (err) {
		fprintf(stderr, "kexec_restart: receiving: %s\n", baton_strerror(err));
		return 1;
	}
	if (corrupt) {
		close(image_fd);
		image_fd = garbage_image();
	}
	err = baton_kexec_start(argv[first], argv + first, log_fd, image_fd, fds, n, 20000, &pid,
				why, sizeof(why));
	{
		json_object *o = json_object_new_object();

		json_object_object_add(o, "rc", json_object_new_int(err));
		json_object_object_add(o, "why", json_object_new_string(err ? why : ""));
		json_object_object_add(o, "pid", json_object_new_int(pid));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	fflush(stdout);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	close(image_fd);
	(void)!send(conn, "resume\n", 7, MSG_NOSIGNAL);
	err = baton_kexec_read_line(conn, baton_now_ns() + 20000000000ull, &line);
	printf("%s\n", err ? "{}" : line);
	if (!err)
		free(line);
	close(conn);
	if (log_fd >= 0)
		close(log_fd);
	return err ? 1 : 0;
}
