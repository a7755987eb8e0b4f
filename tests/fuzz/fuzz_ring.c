/*
 * libFuzzer target: the daemon-written part of the shared region, and the
 * FreeBSD glue's packet path around the core.
 *
 * The input is a script: packets arrive and leave three queues (one per
 * fallback, each with a limit, queue size and loss rate of the input's
 * choosing), and between them the "daemon" writes verdict slots (packet
 * verdicts, queue policies and residuals on the fallback, near the live
 * window or anywhere), the indices it owns (the record and interval rings'
 * consumer indices, the verdict ring's producer index), its liveness
 * line, or raw bytes anywhere in the region, geometry included; the
 * producer's export mode and interval length change on the way.  Packets
 * come in as the llm scheduler takes them: dummynet's loss and queue size
 * (llm_admit.c), FIFO room grown by need from an allocator that fails
 * where the input says (llm_fifo.c), then the core.  The region, the
 * producer's private tables and every FIFO are separate heap blocks of
 * exactly their size, so ASan catches any access the daemon could steer
 * out of bounds; the invariants below (and ring_invariants.h: intervals
 * account for every packet, residuals in effect stay in their bounds) are
 * what the kernel must keep whatever the daemon writes.
 *
 * Built with FUZZ_STANDALONE (fuzz_standalone.c), the same target runs
 * without libFuzzer and reports what its inputs exercised.
 */
#include <stdlib.h>
#include <string.h>

#include "aqm_core.h"
#include "fuzz_input.h"
#include "llm_glue.h"
#include "ring_invariants.h"

#define	NQUEUES		3
#define	REC_ENTRIES	256
#define	VD_ENTRIES	128
#define	IVL_ENTRIES	64	/* the smallest ring: it fills, and wraps */
#define	LIMIT_MAX	1024	/* FIFOs grow up to 1024 slots a class */

/*
 * ---- packet glue ----
 * The caller's side of the core's packet API, as the kernel's llm_pktq.c
 * has it: FIFO storage from an allocator (here one that fails on the
 * input's pattern and accounts for every byte), dummynet's admission, and
 * per class the packets that went in, so that order and backlog can be
 * checked against the core.
 */
static struct fmem {
	uint32_t	fail_mask;	/* allocation k fails if bit k % 32 */
	uint32_t	n;
	size_t		live;
	uint64_t	allocs, frees;
} fm;

static void *
f_alloc(size_t bytes, void *ctx)
{
	size_t *b;

	(void)ctx;
	if (fm.fail_mask & (1U << (fm.n++ % 32)))
		return (NULL);
	b = malloc(sizeof(*b) + bytes);
	FUZZ_ASSERT(b != NULL);
	*b = bytes;
	fm.live += bytes;
	fm.allocs++;
	return (b + 1);
}

static void
f_free(void *p, size_t bytes, void *ctx)
{
	size_t *b = (size_t *)p - 1;

	(void)ctx;
	FUZZ_ASSERT(*b == bytes);	/* freed with the size it was given */
	fm.live -= bytes;
	fm.frees++;
	free(b);
}

static const struct llm_mem fmem_ops = { f_alloc, f_free, NULL };

struct store {
	uint32_t	len[2];		/* in the core, per class */
	uint32_t	peak[2];
	uint64_t	next_seq;	/* tag of the next arrival */
	uint64_t	last_out[2];	/* tag of the last departure, per class */
	int		qsize, in_bytes;	/* the flowset's, as dummynet's */
	int32_t		plr[4], pl_state;
	struct aqm_prng	rng;		/* random(9) for the loss rate */
};

/* Totals over every input, for the standalone driver's report. */
static struct fuzz_ring_totals {
	uint64_t	inputs, arrivals, lost, full, nomem, passed, dropped;
	uint64_t	marked, records, rej_index, rej_seq, growths;
	uint64_t	ivl_records, res_accepted, res_clamped, res_rejected;
	uint64_t	res_ignored, res_expired;
} tot;

static uint32_t
store_rnd(void *ctx)
{
	return (aqm_prng_next(ctx) & 0x7fffffff);
}

static void
store_attach(struct fin *f, struct store *s)
{
	int k;

	memset(s, 0, sizeof(*s));
	s->qsize = take_u16(f) % 2048;		/* 0: unbounded */
	s->in_bytes = take_u8(f) & 1;
	if (s->in_bytes)
		s->qsize *= 64;
	if (take_u8(f) & 1)
		for (k = 0; k < 4; k++)
			s->plr[k] = (int32_t)(take_u32(f) & 0x7fffffff);
	aqm_prng_seed(&s->rng, take_u64(f));
}

static uintptr_t
tag_of(int qi, uint64_t seq)
{
	return ((uintptr_t)(seq << 2 | (uint64_t)qi));
}

