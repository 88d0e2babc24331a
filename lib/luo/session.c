// SPDX-License-Identifier: MIT
/*
 * LUO sessions: a named container of preserved fds, created in one boot
 * (outgoing) and retrieved by its name in the next (incoming).  A session
 * is an fd of its own; what happens to its contents when that fd closes
 * depends on the kind (luo.h), so a session is closed only by its owner,
 * and only on purpose.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "luo/luo.h"
#include "luo/luo-internal.h"

struct baton_luo_session {
	int fd;
	bool incoming;
	char name[BATON_LUO_NAME_SIZE];
};

/*
 * The kernel takes 1 to 63 bytes and a NUL; refuse here what it would
 * refuse (or, worse, truncate), with its errno.
 */
static int check_name(const char *name)
{
	size_t len = strnlen(name, BATON_LUO_NAME_SIZE);

	if (len == 0)
		return -EINVAL;
	if (len >= BATON_LUO_NAME_SIZE)
		return -ENAMETOOLONG;
	return 0;
}

static struct baton_luo_session *session_alloc(bool incoming, const char *name)
{
	struct baton_luo_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = -1;
	s->incoming = incoming;
	memcpy(s->name, name, strnlen(name, BATON_LUO_NAME_SIZE - 1));
	return s;
}

/*
 * CREATE_SESSION or RETRIEVE_SESSION: the same arguments, a new fd.  The
 * memory comes first: once the kernel has made the session, nothing may
 * fail, since closing a retrieved session finishes it.
 */
static int session_open(struct baton_luo *luo, unsigned long request,
			const char *name, bool incoming,
			struct baton_luo_session **out)
{
	struct baton_luo_session_args args = { .size = sizeof(args), .fd = -1 };
	struct baton_luo_session *s;
	int err;

	err = check_name(name);
	if (err)
		return err;
	s = session_alloc(incoming, name);
	if (!s)
		return -ENOMEM;
	memcpy(args.name, name, strlen(name));
	err = baton_luo_call(baton_luo_fd(luo), request, &args);
	if (err)
		goto err_free;
	if (args.fd < 0) {
		err = -EIO;	/* the kernel said yes and gave no fd */
		goto err_free;
	}
	s->fd = args.fd;
	*out = s;
	return 0;

err_free:
	free(s);
	return err;
}

int baton_luo_session_create(struct baton_luo *luo, const char *name,
			     struct baton_luo_session **out)
{
	return session_open(luo, BATON_LUO_IOC_CREATE_SESSION, name, false, out);
}

int baton_luo_session_retrieve(struct baton_luo *luo, const char *name,
			       struct baton_luo_session **out)
{
	return session_open(luo, BATON_LUO_IOC_RETRIEVE_SESSION, name, true, out);
}

static int kernel_name(int fd, char name[BATON_LUO_NAME_SIZE])
{
	struct baton_luo_name_args args = { .size = sizeof(args) };
	int err;

	err = baton_luo_call(fd, BATON_LUO_IOC_GET_NAME, &args);
	if (err)
		return err;
	/* Never trust a string to be terminated, even the kernel's. */
	memcpy(name, args.name, BATON_LUO_NAME_SIZE);
	name[BATON_LUO_NAME_SIZE - 1] = '\0';
	return 0;
}

int baton_luo_session_adopt(int fd, bool incoming,
			    struct baton_luo_session **out)
{
	char name[BATON_LUO_NAME_SIZE];
	struct baton_luo_session *s;
	int err;

	err = kernel_name(fd, name);
	if (err)
		goto err_close;
	s = session_alloc(incoming, name);
	if (!s) {
		err = -ENOMEM;
		goto err_close;
	}
	s->fd = fd;
	*out = s;
	return 0;

err_close:
	/* Ours from the call on, so that a caller has one rule. */
	close(fd);
	return err;
}

void baton_luo_session_close(struct baton_luo_session *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

const char *baton_luo_session_name(const struct baton_luo_session *s)
{
	return s->name;
}

int baton_luo_session_kernel_name(const struct baton_luo_session *s,
				  char name[BATON_LUO_NAME_SIZE])
{
	return kernel_name(s->fd, name);
}

int baton_luo_session_fd(const struct baton_luo_session *s)
{
	return s->fd;
}

bool baton_luo_session_incoming(const struct baton_luo_session *s)
{
	return s->incoming;
}

int baton_luo_finish(struct baton_luo_session *s)
{
	struct baton_luo_finish_args args = { .size = sizeof(args) };

	/* The kernel says EINVAL too; saying it here spares a call. */
	if (!s->incoming)
		return -EINVAL;
	return baton_luo_call(s->fd, BATON_LUO_IOC_FINISH, &args);
}
