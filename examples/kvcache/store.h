/* SPDX-License-Identifier: MIT */
#ifndef KVCACHE_STORE_H
#define KVCACHE_STORE_H

/**
 * DOC: kvcache item store
 *
 * The cache's items live entirely inside one caller-provided memory region,
 * so that a live update can hand the region to the next version of the
 * program, which maps it again - possibly at another address - and goes on
 * with every item where it was.  The rules that follow from that:
 *
 *  - Nothing inside the region is a pointer: every link is an offset from
 *    the region's base, 0 meaning none.
 *  - The region starts with a header (magic, layout, sizes, where the hash
 *    table and the slab arena are, allocator state, statistics), so a new
 *    process can attach to an existing region and validate it.
 *  - Nothing read from the region is trusted.  Attaching validates the
 *    header and the page table, which is O(pages), never O(items): the
 *    blackout of an update must not grow with the memory it preserves.
 *    Items are validated when they are reached (offset inside the used
 *    arena, on a chunk boundary of its page's slab class, lengths inside
 *    the chunk, list walks bounded), and kv_store_check() walks everything
 *    for a dry run.  A region found damaged gives -EBADMSG and a message
 *    saying where; the store then refuses further operations rather than
 *    guess.
 *
 * Memory is a slab allocator as memcached's: the arena is cut into pages
 * of 1 MiB and 4 KiB (the largest item and its header); a page is given
 * to one size class when that class first needs room, and cut into chunks
 * of the class's size one at a time, as the class needs them (memcached
 * once did the same; struct kv_class's @uncut): the first write of each
 * of a page's 4 KiB pages costs ~6 us in a VM, and a page cut whole at
 * once held the store for 1.5-10 ms.  Each class has its own LRU list.
 * When a class has no free chunk and no page is left, its least recently
 * used item is evicted (an expired one counts as reclaimed); when the
 * class holds no item to evict, the store refuses with -ENOMEM, which the
 * protocol reports as memcached does: "SERVER_ERROR out of memory storing
 * object".
 * An item larger than memcached takes (KV_ITEM_SIZE_MAX as memcached
 * counts it, kv_item_too_large()) is refused with -E2BIG ("SERVER_ERROR
 * object too large for cache"); an append or prepend that would make one
 * is not stored, as memcached's is not.
 *
 * The item header is a Baton schema.  kvcache-item v1 is the layout of
 * kvcache-v1; v2 appends @last_access, the time of the item's last use.
 * store.c is compiled once per version (-DKVCACHE_VERSION=1 or 2) and each
 * build exports only its operations table, kv_store_v1_ops or
 * kv_store_v2_ops, so one program (the unit test) can hold both.  A region
 * records the item version it was written with; a build attaches only to
 * its own (-EPROTO otherwise).  v2 takes a v1 region's items over into
 * its own region lazily, once it has taken over (kv_store_adopt_v1() and
 * what follows it, below).
 *
 * Times are Unix seconds, passed in by the caller (@now), so that tests
 * control the clock.  An item's exptime is absolute; 0 never expires.
 *
 * Several threads may use one store at once, as memcached's workers do,
 * with locks in the process (struct kv_locks): a get, put or delete of a
 * key under the key's stripe (kv_store_lock_key()), beside those of other
 * stripes; inside, the slab allocator, the LRU lists and the cas sequence
 * under one short lock, taken after the stripe; the counters atomically.
 * Everything else - the conversion, flush_all, the counters' copy, a
 * check - with the store to oneself (the program's lock, around these).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <baton/schema.h>

/* The fields of kvcache-item v1.  v2 repeats them, in the same order, and
 * appends its own: code that walks lists reads both versions through
 * struct kv_item_v1.  The key and then the value follow the header. */
#define KV_ITEM_V1_FIELDS						\
	BATON_FIELD(u64, h_next),	/* next in the hash chain */	\
	BATON_FIELD(u64, lru_prev),	/* more recently used */	\
	BATON_FIELD(u64, lru_next),	/* less recently used */	\
	BATON_FIELD(u64, cas),						\
	BATON_FIELD(u64, exptime),					\
	BATON_FIELD(u32, flags),	/* the client's, opaque */	\
	BATON_FIELD(u32, nbytes),	/* value length */		\
	BATON_FIELD(u32, hash),		/* of the key */		\
	BATON_FIELD(u16, nkey),		/* key length */		\
	BATON_FIELD(u8, slab_class),					\
	BATON_FIELD(u8, state)		/* KV_CHUNK_* */