/* A packet arrives: the action, or -1 when dummynet refused it first. */
static int
packet_in(struct store *s, int qi, struct aqm_queue *q, struct aqm_ring *r,
    struct aqm_pkt *p, uint64_t now)
{
	uint64_t drops_before = q->tail_drops;
	uint32_t cap_before;
	int act, cls, nomem;

	tot.arrivals++;
	if (llm_plr_lost(s->plr, &s->pl_state, store_rnd, &s->rng)) {
		FUZZ_ASSERT(s->plr[0] != 0 || s->plr[1] != 0);
		tot.lost++;
		return (-1);
	}
	if (llm_qsize_full(s->qsize, s->in_bytes,
	    q->qlen_pkts[0] + q->qlen_pkts[1],
	    (uint64_t)q->qlen_bytes[0] + q->qlen_bytes[1], p->len)) {
		tot.full++;
		return (-1);
	}
	cls = aqm_class_of(p->ecn);
	cap_before = q->fifo[cls].cap;
	nomem = llm_fifo_make_room(q, cls, &fmem_ops) != 0;
	tot.nomem += nomem;
	tot.growths += q->fifo[cls].cap != cap_before;
	p->item = (void *)tag_of(qi, ++s->next_seq);
	act = aqm_enqueue(q, r, p, now);
	/* No memory is a tail drop the core counts, never a packet queued. */
	FUZZ_ASSERT(!nomem || (act == AQMLLM_ACT_DROP &&
	    q->tail_drops == drops_before + 1));
	if (act == AQMLLM_ACT_PASS) {
		FUZZ_ASSERT(p->cls == cls && s->len[cls] < LIMIT_MAX);
		s->len[cls]++;
		if (s->len[cls] > s->peak[cls])
			s->peak[cls] = s->len[cls];
		/* dummynet's queue size is never exceeded */
		FUZZ_ASSERT(s->qsize <= 0 || (s->in_bytes ?
		    (uint64_t)q->qlen_bytes[0] + q->qlen_bytes[1] <=
		    (uint64_t)s->qsize :
		    q->qlen_pkts[0] + q->qlen_pkts[1] <= (uint32_t)s->qsize));
	}
	return (act);
}

/* The next packet leaves: its action, or -1 when both classes are empty. */
static int
packet_out(struct store *s, int qi, struct aqm_queue *q, struct aqm_ring *r,
    struct aqm_pkt *out, uint64_t now)
{
	uintptr_t tag;
	int cls, act;

	cls = aqm_select(q, now);
	if (cls < 0) {
		FUZZ_ASSERT(s->len[0] == 0 && s->len[1] == 0);
		return (-1);
	}
	FUZZ_ASSERT(cls < 2 && s->len[cls] > 0);
	s->len[cls]--;
	act = aqm_dequeue(q, r, cls, now, out);
	/* This queue's packet, of this class, in arrival order (growth moves them). */
	tag = (uintptr_t)out->item;
	FUZZ_ASSERT((int)(tag & 3) == qi && out->cls == cls);
	FUZZ_ASSERT((tag >> 2) > s->last_out[cls]);
	s->last_out[cls] = tag >> 2;
	return (act);
}

static uint32_t
store_len(const struct store *s, int cls)
{
	return (s->len[cls]);
}

