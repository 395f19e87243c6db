#include "guest/virtio_blk.h"

#include <stdbool.h>
#include <stddef.h>

#include "guest/asm_defs.h"
#include "guest/interrupts.h"
#include "guest/page_alloc.h"
#include "guest/print.h"
#include "guest/usermode.h"
#include "guest/virtio_pci.h"
#include "guest/virtqueue.h"

#define VIRTIO_BLK_F_RO       5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH    9

#define VIRTIO_BLK_CFG_CAPACITY 0    /* le64, in 512-byte sectors */
#define VIRTIO_BLK_CFG_BLK_SIZE 20   /* le32 */

#define VIRTIO_BLK_T_IN    0
#define VIRTIO_BLK_T_OUT   1
#define VIRTIO_BLK_T_FLUSH 4

#define VIRTIO_BLK_S_OK 0
/* Completion statuses of our own, beyond the device's byte. */
#define BLK_STATUS_NOT_WRITTEN 0x100  /* the device used the chain but wrote no status */
#define BLK_STATUS_DEVICE_RESET 0x200 /* the device asked for a reset; request abandoned */

#define SECTOR_SIZE 512u
#define QUEUE_MAX_SIZE 256u
/* The status byte before the device writes it: no valid status has it. */
#define STATUS_UNSET 0xFFu

/* MSI-X: entry 0 configuration changes, entry 1 the request queue. NVMe and
 * the test device start at VECTOR_MSIX_BASE; we sit above them. */
#define BLK_FIRST_VECTOR (VECTOR_MSIX_BASE + 4)
#define BLK_MSIX_CONFIG  0
#define BLK_MSIX_QUEUE   1
#define BLK_MSIX_COUNT   2

/* One wait: a few ms (the runner counts bounded waits to spot a stall). */
#define BLK_WAIT_SLICES 5
/* Empty polls between looks at the status register (each look is an exit). */
#define BLK_POLLS_PER_STATUS_CHECK 4096u

struct blk_req_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* Per tag: the indirect table (first, so 16-byte aligned), header and status. */
struct blk_slot {
	struct virtq_desc indirect[3];
	struct blk_req_header header;
	volatile uint8_t status;
	bool in_flight;
	uint8_t pad[128 - 3 * sizeof(struct virtq_desc) - sizeof(struct blk_req_header) - 2];
};
_Static_assert(sizeof(struct blk_slot) == 128, "slots pack a page evenly");

struct virtio_blk {
	struct virtio_pci_device pci;
	struct virtq queue;
	struct blk_slot *slots;
	unsigned max_tags;
	uint32_t sectors_per_block;
	bool indirect;
	bool polled;
	bool broken;               /* DEVICE_NEEDS_RESET seen */
	unsigned empty_polls;
	uint32_t config_irqs_seen;   /* configuration interrupts already looked at */
	uint32_t irq_base;         /* queue-vector count at probe */
	unsigned bad_used_reports;
};

static struct virtio_blk blk;

static int queue_request(struct guest_disk *disk, uint16_t tag, uint32_t type, uint64_t sector,
			 uint64_t buf_phys, uint32_t bytes, bool device_writes)
{
	struct virtio_blk *b = disk->priv;
	if (b->broken || tag >= b->max_tags || b->slots[tag].in_flight)
		return -1;
	struct blk_slot *s = &b->slots[tag];
	s->header.type = type;
	s->header.sector = sector;
	s->status = STATUS_UNSET;
	struct virtq_buf bufs[3];
	unsigned n = 0;
	bufs[n++] = (struct virtq_buf){ (uint64_t)(uintptr_t)&s->header, sizeof(s->header), false };
	if (bytes)
		bufs[n++] = (struct virtq_buf){ buf_phys, bytes, device_writes };
	bufs[n++] = (struct virtq_buf){ (uint64_t)(uintptr_t)&s->status, 1, true };
	int rc = b->indirect ? virtq_add_indirect(&b->queue, s->indirect, bufs, n, tag)
			     : virtq_add_chain(&b->queue, bufs, n, tag);
	if (rc == 0)
		s->in_flight = true;
	return rc;
}

static int blk_submit(struct guest_disk *disk, uint16_t tag, bool write, uint64_t lba, uint32_t nblocks,
		      uint64_t buf_phys)
{
	struct virtio_blk *b = disk->priv;
	if (nblocks == 0 || lba >= disk->blocks || nblocks > disk->blocks - lba ||
	    nblocks > UINT32_MAX / disk->block_size || buf_phys == 0)
		return -1;
	return queue_request(disk, tag, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, lba * b->sectors_per_block,
			     buf_phys, nblocks * disk->block_size, !write);
}