/* Every version reads v1: kvcache-v2 converts it. */
BATON_SCHEMA(kv_item_v1, "kvcache-item", 1, KV_ITEM_V1_FIELDS);

#if defined(KVCACHE_VERSION) && KVCACHE_VERSION >= 2
BATON_SCHEMA(kv_item_v2, "kvcache-item", 2, KV_ITEM_V1_FIELDS,
	BATON_FIELD(u64, last_access));
#endif

#define KV_KEY_MAX	250		/* memcached's limit */
/* The largest item as memcached counts it (its default -I). */
#define KV_ITEM_SIZE_MAX (1u << 20)
/*
 * memcached counts an item as its own 48-byte header, the key and a NUL,
 * the value and its "\r\n", the cas (8 bytes), and the flags (4) unless
 * they are 0.  kvcache takes exactly the items memcached takes, whatever
 * its own header: a client must not find a value one server keeps and the
 * other refuses.
 */
#define KV_MC_ITEM_OVERHEAD (48 + 1 + 2 + 8)
static inline bool kv_item_too_large(size_t nkey, uint32_t flags,
				     uint64_t nbytes)
{
	return KV_MC_ITEM_OVERHEAD + nkey + nbytes + (flags ? 4 : 0) >
	       KV_ITEM_SIZE_MAX;
}
/* Key and value bytes of the largest item (flags 0): 1,048,517. */
#define KV_ITEM_DATA_MAX (KV_ITEM_SIZE_MAX - KV_MC_ITEM_OVERHEAD)
/* No value longer than this can be stored, whatever its key. */
#define KV_VALUE_MAX	(KV_ITEM_DATA_MAX - 1)
/* Room beside the largest key and value for any version's item header:
 * an item that fits one version's page fits the next version's. */
#define KV_HEADER_ROOM	256
/* A slab page, 4 KiB aligned: the largest item and its header fit one. */
#define KV_PAGE_SIZE	(KV_ITEM_SIZE_MAX + 4096)
_Static_assert(KV_ITEM_DATA_MAX + KV_HEADER_ROOM <= KV_PAGE_SIZE,
	       "a page must hold the largest item and any header");
/* The smallest region: its header, hash table and one page. */
#define KV_REGION_MIN	((size_t)2 << 20)

/**
 * struct kv_err - why untrusted input (a region) was refused
 * @msg: one line, no trailing newline; empty when nothing failed
 */
struct kv_err {
	char msg[200];
};

/**
 * struct kv_stats - counters kept in the region, so they survive updates
 *
 * Named as memcached's "stats" names them.  @bytes counts whole items
 * (header, key and value); @limit_maxbytes is the size of the slab arena.
 */
struct kv_stats {
	uint64_t curr_items;
	uint64_t total_items;
	uint64_t bytes;
	uint64_t limit_maxbytes;
	uint64_t evictions;
	uint64_t reclaimed;
	uint64_t cmd_set;
	uint64_t get_hits;
	uint64_t get_misses;
	uint64_t delete_hits;
	uint64_t delete_misses;
	uint64_t incr_hits;
	uint64_t incr_misses;
	uint64_t decr_hits;
	uint64_t decr_misses;
	uint64_t cas_hits;
	uint64_t cas_misses;
	uint64_t cas_badval;
};

/**
 * struct kv_item_ref - an item found by kv_store_get()
 *
 * @key and @data point into the region: valid until the next call that
 * changes the store.
 */
struct kv_item_ref {
	const char *key;
	size_t nkey;
	const void *data;
	uint32_t nbytes;
	uint32_t flags;
	uint64_t exptime;
	uint64_t cas;
	uint64_t last_access;	/* v2: when it was last used before; v1: 0 */
	uint32_t size;		/* header, key and value */
	uint8_t slab_class;
};

/*
 * How kv_store_put() treats an existing item.  With a non-zero @cas, every
 * mode but KV_ADD also requires the item to exist and have that cas (the
 * binary protocol's set, replace, append and prepend take one).
 */
