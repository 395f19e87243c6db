#include "split/virtio_ioeventfd.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"

static int ioeventfd_ioctl(int vm_fd, uint64_t addr, uint32_t len, int fd, bool deassign)
{
	struct kvm_ioeventfd req;
	memset(&req, 0, sizeof(req));
	req.addr = addr;
	req.len = len;
	req.fd = fd;
	req.flags = deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0;
	return ioctl(vm_fd, KVM_IOEVENTFD, &req);
}

enum virtio_ioeventfd_mode virtio_ioeventfd_assign(int vm_fd, uint64_t addr, int fd)
{
	/* Length 0 matches every access size (KVM_CAP_IOEVENTFD_ANY_LENGTH);
	 * older kernels need one registration per size a driver may use. */
	if (ioeventfd_ioctl(vm_fd, addr, 0, fd, false) == 0)
		return VIRTIO_IOEVENTFD_ANY_LENGTH;
	int any_errno = errno;
	if (ioeventfd_ioctl(vm_fd, addr, 2, fd, false) == 0) {
		if (ioeventfd_ioctl(vm_fd, addr, 4, fd, false) == 0)
			return VIRTIO_IOEVENTFD_LEN_2_AND_4;
		int e = errno;
		ioeventfd_ioctl(vm_fd, addr, 2, fd, true);
		errno = e;
	}
	log_warn("KVM_IOEVENTFD at 0x%llx failed (%s, any-length: %s): kicks to it will exit "
		 "to user space", (unsigned long long)addr, strerror(errno), strerror(any_errno));
	return VIRTIO_IOEVENTFD_NONE;
}

void virtio_ioeventfd_deassign(int vm_fd, uint64_t addr, int fd, enum virtio_ioeventfd_mode mode)
{
	switch (mode) {
	case VIRTIO_IOEVENTFD_NONE:
		break;
	case VIRTIO_IOEVENTFD_ANY_LENGTH:
		ioeventfd_ioctl(vm_fd, addr, 0, fd, true);
		break;
	case VIRTIO_IOEVENTFD_LEN_2_AND_4:
		ioeventfd_ioctl(vm_fd, addr, 2, fd, true);
		ioeventfd_ioctl(vm_fd, addr, 4, fd, true);
		break;
	}
}
