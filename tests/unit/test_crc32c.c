// SPDX-License-Identifier: MIT
/*
 * baton_crc32c(): the standard check value and the iSCSI test vectors
 * (RFC 3720, B.4), and agreement with a bit-at-a-time implementation over
 * every length and alignment the eight-byte loops and their tails can see,
 * for the tables (baton_crc32c_table()) and the crc32 instruction alike.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <baton/image.h>

#include "internal.h"

/* The definition, one bit at a time: nothing shared with the library. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t len)
{
	uint32_t crc = ~0u;

	while (len--) {
		crc ^= *p++;
		for (int i = 0; i < 8; i++)
			crc = (crc >> 1) ^ (0x82F63B78u & -(crc & 1));
	}
	return ~crc;
}

static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(baton_crc32c("123456789", 9), 0xE3069283);
}

static void test_empty(void **state)
{
	(void)state;
	assert_int_equal(baton_crc32c("", 0), 0);
	assert_int_equal(baton_crc32c(NULL, 0), 0);
}

static void test_iscsi_vectors(void **state)
{
	uint8_t buf[32];

	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(baton_crc32c(buf, sizeof(buf)), 0x8A9136AA);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(baton_crc32c(buf, sizeof(buf)), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		buf[i] = i;
	assert_int_equal(baton_crc32c(buf, sizeof(buf)), 0x46DD794E);
	for (int i = 0; i < 32; i++)
		buf[i] = 31 - i;
	assert_int_equal(baton_crc32c(buf, sizeof(buf)), 0x113FDB5C);
}

/* Every length up to 300 at every offset within an 8-byte word. */
static void test_matches_bitwise(void **state)
{
	uint8_t buf[300 + 8];

	(void)state;
	srand(1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = rand();
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 300; len++) {
			uint32_t want = crc32c_bitwise(buf + off, len);

			/* The CPU's instruction where it has it, and the tables. */
			assert_int_equal(baton_crc32c(buf + off, len), want);
			assert_int_equal(baton_crc32c_table(buf + off, len), want);
		}
}

/*
 * Long buffers, as an image is: the instruction's three streams a block
 * each, joined, then the rest one stream.  Every length around whole
 * numbers of the three blocks (3 KB), every alignment, each against the
 * tables; and one bit flipped anywhere in a block of each stream changes
 * the CRC as the tables say.
 */
static void test_long_matches_tables(void **state)
{
	static uint8_t buf[4 * 3072 + 64];
	static const size_t around[] = { 0, 3072, 6144, 9216, 12288 };

	(void)state;
	srand(2);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = rand();
	for (size_t a = 0; a < BATON_ARRAY_SIZE(around); a++)
		for (size_t off = 0; off < 8; off++)
			for (size_t len = around[a] > 20 ? around[a] - 20 : 0;
			     len < around[a] + 20; len++)
				assert_int_equal(baton_crc32c(buf + off, len),
						 baton_crc32c_table(buf + off, len));
	for (size_t bit = 0; bit < 9216 * 8; bit += 997) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(baton_crc32c(buf, 9216 + 5), baton_crc32c_table(buf, 9216 + 5));
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

/* Each table entry is reached: a single byte of every value, at every
 * position of the eight the main loop consumes at once. */
static void test_every_byte_every_lane(void **state)
{
	uint8_t buf[16];

	(void)state;
	for (int lane = 0; lane < 16; lane++) {
		for (int v = 0; v < 256; v++) {
			memset(buf, 0x5a, sizeof(buf));
			buf[lane] = v;
			assert_int_equal(baton_crc32c_table(buf, sizeof(buf)),
					 crc32c_bitwise(buf, sizeof(buf)));
		}
	}
}

/*
 * Appending a message's CRC (little-endian, as the reflected register
 * holds it) gives a constant, whatever the message: the property that
 * makes a CRC detect every single-bit error in what it covers.
 */
static void test_residue(void **state)
{
	uint8_t buf[64 + 4];

	(void)state;
	for (size_t len = 0; len <= 64; len++) {
		uint32_t crc;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(len * 7 + i * 13);
		crc = baton_crc32c(buf, len);
		buf[len] = crc;
		buf[len + 1] = crc >> 8;
		buf[len + 2] = crc >> 16;
		buf[len + 3] = crc >> 24;
		assert_int_equal(baton_crc32c(buf, len + 4), 0x48674BC7);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_iscsi_vectors),
		cmocka_unit_test(test_matches_bitwise),
		cmocka_unit_test(test_long_matches_tables),
		cmocka_unit_test(test_every_byte_every_lane),
		cmocka_unit_test(test_residue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
