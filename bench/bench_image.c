// SPDX-License-Identifier: MIT
/*
 * The image's parse, which runs inside the blackout: the new version
 * checks and decodes what the old one left before it restores a device.
 *
 * Each image holds N pktgen-like devices as demo-host writes them: a
 * session a device, named by its address, with three fds (the vfio-user
 * connection, the interrupt's eventfd, the BAR2 page's memfd), a region
 * on the memfd, and a device record with ids, schema, a small state, its
 * fds and region, mandatory.  baton_image_write() builds it (outside the
 * timing); each time is the median of RUNS calls of baton_image_parse()
 * on the same buffer, in this process.  Linearity is the per-device time
 * at 16 and at 4,096 devices, measured in the same run.
 *
 * `--once N` builds the image of N devices and parses it once, for
 * callgrind (instruction counts do not move with the machine's load):
 *
 *   valgrind --tool=callgrind --toggle-collect=baton_image_parse \
 *       build/bench/bench_image --once 1024
 *
 * The restore that follows the parse looks the image's references up
 * (a device's regions, a region's fd; after a kexec, each device's fds by
 * session): `--restore N` times baton_restore() of the same image, the
 * previous version's fds standing in (a memfd a region, its own /dev/null for the
 * rest), in a new host in a child process, medians of RESTORE_RUNS, with
 * and without a kexec (the regions' memfds alone).  No driver is
 * linked, so every device is carried in quarantine, which looks its
 * regions up as a driver's restore does.  `--restore-once N [kexec]` is
 * one restore, for callgrind (--toggle-collect=baton_restore).
 *
 * `--fresh N` parses the image of N devices as the blackout does: in a
 * process just started by exec(), the image a sealed memfd it maps, its
 * heap new - each parse page-faulting the mapping and its arrays, its
 * caches cold.  The median of FRESH_RUNS such processes, each timing its
 * mmap() and its parse (`--parse-fd FD N`, the child's side).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <baton/host.h>
#include <baton/image.h>

#include "host/host-internal.h"

#define RUNS		31
#define RESTORE_RUNS	7
#define FRESH_RUNS	31
#define FDS_A_DEVICE	3
#define STATE_SIZE	48

static const size_t default_counts[] = { 1, 16, 256, 1024, 4096 };

struct world {
	struct baton_image img;
	char (*sessions)[BATON_PCI_ADDR_STRLEN];
	uint32_t *refs;
	uint8_t state[STATE_SIZE];
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "bench_image: out of memory\n");
		exit(2);
	}
	return p;
}

static void make_world(struct world *w, size_t n)
{
	static const enum baton_fd_kind kinds[FDS_A_DEVICE] = {
		BATON_FD_SOCKET, BATON_FD_EVENTFD, BATON_FD_MEMFD,
	};
	struct baton_image *img = &w->img;

	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < STATE_SIZE; i++)
		w->state[i] = (uint8_t)(i * 7);
	img->generation = 42;
	img->program = "demo-host";
	img->exec_path = "/usr/libexec/baton/demo-host";
	img->n_fds = n * FDS_A_DEVICE;
	img->fds = xcalloc(img->n_fds, sizeof(*img->fds));
	img->n_regions = n;
	img->regions = xcalloc(n, sizeof(*img->regions));
	img->n_devices = n;
	img->devices = xcalloc(n, sizeof(*img->devices));
	w->sessions = xcalloc(n, sizeof(*w->sessions));
	w->refs = xcalloc(n * (FDS_A_DEVICE + 1), sizeof(*w->refs));

	for (size_t i = 0; i < n; i++) {
		struct baton_image_device *d = &img->devices[i];
		uint32_t *refs = &w->refs[i * (FDS_A_DEVICE + 1)];

		d->index = (uint32_t)i;
		d->bus = "pci";
		d->addr = (struct baton_pci_addr){ .bus = (uint8_t)(1 + i / 32),
						   .dev = (uint8_t)(i % 32) };
		baton_pci_addr_format(&d->addr, w->sessions[i]);
		for (size_t k = 0; k < FDS_A_DEVICE; k++) {
			struct baton_image_fd *fd = &img->fds[i * FDS_A_DEVICE + k];

			fd->index = (uint32_t)(i * FDS_A_DEVICE + k);
			fd->token = 1 + k;
			fd->session = w->sessions[i];
			fd->kind = kinds[k];
			refs[k] = fd->index;
		}
		img->regions[i] = (struct baton_image_region){
			.index = (uint32_t)i,
			.fd = (uint32_t)(i * FDS_A_DEVICE + 2),
			.size = 4096,
			.label = "pktgen-page",
		};
		refs[FDS_A_DEVICE] = (uint32_t)i;
		d->ids = (struct baton_pci_ids){ 0x1b36, 0x11f0, 0x1af4, 0x1100,
						 0x020000 };
		memset(d->schema, 0x5a, BATON_GUID_SIZE);
		d->schema_name = "pktgen-state";
		d->schema_version = 1;
		d->state = w->state;
		d->state_size = STATE_SIZE;
		d->n_fds = FDS_A_DEVICE;
		d->fds = refs;
		d->n_regions = 1;
		d->regions = &refs[FDS_A_DEVICE];
		d->mandatory = true;
	}
}

static void free_world(struct world *w)
{
	free(w->img.fds);
	free(w->img.regions);
	free(w->img.devices);
	free(w->sessions);
	free(w->refs);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The previous version's side of a restore of @n devices: the image in a
 * sealed memfd, and its fds (after a kexec, the regions' memfds only).
 */
