/* SPDX-License-Identifier: MIT */
#ifndef BATON_LIB_INTERNAL_H
#define BATON_LIB_INTERNAL_H

/* Helpers shared by the library's parts; not installed. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <baton/error.h>

#define BATON_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/**
 * baton_diag_set() - record what went wrong and where, return -@err
 * @diag:  may be NULL
 * @err:   a positive BATON_ERR_* code
 * @where: the place (node path and property, record), or NULL
 * @what:  printf format for the specific problem, or NULL for
 *         baton_strerror(@err)
 *
 * Keeps the first error recorded, so the innermost, most precise caller wins.
 *
 * Return: -@err, so callers can write "return baton_diag_set(...)".
 */
int baton_diag_set(struct baton_diag *diag, int err, const char *where,
		   const char *what, ...)
	__attribute__((format(printf, 4, 5)));

struct msghdr;

/**
 * baton_scm_attach_fds() - send @n fds (at least 1) with @msg
 * @control: room for them, CMSG_SPACE(sizeof(int) * @n) bytes
 */
void baton_scm_attach_fds(struct msghdr *msg, void *control, const int *fds,
			  size_t n);

/**
 * baton_scm_take_fds() - the fds a received message carries
 * @msg:  the message recvmsg() filled (MSG_CMSG_CLOEXEC, please)
 * @fds:  where the first @max go
 * @max:  how many the caller takes; the others are closed
 *
 * Return: how many fds the message carried, @max or fewer of them taken:
 * more than @max means the peer sent more than it was asked for.
 */
size_t baton_scm_take_fds(const struct msghdr *msg, int *fds, size_t max);

/**
 * baton_scm_recv() - recvmsg() on a unix datagram or seqpacket socket
 * @sock:  the socket
 * @msg:   as for recvmsg()
 * @flags: as for recvmsg()
 *
 * A peer that closes its end with messages of ours still unread makes the
 * kernel report ECONNRESET on our end once, before the messages it had
 * sent us: the last of which is often why it hung up (a new process's
 * 'E').  This reads on past that report, and past EINTR.
 *
 * Return: recvmsg()'s, the reset read past: 0 once the peer is gone and
 * nothing it sent is left.
 */
ssize_t baton_scm_recv(int sock, struct msghdr *msg, int flags);

/**
 * baton_fd_table_full() - whether no fd number is left under RLIMIT_NOFILE
 *
 * A received message whose fds were cut off (MSG_CTRUNC) is either a peer
 * sending more than it may, or our own table being full, which the kernel
 * does not tell apart; this does, so that the second is reported as EMFILE.
 */
bool baton_fd_table_full(void);

/**
 * baton_fds_open() - how many fds this process has open
 * @limit: what to say when the table is too full to look (RLIMIT_NOFILE)
 *
 * For the errors that say a table is full: the count beside the limit.
 */
size_t baton_fds_open(size_t limit);

/**
 * baton_fd_limit_why() - what an EMFILE adds to its error: the limit
 * @err: the error, negative
 * @buf: room for the words
 * @size: its size
 *
 * Returns @buf: ": the fd table is full, at the limit of N (RLIMIT_NOFILE)"
 * when @err is -EMFILE, else "" - so that an error says which limit to
 * raise wherever a table fills.
 */
const char *baton_fd_limit_why(int err, char *buf, size_t size);

/**
 * baton_send_all() - write all of @buf to the socket @fd
 *
 * Blocking, retried on EINTR, with MSG_NOSIGNAL: a peer that hung up is an
 * error (-EPIPE), never a SIGPIPE that kills the program.
 *
 * Return: 0 or -errno.
 */
int baton_send_all(int fd, const void *buf, size_t len);

/**
 * baton_dlopen_table() - dlopen() @soname and look up @n functions into
 * @table (lib/core/dlopen.c): the handle, or NULL with dlerror()'s words
 * in @why and @table all NULL.
 */
void *baton_dlopen_table(const char *soname, const char *const *names,
			 void *table, size_t n, char *why, size_t len);
/*
 * A table of functions for baton_dlopen_table(): LIST(X) names each;
 * BATON_DL_MEMBER makes a struct member of a function's own type,
 * BATON_DL_NAME its name in the list of names.
 */
#define BATON_DL_MEMBER(name) __typeof__(name) *name;
#define BATON_DL_NAME(name) #name,
/* baton_dlopen_table() on a struct of LIST(BATON_DL_MEMBER) and its names. */
#define BATON_DLOPEN_TABLE(soname, table, names, why, len) __extension__ ({ \
	_Static_assert(sizeof(table) == sizeof(names) / sizeof(*(names)) * sizeof(void *), \
		       "one function pointer a name"); \
	baton_dlopen_table(soname, names, &(table), \
			   sizeof(names) / sizeof(*(names)), why, len); })

/* CLOCK_MONOTONIC in ns: what deadlines and the blackout are measured on. */
uint64_t baton_now_ns(void);
/* Make *@arr, of *@cap elements of @size bytes, hold at least @n + 1. */
int baton_grow(void **arr, size_t *cap, size_t n, size_t size);
/* A NULL-terminated copy of @argv; free with baton_free_argv(). */
char **baton_dup_argv(char *const *argv);
void baton_free_argv(char **argv);
/* Take @p out of the @n pointers of @arr, keeping the others' order. */
void baton_remove_ptr(void **arr, size_t *n, const void *p);
/*
 * Whether a caller's reserved space (version.h) is all zero: a member of a
 * later version that this library would ignore is refused instead.
 */
bool baton_reserved_clear(const void *reserved, size_t size);

struct baton_image;
struct baton_pci_addr;
/*
 * An image's references, looked up in the order its parse found
 * (lib/image/read.c): only for an image baton_image_parse() returned.
 */
ssize_t baton_image_find_fd(const struct baton_image *img, uint32_t index);
ssize_t baton_image_find_region(const struct baton_image *img, uint32_t index);
ssize_t baton_image_find_device(const struct baton_image *img,
				const struct baton_pci_addr *addr);

static inline uint32_t baton_get_be32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t baton_get_be64(const void *p)
{
	const uint8_t *b = p;

	return (uint64_t)baton_get_be32(b) << 32 | baton_get_be32(b + 4);
}

static inline void baton_put_be32(void *p, uint32_t v)
{
	uint8_t *b = p;

	b[0] = v >> 24;
	b[1] = v >> 16;
	b[2] = v >> 8;
	b[3] = v;
}

static inline void baton_put_be64(void *p, uint64_t v)
{
	baton_put_be32(p, v >> 32);
	baton_put_be32((uint8_t *)p + 4, (uint32_t)v);
}

/* baton_crc32c() through the tables, whatever the CPU (for the tests). */
uint32_t baton_crc32c_table(const void *buf, size_t len);

/* The value of one hex digit, either case; -1 if @c is not one. */
static inline int baton_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Whether @s holds a NUL within its @len bytes. */
static inline int baton_terminated(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

#endif /* BATON_LIB_INTERNAL_H */
