/*
 * libFuzzer target: /dev/aqmllm requests as the kernel decides them
 * (kmod/freebsd/llm_ctl.c).  The input opens descriptors with any access
 * and makes any request (known or not) with any argument bytes; a model
 * of the device's ownership checks what no sequence may achieve: a
 * read-only descriptor changing the owner, two owners, a map or detach
 * by anyone but the owner, an attach with a foreign ABI or flags.  INFO
 * and STATS answer from a ring whose export mode and interval the input
 * changes between requests through the sysctls' checks (llm_tun.c), as
 * the kernel does: every byte of a reply is written, and it reports the
 * ring as it is (geometry, interval ring, export mode, interval, counters).
 */
#include <string.h>

#include "llm_glue.h"
#include "fuzz_input.h"

#define	NFD	4
#define	NQUEUES	256

/* The device's ring: made once (its size is fixed), reset per input. */
static struct aqm_ring *
dev_ring(struct llm_dev_view *v)
{
	static const struct aqm_geom g = { AQMLLM_MIN_ENTRIES,
	    AQMLLM_MIN_ENTRIES, 0, NQUEUES };
	static struct aqm_ring ring;
	static void *region, *priv;

	if (region == NULL) {
		v->region_size = aqm_region_size(&g);
		region = malloc(v->region_size);
		priv = malloc(aqm_ring_private_size(&g));
		FUZZ_ASSERT(region != NULL && priv != NULL);
		FUZZ_ASSERT(aqm_ring_init(&ring, region, v->region_size, &g,
		    priv, aqm_ring_private_size(&g)) == 0);
	}
	v->region_size = aqm_region_size(&g);
	FUZZ_ASSERT(aqm_ring_set_export(&ring, AQMLLM_EXPORT_BOTH, 0) == 0);
	memset(ring.cnt, 0, sizeof(ring.cnt));
	v->ring = &ring;
	return (&ring);
}

/* A sysctl write to export or interval_us, published as the kernel does. */
static void
tun_write(struct fin *f, struct llm_tunables *t, struct aqm_ring *r)
{
	static const char *const names[] = { "packets", "intervals", "both",
	    "none", "" };
	uint8_t how = take_u8(f);
	int error;

	if (how & 1)
		error = llm_tun_set_export(t, names[(how >> 1) % 5]);
	else
		error = llm_tun_set_u32(t, LLM_TUN_INTERVAL,
		    how & 2 ? take_u32(f) : 1000 * (uint64_t)(how >> 2));
	if (error == 0)
		FUZZ_ASSERT(aqm_ring_set_export(r, t->export_mode,
		    (uint64_t)t->interval_us * 1000) == 0);
}

static void
check_info(struct llm_dev_view *v, const struct llm_tunables *t, int owned)
{
	const struct aqm_ring *r = v->ring;
	struct aqmllm_info info;

	memset(&info, 0xa5, sizeof(info));
	v->fallback = t->fallback;
	v->verdict_timeout_us = t->verdict_timeout_us;
	v->attached = owned;
	llm_info_fill(&info, v);
	FUZZ_ASSERT(info.abi_version == AQMLLM_ABI_VERSION);
	FUZZ_ASSERT(info.rec_entries == r->rec_entries &&
	    info.vd_entries == r->vd_entries && info.nqueues == NQUEUES);
	FUZZ_ASSERT(info.ivl_entries == aqm_ivl_entries_for(NQUEUES) &&
	    info.ivl_entries == r->ivl_entries);
	FUZZ_ASSERT(info.region_size == v->region_size);
	FUZZ_ASSERT(llm_export_name(info.export_mode) != NULL &&
	    info.export_mode == t->export_mode);
	FUZZ_ASSERT(info.interval_us == t->interval_us);
	FUZZ_ASSERT(info.attached == (uint32_t)(owned != 0) && info.pad == 0);
	FUZZ_ASSERT(info.fallback == t->fallback &&
	    info.verdict_timeout_us == t->verdict_timeout_us);
}

