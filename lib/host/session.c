// SPDX-License-Identifier: MIT
/**
 * DOC: sessions of preserved fds
 *
 * As in the kernel's LUO, preserved fds live in named sessions, each fd
 * under a 64-bit token chosen by whoever preserved it: each part of a
 * program (a driver per device, a library) names its own fds without
 * knowing anyone else's.  The default session, "", is the one
 * baton_host_preserve_fd() and friends use, and holds the host's own fds
 * (the control socket, under tokens with the top bit set).
 *
 * A session keeps its fds in an array, in the order they were preserved,
 * which is their order in the image; sessions are found by name through a
 * hash index, so a restore of a thousand devices' sessions costs a lookup
 * per fd, not a scan.  Region memfds are not in sessions: regions are
 * their own record in the image.
 *
 * A restore knows, before the blackout's fds phase makes them, how many
 * sessions the image has and how many fds each: it reserves the index
 * once, and makes each session with room for its fds in the session's
 * own allocation - one allocation a device, not a session, its array and
 * the index's regrowth.  A session that later outgrows that room moves
 * its fds to an array of their own.
 *
 * The host does not own a program's preserved fds: it hands them on, and
 * the program closes them (after baton_host_unpreserve_fd()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "host/host-internal.h"

static size_t name_hash(const char *s)
{
	size_t h = 14695981039346656037ull;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct baton_session **index_slot(const struct session_index *ix,
					 const char *name)
{
	size_t i = name_hash(name) & ix->mask;

	while (ix->slots[i] && strcmp(ix->slots[i]->name, name))
		i = (i + 1) & ix->mask;
	return &ix->slots[i];
}

/*
 * Keep the index at most half full with @more sessions added, so that
 * probes stay short.  Return 1 when the slots moved, 0 when they did not,
 * or -ENOMEM.
 */
static int index_reserve(struct session_index *ix, size_t more)
{
	struct session_index grown;

	if (ix->slots && 2 * (ix->used + more) <= ix->mask + 1)
		return 0;
	grown.mask = ix->slots ? ix->mask : 15;
	while (2 * (ix->used + more) > grown.mask + 1)
		grown.mask = 2 * grown.mask + 1;
	grown.used = ix->used;
	grown.slots = calloc(grown.mask + 1, sizeof(*grown.slots));
	if (!grown.slots)
		return -ENOMEM;
	for (size_t i = 0; ix->slots && i <= ix->mask; i++)
		if (ix->slots[i])
			*index_slot(&grown, ix->slots[i]->name) = ix->slots[i];
	free(ix->slots);
	*ix = grown;
	return 1;
}

int baton_sessions_reserve(struct baton_host *host, size_t more)
{
	int err = index_reserve(&host->session_index, more);

	return err < 0 ? err : baton_grow((void **)&host->sessions, &host->cap_sessions,
					  host->n_sessions + more, sizeof(*host->sessions));
}

/*
 * Where a session's fds go in its own allocation, as a restore makes it:
 * after the name, which a lookup reads with the struct, in its cache line.
 */
static size_t room_at(size_t name_len)
{
	const size_t align = _Alignof(struct preserved_fd);

	return (sizeof(struct baton_session) + name_len + 1 + align - 1) & ~(align - 1);
}

int baton_session_get(struct baton_host *host, const char *name, size_t room,
		      struct baton_session **out)
{
	struct session_index *ix = &host->session_index;
	struct baton_session *s, **slot = NULL;
	size_t len;
	int err;

	if (!name || (len = strlen(name)) > BATON_SESSION_NAME_MAX)
		return -EINVAL;
	if (ix->slots) {
		slot = index_slot(ix, name);
		if (*slot) {
			*out = *slot;
			return 0;
		}
	}
	err = index_reserve(ix, 1);
	if (err < 0)
		return err;
	if (err)
		slot = index_slot(ix, name);
	err = baton_grow((void **)&host->sessions, &host->cap_sessions,
			 host->n_sessions, sizeof(*host->sessions));
	if (err)
		return err;
	s = calloc(1, room_at(len) + room * sizeof(*s->fds));
	if (!s)
		return -ENOMEM;
	s->host = host;
	s->name = memcpy(s + 1, name, len + 1);
	s->fds = room ? (struct preserved_fd *)((char *)s + room_at(len)) : NULL;
	s->cap_fds = room;
	s->in_room = room > 0;
	host->sessions[host->n_sessions++] = s;
	*slot = s;
	ix->used++;
	*out = s;
	return 0;
}

int baton_host_session(struct baton_host *host, const char *name,
		       struct baton_session **out)
{
	return baton_session_get(host, name, 0, out);
}

int baton_fd_id(int fd, struct fd_id *id)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*id = (struct fd_id){ st.st_dev, st.st_ino, true };
	return 0;
}

bool baton_fd_id_same(const struct fd_id *then, const struct fd_id *now)
{
	return !then->known ||
	       (then->dev == now->dev && then->ino == now->ino);
}

