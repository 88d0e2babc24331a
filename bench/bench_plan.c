// SPDX-License-Identifier: MIT
/*
 * The planner at fleet-host scale: 100k device records against 1k drivers.
 *
 * A fixed seed generates the same synthetic world every run: drivers with
 * 1-4 id entries (mostly vendor:device, some vendor-wide, some by class)
 * and 1-3 accepted schemas (some through converters) over a pool of
 * three schemas per driver; a few drivers are clones of another at the
 * same priority (their devices conflict), at another priority (the
 * higher one wins) or through converters at a higher priority (the native
 * reader wins).  Records hit a driver, match ids but carry a schema no
 * matching driver reads, carry a known schema on unknown ids, or match
 * nothing, and a few are absent.
 *
 * Every time is the median of RUNS calls of baton_plan() in this process,
 * index building included.  Linearity is shown by ratios measured in the
 * same run: records 10k -> 100k at 1k drivers (expect ~10x) and drivers
 * 100 -> 1k at 100k records (expect ~1x: candidates come from the GUID
 * index, and the world keeps three schemas per driver, so each record sees
 * the same few candidates).  The instructions per record are the same at
 * 100 and 1k drivers (callgrind: within 2%); what remains of the drivers
 * ratio above 1x is the larger tables falling out of cache.
 *
 * A naive planner that scans every driver for every record checks the
 * decisions (action, driver, accept) and gives the speed-up; it writes no
 * reasons, so the speed-up understates the index's.  Exit status 1 when
 * the two disagree.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <baton/plan.h>

#define RUNS		7
#define SEED		0x5eedba70u
#define SCHEMAS_PER_DRIVER 3
#define N_VENDORS	32

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct world {
	size_t n_schemas;
	struct baton_schema_desc *schemas;
	struct baton_contracts set;
	struct baton_pci_match *ids;
	struct baton_accept_desc *accepts;
	size_t n_ids, n_accepts;
	size_t n_records;
	struct baton_image_device *records;
	struct baton_plan_opts opts;
	struct baton_pci_addr *present;
};

static uint64_t rng_state;

/* splitmix64: small, fast, and the same sequence everywhere. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "bench_plan: out of memory\n");
		exit(2);
	}
	return p;
}

static uint32_t vendor_pool(uint32_t i)
{
	return 0x1000 + i * 0x111;
}

static void make_schemas(struct world *w, size_t n)
{
	w->n_schemas = n;
	w->schemas = xcalloc(n, sizeof(*w->schemas));
	for (size_t i = 0; i < n; i++) {
		struct baton_schema_desc *s = &w->schemas[i];
		uint64_t a = rnd(), b = rnd();

		snprintf(s->owner, sizeof(s->owner), "schema_%zu", i);
		snprintf(s->name, sizeof(s->name), "state-%zu", i / 2);
		s->version = 1 + (uint32_t)(i % 2);
		memcpy(s->guid, &a, 8);
		memcpy(s->guid + 8, &b, 8);
		s->guid[6] = (s->guid[6] & 0x0f) | 0x50;	/* v5, as derived */
		s->guid[8] = (s->guid[8] & 0x3f) | 0x80;
	}
}

static void make_id(struct baton_pci_match *m)
{
	uint32_t kind = below(100);

	*m = (struct baton_pci_match){
		.vendor = vendor_pool(below(N_VENDORS)),
		.device = below(0x10000),
		.subvendor = BATON_ANY_ID,
		.subdevice = BATON_ANY_ID,
	};
	if (kind < 5) {
		/* Every device of a vendor on one subsystem. */
		m->device = BATON_ANY_ID;
		m->subvendor = below(0x10000);
	} else if (kind < 10) {
		/* A whole class, any vendor. */
		m->vendor = m->device = BATON_ANY_ID;
		m->class_code = (1 + below(12)) << 16 | below(8) << 8;
		m->class_mask = 0xffff00;
	}
}

