// SPDX-License-Identifier: MIT
/*
 * A libelf.so.1 with all but the last of the functions libbaton looks up
 * (lib/contracts/elf.c): gelf_getshdr() is missing.  Each here fails, as
 * libelf does on a file it cannot read, should one ever be called.
 */
#include <stddef.h>

unsigned elf_version(unsigned v) { (void)v; return 0; }
void *elf_begin(int fd, int cmd, void *ref) { (void)fd; (void)cmd; (void)ref; return NULL; }
int elf_end(void *elf) { (void)elf; return 0; }
int elf_kind(void *elf) { (void)elf; return 0; }
const char *elf_errmsg(int err) { (void)err; return "not libelf"; }
int elf_getshdrstrndx(void *elf, size_t *n) { (void)elf; (void)n; return -1; }
void *elf_nextscn(void *elf, void *scn) { (void)elf; (void)scn; return NULL; }
char *elf_strptr(void *elf, size_t i, size_t off) { (void)elf; (void)i; (void)off; return NULL; }
void *elf_rawdata(void *scn, void *data) { (void)scn; (void)data; return NULL; }
void *gelf_getehdr(void *elf, void *ehdr) { (void)elf; (void)ehdr; return NULL; }