static void handover(struct baton_handover *hv, size_t n, bool kexec)
{
	const int seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct world w;
	size_t len;
	void *buf;

	make_world(&w, n);
	for (size_t i = 0; i < n; i++)
		w.img.devices[i].mandatory = false;
	if (baton_image_write(&w.img, &buf, &len)) {
		fprintf(stderr, "bench_image: cannot write %zu devices\n", n);
		exit(1);
	}
	baton_handover_init(hv);
	/* As an exec-mode update hands them over: the copies its commit made,
	 * each its own open file, checked by the old version. */
	hv->fds_checked = true;
	hv->kexec = kexec;
	hv->force = true;
	hv->image_fd = memfd_create("image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (null < 0 || hv->image_fd < 0 ||
	    write(hv->image_fd, buf, len) != (ssize_t)len ||
	    fcntl(hv->image_fd, F_ADD_SEALS, seals) < 0) {
		perror("bench_image: the image's memfd");
		exit(1);
	}
	hv->n_fds = kexec ? n : w.img.n_fds;
	hv->fds = xcalloc(hv->n_fds, sizeof(*hv->fds));
	for (size_t i = 0; i < w.img.n_fds; i++) {
		int fd;

		if (w.img.fds[i].kind == BATON_FD_MEMFD) {
			fd = memfd_create("page", MFD_CLOEXEC);
			if (fd < 0 || ftruncate(fd, 4096) < 0) {
				perror("bench_image: a region's memfd");
				exit(1);
			}
			hv->fds[kexec ? i / FDS_A_DEVICE : i] = fd;
		} else if (!kexec) {
			/* A number named twice is refused: one file a fd. */
			fd = fcntl(null, F_DUPFD_CLOEXEC, 0);
			if (fd < 0) {
				perror("bench_image: a device's fd");
				exit(1);
			}
			hv->fds[i] = fd;
		}
	}
	close(null);
	free(buf);
	free_world(&w);
}

/* One restore of @n devices in this process: its time in ns. */
static double restore_once(size_t n, bool kexec)
{
	struct baton_host *host;
	struct baton_diag why = { 0 };
	struct incoming *in = xcalloc(1, sizeof(*in));
	double t0;
	int err = baton_host_create(&(struct baton_host_opts){ .program = "bench" },
				    &host);

	if (err) {
		fprintf(stderr, "bench_image: host: %s\n", baton_strerror(err));
		exit(1);
	}
	handover(&in->hv, n, kexec);
	t0 = now_ns();
	err = baton_restore(host, in, &why);
	t0 = now_ns() - t0;
	if (err || host->n_devices != n) {
		fprintf(stderr, "bench_image: restore of %zu devices: %s: %s\n",
			n, why.where, why.what);
		exit(1);
	}
	host->incoming = in;
	baton_host_destroy(host);
	return t0;
}

