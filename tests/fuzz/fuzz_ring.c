/*
 * libFuzzer target: the daemon-written part of the shared region.
 *
 * The input is a script: packets arrive and leave three queues (one per
 * fallback), and between them the "daemon" writes verdict slots (packet
 * verdicts, queue policies and residuals on the fallback, near the live
 * window or anywhere), the indices it owns (the record and interval rings'
 * consumer indices, the verdict ring's producer index), its liveness
 * line, or raw bytes anywhere in the region, geometry included; the
 * producer's export mode and interval length change on the way.  The
 * region and the producer's private tables are separate heap blocks of
 * exactly their size, so ASan catches any access the daemon could steer
 * out of either; the invariants below (and ring_invariants.h: intervals
 * account for every packet, residuals in effect stay in their bounds) are
 * what the kernel must keep whatever the daemon writes.
 */
#include <stdlib.h>
#include <string.h>

#include "aqm_core.h"
#include "fuzz_input.h"
#include "ring_invariants.h"

#define	NQUEUES		3
#define	REC_ENTRIES	256
#define	VD_ENTRIES	128
#define	IVL_ENTRIES	64	/* the smallest ring: it fills, and wraps */
#define	LIMIT		200	/* below the 256 FIFO slots of each class */

/*
 * ---- packet glue ----
 * The caller's side of the core's packet API, kept here alone: storage
 * for the core-owned FIFOs of each class, and a count of what went in and
 * came out per class, so the core's backlog can be checked against it.
 */
struct store {
	struct aqm_pkt	slots[2][256];	/* a power of two above LIMIT */
	uint32_t	len[2];
};

static void
store_attach(struct store *s, struct aqm_queue *q)
{
	int k;

	memset(s, 0, sizeof(*s));
	for (k = 0; k < 2; k++)
		FUZZ_ASSERT(aqm_queue_storage(q, k, s->slots[k], 256,
		    NULL) == 0);
}

/* A packet arrives: the core's action (the core keeps it on PASS). */
static int
packet_in(struct store *s, struct aqm_queue *q, struct aqm_ring *r,
    struct aqm_pkt *p, uint64_t now)
{
	int act;

	act = aqm_enqueue(q, r, p, now);
	if (act == AQMLLM_ACT_PASS) {
		FUZZ_ASSERT(p->cls < 2 && s->len[p->cls] < LIMIT);
		s->len[p->cls]++;
	}
	return (act);
}

/* The next packet leaves: its action, or -1 when both classes are empty. */
static int
packet_out(struct store *s, struct aqm_queue *q, struct aqm_ring *r,
    struct aqm_pkt *out, uint64_t now)
{
	int cls;

	cls = aqm_select(q, now);
	if (cls < 0) {
		FUZZ_ASSERT(s->len[0] == 0 && s->len[1] == 0);
		return (-1);
	}
	FUZZ_ASSERT(cls < 2 && s->len[cls] > 0);
	s->len[cls]--;
	return (aqm_dequeue(q, r, cls, now, out));
}

static uint32_t
store_len(const struct store *s, int cls)
{
	return (s->len[cls]);
}
/* ---- end of packet glue ---- */

/*
 * A residual verdict: mostly answering a recent interval record (seq near
 * ivl_prod, the record's queue, zero action and flags), its knobs within
 * their bounds or any bits, its expiry near or far.
 */
static void
daemon_residual(struct fin *f, struct aqm_ring *r, struct aqmllm_verdict *v,
    uint8_t how, uint64_t now)
{
	uint8_t shape = take_u8(f);

	if (!(how & 0x10))
		v->seq = r->ivl_prod - take_u8(f) % (2 * IVL_ENTRIES) +
		    take_u8(f) % 3;
	/* as an honest daemon would: the queue the record names */
	if (!(how & 0x08) && (shape & 0x04) && v->seq != 0)
		v->queue_id = r->ivls[(v->seq - 1) & r->ivl_mask].queue_id;
	if (!(shape & 0x01))
		v->action = 0, v->flags = 0;
	if (shape & 0x02) {
		v->res_log2_mult[0] = (int16_t)(take_u16(f) % 1537) - 768;
		v->res_log2_mult[1] = (int16_t)(take_u16(f) % 1537) - 768;
		v->res_log2_target = (int16_t)(take_u16(f) % 769) - 512;
		v->res_step_us = (uint16_t)(take_u16(f) % 4001);
	} else {
		v->res_log2_mult[0] = (int16_t)take_u16(f);
		v->res_log2_mult[1] = (int16_t)take_u16(f);
		v->res_log2_target = (int16_t)take_u16(f);
		v->res_step_us = take_u16(f);
	}
	if (!(how & 0x04))
		v->expiry_ns = now + (uint64_t)take_u32(f) * 1024;	/* ~4 s */
}