int baton_fd_check(int fd, struct fd_id *id)
{
	struct fd_id now;
	int err = baton_fd_id(fd, &now);

	if (err)
		return err;
	if (!baton_fd_id_same(id, &now))
		return -ESTALE;
	*id = now;
	return 0;
}

const char *baton_session_name(const struct baton_session *session)
{
	return session->name;
}

/* Made in baton_host_create() before anything else. */
struct baton_session *baton_session_default(const struct baton_host *host)
{
	return host->sessions[0];
}

struct preserved_fd *baton_session_find(const struct baton_session *session,
					uint64_t token)
{
	for (size_t i = 0; i < session->n_fds; i++)
		if (session->fds[i].token == token)
			return &session->fds[i];
	return NULL;
}

int baton_session_add(struct baton_session *session, uint64_t token, int fd,
		      enum baton_fd_kind kind, const struct fd_id *id)
{
	int err;

	if (session->host->sealed)
		return -EBUSY;
	/* Full, its room the restore made: the fds move to their own array. */
	if (session->n_fds == session->cap_fds && session->in_room) {
		struct preserved_fd *own = malloc(2 * session->cap_fds * sizeof(*own));

		if (!own)
			return -ENOMEM;
		session->fds = memcpy(own, session->fds, session->n_fds * sizeof(*own));
		session->cap_fds *= 2;
		session->in_room = false;
	}
	err = baton_grow((void **)&session->fds, &session->cap_fds,
			 session->n_fds, sizeof(*session->fds));
	if (err)
		return err;
	session->fds[session->n_fds++] = (struct preserved_fd){
		token, fd, kind, id ? *id : (struct fd_id){ 0 } };
	return 0;
}

static void session_remove(struct baton_session *session, struct preserved_fd *p)
{
	/* Order is kept: it is the image's. */
	memmove(p, p + 1, (size_t)(session->fds + session->n_fds - p - 1) * sizeof(*p));
	session->n_fds--;
}

int baton_session_preserve_fd(struct baton_session *session, uint64_t token,
			      int fd, enum baton_fd_kind kind)
{
	struct preserved_fd *p = baton_session_find(session, token);
	struct fd_id id;

	/* Outside any blackout: what the update checks the number against. */
	if (!token || (token & BATON_TOKEN_HOST) || fd < 0 ||
	    !baton_fd_kind_name(kind) || baton_fd_id(fd, &id))
		return -EINVAL;
	if (p) {
		/* An inherited fd, preserved again: the same one is fine. */
		if (p->fd != fd)
			return -BATON_ERR_DUPLICATE;
		p->kind = kind;
		p->id = id;
		return 0;
	}
	return baton_session_add(session, token, fd, kind, &id);
}

int baton_session_unpreserve_fd(struct baton_session *session, uint64_t token)
{
	struct preserved_fd *p = baton_session_find(session, token);

	if (!p || (token & BATON_TOKEN_HOST))
		return -ENOENT;
	if (session->host->sealed)
		return -EBUSY;
	session_remove(session, p);
	return 0;
}

int baton_session_take_fd(struct baton_session *session, uint64_t token)
{
	struct preserved_fd *p = baton_session_find(session, token);

	if (!p || (token & BATON_TOKEN_HOST))
		return -ENOENT;
	return p->fd;
}

int baton_host_preserve_fd(struct baton_host *host, uint64_t token, int fd,
			   enum baton_fd_kind kind)
{
	return baton_session_preserve_fd(baton_session_default(host), token, fd, kind);
}

int baton_host_unpreserve_fd(struct baton_host *host, uint64_t token)
{
	return baton_session_unpreserve_fd(baton_session_default(host), token);
}

int baton_host_take_fd(struct baton_host *host, uint64_t token)
{
	return baton_session_take_fd(baton_session_default(host), token);
}

int baton_host_kept_fd(const struct baton_host *host, uint64_t token)
{
	const struct preserved_fd *p = baton_session_find(baton_session_default(host), token);

	return p ? p->fd : -1;
}

void baton_host_drop_fd(struct baton_host *host, uint64_t token)
{
	struct baton_session *s = baton_session_default(host);
	struct preserved_fd *p = baton_session_find(s, token);

	if (p)
		session_remove(s, p);
}

size_t baton_host_n_fds(const struct baton_host *host)
{
	size_t n = host->n_regions;

	for (size_t i = 0; i < host->n_sessions; i++)
		n += host->sessions[i]->n_fds;
	return n;
}

void baton_sessions_free(struct baton_host *host)
{
	for (size_t i = 0; i < host->n_sessions; i++) {
		if (!host->sessions[i]->in_room)
			free(host->sessions[i]->fds);
		free(host->sessions[i]);
	}
	free(host->sessions);
	free(host->session_index.slots);
	host->sessions = NULL;
	host->n_sessions = host->cap_sessions = 0;
}