/* The median of RESTORE_RUNS restores, each in a new process. */
static double median_restore_ns(size_t n, bool kexec)
{
	double t[RESTORE_RUNS];

	for (int r = 0; r < RESTORE_RUNS; r++) {
		int pfd[2], status;
		pid_t pid;

		if (pipe(pfd) < 0 || (pid = fork()) < 0) {
			perror("bench_image");
			exit(1);
		}
		if (!pid) {
			double ns = restore_once(n, kexec);

			_exit(write(pfd[1], &ns, sizeof(ns)) != sizeof(ns));
		}
		close(pfd[1]);
		if (read(pfd[0], &t[r], sizeof(t[r])) != sizeof(t[r]) ||
		    waitpid(pid, &status, 0) != pid || status) {
			fprintf(stderr, "bench_image: a restore failed\n");
			exit(1);
		}
		close(pfd[0]);
	}
	qsort(t, RESTORE_RUNS, sizeof(*t), cmp_double);
	return t[RESTORE_RUNS / 2];
}

static void restore_table(size_t max)
{
	static const size_t counts[] = { 256, 1024, 4096 };

	printf("%8s %14s %14s\n", "devices", "restore us", "kexec us");
	for (size_t i = 0; i < sizeof(counts) / sizeof(*counts) && counts[i] <= max; i++) {
		double ns = median_restore_ns(counts[i], false);
		double kx = median_restore_ns(counts[i], true);

		printf("%8zu %14.1f %14.1f\n", counts[i], ns / 1e3, kx / 1e3);
	}
}

static void parse_once(const void *buf, size_t len, size_t n)
{
	struct baton_diag diag = { 0 };
	struct baton_image *img;
	int err = baton_image_parse(buf, len, &img, &diag);

	if (err || img->n_devices != n) {
		fprintf(stderr, "bench_image: %zu devices: %s: %s\n", n,
			diag.where, diag.what);
		exit(1);
	}
	baton_image_free(img);
}

/* Write the image of @n devices; *@len is its size. */
static void *build(size_t n, size_t *len)
{
	struct world w;
	void *buf;

	make_world(&w, n);
	if (baton_image_write(&w.img, &buf, len)) {
		fprintf(stderr, "bench_image: cannot write %zu devices\n", n);
		exit(1);
	}
	free_world(&w);
	return buf;
}

static double median_parse_ns(const void *buf, size_t len, size_t n)
{
	double t[RUNS];

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ns();

		parse_once(buf, len, n);
		t[r] = now_ns() - t0;
	}
	qsort(t, RUNS, sizeof(*t), cmp_double);
	return t[RUNS / 2];
}

/* The child of --fresh: map the image at @fd, parse it once; the ns. */
static int parse_fd(int fd, size_t n)
{
	struct baton_diag diag = { 0 };
	struct baton_image *img;
	off_t len = lseek(fd, 0, SEEK_END);
	struct rusage ru0, ru1;
	double t0;

	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_ns();
	void *map = len > 0 ? mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0) :
			      MAP_FAILED;
	int err = map == MAP_FAILED ? -1 : baton_image_parse(map, (size_t)len, &img, &diag);

	t0 = now_ns() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	if (err || img->n_devices != n) {
		fprintf(stderr, "bench_image: fresh parse of %zu devices: %s: %s\n",
			n, diag.where, diag.what);
		return 1;
	}
	printf("%.0f %ld\n", t0, ru1.ru_minflt - ru0.ru_minflt);
	return 0;
}