static void
check_stats(struct fin *f, struct llm_dev_view *v, struct aqm_ring *r)
{
	struct aqmllm_stats st;
	int i;

	for (i = 0; i < AQMLLM_CNT_COUNT; i++)
		r->cnt[i] = take_u8(f) & 1 ? take_u64(f) : 0;
	v->queues = take_u8(f);
	v->wakeups = take_u32(f);
	memset(&st, 0xa5, sizeof(st));
	llm_stats_fill(&st, v);
	for (i = 0; i < AQMLLM_CNT_SLOTS; i++)
		FUZZ_ASSERT(st.counters[i] ==
		    (i < AQMLLM_CNT_COUNT ? r->cnt[i] : 0));
	FUZZ_ASSERT(st.queues == v->queues && st.wakeups_sent == v->wakeups);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin f = { data, size, 0 };
	int rd[NFD], wr[NFD], open_[NFD], owner = -1, k;
	struct llm_dev_view view;
	struct llm_tunables t;
	struct aqm_ring *ring = dev_ring(&view);

	memset(&t, 0, sizeof(t));
	t.fallback = AQMLLM_FB_DUALPI2;
	t.verdict_timeout_us = 10000;
	t.export_mode = AQMLLM_EXPORT_BOTH;

	for (k = 0; k < NFD; k++) {
		open_[k] = 1;
		rd[k] = 1;
		wr[k] = k != 0;		/* fd 0 is aqmllmctl's, read-only */
	}
	while (fin_left(&f)) {
		uint8_t op = take_u8(&f);
		int fd = (op >> 4) % NFD, own, error, was = owner;
		unsigned nr;

		if ((op & 0x0f) == 0x0f) {	/* close; reopen with new access */
			if (owner == fd)
				owner = -1;	/* the cdevpriv destructor */
			open_[fd] = !open_[fd];
			rd[fd] = take_u8(&f) & 1;
			wr[fd] = take_u8(&f) & 1;
			continue;
		}
		if (!open_[fd])
			continue;
		nr = op & 0x08 ? take_u32(&f) : op & 0x07;
		own = owner < 0 ? LLM_OWNER_NONE :
		    owner == fd ? LLM_OWNER_SELF : LLM_OWNER_OTHER;
		error = llm_ioctl_access(nr, rd[fd], wr[fd]);
		if (nr < AQMLLM_IOC_INFO_NR || nr > AQMLLM_IOC_MAP_NR)
			FUZZ_ASSERT(error == ENOTTY);
		if (error == 0 && nr == AQMLLM_IOC_ATTACH_NR) {
			struct aqmllm_attach at;

			at.abi_version = take_u8(&f) & 1 ? take_u32(&f) :
			    AQMLLM_ABI_VERSION;
			at.flags = take_u8(&f) & 1 ? take_u32(&f) : 0;
			error = llm_attach_decide(&at, own);
			if (error == 0) {
				FUZZ_ASSERT(at.abi_version == AQMLLM_ABI_VERSION);
				FUZZ_ASSERT(at.flags == 0);
				FUZZ_ASSERT(own != LLM_OWNER_OTHER);
				owner = fd;
			}
		} else if (error == 0 && nr == AQMLLM_IOC_DETACH_NR) {
			error = llm_detach_decide(own);
			if (error == 0) {
				FUZZ_ASSERT(owner == fd);
				owner = -1;
			}
		} else if (error == 0 && nr == AQMLLM_IOC_MAP_NR) {
			error = llm_map_decide(own);
			FUZZ_ASSERT(error != 0 || owner == fd);
		} else if (error == 0 && nr == AQMLLM_IOC_INFO_NR) {
			tun_write(&f, &t, ring);
			check_info(&view, &t, owner >= 0);
		} else if (error == 0 && nr == AQMLLM_IOC_STATS_NR)
			check_stats(&f, &view, ring);
		/* Ownership moves only through a writable descriptor. */
		if (owner != was)
			FUZZ_ASSERT(wr[fd] && rd[fd] && error == 0);
		if (!wr[fd] && nr != AQMLLM_IOC_INFO_NR &&
		    nr != AQMLLM_IOC_STATS_NR)
			FUZZ_ASSERT(error != 0);
	}
	return (0);
}