enum kv_mode {
	KV_SET,		/* store, replacing any */
	KV_ADD,		/* store only if absent */
	KV_CAS,		/* replace only if its cas is the given one */
	KV_REPLACE,	/* replace only if present */
	KV_APPEND,	/* add to the end of a present item's value */
	KV_PREPEND,	/* add to the start of a present item's value */
};

/* Outcomes that are not errors (errors are negative errno codes). */
enum kv_status {
	KV_OK = 0,
	KV_NOT_STORED,	/* add: the key exists */
	KV_EXISTS,	/* cas: the item changed since it was read */
	KV_NOT_FOUND,
};

/*
 * The region header, an ABI: another build (the next version, or the
 * previous one in a rollback) reads it.  store.c says how the region is
 * laid out around it; any change is a new KV_LAYOUT.
 */
#define KV_MAGIC	"KVCACHE"	/* 8 bytes with its NUL */
/* A v1 region a v2 store has converted, whose memory is being given back:
 * its items are gone or in the v2 region, and it is not to be adopted. */
#define KV_MAGIC_SPENT	"KVSPENT"
#define KV_LAYOUT	3	/* 3: a class's newest page is cut as it is used */
#define KV_MAX_CLASSES	48
#define KV_PAGE_FREE	0xff	/* page table: no class has the page yet */
/* Chunk states (an item's @state).  Neither is 0: zeroed memory is never
 * a chunk. */
#define KV_CHUNK_FREE	0xf3
#define KV_CHUNK_ITEM	0x17

/**
 * struct kv_class - one size class, in the region header
 * @chunk_size: bytes per chunk; a page holds KV_PAGE_SIZE / @chunk_size
 * @pages:      pages this class has taken
 * @free_head:  first free chunk; free chunks chain through h_next
 * @free_count: free chunks on that list
 * @lru_head:   most recently used item
 * @lru_tail:   least recently used item: the next to evict
 * @items:      items on the LRU list
 * @uncut:      the first chunk of the class's newest page not cut yet, the
 *              rest of that page after it; 0 when that page is cut to its
 *              end.  Chunks are cut one at a time, when the free list is
 *              empty (kv_class_uncut() counts them)
 */
struct kv_class {
	uint32_t chunk_size;
	uint32_t pages;
	uint64_t free_head;
	uint64_t free_count;
	uint64_t lru_head;
	uint64_t lru_tail;
	uint64_t items;
	uint64_t uncut;
};

/**
 * struct kv_region - the header at a region's base
 * @magic:          KV_MAGIC
 * @layout:         KV_LAYOUT: this header and the geometry around it
 * @hdr_size:       sizeof(struct kv_region)
 * @item_version:   the kvcache-item schema version of every item
 * @item_hdr_size:  sizeof that schema's struct
 * @region_size:    the size the region was formatted with
 * @page_size:      KV_PAGE_SIZE
 * @n_pages:        pages in the arena
 * @pages_used:     pages given to classes, the first ones
 * @page_table_off: the page table, @n_pages bytes
 * @buckets_off:    the hash table, @n_buckets u64 offsets
 * @n_buckets:      a power of two
 * @arena_off:      the first page
 * @next_cas:       the last cas handed out
 * @n_classes:      size classes in use
 * @reserved:       0
 * @stats:          the counters
 * @classes:        the size classes
 *
 * Fixed-width fields only; every offset is from the region's base.
 */
struct kv_region {
	char magic[8];
	uint32_t layout;
	uint32_t hdr_size;
	uint32_t item_version;
	uint32_t item_hdr_size;
	uint64_t region_size;
	uint64_t page_size;
	uint64_t n_pages;
	uint64_t pages_used;
	uint64_t page_table_off;
	uint64_t buckets_off;
	uint64_t n_buckets;
	uint64_t arena_off;
	uint64_t next_cas;
	uint32_t n_classes;
	uint32_t reserved;
	struct kv_stats stats;
	struct kv_class classes[KV_MAX_CLASSES];
};

struct kv_store_ops;

/*
 * Lock stripes: a key's is its hash bucket's index modulo KV_STRIPES, so
 * that every key of a bucket has the same one whatever the bucket count.
 */