/* A verdict slot the daemon fills: near the live window, or anything. */
static void
daemon_verdicts(struct fin *f, struct aqm_ring *r, uint64_t now)
{
	struct aqmllm_region_hdr *h = r->hdr;
	uint32_t n = take_u8(f) % 16, i;
	uint64_t prod = h->vd_prod;

	for (i = 0; i < n; i++) {
		struct aqmllm_verdict *v = &r->vds[(prod + i) & r->vd_mask];
		uint8_t how = take_u8(f);

		v->kind = how & 0x80 ? take_u8(f) : 1 + (how & 1) + (how >> 1 & 1);
		v->action = how & 0x40 ? take_u8(f) : 1 + take_u8(f) % 3;
		v->flags = how & 0x20 ? take_u16(f) : 0;
		v->seq = how & 0x10 ? take_u64(f) :
		    r->rec_prod - take_u16(f) % (2 * REC_ENTRIES) + take_u8(f) % 4;
		v->queue_id = how & 0x08 ? take_u32(f) : take_u8(f) % (NQUEUES + 1);
		v->drop_prob = take_u32(f);
		v->mark_prob = take_u32(f);
		v->expiry_ns = how & 0x04 ? take_u64(f) :
		    now + take_u32(f) * 4ULL - AQM_NS_PER_S;
		if (v->kind == AQMLLM_VK_POLICY && !(how & 0x02))
			v->seq = 0, v->action = 0;
		if (v->kind == AQMLLM_VK_RESIDUAL)
			daemon_residual(f, r, v, how, now);
	}
	switch (take_u8(f) % 4) {
	case 0:
		h->vd_prod = take_u64(f);	/* garbage */
		break;
	case 1:
		h->vd_prod = prod - 1 - take_u8(f);	/* behind the consumer */
		break;
	default:
		h->vd_prod = prod + n;
		break;
	}
}

/* The daemon's own indices and liveness line. */
static void
daemon_line(struct fin *f, struct aqm_ring *r, uint64_t now)
{
	struct aqmllm_region_hdr *h = r->hdr;
	uint8_t how = take_u8(f);

	h->rec_cons = how & 1 ? take_u64(f) : r->rec_prod - take_u8(f) % 8;
	if (how & 2)		/* an echo of the producer clock, maybe old */
		h->heartbeat_ns = now - take_u32(f);
	else if (how & 4)	/* ahead of the producer: never alive */
		h->heartbeat_ns = now + 1 + take_u32(f);
	else
		h->heartbeat_ns = take_u64(f);
	h->daemon_state = how & 8 ? take_u32(f) : AQMLLM_DS_ATTACHED;
	switch (how >> 4 & 3) {	/* the interval ring's consumer index */
	case 0:
		h->ivl_cons = take_u64(f);			/* garbage */
		break;
	case 1:
		h->ivl_cons = r->ivl_prod + 1 + take_u8(f) % 8;	/* ahead */
		break;
	default:
		h->ivl_cons = r->ivl_prod - take_u8(f) % 8;	/* read */
		break;
	}
}