/* Storage follows the backlog: within twice a class's peak, and the cap. */
static void
store_check(const struct store *s, const struct aqm_queue *q)
{
	int k;

	for (k = 0; k < 2; k++) {
		uint32_t c = q->fifo[k].cap;

		FUZZ_ASSERT(c <= aqm_fifo_cap(q->par.limit_pkts));
		FUZZ_ASSERT(c <= LLM_FIFO_MIN || c <= 2 * s->peak[k]);
		FUZZ_ASSERT(aqm_fifo_len(&q->fifo[k]) == q->qlen_pkts[k]);
	}
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

/* What one input's ring counted, into the standalone driver's totals. */
static void
totals_add(const struct aqm_ring *r)
{
	const uint64_t *c = r->cnt;

	tot.records += c[AQMLLM_CNT_RECORDS];
	tot.rej_index += c[AQMLLM_CNT_REJ_INDEX];
	tot.rej_seq += c[AQMLLM_CNT_REJ_SEQ];
	tot.ivl_records += c[AQMLLM_CNT_IVL_RECORDS];
	tot.res_accepted += c[AQMLLM_CNT_RES_ACCEPTED];
	tot.res_clamped += c[AQMLLM_CNT_RES_CLAMP_MULT_C] +
	    c[AQMLLM_CNT_RES_CLAMP_MULT_L] + c[AQMLLM_CNT_RES_CLAMP_STEP] +
	    c[AQMLLM_CNT_RES_CLAMP_TARGET] + c[AQMLLM_CNT_RES_CLAMP_EXPIRY];
	tot.res_rejected += c[AQMLLM_CNT_RES_REJ_SEQ] +
	    c[AQMLLM_CNT_RES_REJ_STALE] + c[AQMLLM_CNT_RES_REJ_QUEUE] +
	    c[AQMLLM_CNT_RES_REJ_FIELD];
	tot.res_ignored += c[AQMLLM_CNT_RES_IGNORED];
	tot.res_expired += c[AQMLLM_CNT_RES_EXPIRED];
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
	size_t rsize, psize, held;
	const char *why;
	int k, steps = 0;

	memset(&fm, 0, sizeof(fm));
	fm.fail_mask = take_u8(&f) & 1 ? take_u32(&f) : 0;
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
		par.limit_pkts = 2 + take_u16(&f) % (LIMIT_MAX - 1);
		par.link_rate_bps = 10000000ULL << (take_u8(&f) % 8);
		FUZZ_ASSERT(aqm_queue_init(&q[k], (uint32_t)k, &par,
		    take_u64(&f), now) == 0);
		store_attach(&f, &store[k]);
		ivl_shadow_init(&shadow[k], &q[k]);
	}
	tot.inputs++;

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
			act = packet_in(&store[qi], qi, &q[qi], &ring, &p, now);
			FUZZ_ASSERT(act == -1 || act == AQMLLM_ACT_PASS ||
			    act == AQMLLM_ACT_DROP);
			break;
		case 3: case 4:
			act = packet_out(&store[qi], qi, &q[qi], &ring, &p, now);
			if (act == -1)
				break;
			FUZZ_ASSERT(act >= AQMLLM_ACT_PASS &&
			    act <= AQMLLM_ACT_MAX);
			FUZZ_ASSERT(!(act == AQMLLM_ACT_MARK &&
			    p.ecn == AQMLLM_ECN_NOT_ECT));
			tot.passed += act == AQMLLM_ACT_PASS;
			tot.dropped += act == AQMLLM_ACT_DROP;
			tot.marked += act == AQMLLM_ACT_MARK;
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
		for (k = 0, held = 0; k < NQUEUES; k++) {
			FUZZ_ASSERT(q[k].qlen_pkts[0] == store_len(&store[k], 0));
			FUZZ_ASSERT(q[k].qlen_pkts[1] == store_len(&store[k], 1));
			store_check(&store[k], &q[k]);
			held += llm_fifo_bytes(&q[k]);
			if ((why = ivl_check(&q[k], &shadow[k])) != NULL ||
			    (why = residual_check(&q[k], now)) != NULL) {
				fprintf(stderr, "queue %d: %s\n", k, why);
				FUZZ_ASSERT(why == NULL);
			}
		}
		FUZZ_ASSERT(held == fm.live);
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
	totals_add(&ring);
	/* Teardown as the kernel's: flush undecided, free the storage. */
	for (k = 0; k < NQUEUES; k++) {
		struct aqm_pkt gone;

		while (aqm_flush(&q[k], &ring, &gone))
			FUZZ_ASSERT(((uintptr_t)gone.item & 3) == (uintptr_t)k);
		FUZZ_ASSERT(q[k].qlen_pkts[0] + q[k].qlen_pkts[1] == 0);
		llm_fifo_release(&q[k], &fmem_ops);
	}
	FUZZ_ASSERT(fm.live == 0 && fm.allocs == fm.frees);
	free(region);
	free(priv);
	return (0);
}

#ifdef FUZZ_STANDALONE
void	fuzz_report(FILE *out);

void
fuzz_report(FILE *out)
{
	fprintf(out, "inputs: %llu\narrivals: %llu\nlost_plr: %llu\n"
	    "refused_qsize: %llu\nnomem_drops: %llu\ngrowths: %llu\n"
	    "passed: %llu\ndropped: %llu\nmarked: %llu\nrecords: %llu\n"
	    "rejected_index: %llu\nrejected_seq: %llu\n"
	    "interval_records: %llu\nresiduals_accepted: %llu\n"
	    "residuals_clamped: %llu\nresiduals_rejected: %llu\n"
	    "residuals_ignored: %llu\nresiduals_expired: %llu\n",
	    (unsigned long long)tot.inputs, (unsigned long long)tot.arrivals,
	    (unsigned long long)tot.lost, (unsigned long long)tot.full,
	    (unsigned long long)tot.nomem, (unsigned long long)tot.growths,
	    (unsigned long long)tot.passed, (unsigned long long)tot.dropped,
	    (unsigned long long)tot.marked, (unsigned long long)tot.records,
	    (unsigned long long)tot.rej_index, (unsigned long long)tot.rej_seq,
	    (unsigned long long)tot.ivl_records,
	    (unsigned long long)tot.res_accepted,
	    (unsigned long long)tot.res_clamped,
	    (unsigned long long)tot.res_rejected,
	    (unsigned long long)tot.res_ignored,
	    (unsigned long long)tot.res_expired);
}
#endif