#define KV_STRIPES	1024

/**
 * struct kv_locks - what lets several threads use one store at once
 * @alloc:  the slab allocator, the LRU lists, the cas sequence: held
 *          briefly, inside a stripe, never the other way round (an
 *          eviction only tries the stripe of the item it evicts)
 * @err:    the first damage found, written once (struct kv_store's @err)
 * @stripe: a key's hash chain and its item, see kv_store_lock_key()
 *
 * In the process, not the region: the region's layout is the same with
 * one thread or many.  Each stripe has a cache line of its own.
 */
struct kv_locks {
	pthread_mutex_t alloc;
	pthread_mutex_t err;
	struct {
		pthread_mutex_t m;
	} __attribute__((aligned(64))) stripe[KV_STRIPES];
};

/**
 * struct kv_store - a process's handle on a region
 * @ops:    the build that reads the region (kv_store_v1_ops, kv_store_v2_ops)
 * @base:   where the region is mapped in this process
 * @broken: the region was found damaged; every operation now fails (set
 *          and read atomically: with @locks, by any thread)
 * @err:    the last refusal or damage found
 * @last_cas: the cas the last successful put, arith or touch gave its item
 *          (the binary and meta protocols answer with it); with @locks,
 *          to be read only with the store to oneself
 * @locks:  with several threads, the program's (kv_locks_init()), set
 *          once the store is attached or formatted; NULL with one thread
 * @src:    v2: a v1 region whose items this store is taking over, lazily
 *          (kv_store_adopt_v1()); NULL once they are all here
 * @src_twins:   v1 items dropped because their key had come over already
 * @src_dropped: v1 items lost to damage found in the v1 region
 * @src_err:     the last damage found in the v1 region
 *
 * Nothing here is preserved: it is rebuilt by kv_store_attach() (and
 * kv_store_adopt_v1() for a conversion under way).
 */
struct kv_store {
	const struct kv_store_ops *ops;
	void *base;
	bool broken;
	struct kv_err err;
	uint64_t last_cas;
	struct kv_locks *locks;
	void *src;
	uint64_t src_twins;
	uint64_t src_dropped;
	struct kv_err src_err;
};

/*
 * One build's operations; call them through the kv_store_*() wrappers
 * below, which document them.
 */
struct kv_store_ops {
	int (*format)(struct kv_store *st, void *base, size_t size);
	int (*attach)(struct kv_store *st, void *base, size_t size);
	int (*check)(struct kv_store *st);
	int (*get)(struct kv_store *st, const char *key, size_t nkey,
		   uint64_t now, struct kv_item_ref *out);
	int (*get_shared)(struct kv_store *st, const char *key, size_t nkey,
			  uint64_t now, bool unmarked, struct kv_item_ref *out);
	int (*peek)(struct kv_store *st, const char *key, size_t nkey,
		    uint64_t now, struct kv_item_ref *out);
	int (*put)(struct kv_store *st, enum kv_mode mode, const char *key,
		   size_t nkey, uint32_t flags, uint64_t exptime,
		   const void *data, uint32_t nbytes, uint64_t cas, uint64_t now);
	int (*remove)(struct kv_store *st, const char *key, size_t nkey,
		      uint64_t now);
	int (*arith)(struct kv_store *st, const char *key, size_t nkey,
		     bool incr, uint64_t delta, uint64_t now, uint64_t *value);
	void (*stats)(const struct kv_store *st, struct kv_stats *out);
	int (*touch)(struct kv_store *st, const char *key, size_t nkey,
		     uint64_t exptime, uint64_t now);
	int (*flush)(struct kv_store *st);
	void (*reset_stats)(struct kv_store *st);
	int (*lock_key)(struct kv_store *st, const char *key, size_t nkey);
};

extern const struct kv_store_ops kv_store_v1_ops;
extern const struct kv_store_ops kv_store_v2_ops;

/* The operations of the version being built, for the program. */
#if defined(KVCACHE_VERSION) && KVCACHE_VERSION == 1
#define KV_STORE_NATIVE (&kv_store_v1_ops)
#elif defined(KVCACHE_VERSION) && KVCACHE_VERSION == 2
#define KV_STORE_NATIVE (&kv_store_v2_ops)
#endif

