// SPDX-License-Identifier: MIT
/*
 * The reserved space of every struct a program passes in (version.h): a
 * program built against a later libbaton that sets a member this one does
 * not know is refused with -EINVAL before anything is done, and zeroed
 * reserved space is accepted.  Linked against the shared library.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <baton/baton.h>

static void test_plan(void **state)
{
	struct baton_plan_opts opts = { .orphan = BATON_OVERRIDE_NONE };

	(void)state;
	assert_int_equal(baton_plan(NULL, 0, NULL, &opts, NULL), 0);
	opts.reserved[3] = 1;
	assert_int_equal(baton_plan(NULL, 0, NULL, &opts, NULL), -EINVAL);
}

static void test_kernel(void **state)
{
	struct baton_kernel_save_opts save = { .sysfs = "/nonexistent" };
	struct baton_kernel_bind_opts bind = { .sysfs = "/nonexistent" };
	struct baton_image img = { .n_devices = 0 };
	struct baton_diag diag;
	size_t len = 0;
	void *out = NULL;

	(void)state;
	/* Zeroed, the options are read: the sysfs root is what fails. */
	assert_int_not_equal(baton_kernel_save(&save, &out, &len, &diag), -EINVAL);
	save.reserved[0] = 1;
	assert_int_equal(baton_kernel_save(&save, &out, &len, &diag), -EINVAL);
	assert_null(out);
	bind.reserved[1] = 1;
	assert_int_equal(baton_kernel_bind(&img, NULL, &bind, NULL, &diag), -EINVAL);
}

static int noop_probe(struct baton_device *dev)
{
	(void)dev;
	return 0;
}

static void test_driver(void **state)
{
	struct baton_driver_ops ops = { .probe = noop_probe };
	struct baton_driver drv = { .owner = "later", .name = "later", .ops = &ops };
	size_t before, after;

	(void)state;
	baton_drivers(&before);
	ops.reserved[0] = (void (*)(void))noop_probe;
	assert_int_equal(baton_driver_register(&drv), -EINVAL);
	ops.reserved[0] = NULL;
	drv.reserved[2] = 1;
	assert_int_equal(baton_driver_register(&drv), -EINVAL);
	baton_drivers(&after);
	assert_int_equal(after, before);
}

static void test_host(void **state)
{
	struct baton_host_opts opts = { .program = "reserved" };
	struct baton_update_opts up = { .target = "/nonexistent" };
	struct baton_device_info info = { .ids = { 0x1234, 0x5678, 0, 0, 0 } };
	struct baton_device *dev = NULL;
	struct baton_host *host = NULL;

	(void)state;
	opts.reserved[6] = 1;
	assert_int_equal(baton_host_create(&opts, &host), -EINVAL);
	assert_null(host);
	opts.reserved[6] = 0;
	assert_int_equal(baton_host_create(&opts, &host), 0);
	up.reserved[0] = 1;
	assert_int_equal(baton_host_update(host, &up), -EINVAL);
	info.reserved[0] = 1;
	assert_int_equal(baton_host_add_device(host, &info, &dev), -EINVAL);
	assert_null(dev);
	/* Zeroed, the device is looked at: no driver's table matches it. */
	info.reserved[0] = 0;
	assert_int_equal(baton_host_add_device(host, &info, &dev), -ENOENT);
	baton_host_destroy(host);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_kernel),
		cmocka_unit_test(test_driver),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
