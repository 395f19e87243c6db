/* The split models' notify addresses as KVM ioeventfds on a real VM: they
 * follow BAR0's memory decoding, and KVM really holds them (a second
 * registration of the same address and fd is refused as a duplicate). */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/device.h"
#include "core/pci.h"
#include "core/vm.h"
#include "split/virtio_pci.h"
#include "split/virtio_spec.h"
#include "tests/test_registry.h"
#include "tests/test_util.h"

static struct virtio_pci *find_virtio(struct vm *vm, uint16_t device_id)
{
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
		struct pci_device *dev = pci_root_device(vm->pci, slot);
		if (dev && pci_config_read(dev, PCI_CFG_VENDOR_ID, 2) == VIRTIO_PCI_VENDOR_ID &&
		    pci_config_read(dev, PCI_CFG_DEVICE_ID, 2) == device_id)
			return (struct virtio_pci *)((char *)dev - offsetof(struct virtio_pci, pci));
	}
	return NULL;
}

static int ioeventfd_again(struct vm *vm, uint64_t addr, uint32_t len, int fd)
{
	struct kvm_ioeventfd req;
	memset(&req, 0, sizeof(req));
	req.addr = addr;
	req.len = len;
	req.fd = fd;
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &req) == 0) {
		req.flags = KVM_IOEVENTFD_FLAG_DEASSIGN;
		ioctl(vm->vm_fd, KVM_IOEVENTFD, &req);
		return 0;
	}
	return -errno;
}

START_TEST(test_virtio_ioeventfd_follows_bar)
{
	REQUIRE_KVM();
	struct vm_config config = { .mem_bytes = 16ull << 20, .ncpus = 1 };
	char err[512];
	struct vm *vm = vm_create(&config, err, sizeof(err));
	ck_assert_msg(vm != NULL, "%s", err);
	const struct device_model_ops *ops = device_model_find("disk", "split");
	ck_assert_ptr_nonnull(ops);
	struct device_spec spec;
	ck_assert_int_eq(device_spec_parse("disk", "model=split,size=1M", &spec, err, sizeof(err)), 0);
	void *state = NULL;
	ck_assert_msg(ops->realize(vm, &spec, &state, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(vm_add_device(vm, ops, state, "disk0-split"), 0);

	struct virtio_pci *vdev = find_virtio(vm, VIRTIO_PCI_DEVICE_ID_BASE + VIRTIO_ID_BLOCK);
	ck_assert_ptr_nonnull(vdev);
	ck_assert_uint_eq(vdev->notify_base, 0);   /* decoding is off after placement */
	pci_config_write(&vdev->pci, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY);
	uint64_t bar = pci_device_bar_address(&vdev->pci, VIRTIO_PCI_BAR);
	ck_assert_uint_ne(bar, 0);
	ck_assert_uint_eq(vdev->notify_base, bar + VIRTIO_PCI_NOTIFY_OFFSET);
	struct virtio_pci_queue *q = &vdev->queues[0];
	ck_assert_int_ne(q->ioeventfd_mode, VIRTIO_IOEVENTFD_NONE);
	uint32_t len = q->ioeventfd_mode == VIRTIO_IOEVENTFD_ANY_LENGTH ? 0 : 2;
	ck_assert_int_eq(ioeventfd_again(vm, vdev->notify_base, len, q->kick_fd), -EEXIST);

	/* Decoding off: the registration goes away with the BAR. */
	pci_config_write(&vdev->pci, PCI_CFG_COMMAND, 2, 0);
	ck_assert_uint_eq(vdev->notify_base, 0);
	ck_assert_int_eq(ioeventfd_again(vm, bar + VIRTIO_PCI_NOTIFY_OFFSET, len, q->kick_fd), 0);
	vm_destroy(vm);
}
END_TEST

static Suite *virtio_ioeventfd_suite(void)
{
	Suite *s = suite_create("virtio_ioeventfd");
	TCase *tc = tcase_create("kvm");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_virtio_ioeventfd_follows_bar);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(virtio_ioeventfd_suite)