/**
 * kv_store_format() - make @base an empty region of @ops's version
 * @st:   the handle to set up
 * @ops:  the version to write
 * @base: the region, 8-byte aligned; its contents are overwritten
 * @size: its size, at least KV_REGION_MIN
 *
 * Return: 0, or -EINVAL (misaligned, or smaller than KV_REGION_MIN;
 * @st->err says which).
 */
static inline int kv_store_format(struct kv_store *st,
				  const struct kv_store_ops *ops,
				  void *base, size_t size)
{
	st->ops = ops;
	return ops->format(st, base, size);
}

/**
 * kv_store_attach() - take over a region a previous process formatted
 * @st:   the handle to set up
 * @ops:  the version to read it with
 * @base: the region as mapped here (anywhere: it holds only offsets)
 * @size: bytes mapped at @base, at least the size it was formatted with
 *
 * Validates the header and page table; items are validated when reached.
 *
 * Return: 0; -EPROTO when the region holds another item version (@st->err
 * says which); -EBADMSG when it is not a valid region.
 */
static inline int kv_store_attach(struct kv_store *st,
				  const struct kv_store_ops *ops,
				  void *base, size_t size)
{
	st->ops = ops;
	return ops->attach(st, base, size);
}

/**
 * kv_store_check() - validate every item, list and chain of the region
 * @st: an attached store
 *
 * O(items + buckets): for a dry run, or a test; not for the blackout.
 *
 * Return: 0, or -EBADMSG with @st->err saying what and where.
 */
static inline int kv_store_check(struct kv_store *st)
{
	return st->ops->check(st);
}

/**
 * kv_store_get() - find a live item and mark it used
 * @st:   the store
 * @key:  the key, @nkey bytes, 1 to KV_KEY_MAX
 * @nkey: its length
 * @now:  the time; an item expired by then is removed, not found
 * @out:  the item, see struct kv_item_ref
 *
 * Return: KV_OK, KV_NOT_FOUND, -EINVAL (bad key), -EBADMSG (damage).
 */
static inline int kv_store_get(struct kv_store *st, const char *key,
			       size_t nkey, uint64_t now,
			       struct kv_item_ref *out)
{
	return st->ops->get(st, key, nkey, now, out);
}

/**
 * kv_store_get_shared() - kv_store_get(), for one of several readers
 * @st:   the store, which other threads may be reading too, none writing
 * @key:  the key, @nkey bytes, 1 to KV_KEY_MAX
 * @nkey: its length
 * @now:  the time
 * @out:  the item, see struct kv_item_ref
 *
 * Writes nothing to the store but its hit and miss counters (atomically),
 * so that gets run side by side under a reader lock.  What a get must
 * write is left to kv_store_get() with the store to itself: an expired
 * item to remove, a key the v1 region of a conversion under way may still
 * hold (its hash chain there is looked at, nothing written), an item to
 * mark used (one used within the last minute, or v1's most recently used,
 * need not be, as memcached does), damage to record.
 *
 * Return: as kv_store_get(), or -EAGAIN: call kv_store_get() instead.
 */
static inline int kv_store_get_shared(struct kv_store *st, const char *key,
				      size_t nkey, uint64_t now,
				      struct kv_item_ref *out)
{
	return st->ops->get_shared(st, key, nkey, now, false, out);
}

/**
 * kv_store_get_unmarked() - kv_store_get_shared(), leaving the mark for later
 * @st:   the store, which other threads may be reading too, none writing
 * @key:  the key, @nkey bytes, 1 to KV_KEY_MAX
 * @nkey: its length
 * @now:  the time
 * @out:  the item, see struct kv_item_ref
 *
 * An item due to be marked used is found all the same, and left unmarked:
 * for a reader that could not have the store to itself at once, so that a
 * later get marks it rather than this one waiting for every other reader.
 *
 * Return: as kv_store_get_shared().
 */
static inline int kv_store_get_unmarked(struct kv_store *st, const char *key,
					size_t nkey, uint64_t now,
					struct kv_item_ref *out)
{
	return st->ops->get_shared(st, key, nkey, now, true, out);
}