static void make_drivers(struct world *w, size_t n)
{
	struct baton_contract *drv;

	make_schemas(w, n * SCHEMAS_PER_DRIVER);
	/* At most 4 ids and 3 accepts each. */
	w->ids = xcalloc(n * 4, sizeof(*w->ids));
	w->accepts = xcalloc(n * 3, sizeof(*w->accepts));
	w->n_ids = w->n_accepts = 0;
	drv = xcalloc(n, sizeof(*drv));
	w->set = (struct baton_contracts){ .n_drivers = n, .drivers = drv };

	for (size_t i = 0; i < n; i++) {
		uint32_t clone = below(100);
		struct baton_schema_desc *own = &w->schemas[i * SCHEMAS_PER_DRIVER];

		snprintf(drv[i].owner, sizeof(drv[i].owner), "driver_%04zu", i);
		snprintf(drv[i].name, sizeof(drv[i].name), "drv%zu", i);
		drv[i].priority = (int32_t)below(4);
		if (i > 0 && clone < 3) {
			/* Same devices, same schemas: a conflict or an override. */
			drv[i].ids = drv[i - 1].ids;
			drv[i].n_ids = drv[i - 1].n_ids;
			drv[i].accepts = drv[i - 1].accepts;
			drv[i].n_accepts = drv[i - 1].n_accepts;
			drv[i].priority = drv[i - 1].priority + (clone == 0 ? 1 : 0);
			continue;
		}
		if (i > 0 && clone < 5) {
			/* Same devices, same schemas through converters at a
			 * higher priority: the native reader still wins. */
			drv[i].ids = drv[i - 1].ids;
			drv[i].n_ids = drv[i - 1].n_ids;
			drv[i].accepts = &w->accepts[w->n_accepts];
			drv[i].n_accepts = drv[i - 1].n_accepts;
			for (size_t k = 0; k < drv[i].n_accepts; k++) {
				struct baton_accept_desc *a = &w->accepts[w->n_accepts++];

				a->schema = drv[i - 1].accepts[k].schema;
				a->target = own;
				a->via = BATON_VIA_CONVERTER;
			}
			drv[i].priority = drv[i - 1].priority + 5;
			continue;
		}
		drv[i].ids = &w->ids[w->n_ids];
		drv[i].n_ids = 1 + below(4);
		for (size_t k = 0; k < drv[i].n_ids; k++)
			make_id(&w->ids[w->n_ids++]);
		drv[i].accepts = &w->accepts[w->n_accepts];
		drv[i].n_accepts = 1 + below(3);
		for (size_t k = 0; k < drv[i].n_accepts; k++) {
			struct baton_accept_desc *a = &w->accepts[w->n_accepts++];

			if (k > 0 && below(4) == 0) {
				/* Reads some older schema through a converter. */
				a->schema = &w->schemas[below((uint32_t)w->n_schemas)];
				a->target = own;
				a->via = BATON_VIA_CONVERTER;
			} else {
				a->schema = a->target = &own[k];
				a->via = BATON_VIA_NATIVE;
			}
		}
	}
}

/* Ids of a device that @m matches. */
static struct baton_pci_ids ids_for(const struct baton_pci_match *m)
{
	struct baton_pci_ids ids = {
		.vendor = m->vendor == BATON_ANY_ID ? vendor_pool(below(N_VENDORS)) : m->vendor,
		.device = m->device == BATON_ANY_ID ? below(0x10000) : m->device,
		.subvendor = m->subvendor == BATON_ANY_ID ? below(0x10000) : m->subvendor,
		.subdevice = m->subdevice == BATON_ANY_ID ? below(0x10000) : m->subdevice,
	};

	ids.class_code = (m->class_code & m->class_mask) |
			 (below(1u << 24) & ~m->class_mask & 0xffffff);
	return ids;
}

