/* dpdk:DEVARGS — a DPDK ethdev with one rx and one tx queue.
 *
 * Frames are copied between the caller's iovecs and mbufs from the port's
 * own pool. Zero-copy is not done: on tx it would mean attaching guest pages
 * to mbufs as external buffers (rte_pktmbuf_attach_extbuf), holding the
 * guest's descriptors until the PMD frees the mbuf (net_ring hands that very
 * mbuf to a receiver, at an unknown later time), and for a PCI NIC also
 * DMA-mapping guest RAM for the device (rte_extmem_register); on rx the NIC
 * has already written into its own mbufs before we learn which guest buffer
 * the frame is for. Either copy is one memcpy of at most PACKET_FRAME_MAX.
 *
 * DPDK is poll mode: the port has no notify fd; the I/O loop polls receive. */
#include "core/packet_engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pci.h>

#include "core/counters.h"
#include "core/dpdk_eal.h"
#include "core/log.h"

#define DPDK_RX_DESC    1024
#define DPDK_TX_DESC    1024
#define DPDK_POOL_MBUFS 8191       /* 2^n - 1 fills the pool's ring exactly */
#define DPDK_POOL_CACHE 256
#define DPDK_BURST      32

struct dpdk_port {
	uint16_t port_id;
	bool is_pci;
	struct rte_mempool *pool;
	char dev_name[RTE_ETH_NAME_MAX_LEN];
};

struct dpdk_probe_call {
	const char *devargs;
};

static int dpdk_probe_fn(void *arg)
{
	const struct dpdk_probe_call *call = arg;
	return rte_dev_probe(call->devargs);
}

/* The device name is the devargs up to the first ','. A PCI address is
 * written in DPDK's canonical DDDD:BB:DD.F form, which is its port name. */
static int dpdk_device_name(const char *devargs, char *name, size_t namelen, bool *is_pci,
			    char *err, size_t errlen)
{
	size_t len = strcspn(devargs, ",");
	if (len == 0) {
		snprintf(err, errlen, "dpdk:%s: needs a device before any ',' options, e.g. "
			 "dpdk:net_ring0 or dpdk:0000:00:03.0 (a PCI NIC)", devargs);
		return -1;
	}
	if (len >= namelen) {
		snprintf(err, errlen, "dpdk:%s: device name is %zu characters; DPDK allows at most %zu",
			 devargs, len, namelen - 1);
		return -1;
	}
	memcpy(name, devargs, len);
	name[len] = '\0';
	struct rte_pci_addr addr;
	*is_pci = rte_pci_addr_parse(name, &addr) == 0;
	if (*is_pci)
		rte_pci_device_name(&addr, name, namelen);
	return 0;
}

static int dpdk_attach(struct dpdk_port *d, const char *devargs, char *err, size_t errlen)
{
	if (rte_eth_dev_get_port_by_name(d->dev_name, &d->port_id) == 0) {
		if (!d->is_pci) {
			snprintf(err, errlen, "dpdk:%s: device %s is already open in this process",
				 devargs, d->dev_name);
			return -1;
		}
		return 0;       /* probed by the EAL at start (-a) */
	}
	/* A virtual device, or a PCI NIC reopened after close: hot-plug it. */
	char why[160];
	struct dpdk_probe_call call = { .devargs = devargs };
	int ret = dpdk_eal_call_logged(dpdk_probe_fn, &call, why, sizeof(why));
	if (ret < 0) {
		if (d->is_pci)
			snprintf(err, errlen, "dpdk:%s: cannot attach PCI NIC %s (%s); bind it to "
				 "vfio-pci first (dpdk-devbind.py -b vfio-pci %s)", devargs, d->dev_name,
				 why[0] ? why : rte_strerror(-ret), d->dev_name);
		else
			snprintf(err, errlen, "dpdk:%s: cannot create the virtual device (%s); check the "
				 "driver name (net_ring0, net_null0, net_tap0,iface=NAME, "
				 "net_af_packet0,iface=NAME) and its options", devargs,
				 why[0] ? why : rte_strerror(-ret));
		return -1;
	}
	if (rte_eth_dev_get_port_by_name(d->dev_name, &d->port_id) != 0) {
		snprintf(err, errlen, "dpdk:%s: device %s was created but is not an Ethernet port",
			 devargs, d->dev_name);
		return -1;
	}
	return 0;
}

