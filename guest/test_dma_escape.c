/* iovirt.test=dma-escape: a hostile guest. It asks its disk to DMA to and
 * from guest-physical memory just past the end of its RAM: a device read
 * into that address (the device writing memory) and a device write from it.
 * Whatever the model, the device must refuse with an error status: the
 * emulated and split models through iommu/, a passed-through device through
 * the host IOMMU (a DMAR fault in the host log). Reaching RAM outside the
 * guest is the failure. */
#include "guest/page_alloc.h"
#include "guest/pci.h"
#include "guest/print.h"
#include "guest/results.h"
#include "guest/tests.h"
#include "guest/workload_runner.h"

#define ESCAPE_WAITS 2000u

/* One I/O on tag 0 from/to phys; returns its completion status, or -1 if it
 * never completed. */
static int escape_io(struct guest_disk *disk, enum guest_io_mode mode, bool write, uint64_t phys)
{
	if (disk->submit(disk, 0, write, 0, 4096 / disk->block_size, phys) < 0)
		return -2;
	disk->kick(disk);
	struct guest_disk_completion done;
	for (unsigned i = 0; i < ESCAPE_WAITS; i++) {
		if (disk->reap(disk, &done, 1) == 1)
			return done.status;
		if (mode == GUEST_IO_IRQ)
			disk->wait(disk);
	}
	return -1;
}

enum guest_status test_dma_escape_run(const struct guest_test_env *env)
{
	static struct guest_disk disk;
	struct pci_scan scan;
	pci_scan_bus0(&scan);
	guest_results.pci_functions = scan.count;
	struct guest_io_options opts;
	const char *err = workload_io_options_parse(env->cmdline, "iovirt.disk.qd", &opts);
	if (err) {
		results_set_message("dma-escape: %s", err);
		return GUEST_STATUS_BAD_PARAMS;
	}
	err = workload_disk_open(env->cmdline, &scan, &opts, &disk);
	if (err) {
		results_set_message("dma-escape: %s", err);
		return GUEST_STATUS_FAIL;
	}
	uint64_t outside = (page_alloc_ram_top() + 4095u) & ~4095ull;
	guest_printf("dma-escape: %s, DMA at 0x%lx, just past guest RAM\n", disk.name, outside);
	int read_status = escape_io(&disk, opts.mode, false, outside);
	int write_status = escape_io(&disk, opts.mode, true, outside);
	guest_printf("RESULT escape_read_status=%d\n", read_status);
	guest_printf("RESULT escape_write_status=%d\n", write_status);
	if (read_status == 0 || write_status == 0) {
		results_set_message("dma-escape: %s completed DMA outside guest RAM (read %d, write %d)",
				    disk.name, read_status, write_status);
		return GUEST_STATUS_FAIL;
	}
	if (read_status < 0 || write_status < 0) {
		results_set_message("dma-escape: %s never completed the refused DMA (read %d, write %d)",
				    disk.name, read_status, write_status);
		return GUEST_STATUS_FAIL;
	}
	results_set_message("dma-escape: %s refused DMA outside guest RAM (status 0x%x, 0x%x)", disk.name,
			    (unsigned)read_status, (unsigned)write_status);
	return GUEST_STATUS_PASS;
}
