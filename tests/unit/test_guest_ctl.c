/* The guest control ports: boot marker, results block, phase markers, done. */
#include <string.h>

#include "core/guest_ctl.h"
#include "core/vm.h"
#include "tests/test_registry.h"
#include "tests/test_vm_fixture.h"

static void out32(struct vm *vm, uint16_t port, uint32_t value)
{
	bus_write(&vm->pio_bus, port, &value, 4);
}

START_TEST(test_guest_ctl_phase_markers)
{
	struct vm *vm = test_vm_create(4u << 20);
	ck_assert_int_eq(guest_ctl_init(vm), 0);
	out32(vm, GUEST_CTL_PORT_PHASE, GUEST_PHASE_END);   /* an end before a begin: ignored */
	ck_assert_uint_eq(vm->phase_marks, 0);
	out32(vm, GUEST_CTL_PORT_PHASE, GUEST_PHASE_BEGIN);
	ck_assert_uint_eq(vm->phase_marks, 1);
	uint64_t begun = vm->phase_begin.ns;
	out32(vm, GUEST_CTL_PORT_PHASE, GUEST_PHASE_BEGIN); /* a second begin: ignored */
	ck_assert_uint_eq(vm->phase_begin.ns, begun);
	out32(vm, GUEST_CTL_PORT_PHASE, GUEST_PHASE_END);
	ck_assert_uint_eq(vm->phase_marks, 2);
	ck_assert_uint_ge(vm->phase_end.ns, begun);
	/* The marker writes themselves are counted as they come: nothing else here. */
	struct run_counters delta;
	run_counters_delta(&vm->phase_begin, &vm->phase_end, &delta);
	ck_assert_uint_eq(delta.ndevices, 0);
	guest_ctl_destroy(vm);
	test_vm_destroy(vm);
}
END_TEST

START_TEST(test_guest_ctl_results_block_checked)
{
	struct vm *vm = test_vm_create(4u << 20);
	ck_assert_int_eq(guest_ctl_init(vm), 0);
	struct guest_results r;
	ck_assert(!guest_ctl_read_results(vm, &r)); /* none published */

	/* Outside RAM: refused, counted as a DMA fault, no crash. */
	out32(vm, GUEST_CTL_PORT_RESULTS_LO, 0xfffff000u);
	out32(vm, GUEST_CTL_PORT_RESULTS_HI, 0x7);
	ck_assert(!guest_ctl_read_results(vm, &r));

	/* Straddling the end of RAM: refused too. */
	out32(vm, GUEST_CTL_PORT_RESULTS_LO, (4u << 20) - 16);
	out32(vm, GUEST_CTL_PORT_RESULTS_HI, 0);
	ck_assert(!guest_ctl_read_results(vm, &r));

	/* In RAM with the right magic, and an unterminated message cut safely. */
	struct guest_results *in = test_vm_ram(vm, 0x10000, sizeof(*in));
	memset(in, 'x', sizeof(*in));
	in->magic = GUEST_RESULTS_MAGIC;
	in->version = GUEST_RESULTS_VERSION;
	in->status = GUEST_STATUS_PASS;
	out32(vm, GUEST_CTL_PORT_RESULTS_LO, 0x10000);
	out32(vm, GUEST_CTL_PORT_RESULTS_HI, 0);
	ck_assert(guest_ctl_read_results(vm, &r));
	ck_assert_uint_eq(r.status, GUEST_STATUS_PASS);
	ck_assert_uint_eq(strlen(r.message), GUEST_MESSAGE_LEN - 1);
	in->magic = 0;
	ck_assert(!guest_ctl_read_results(vm, &r));
	guest_ctl_destroy(vm);
	test_vm_destroy(vm);
}
END_TEST

static Suite *guest_ctl_suite(void)
{
	Suite *s = suite_create("guest_ctl");
	TCase *tc = tcase_create("ports");
	tcase_add_test(tc, test_guest_ctl_phase_markers);
	tcase_add_test(tc, test_guest_ctl_results_block_checked);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(guest_ctl_suite)