int virtio_blk_submit_flush(struct guest_disk *disk, uint16_t tag)
{
	struct virtio_blk *b = disk->priv;
	if (!(b->pci.features & VIRTIO_FEATURE(VIRTIO_BLK_F_FLUSH)))
		return -1;
	return queue_request(disk, tag, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
}

static void blk_kick(struct guest_disk *disk)
{
	struct virtio_blk *b = disk->priv;
	if (virtq_kick(&b->queue))
		disk->notifications = b->queue.notifications;
}

static void update_interrupts(struct guest_disk *disk)
{
	struct virtio_blk *b = disk->priv;
	if (!b->polled)
		disk->interrupts = virtio_pci_interrupt_count(&b->pci, BLK_MSIX_QUEUE) - b->irq_base;
}

/* After DEVICE_NEEDS_RESET nothing more will complete: every request in
 * flight is handed back failed, so the runner ends instead of hanging. */
static unsigned abandon_in_flight(struct virtio_blk *b, struct guest_disk_completion *out, unsigned max)
{
	unsigned n = 0;
	for (unsigned tag = 0; tag < b->max_tags && n < max; tag++) {
		if (!b->slots[tag].in_flight)
			continue;
		b->slots[tag].in_flight = false;
		out[n++] = (struct guest_disk_completion){ (uint16_t)tag, BLK_STATUS_DEVICE_RESET };
	}
	return n;
}

/* Whether DEVICE_NEEDS_RESET is worth a look. With MSI-X the device
 * announces it with a configuration interrupt, so the status register (a
 * read that traps to the VMM) is read only then and the data path stays
 * exit-free; polled, it is read every BLK_POLLS_PER_STATUS_CHECK empty polls. */
static bool needs_reset_suspected(struct virtio_blk *b)
{
	if (b->polled)
		return ++b->empty_polls % BLK_POLLS_PER_STATUS_CHECK == 0;
	uint32_t now = virtio_pci_interrupt_count(&b->pci, BLK_MSIX_CONFIG);
	if (now == b->config_irqs_seen)
		return false;
	b->config_irqs_seen = now;
	return true;
}

static bool check_needs_reset(struct virtio_blk *b)
{
	if (!b->broken && virtio_pci_needs_reset(&b->pci)) {
		b->broken = true;
		guest_printf("virtio-blk: device set DEVICE_NEEDS_RESET; failing requests in flight\n");
	}
	return b->broken;
}

static unsigned blk_reap(struct guest_disk *disk, struct guest_disk_completion *out, unsigned max)
{
	struct virtio_blk *b = disk->priv;
	unsigned n = 0;
	while (n < max) {
		uint16_t tag;
		uint32_t written;
		bool bad;
		if (!virtq_get_used(&b->queue, &tag, &written, &bad)) {
			if (!bad)
				break;
			if (b->bad_used_reports++ < 4)
				guest_printf("virtio-blk: device used a descriptor that heads no request in flight\n");
			continue;
		}
		struct blk_slot *s = &b->slots[tag];
		uint8_t status = s->status;
		s->in_flight = false;
		uint16_t result = status;
		if (written == 0 || status == STATUS_UNSET)
			result = BLK_STATUS_NOT_WRITTEN;
		out[n++] = (struct guest_disk_completion){ tag, result };
	}
	if (n) {
		b->empty_polls = 0;
	} else if (b->broken || needs_reset_suspected(b)) {
		if (check_needs_reset(b))
			n = abandon_in_flight(b, out, max);
	}
	update_interrupts(disk);
	return n;
}

static void blk_wait(struct guest_disk *disk)
{
	struct virtio_blk *b = disk->priv;
	if (b->polled || b->broken)
		return;
	uint32_t seen = virtio_pci_interrupt_count(&b->pci, BLK_MSIX_QUEUE);
	/* Interrupts stay off (cli) until the wait's sti, so one raised after
	 * arming is held pending and ends the hlt at once: nothing is missed. */
	bool woke = true;
	if (!virtq_arm_interrupt(&b->queue))
		woke = usermode_wait_msix(BLK_FIRST_VECTOR - VECTOR_MSIX_BASE + BLK_MSIX_QUEUE, seen,
					    BLK_WAIT_SLICES);
	virtq_disarm_interrupt(&b->queue);
	if (!woke && !virtq_has_used(&b->queue) && needs_reset_suspected(b))
		check_needs_reset(b);
	update_interrupts(disk);
}

static const char *blk_setup(struct virtio_blk *b, const struct pci_function *fn,
			     const struct guest_io_options *opts, struct guest_disk *disk)
{
	uint64_t wanted = VIRTIO_FEATURE(VIRTIO_F_VERSION_1) | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) |
			  VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_FEATURE(VIRTIO_BLK_F_BLK_SIZE) |
			  VIRTIO_FEATURE(VIRTIO_BLK_F_FLUSH) | VIRTIO_FEATURE(VIRTIO_BLK_F_RO);
	const char *err = virtio_pci_start(&b->pci, fn, wanted);
	if (err)
		return err;
	uint32_t block_size = SECTOR_SIZE;
	if (b->pci.features & VIRTIO_FEATURE(VIRTIO_BLK_F_BLK_SIZE))
		block_size = virtio_pci_config_read32(&b->pci, VIRTIO_BLK_CFG_BLK_SIZE);
	if (block_size < SECTOR_SIZE || block_size > 65536 || (block_size & (block_size - 1)))
		return "device reports a block size that is not a power of two from 512 to 65536";
	uint64_t sectors = virtio_pci_config_read64(&b->pci, VIRTIO_BLK_CFG_CAPACITY);
	b->sectors_per_block = block_size / SECTOR_SIZE;
	b->indirect = (b->pci.features & VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC)) != 0;
	b->polled = opts->mode == GUEST_IO_POLL;

	if (!b->polled) {
		err = virtio_pci_enable_msix(&b->pci, BLK_FIRST_VECTOR, BLK_MSIX_COUNT);
		if (err)
			return err;
	}
	err = virtio_pci_setup_queue(&b->pci, &b->queue, 0, QUEUE_MAX_SIZE, BLK_MSIX_QUEUE);
	if (err)
		return err;
	/* Direct chains take three descriptors per request, indirect ones one. */
	b->max_tags = b->indirect ? b->queue.size : b->queue.size / 3u;
	b->slots = page_alloc(((uint64_t)b->max_tags * sizeof(struct blk_slot) + 4095) / 4096, 4096);
	if (!b->slots)
		return "out of guest memory for request slots";
	err = virtio_pci_driver_ok(&b->pci);
	if (err)
		return err;
	b->irq_base = virtio_pci_interrupt_count(&b->pci, BLK_MSIX_QUEUE);

	disk->name = "virtio-blk";
	disk->kind = GUEST_DEVICE_VIRTIO_BLK;
	disk->blocks = sectors / b->sectors_per_block;
	disk->block_size = block_size;
	disk->max_queue_depth = b->max_tags;
	disk->submit = blk_submit;
	disk->kick = blk_kick;
	disk->reap = blk_reap;
	disk->wait = blk_wait;
	disk->notifications = 0;
	disk->interrupts = 0;
	disk->priv = b;
	guest_printf("virtio-blk: %lu blocks of %u bytes, queue size %u, %s, %s%s%s\n", disk->blocks, block_size,
		     b->queue.size, b->indirect ? "indirect descriptors" : "direct chains",
		     b->queue.event_idx ? "event idx" : "notify flags", b->polled ? ", polled" : ", MSI-X",
		     (b->pci.features & VIRTIO_FEATURE(VIRTIO_BLK_F_FLUSH)) ? ", flush" : "");
	return NULL;
}

static const char *blk_probe(const struct pci_scan *scan, const struct guest_io_options *opts,
			     struct guest_disk *disk)
{
	unsigned kept = scan->count < PCI_SCAN_MAX ? scan->count : PCI_SCAN_MAX;
	for (unsigned i = 0; i < kept; i++) {
		if (!virtio_pci_matches(&scan->functions[i], VIRTIO_ID_BLOCK))
			continue;
		blk = (struct virtio_blk){ 0 };
		return blk_setup(&blk, &scan->functions[i], opts, disk);
	}
	return "no virtio-blk device (1af4:1042 or 1af4:1001) on bus 0";
}

const struct guest_disk_driver virtio_blk_disk_driver = {
	.name = "virtio-blk",
	.kind = GUEST_DEVICE_VIRTIO_BLK,
	.probe = blk_probe,
};