static int dpdk_port_start(struct dpdk_port *d, const char *devargs, char *err, size_t errlen)
{
	int socket = rte_eth_dev_socket_id(d->port_id);
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	snprintf(pool_name, sizeof(pool_name), "iovirt_pkt%u", d->port_id);
	d->pool = rte_pktmbuf_pool_create(pool_name, DPDK_POOL_MBUFS, DPDK_POOL_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (d->pool == NULL) {
		snprintf(err, errlen, "dpdk:%s: cannot create the mbuf pool: %s (are DPDK's mempool "
			 "plugins installed? see IOVIRT_DPDK_PMD_DIR)", devargs, rte_strerror(rte_errno));
		return -1;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	uint16_t nb_rxd = DPDK_RX_DESC, nb_txd = DPDK_TX_DESC;
	int ret = rte_eth_dev_configure(d->port_id, 1, 1, &conf);
	if (ret == 0)
		ret = rte_eth_dev_adjust_nb_rx_tx_desc(d->port_id, &nb_rxd, &nb_txd);
	if (ret == 0)
		ret = rte_eth_rx_queue_setup(d->port_id, 0, nb_rxd, (unsigned)socket, NULL, d->pool);
	if (ret == 0)
		ret = rte_eth_tx_queue_setup(d->port_id, 0, nb_txd, (unsigned)socket, NULL);
	if (ret == 0)
		ret = rte_eth_dev_start(d->port_id);
	if (ret < 0) {
		snprintf(err, errlen, "dpdk:%s: cannot set up port %u: %s", devargs, d->port_id,
			 rte_strerror(-ret));
		return -1;
	}
	/* Guest MACs are not the port's: take every frame. Not every PMD has it. */
	ret = rte_eth_promiscuous_enable(d->port_id);
	if (ret < 0 && ret != -ENOTSUP)
		log_warn("dpdk:%s: promiscuous mode not enabled: %s", devargs, rte_strerror(-ret));
	return 0;
}

struct dpdk_start_call {
	struct dpdk_port *d;
	const char *devargs;
	char *err;
	size_t errlen;
};

static int dpdk_port_start_fn(void *arg)
{
	struct dpdk_start_call *call = arg;
	return dpdk_port_start(call->d, call->devargs, call->err, call->errlen);
}

static void dpdk_release(struct dpdk_port *d, bool started)
{
	if (started)
		rte_eth_dev_stop(d->port_id);
	/* Removing the device closes the port and frees its name for reuse. */
	struct rte_eth_dev_info info;
	if (rte_eth_dev_info_get(d->port_id, &info) == 0 && info.device != NULL) {
		if (rte_dev_remove(info.device) != 0)
			rte_eth_dev_close(d->port_id);
	} else {
		rte_eth_dev_close(d->port_id);
	}
	rte_mempool_free(d->pool);
	d->pool = NULL;
}

static int dpdk_open(struct packet_port *port, const char *arg, char *err, size_t errlen)
{
	if (arg[0] == '\0') {
		snprintf(err, errlen, "dpdk: needs a device, e.g. dpdk:net_ring0 (virtual) or "
			 "dpdk:0000:00:03.0 (a PCI NIC bound to vfio-pci)");
		return -1;
	}
	struct dpdk_port *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		snprintf(err, errlen, "dpdk:%s: out of memory", arg);
		return -1;
	}
	if (dpdk_device_name(arg, d->dev_name, sizeof(d->dev_name), &d->is_pci, err, errlen) != 0)
		goto fail;
	char eal_err[256];
	if (dpdk_eal_start(d->is_pci ? arg : NULL, eal_err, sizeof(eal_err)) != 0) {
		snprintf(err, errlen, "dpdk:%s: %s", arg, eal_err);
		goto fail;
	}
	if (dpdk_attach(d, arg, err, errlen) != 0)
		goto fail;
	/* PMDs log harmless complaints while starting (af_packet on lo cannot
	 * set a MAC): keep them out of the user's way unless debugging. */
	struct dpdk_start_call start = { .d = d, .devargs = arg, .err = err, .errlen = errlen };
	if (dpdk_eal_call_logged(dpdk_port_start_fn, &start, NULL, 0) != 0) {
		dpdk_release(d, false);
		goto fail;
	}
	port->priv = d;
	port->notify_fd = -1;
	return 0;
fail:
	free(d);
	return -1;
}

static unsigned dpdk_send(struct packet_port *port, const struct packet_frame *frames, unsigned n)
{
	struct dpdk_port *d = port->priv;
	struct rte_mbuf *mbufs[DPDK_BURST];
	unsigned sent = 0;
	for (unsigned start = 0; start < n; start += DPDK_BURST) {
		unsigned chunk = n - start < DPDK_BURST ? n - start : DPDK_BURST;
		if (rte_pktmbuf_alloc_bulk(d->pool, mbufs, chunk) != 0)
			continue;       /* pool empty: these frames are dropped */
		for (unsigned i = 0; i < chunk; i++) {
			const struct packet_frame *f = &frames[start + i];
			size_t len = 0;
			packet_iov_length(f->iov, f->iovcnt, PACKET_FRAME_MAX, &len);
			/* PACKET_FRAME_MAX < the default data room: always one segment. */
			char *data = rte_pktmbuf_append(mbufs[i], (uint16_t)len);
			packet_iov_gather(data, len, f->iov, f->iovcnt);
		}
		uint16_t done = rte_eth_tx_burst(d->port_id, 0, mbufs, (uint16_t)chunk);
		if (done < chunk)
			rte_pktmbuf_free_bulk(mbufs + done, chunk - done);
		sent += done;
	}
	return sent;
}

static unsigned dpdk_receive(struct packet_port *port, struct packet_frame *frames, unsigned n)
{
	struct dpdk_port *d = port->priv;
	struct rte_mbuf *mbufs[DPDK_BURST];
	uint8_t linear[PACKET_FRAME_MAX];
	unsigned got = 0;
	while (got < n) {
		unsigned want = n - got < DPDK_BURST ? n - got : DPDK_BURST;
		uint16_t nb = rte_eth_rx_burst(d->port_id, 0, mbufs, (uint16_t)want);
		for (uint16_t i = 0; i < nb; i++) {
			struct rte_mbuf *m = mbufs[i];
			uint32_t len = rte_pktmbuf_pkt_len(m);
			if (len < PACKET_FRAME_MIN || len > PACKET_FRAME_MAX) {
				counter_add(&port->counters.rx_dropped, 1);
				continue;
			}
			/* Points into the mbuf when it is one segment, else linearised. */
			const void *data = rte_pktmbuf_read(m, 0, len, linear);
			struct packet_frame *f = &frames[got++];
			f->len = (uint32_t)packet_iov_scatter(f->iov, f->iovcnt, data, len);
			f->truncated = f->len < len;
		}
		rte_pktmbuf_free_bulk(mbufs, nb);
		if (nb < want)
			break;
	}
	return got;
}

static void dpdk_stats(struct packet_port *port, struct packet_stats *out)
{
	struct dpdk_port *d = port->priv;
	struct rte_eth_stats st;
	if (rte_eth_stats_get(d->port_id, &st) == 0)
		out->rx_dropped += st.imissed + st.rx_nombuf;
}

static void dpdk_close(struct packet_port *port)
{
	struct dpdk_port *d = port->priv;
	dpdk_release(d, true);
	free(d);
}

const struct packet_port_ops packet_dpdk_ops = {
	.scheme = "dpdk",
	.open = dpdk_open,
	.send = dpdk_send,
	.receive = dpdk_receive,
	.stats = dpdk_stats,
	.close = dpdk_close,
};
