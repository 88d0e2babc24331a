// SPDX-License-Identifier: MIT
/*
 * A C++ program that uses libbaton as a C++ VMM would: every public header
 * included, a few calls made, linked against the shared library.  It
 * builds only if the headers are valid C++ with C linkage; it passes only
 * if the library it runs with is the one it was built against.
 */
#include <baton/baton.h>
#include <baton/json.h>
#include <baton/devio.h>
#include <baton/vfio.h>
#include <baton/vfio_user.h>

#include <cstdio>
#include <cstring>

int main()
{
	struct baton_pci_addr addr;
	char text[BATON_CONTRACT_GUID_STRLEN];
	uint8_t guid[BATON_GUID_SIZE];

	if (baton_version() != BATON_VERSION) {
		std::fprintf(stderr, "built against %#x, runs with %#x\n",
			     BATON_VERSION, baton_version());
		return 1;
	}
	if (baton_pci_addr_parse("0000:01:00.0", &addr) || addr.bus != 1) {
		std::fprintf(stderr, "baton_pci_addr_parse\n");
		return 1;
	}
	if (baton_guid_parse("3f7174ac-46a9-57ec-b761-b29cdbf15055", guid) ||
	    std::strcmp(baton_guid_format(guid, text),
			"3f7174ac-46a9-57ec-b761-b29cdbf15055")) {
		std::fprintf(stderr, "baton_guid_parse/format\n");
		return 1;
	}
	if (std::strcmp(baton_strerror(-BATON_ERR_REFUSED), "update refused")) {
		std::fprintf(stderr, "baton_strerror: %s\n",
			     baton_strerror(-BATON_ERR_REFUSED));
		return 1;
	}
	std::printf("libbaton %u.%u.%u from C++\n", baton_version() >> 16,
		    (baton_version() >> 8) & 0xff, baton_version() & 0xff);
	return 0;
}