/* The producer's configuration changes: what it exports, how often. */
static void
producer_export(struct fin *f, struct aqm_ring *r)
{
	uint8_t how = take_u8(f);
	uint64_t ivl = how & 4 ? 0 : AQMLLM_IVL_MIN_NS * (1 + take_u8(f) % 32);

	FUZZ_ASSERT(aqm_ring_set_export(r, 1 + how % 3, ivl) == 0);
	/* an out-of-range setting is refused and changes nothing */
	FUZZ_ASSERT(aqm_ring_set_export(r, 4 + (how >> 3), 0) != 0);
	FUZZ_ASSERT(aqm_ring_set_export(r, AQMLLM_EXPORT_BOTH,
	    AQMLLM_IVL_MIN_NS - 1) != 0);
	FUZZ_ASSERT(r->export_mode == 1U + how % 3 && r->interval_ns == ivl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct store store[NQUEUES];
	static struct ivl_shadow shadow[NQUEUES];
	const struct aqm_geom geom = { REC_ENTRIES, VD_ENTRIES, IVL_ENTRIES,
	    NQUEUES };
	struct fin f = { data, size, 0 };
	struct aqm_queue q[NQUEUES];
	struct aqm_params par;
	struct aqm_ring ring;
	unsigned char *region;
	void *priv;
	uint64_t now = AQM_NS_PER_S;
	size_t rsize, psize;
	const char *why;
	int k, steps = 0;

	rsize = aqm_region_size(&geom);
	psize = aqm_ring_private_size(&geom);
	region = malloc(rsize);
	priv = malloc(psize);
	FUZZ_ASSERT(region && priv);
	FUZZ_ASSERT(aqm_ring_init(&ring, region, rsize, &geom, priv,
	    psize) == 0);
	producer_export(&f, &ring);
	aqm_ring_set_attached(&ring, 1);
	ring.hdr->daemon_state = AQMLLM_DS_ATTACHED;
	ring.hdr->heartbeat_ns = now;
	for (k = 0; k < NQUEUES; k++) {
		aqm_params_defaults(&par, (uint32_t)k);
		par.limit_pkts = LIMIT;
		par.link_rate_bps = 10000000ULL << (take_u8(&f) % 8);
		FUZZ_ASSERT(aqm_queue_init(&q[k], (uint32_t)k, &par,
		    take_u64(&f), now) == 0);
		store_attach(&store[k], &q[k]);
		ivl_shadow_init(&shadow[k], &q[k]);
	}

	while (fin_left(&f) && steps++ < 4096) {
		uint8_t op = take_u8(&f);
		int qi = (op >> 4) % NQUEUES, act;
		struct aqm_pkt p;

		now += (uint64_t)take_u16(&f) * 64;	/* up to ~4 ms a step */
		switch (op % 10) {
		case 0: case 1: case 2:
			memset(&p, 0, sizeof(p));
			p.len = 40 + take_u16(&f) % 1461;
			p.ecn = take_u8(&f) % 4;
			p.flow_hash = take_u32(&f);
			act = packet_in(&store[qi], &q[qi], &ring, &p, now);
			FUZZ_ASSERT(act == AQMLLM_ACT_PASS ||
			    act == AQMLLM_ACT_DROP);
			break;
		case 3: case 4:
			act = packet_out(&store[qi], &q[qi], &ring, &p, now);
			if (act == -1)
				break;
			FUZZ_ASSERT(act >= AQMLLM_ACT_PASS &&
			    act <= AQMLLM_ACT_MAX);
			FUZZ_ASSERT(!(act == AQMLLM_ACT_MARK &&
			    p.ecn == AQMLLM_ECN_NOT_ECT));
			break;
		case 5:
			daemon_verdicts(&f, &ring, now);
			break;
		case 6:
			daemon_line(&f, &ring, now);
			break;
		case 7: {
			uint32_t n = 1 + take_u8(&f) % 16, i;

			for (i = 0; i < n; i++)
				region[take_u32(&f) % rsize] = take_u8(&f);
			break;
		}
		case 8:
			producer_export(&f, &ring);
			break;
		default:
			aqm_ring_set_attached(&ring, take_u8(&f) % 4 != 0);
			(void)aqm_ring_take_wakeup(&ring);
			aqm_ring_export_counters(&ring, now);
			break;
		}
		for (k = 0; k < NQUEUES; k++) {
			FUZZ_ASSERT(q[k].qlen_pkts[0] == store_len(&store[k], 0));
			FUZZ_ASSERT(q[k].qlen_pkts[1] == store_len(&store[k], 1));
			if ((why = ivl_check(&q[k], &shadow[k])) != NULL ||
			    (why = residual_check(&q[k], now)) != NULL) {
				fprintf(stderr, "queue %d: %s\n", k, why);
				FUZZ_ASSERT(why == NULL);
			}
		}
		/* The interval ring never holds more than it has room for. */
		FUZZ_ASSERT(ring.ivl_prod - ring.ivl_cons_cached <= IVL_ENTRIES);
		/*
		 * A heartbeat the producer never published is never alive,
		 * once the 50 us liveness cache has run out.
		 */
		if (ring.hdr->heartbeat_ns > now + AQM_NS_PER_S) {
			now += 100 * AQM_NS_PER_US;
			FUZZ_ASSERT(!aqm_ring_daemon_alive(&ring, now));
		}
	}
	/* The producer's geometry is its own, never read back. */
	FUZZ_ASSERT(ring.rec_entries == REC_ENTRIES &&
	    ring.vd_entries == VD_ENTRIES && ring.ivl_entries == IVL_ENTRIES &&
	    ring.nqueues == NQUEUES);
	FUZZ_ASSERT(ring.rec_mask == REC_ENTRIES - 1 &&
	    ring.vd_mask == VD_ENTRIES - 1 && ring.ivl_mask == IVL_ENTRIES - 1);
	free(region);
	free(priv);
	return (0);
}