/**
 * kv_store_peek() - kv_store_get(), for a look at the item only
 * @st:   the store, to oneself
 * @key:  the key, @nkey bytes, 1 to KV_KEY_MAX
 * @nkey: its length
 * @now:  the time; an item expired by then is removed, not found
 * @out:  the item, see struct kv_item_ref
 *
 * Neither marks the item used nor counts a hit or a miss: memcached's
 * "me" looks so.  A conversion under way takes the key's v1 item over
 * first, as for any use of a key.
 *
 * Return: as kv_store_get().
 */
static inline int kv_store_peek(struct kv_store *st, const char *key,
				size_t nkey, uint64_t now,
				struct kv_item_ref *out)
{
	return st->ops->peek(st, key, nkey, now, out);
}

/**
 * kv_store_put() - store an item
 * @st:      the store
 * @mode:    set, add or cas, see enum kv_mode
 * @key:     the key, @nkey bytes, 1 to KV_KEY_MAX
 * @nkey:    its length
 * @flags:   the client's flags
 * @exptime: absolute expiry time, 0 for never
 * @data:    the value, @nbytes bytes
 * @nbytes:  its length
 * @cas:     for KV_CAS: the cas the item must still have
 * @now:     the time
 *
 * The item gets a new cas (@st->last_cas).  KV_APPEND and KV_PREPEND keep
 * the item's flags and exptime and ignore @flags and @exptime.  Unless the
 * result is KV_OK, nothing a client can see changes.
 *
 * Return: KV_OK, KV_NOT_STORED (add, key present; replace, append or
 * prepend, key absent), KV_EXISTS (cas differs), KV_NOT_FOUND (a cas
 * given, key absent), -E2BIG (larger than a page, appended value included),
 * -ENOMEM (no room and nothing of its size to evict), -EINVAL (bad key),
 * -EBADMSG (damage); with a key's stripe, -EAGAIN (kv_store_lock_key()).
 */
static inline int kv_store_put(struct kv_store *st, enum kv_mode mode,
			       const char *key, size_t nkey, uint32_t flags,
			       uint64_t exptime, const void *data,
			       uint32_t nbytes, uint64_t cas, uint64_t now)
{
	return st->ops->put(st, mode, key, nkey, flags, exptime, data, nbytes,
			    cas, now);
}

/**
 * kv_store_delete() - remove an item
 * @st:   the store
 * @key:  the key, @nkey bytes
 * @nkey: its length
 * @now:  the time (an expired item is not found)
 *
 * Return: KV_OK, KV_NOT_FOUND, -EINVAL (bad key), -EBADMSG (damage).
 */
static inline int kv_store_delete(struct kv_store *st, const char *key,
				  size_t nkey, uint64_t now)
{
	return st->ops->remove(st, key, nkey, now);
}

/**
 * kv_store_arith() - memcached's incr and decr
 * @st:    the store
 * @key:   the key, @nkey bytes
 * @nkey:  its length
 * @incr:  true to add @delta, false to subtract it
 * @delta: the amount
 * @now:   the time
 * @value: the new value
 *
 * The value must be the decimal form of a 64-bit unsigned number (1 to 20
 * digits, nothing else).  Increments wrap at 2^64; decrements stop at 0.
 * The item keeps its flags and exptime and gets a new cas.
 *
 * Return: KV_OK, KV_NOT_FOUND, -EDOM (the value is not such a number),
 * -ENOMEM (the longer value needs room there is none of), -EINVAL (bad
 * key), -EBADMSG (damage).
 */
static inline int kv_store_arith(struct kv_store *st, const char *key,
				 size_t nkey, bool incr, uint64_t delta,
				 uint64_t now, uint64_t *value)
{
	return st->ops->arith(st, key, nkey, incr, delta, now, value);
}

/**
 * kv_store_stats() - a copy of the region's counters
 * @st:  the store
 * @out: the counters
 */
static inline void kv_store_stats(const struct kv_store *st,
				  struct kv_stats *out)
{
	st->ops->stats(st, out);
}

/**
 * kv_store_touch() - give a live item a new exptime
 * @st:      the store
 * @key:     the key, @nkey bytes
 * @nkey:    its length
 * @exptime: absolute expiry time, 0 for never
 * @now:     the time
 *
 * The item is marked used; its cas stays (@st->last_cas is it).
 *
 * Return: KV_OK, KV_NOT_FOUND, -EINVAL (bad key), -EBADMSG (damage).
 */