static void make_records(struct world *w, size_t n)
{
	const struct baton_contracts *set = &w->set;
	size_t n_present = 0;

	w->n_records = n;
	w->records = xcalloc(n, sizeof(*w->records));
	/* Every present record, and a few devices without a record. */
	w->present = xcalloc(n + n / 50, sizeof(*w->present));
	for (size_t i = 0; i < n; i++) {
		struct baton_image_device *r = &w->records[i];
		const struct baton_contract *drv = &set->drivers[below((uint32_t)set->n_drivers)];
		const struct baton_schema_desc *s;
		uint32_t kind = below(100);

		r->index = (uint32_t)i;
		r->bus = "pci";
		r->addr = (struct baton_pci_addr){
			.domain = (uint16_t)(i >> 13),
			.bus = (uint8_t)(i >> 5),
			.dev = (uint8_t)(i & 31),
		};
		if (kind < 86) {
			/* A device its driver reads: bound, converted or in conflict. */
			s = drv->accepts[below((uint32_t)drv->n_accepts)].schema;
			r->ids = ids_for(&drv->ids[below((uint32_t)drv->n_ids)]);
		} else if (kind < 92) {
			/* Matching ids, schema of another driver. */
			s = &w->schemas[below((uint32_t)w->n_schemas)];
			r->ids = ids_for(&drv->ids[below((uint32_t)drv->n_ids)]);
		} else if (kind < 96) {
			/* A known schema on ids nobody drives. */
			s = drv->accepts[0].schema;
			r->ids = (struct baton_pci_ids){ 0xdead, below(0x10000), 0, 0, 0xff0000 };
		} else {
			/* Nothing known: no name in the image either. */
			s = NULL;
			r->ids = (struct baton_pci_ids){ 0xdead, below(0x10000), 0, 0, 0xff0000 };
			for (size_t b = 0; b < BATON_GUID_SIZE; b++)
				r->schema[b] = (uint8_t)rnd();
		}
		if (s) {
			memcpy(r->schema, s->guid, BATON_GUID_SIZE);
			r->schema_name = s->name;
			r->schema_version = s->version;
		}
		r->orphan = below(10) < 7 ? BATON_ORPHAN_QUARANTINE : BATON_ORPHAN_RESET;
		r->mandatory = below(2);
		if (below(100) != 0)
			w->present[n_present++] = r->addr;
	}
	for (size_t i = 0; i < n / 50; i++)
		w->present[n_present++] = (struct baton_pci_addr){ .domain = 0xffff,
			.bus = (uint8_t)i, .dev = (uint8_t)(i >> 8) & 31 };
	/* Shuffle: the planner must not rely on the caller's order. */
	for (size_t i = n_present; i > 1; i--) {
		size_t j = below((uint32_t)i);
		struct baton_pci_addr t = w->present[i - 1];

		w->present[i - 1] = w->present[j];
		w->present[j] = t;
	}
	w->opts = (struct baton_plan_opts){
		.present = w->present,
		.n_present = n_present,
	};
}

static void make_world(struct world *w, size_t n_drivers, size_t n_records)
{
	rng_state = SEED;
	memset(w, 0, sizeof(*w));
	make_drivers(w, n_drivers);
	make_records(w, n_records);
}

static void free_world(struct world *w)
{
	free(w->records);
	free(w->present);
	free(w->set.drivers);
	free(w->accepts);
	free(w->ids);
	free(w->schemas);
}

/* ---- A planner that scans every driver, for reference ---- */

static int addr_cmp(const void *a, const void *b)
{
	return baton_pci_addr_cmp(a, b);
}

static bool is_native(const struct baton_accept_desc *a)
{
	return a->via == BATON_VIA_NATIVE;
}

/* The better accept of @drv for @guid: native first, then declaration order. */
static const struct baton_accept_desc *naive_accept(const struct baton_contract *drv,
						   const uint8_t *guid)
{
	const struct baton_accept_desc *best = NULL;

	for (size_t i = 0; i < drv->n_accepts; i++) {
		const struct baton_accept_desc *a = &drv->accepts[i];

		if (memcmp(a->schema->guid, guid, BATON_GUID_SIZE))
			continue;
		if (!best || (is_native(a) && !is_native(best)))
			best = a;
	}
	return best;
}