/* The median of FRESH_RUNS parses of @n devices, each in a new process. */
static void fresh_parse(const char *self, size_t n)
{
	const int seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
	double t[FRESH_RUNS];
	long faults = 0;
	char fd_arg[16], n_arg[24];
	size_t len;
	void *buf = build(n, &len);
	int fd = memfd_create("image", MFD_ALLOW_SEALING);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len ||
	    fcntl(fd, F_ADD_SEALS, seals) < 0) {
		perror("bench_image: the image's memfd");
		exit(1);
	}
	free(buf);
	snprintf(fd_arg, sizeof(fd_arg), "%d", fd);
	snprintf(n_arg, sizeof(n_arg), "%zu", n);
	for (int r = 0; r < FRESH_RUNS; r++) {
		int pfd[2], status;
		char out[48] = "", *end;
		ssize_t got;
		pid_t pid;

		if (pipe(pfd) < 0 || (pid = fork()) < 0) {
			perror("bench_image");
			exit(1);
		}
		if (!pid) {
			dup2(pfd[1], STDOUT_FILENO);
			execl(self, self, "--parse-fd", fd_arg, n_arg, (char *)NULL);
			_exit(127);
		}
		close(pfd[1]);
		got = read(pfd[0], out, sizeof(out) - 1);
		close(pfd[0]);
		if (got <= 0 || waitpid(pid, &status, 0) != pid || status) {
			fprintf(stderr, "bench_image: a fresh parse failed\n");
			exit(1);
		}
		t[r] = strtod(out, &end);
		faults = strtol(end, NULL, 10);
	}
	qsort(t, FRESH_RUNS, sizeof(*t), cmp_double);
	printf("%zu devices, parse in a new process: median %.1f us (%.1f-%.1f), "
	       "%.1f ns a device, %ld page faults\n", n, t[FRESH_RUNS / 2] / 1e3, t[0] / 1e3,
	       t[FRESH_RUNS - 1] / 1e3, t[FRESH_RUNS / 2] / n, faults);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *csv_path = NULL;
	FILE *csv = NULL;
	double per16 = 0, per4k = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--once") && i + 1 < argc) {
			size_t n = strtoul(argv[++i], NULL, 10), len;
			void *buf = build(n, &len);

			parse_once(buf, len, n);
			free(buf);
			return 0;
		} else if (!strcmp(argv[i], "--restore-once") && i + 1 < argc) {
			size_t n = strtoul(argv[++i], NULL, 10);

			restore_once(n, i + 1 < argc && !strcmp(argv[i + 1], "kexec"));
			return 0;
		} else if (!strcmp(argv[i], "--fresh") && i + 1 < argc) {
			fresh_parse("/proc/self/exe", strtoul(argv[++i], NULL, 10));
			return 0;
		} else if (!strcmp(argv[i], "--parse-fd") && i + 2 < argc) {
			int fd = atoi(argv[++i]);

			return parse_fd(fd, strtoul(argv[++i], NULL, 10));
		} else if (!strcmp(argv[i], "--restore") && i + 1 < argc) {
			restore_table(strtoul(argv[++i], NULL, 10));
			return 0;
		} else if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
			csv_path = argv[++i];
		} else {
			fprintf(stderr, "usage: bench_image [--csv FILE] [--once N] "
				"[--restore MAX] [--restore-once N [kexec]] [--fresh N]\n");
			return 2;
		}
	}
	if (csv_path) {
		csv = fopen(csv_path, "w");
		if (!csv) {
			perror(csv_path);
			return 2;
		}
		fprintf(csv, "devices,image_bytes,parse_us,per_device_ns\n");
	}

	printf("%8s %10s %12s %14s\n", "devices", "bytes", "parse us",
	       "ns a device");
	for (size_t i = 0; i < sizeof(default_counts) / sizeof(*default_counts); i++) {
		size_t n = default_counts[i], len;
		void *buf = build(n, &len);
		double ns = median_parse_ns(buf, len, n);

		printf("%8zu %10zu %12.1f %14.1f\n", n, len, ns / 1e3, ns / n);
		if (csv)
			fprintf(csv, "%zu,%zu,%.1f,%.1f\n", n, len, ns / 1e3,
				ns / n);
		if (n == 16)
			per16 = ns / n;
		if (n == 4096)
			per4k = ns / n;
		free(buf);
	}
	printf("per device, 16 -> 4,096 devices: %.2fx\n", per4k / per16);
	restore_table(4096);
	if (csv)
		fclose(csv);
	return 0;
}
