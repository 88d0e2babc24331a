// SPDX-License-Identifier: MIT
/**
 * DOC: reading contracts from a binary
 *
 * `baton plan` must know what the next version of a program will accept
 * before that version ever runs, so contracts are read from the file: the
 * ELF section "baton_contracts" holds the records BATON_SCHEMA() and
 * BATON_DRIVER() placed there (contract_abi.h).  libelf finds the section;
 * the records are copied out (the section need not be aligned in the file)
 * and handed to the one decoder, byte-swapped when the file's byte order is
 * not the host's.  Every section of that name is read, so relocatable
 * objects and binaries alike work.
 *
 * libelf is opened (dlopen()) the first time a file is read, not linked:
 * a program linked with libbaton.so would otherwise load it, and zlib
 * with it, at every start - inside an exec-mode update's blackout, where
 * the new version reads no file's contracts.  Two libraries fewer took
 * 0.25-0.46 ms off each fork and exec of an empty program on these
 * machines.  When it cannot be opened, reading fails with -ELIBACC and
 * dlerror()'s words (or -EMFILE, when the fd table was full).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <baton/contracts.h>

#include "internal.h"

#define LIBELF_SONAME "libelf.so.1"

#define LIBELF_FUNCTIONS(X) \
	X(elf_version) X(elf_begin) X(elf_end) X(elf_kind) X(elf_errmsg) \
	X(elf_getshdrstrndx) X(elf_nextscn) X(elf_strptr) X(elf_rawdata) \
	X(gelf_getehdr) X(gelf_getshdr)

/* libelf's functions, as dlopen() found them: all of them, or none. */
static struct {
	LIBELF_FUNCTIONS(BATON_DL_MEMBER)
} libelf;
static const char *const libelf_names[] = { LIBELF_FUNCTIONS(BATON_DL_NAME) };
static pthread_mutex_t libelf_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Open libelf, unless it is open: 0, or -ELIBACC with dlerror()'s words
 * in @diag, or -EMFILE (-ENFILE) when there was no fd to open it with.
 * dlopen() says "Too many open files" without setting errno, so a spare
 * fd is asked for beside @fd (the file about to be read) to tell which.
 * A failure is not kept: a table of fds full for a moment is not a
 * library missing for good, and the next read tries again.
 */
static int libelf_open(int fd, struct baton_diag *diag)
{
	char why[256];
	void *so;
	int spare;

	pthread_mutex_lock(&libelf_lock);
	if (libelf.elf_begin) {
		pthread_mutex_unlock(&libelf_lock);
		return 0;
	}
	so = BATON_DLOPEN_TABLE(LIBELF_SONAME, libelf, libelf_names, why,
				sizeof(why));
	if (so)
		libelf.elf_version(EV_CURRENT);
	pthread_mutex_unlock(&libelf_lock);
	if (so)
		return 0;
	spare = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (spare < 0 && (errno == EMFILE || errno == ENFILE))
		return baton_diag_set(diag, errno, NULL, NULL);
	if (spare >= 0)
		close(spare);
	return baton_diag_set(diag, ELIBACC, LIBELF_SONAME, "%s", why);
}

static int elf_error(struct baton_diag *diag, const char *what)
{
	return baton_diag_set(diag, BATON_ERR_ELF, "ELF", "%s: %s", what,
			      libelf.elf_errmsg(-1));
}

/*
 * Append the records in one piece of the section to *@buf.  Compilers
 * raise the alignment of large arrays (gcc aligns them to 32 bytes on
 * x86-64), so the linker may leave zero padding between the arrays of two
 * declarations.  Records are 8-byte aligned and start with a non-zero
 * magic, so an 8-byte word of zeros where a record would start is padding.
 */
static int append_records(const uint8_t *p, size_t size, uint8_t **buf,
			  size_t *len, struct baton_diag *diag)
{
	const size_t rec = sizeof(struct baton_contract_rec);
	static const uint8_t zero[8];
	size_t off = 0, n = 0;
	uint8_t *grown;

	grown = realloc(*buf, *len + size);
	if (!grown)
		return baton_diag_set(diag, ENOMEM, NULL, NULL);
	*buf = grown;
	while (off < size) {
		if (size - off >= sizeof(zero) && !memcmp(p + off, zero, sizeof(zero))) {
			off += sizeof(zero);
			continue;
		}
		if (size - off < rec)
			return baton_diag_set(diag, BATON_ERR_BADCONTRACT,
					      "section " BATON_CONTRACT_SECTION,
					      "truncated record at offset %zu", off);
		memcpy(*buf + *len + n * rec, p + off, rec);
		n++;
		off += rec;
	}
	*len += n * rec;
	return 0;
}

static int append_section(Elf_Scn *scn, const GElf_Shdr *shdr, uint8_t **buf,
			  size_t *len, struct baton_diag *diag)
{
	Elf_Data *data = NULL;
	int err;

	if (shdr->sh_type == SHT_NOBITS)
		return 0;
	while ((data = libelf.elf_rawdata(scn, data)) != NULL) {
		if (!data->d_buf || !data->d_size)
			continue;
		err = append_records(data->d_buf, data->d_size, buf, len, diag);
		if (err < 0)
			return err;
	}
	return 0;
}

int baton_contracts_read_elf(const char *path, struct baton_contracts **out,
			     struct baton_diag *diag)
{
	uint8_t *recs = NULL;
	size_t len = 0, shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Ehdr ehdr;
	int fd, err, found = 0, swap;
	struct stat st;
	Elf *elf;

	/*
	 * The path may be a client's (an update's target): a FIFO would hold
	 * open() until someone writes it, and the program with it.  Opened
	 * without waiting, only a regular file is read.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return baton_diag_set(diag, errno, NULL, NULL);
	err = libelf_open(fd, diag);
	if (err) {
		close(fd);
		return err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		elf = NULL;
		err = baton_diag_set(diag, BATON_ERR_ELF, NULL, "not a regular file");
		goto err_elf;
	}
	elf = libelf.elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || libelf.elf_kind(elf) != ELF_K_ELF || !libelf.gelf_getehdr(elf, &ehdr)) {
		err = baton_diag_set(diag, BATON_ERR_ELF, NULL,
				     "not an ELF file");
		goto err_elf;
	}
	if (libelf.elf_getshdrstrndx(elf, &shstrndx) < 0) {
		err = elf_error(diag, "no section names");
		goto err_elf;
	}
	while ((scn = libelf.elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		const char *name;

		if (!libelf.gelf_getshdr(scn, &shdr)) {
			err = elf_error(diag, "bad section header");
			goto err_elf;
		}
		name = libelf.elf_strptr(elf, shstrndx, shdr.sh_name);
		if (!name || strcmp(name, BATON_CONTRACT_SECTION))
			continue;
		found = 1;
		err = append_section(scn, &shdr, &recs, &len, diag);
		if (err < 0)
			goto err_recs;
	}
	if (!found) {
		err = baton_diag_set(diag, BATON_ERR_NOCONTRACTS,
				     "section " BATON_CONTRACT_SECTION, NULL);
		goto err_elf;
	}
	swap = ehdr.e_ident[EI_DATA] !=
	       (__BYTE_ORDER == __LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB);
	/* realloc'd memory is aligned for any record. */
	err = baton_contracts_decode((const struct baton_contract_rec *)recs,
				     len / sizeof(struct baton_contract_rec),
				     swap, out, diag);
err_recs:
	free(recs);
err_elf:
	if (elf)
		libelf.elf_end(elf);
	close(fd);
	return err;
}