static inline int kv_store_touch(struct kv_store *st, const char *key,
				 size_t nkey, uint64_t exptime, uint64_t now)
{
	return st->ops->touch(st, key, nkey, exptime, now);
}

/**
 * kv_store_flush() - remove every item (memcached's flush_all)
 * @st: the store
 *
 * O(items): the protocol calls it for a client's flush_all, never during
 * an update.
 *
 * Return: 0, or -EBADMSG (damage).
 */
static inline int kv_store_flush(struct kv_store *st)
{
	return st->ops->flush(st);
}

/**
 * kv_store_reset_stats() - zero the counters "stats reset" zeroes
 * @st: the store
 *
 * Those that count events (hits, misses, sets, evictions...); not those
 * that describe the store (items, bytes, limit_maxbytes).
 */
static inline void kv_store_reset_stats(struct kv_store *st)
{
	st->ops->reset_stats(st);
}

/**
 * kv_locks_init() - set up the locks of a store several threads use
 * @l: the locks, then to be given to the store (struct kv_store's @locks)
 */
static inline void kv_locks_init(struct kv_locks *l)
{
	pthread_mutex_init(&l->alloc, NULL);
	pthread_mutex_init(&l->err, NULL);
	for (unsigned int i = 0; i < KV_STRIPES; i++)
		pthread_mutex_init(&l->stripe[i].m, NULL);
}

/**
 * kv_store_lock_key() - take a key's stripe, to use the key beside others
 * @st:   a store with @locks, held shared by every thread that uses it
 *        (each of them holding at most one stripe) and alone by none
 * @key:  the key, @nkey bytes
 * @nkey: its length
 *
 * With its stripe, a thread may get, put and delete @key
 * (kv_store_get(), kv_store_put(), kv_store_delete()) while others do
 * the same with other stripes' keys: the stripe guards the key's hash
 * chain and item (what kv_store_get() found stays valid while it is
 * held), @locks' @alloc the rest.  A put may answer -EAGAIN when what it
 * would evict is held by others: then take the store alone and put again.
 * Let go with kv_store_unlock_stripe().
 *
 * Return: the stripe, or -EAGAIN when keys cannot be used apart now (no
 * @locks, or a conversion under way): take the store alone instead.
 */
static inline int kv_store_lock_key(struct kv_store *st, const char *key,
				    size_t nkey)
{
	return st->ops->lock_key(st, key, nkey);
}

/**
 * kv_store_unlock_stripe() - let go of a stripe kv_store_lock_key() gave
 * @st:     the store
 * @stripe: the stripe
 */
static inline void kv_store_unlock_stripe(struct kv_store *st, int stripe)
{
	pthread_mutex_unlock(&st->locks->stripe[stripe].m);
}

/* The chunks of class @k's newest page not cut yet, in region @r. */
static inline uint64_t kv_class_uncut(const struct kv_region *r,
				      const struct kv_class *k)
{
	uint64_t at = __atomic_load_n(&k->uncut, __ATOMIC_ACQUIRE);

	if (!at)
		return 0;
	return (KV_PAGE_SIZE - (at - r->arena_off) % KV_PAGE_SIZE) /
	       k->chunk_size;
}

/* What of a region is in use: its header and tables, and its pages up to
 * the last handed to a class (pages_used only grows). */
static inline uint64_t kv_region_span(const struct kv_region *r)
{
	uint64_t span = r->arena_off +
			__atomic_load_n(&r->pages_used, __ATOMIC_ACQUIRE) *
			r->page_size;

	return span < r->region_size ? span : r->region_size;
}

/**
 * kv_store_span() - how much of the item regions the store will touch
 * @st:       the store
 * @src_span: set to the same for the v1 region being converted, 0 if none
 *
 * A version that has just taken its regions over maps them afresh, and its
 * first touch of each page is a fault (~10 us a page in a VM, where a
 * madvise(MADV_POPULATE_WRITE) maps a page for ~0.3 us): this is the span
 * from each region's start worth mapping ahead of the clients.
 *
 * Return: the bytes of @st's own region in use - its header, tables and
 * the pages handed out - and, while converting, room for the v1 region's
 * pages again.
 */
