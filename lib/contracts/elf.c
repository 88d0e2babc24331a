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
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <baton/contracts.h>

#include "internal.h"

static int elf_error(struct baton_diag *diag, const char *what)
{
	return baton_diag_set(diag, BATON_ERR_ELF, "ELF", "%s: %s", what,
			      elf_errmsg(-1));
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
	while ((data = elf_rawdata(scn, data)) != NULL) {
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

	elf_version(EV_CURRENT);
	/*
	 * The path may be a client's (an update's target): a FIFO would hold
	 * open() until someone writes it, and the program with it.  Opened
	 * without waiting, only a regular file is read.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return baton_diag_set(diag, errno, NULL, NULL);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		elf = NULL;
		err = baton_diag_set(diag, BATON_ERR_ELF, NULL, "not a regular file");
		goto err_elf;
	}
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr)) {
		err = baton_diag_set(diag, BATON_ERR_ELF, NULL,
				     "not an ELF file");
		goto err_elf;
	}
	if (elf_getshdrstrndx(elf, &shstrndx) < 0) {
		err = elf_error(diag, "no section names");
		goto err_elf;
	}
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		const char *name;

		if (!gelf_getshdr(scn, &shdr)) {
			err = elf_error(diag, "bad section header");
			goto err_elf;
		}
		name = elf_strptr(elf, shstrndx, shdr.sh_name);
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
		elf_end(elf);
	close(fd);
	return err;
}