static int naive_rank_cmp(const struct baton_contract *da, const struct baton_accept_desc *aa,
			  const struct baton_contract *db, const struct baton_accept_desc *ab)
{
	if (is_native(aa) != is_native(ab))
		return is_native(aa) ? 1 : -1;
	return (da->priority > db->priority) - (da->priority < db->priority);
}

static void naive_plan(const struct world *w, struct baton_decision *out)
{
	const struct baton_contracts *set = &w->set;
	size_t n_present = w->opts.n_present;
	struct baton_pci_addr *present = xcalloc(n_present, sizeof(*present));

	memcpy(present, w->present, n_present * sizeof(*present));
	qsort(present, n_present, sizeof(*present), addr_cmp);
	for (size_t i = 0; i < w->n_records; i++) {
		const struct baton_image_device *r = &w->records[i];
		const struct baton_contract *best = NULL;
		const struct baton_accept_desc *best_acc = NULL;
		size_t ties = 0;

		out[i].device = r;
		out[i].driver = NULL;
		out[i].accept = NULL;
		if (!bsearch(&r->addr, present, n_present, sizeof(*present), addr_cmp)) {
			out[i].action = BATON_ACTION_RELEASE;
			continue;
		}
		for (size_t d = 0; d < set->n_drivers; d++) {
			const struct baton_contract *drv = &set->drivers[d];
			const struct baton_accept_desc *a;
			bool match = false;
			int c;

			for (size_t k = 0; k < drv->n_ids && !match; k++)
				match = baton_pci_match(&drv->ids[k], &r->ids);
			if (!match || !(a = naive_accept(drv, r->schema)))
				continue;
			c = best ? naive_rank_cmp(drv, a, best, best_acc) : 1;
			if (c > 0) {
				best = drv;
				best_acc = a;
				ties = 1;
			} else if (c == 0) {
				ties++;
			}
		}
		if (!best) {
			out[i].action = r->orphan == BATON_ORPHAN_RESET ?
					BATON_ACTION_RESET : BATON_ACTION_QUARANTINE;
		} else if (ties > 1) {
			out[i].action = BATON_ACTION_CONFLICT;
		} else {
			out[i].action = is_native(best_acc) ? BATON_ACTION_BIND :
							      BATON_ACTION_CONVERT;
			out[i].driver = best;
			out[i].accept = best_acc;
		}
	}
	free(present);
}

/* ---- Measuring ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), dbl_cmp);
	return v[n / 2];
}

static double time_plan(const struct world *w, struct baton_decision *out)
{
	double t[RUNS];

	for (size_t i = 0; i < RUNS; i++) {
		double t0 = now_ms();
		int err = baton_plan(w->records, w->n_records, &w->set, &w->opts, out);

		t[i] = now_ms() - t0;
		if (err) {
			fprintf(stderr, "bench_plan: baton_plan: %s\n", baton_strerror(err));
			exit(2);
		}
	}
	return median(t, RUNS);
}

static double time_naive(const struct world *w, struct baton_decision *out)
{
	double t[RUNS];

	for (size_t i = 0; i < RUNS; i++) {
		double t0 = now_ms();

		naive_plan(w, out);
		t[i] = now_ms() - t0;
	}
	return median(t, RUNS);
}

/* --csv FILE: each row again, for make bench's plots (build/bench/plan.csv). */
static FILE *csv;

static void print_row(const char *who, const struct world *w, double ms)
{
	printf("%-7s %8zu %7zu %7zu %6zu %10.3f %10.1f\n", who, w->n_records,
	       w->set.n_drivers, w->n_accepts, w->n_ids, ms,
	       ms * 1e6 / (double)w->n_records);
	if (csv)
		fprintf(csv, "%s,%zu,%zu,%zu,%zu,%.3f,%.1f\n", who, w->n_records,
			w->set.n_drivers, w->n_accepts, w->n_ids, ms,
			ms * 1e6 / (double)w->n_records);
}