static inline size_t kv_store_span(const struct kv_store *st,
				   size_t *src_span)
{
	const struct kv_region *r = st->base, *old = st->src;
	uint64_t span = kv_region_span(r);

	*src_span = 0;
	if (old) {
		/* Their items come here: as many pages again. */
		*src_span = kv_region_span(old);
		span += *src_span - old->arena_off;
		if (span > r->region_size)
			span = r->region_size;
	}
	return span;
}

#if defined(KVCACHE_VERSION) && KVCACHE_VERSION >= 2
/*
 * The live conversion, lazily: the v2 store serves from its own region at
 * once and takes the v1 items over as they are asked for, and in steps
 * while the program has nothing else to do, so that neither the update's
 * blackout nor any client waits for the whole region to be converted.
 *
 *  1. kv_region_v2_size_for_v1(): before the new version takes over, the
 *     v1 region's header and page table are validated (O(pages)) and the
 *     size of a v2 region that holds every v1 item for sure is known
 *     (O(size classes)): a version that cannot convert says so while the
 *     old one can still come back.
 *  2. kv_store_adopt_v1() on the new v2 store, once this version has taken
 *     over: the v1 region is written to from then on (each item taken is
 *     unlinked from it), so never before, while a rollback may need it.
 *  3. Every operation on a key first takes that key's v1 item, if any, so
 *     that a client never sees the v1 region behind the v2 one; and
 *     kv_store_migrate_step() takes the least recently used ones, class by
 *     class, a bounded number at a time.  Their LRU order is kept.
 *  4. When kv_store_migrating() turns false, the v1 region can go.
 *
 * An update during the conversion (v2 to v2) hands both regions over; the
 * next version attaches to its v2 region and adopts the v1 one again.
 *
 * Damage in the v1 region's lists ends the conversion: the v1 items not
 * yet taken are dropped (counted in @src_dropped, said in @src_err), the
 * v2 store goes on.  An item whose key does not match the hash it is
 * stored under (no request could find it) is dropped alone.  A key the v1
 * region holds twice (damage no list check sees): the copy first in its
 * hash chain, the last stored, wins whether a client or a step takes it,
 * and the others are dropped (@src_twins) - also when it has expired or
 * finds no room: an older copy never stands in for it.
 */

/**
 * kv_region_v2_size_for_v1() - the v2 region a v1 region converts into
 * @old_base: the v1 region
 * @old_size: bytes mapped at @old_base
 * @want:     the size the program is configured with
 * @err:      why the v1 region was refused
 *
 * Return: the size, in bytes: the largest of @want, the v1 region's own
 * size (the configured memory never shrinks) and what holds every v1 item
 * even if each moves up a size class with its longer header; 0 when the
 * v1 region is refused (@err says why).
 */
size_t kv_region_v2_size_for_v1(const void *old_base, size_t old_size,
				size_t want, struct kv_err *err);

/**
 * kv_store_adopt_v1() - start taking a v1 region's items over
 * @st:       an attached or freshly formatted v2 store
 * @old_base: the v1 region, mapped shared and writable
 * @old_size: bytes mapped at @old_base
 * @fresh:    @st was just formatted for this conversion: its counters and
 *            cas sequence start from the v1 region's
 *
 * Return: 0; -EPROTO or -EBADMSG when the v1 region is refused
 * (@st->src_err says why).
 */
int kv_store_adopt_v1(struct kv_store *st, void *old_base, size_t old_size,
		      bool fresh);

/**
 * kv_store_migrate_step() - take up to @max more v1 items over
 * @st:  the store
 * @max: how many at most
 * @now: the time (expired items are dropped)
 *
 * Return: 1 while v1 items remain, 0 once all are here, -EBADMSG when
 * damage ended the conversion (the rest are dropped).
 */
int kv_store_migrate_step(struct kv_store *st, unsigned int max, uint64_t now);

/* Whether a v1 region's items are still being taken over. */
static inline bool kv_store_migrating(const struct kv_store *st)
{
	return st->src != NULL;
}
#endif

#endif /* KVCACHE_STORE_H */