static void print_mix(const struct baton_decision *d, size_t n)
{
	size_t count[BATON_ACTION_RELEASE + 1] = { 0 };

	for (size_t i = 0; i < n; i++)
		count[d[i].action]++;
	printf("decisions:");
	for (size_t a = 0; a < ARRAY_SIZE(count); a++)
		printf(" %s %.1f%%", baton_action_name((enum baton_action)a),
		       100.0 * (double)count[a] / (double)n);
	printf("\n");
}

int main(int argc, char **argv)
{
	struct world small, large, few;
	struct baton_decision *d_small, *d_large, *d_naive;
	double t_small, t_large, t_few, t_naive, rss_mib;
	struct rusage ru;
	size_t mismatches = 0;

	if (argc == 3 && !strcmp(argv[1], "--csv")) {
		csv = fopen(argv[2], "we");
		if (!csv) {
			perror(argv[2]);
			return 3;
		}
		fprintf(csv, "planner,records,drivers,accepts,ids,median_ms,ns_per_record\n");
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_plan [--csv FILE]\n");
		return 2;
	}

	printf("baton planner: median of %d runs, seed %#x\n\n", RUNS, SEED);
	printf("%-7s %8s %7s %7s %6s %10s %10s\n", "planner", "records",
	       "drivers", "accepts", "ids", "median ms", "ns/record");

	/* The fleet-host case first, so the peak RSS is its own. */
	make_world(&large, 1000, 100000);
	d_large = xcalloc(large.n_records, sizeof(*d_large));
	time_plan(&large, d_large);	/* warm-up, untimed */
	t_large = time_plan(&large, d_large);
	getrusage(RUSAGE_SELF, &ru);
	rss_mib = (double)ru.ru_maxrss / 1024.0;
	print_row("index", &large, t_large);

	make_world(&small, 1000, 10000);
	d_small = xcalloc(small.n_records, sizeof(*d_small));
	d_naive = xcalloc(small.n_records, sizeof(*d_naive));
	t_small = time_plan(&small, d_small);
	print_row("index", &small, t_small);

	make_world(&few, 100, 100000);
	{
		struct baton_decision *d_few = xcalloc(few.n_records, sizeof(*d_few));

		t_few = time_plan(&few, d_few);
		free(d_few);
	}
	print_row("index", &few, t_few);

	t_naive = time_naive(&small, d_naive);
	print_row("naive", &small, t_naive);
	for (size_t i = 0; i < small.n_records; i++) {
		if (d_small[i].action == d_naive[i].action &&
		    d_small[i].driver == d_naive[i].driver &&
		    d_small[i].accept == d_naive[i].accept)
			continue;
		if (!mismatches++)
			fprintf(stderr, "record %zu: plan %s (%s), naive %s\n", i,
				baton_action_name(d_small[i].action), d_small[i].reason,
				baton_action_name(d_naive[i].action));
	}

	printf("\n100k x 1k ");
	print_mix(d_large, large.n_records);
	printf("\n");
	printf("measure: plan 100k records x 1k drivers: %.3f ms\n", t_large);
	printf("measure: plan 10k records x 1k drivers: %.3f ms\n", t_small);
	printf("measure: plan 100k records x 100 drivers: %.3f ms\n", t_few);
	printf("measure: naive 10k records x 1k drivers: %.3f ms\n", t_naive);
	printf("measure: ratio records 10k -> 100k at 1k drivers: %.2fx (linear: 10x)\n",
	       t_large / t_small);
	printf("measure: ratio drivers 100 -> 1k at 100k records: %.2fx (indexed: 1x)\n",
	       t_large / t_few);
	printf("measure: speed-up over naive at 10k x 1k: %.1fx\n", t_naive / t_small);
	printf("measure: decisions identical to naive: %s (%zu of %zu differ)\n",
	       mismatches ? "NO" : "yes", mismatches, small.n_records);
	printf("measure: peak RSS after planning 100k x 1k: %.1f MiB\n", rss_mib);

	free(d_naive);
	free(d_small);
	free(d_large);
	free_world(&few);
	free_world(&small);
	free_world(&large);
	if (csv && fclose(csv))
		return 3;
	return mismatches ? 1 : 0;
}
