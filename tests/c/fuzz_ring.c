/*
 * Fuzz driver for the producer side of the ring.  Built with
 * AddressSanitizer and UndefinedBehaviorSanitizer: the region and the
 * producer's private tables are separate heap blocks of exactly their
 * size, so any out-of-bounds access the daemon could provoke is caught.
 * Between packet operations the "daemon" writes random bytes over the
 * whole region (geometry included, which the producer must never read
 * back) or plausible-but-wrong verdicts of every kind: per-packet,
 * policies and residuals (hostile knobs, stale, never-issued or other
 * queues' interval seqs, odd fields), and garbage ring indices.
 *
 * Invariants checked after every operation: actions in range, no mark on
 * Not-ECT, the core's backlog equals its FIFOs', every open interval's
 * counts close per class (arrivals = departures + drops + backlog change),
 * and a residual in effect lies within the AQMLLM_RES_* bounds, uses only
 * its algorithm's knobs and expires no later than RES_MAX_TTL_NS ahead.
 *
 *   fuzz_ring [-n iterations] [-s seed] [file ...]
 *
 * With files, their bytes are the random stream (corpus replay).
 * Exits non-zero on a violated invariant; sanitizers abort on UB.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aqm_core.h"
#include "../fuzz/ring_invariants.h"	/* shared with the libFuzzer target */

#define	NQUEUES	3
#define	LIMIT	400

static unsigned char *stream;
static size_t stream_len, stream_pos;
static struct aqm_prng gen;

static uint32_t
next_u32(void)
{
	uint32_t v = 0;
	int i;

	if (stream == NULL)
		return (aqm_prng_next(&gen));
	for (i = 0; i < 4; i++) {
		v = (v << 8) | (stream_len ? stream[stream_pos % stream_len] : 0);
		stream_pos++;
	}
	return (v ^ aqm_prng_next(&gen));
}

static uint64_t
next_u64(void)
{
	return (((uint64_t)next_u32() << 32) | next_u32());
}

static void
fail(const char *what, uint64_t iter)
{
	fprintf(stderr, "fuzz_ring: invariant violated at iteration %llu: %s\n",
	    (unsigned long long)iter, what);
	exit(1);
}

/* The daemon's worst: random bytes anywhere in the region. */
static void
scribble_bytes(unsigned char *region, size_t size)
{
	uint32_t n = 1 + next_u32() % 64, i;

	for (i = 0; i < n; i++)
		region[next_u64() % size] = (unsigned char)next_u32();
}

/* Plausible lies: verdicts near the live window, odd indices. */
static void
scribble_verdicts(struct aqm_ring *r, uint64_t now)
{
	struct aqmllm_region_hdr *h = r->hdr;
	uint32_t n = next_u32() % 32, i;
	uint64_t prod = h->vd_prod;

	for (i = 0; i < n; i++) {
		struct aqmllm_verdict *v = &r->vds[(prod + i) & r->vd_mask];

		v->kind = (uint8_t)(next_u32() % 5);
		v->action = (uint8_t)(next_u32() % 6);
		v->flags = (next_u32() % 8) == 0 ? (uint16_t)next_u32() : 0;
		v->seq = r->rec_prod - (next_u32() % (2 * r->rec_entries)) +
		    (next_u32() % 4);
		v->queue_id = next_u32() % (NQUEUES + 2);
		v->drop_prob = next_u32();
		v->mark_prob = next_u32();
		v->expiry_ns = now + (next_u64() % (20 * AQM_NS_PER_S)) -
		    AQM_NS_PER_S;
		if (v->kind == AQMLLM_VK_RESIDUAL && next_u32() % 4 != 0) {
			/* Mostly well-formed, answering a recent interval. */
			v->seq = r->ivl_prod - (next_u32() % (2 * r->ivl_entries)) +
			    (next_u32() % 3);
			v->queue_id = next_u32() % 8 == 0 ? next_u32() :
			    next_u32() % (NQUEUES + 1);
			if (next_u32() % 2) {
				v->action = 0;
				v->flags = 0;
			}
			if (next_u32() % 2) {	/* in bounds, or any bits */
				v->res_log2_mult[0] = (int16_t)(next_u32() % 1537) - 768;
				v->res_log2_mult[1] = (int16_t)(next_u32() % 1537) - 768;
				v->res_log2_target = (int16_t)(next_u32() % 769) - 512;
				v->res_step_us = (uint16_t)(next_u32() % 4001);
			}
			v->expiry_ns = now + next_u64() % (3 * AQM_NS_PER_S);
		}
	}
	switch (next_u32() % 8) {
	case 0:
		h->vd_prod = next_u64();	/* garbage index */
		break;
	case 1:
		h->vd_prod = prod - 1;		/* behind the consumer */
		break;
	default:
		h->vd_prod = prod + n;
		break;
	}
	switch (next_u32() % 8) {
	case 0:
		h->rec_cons = next_u64();
		break;
	case 1:
		h->rec_cons = r->rec_prod + 1 + next_u32() % 8;
		break;
	default:
		h->rec_cons = r->rec_prod - next_u32() % 8;
		break;
	}
	switch (next_u32() % 8) {
	case 0:
		h->ivl_cons = next_u64();
		break;
	case 1:
		h->ivl_cons = r->ivl_prod + 1 + next_u32() % 8;
		break;
	default:
		h->ivl_cons = r->ivl_prod - next_u32() % 4;
		break;
	}
	h->heartbeat_ns = (next_u32() % 4) == 0 ? next_u64() : now;
	h->daemon_state = (next_u32() % 8) == 0 ? next_u32() :
	    AQMLLM_DS_ATTACHED;
}

/*
 * Before an enqueue into a full FIFO, double its storage as a caller that
 * sizes by need would (half the time: else the full FIFO tail-drops); the
 * entries must move in order.
 */
static void
grow(struct aqm_queue *q, int cls, struct aqm_pkt *store[2], uint64_t iter)
{
	struct aqm_fifo *f = &q->fifo[cls];
	struct aqm_pkt *bigger, *old;
	uint64_t head_enq;

	if (!aqm_fifo_full(f) || f->cap >= LIMIT || next_u32() % 2 == 0)
		return;
	head_enq = aqm_fifo_len(f) ? aqm_fifo_head(f)->enq_ns : 0;
	bigger = malloc(2 * f->cap * sizeof(*bigger));
	if (bigger == NULL || aqm_queue_storage(q, cls, bigger, 2 * f->cap,
	    &old) != 0 || old != store[cls])
		fail("growing a FIFO", iter);
	if (aqm_fifo_len(f) && aqm_fifo_head(f)->enq_ns != head_enq)
		fail("growing a FIFO lost its order", iter);
	free(old);
	store[cls] = bigger;
}

/* After each operation, the interval tier's invariants of every queue. */
static void
check_queues(struct aqm_queue *q, struct ivl_shadow *sh, uint64_t now,
    uint64_t iter)
{
	const char *why;
	int k;

	for (k = 0; k < NQUEUES; k++) {
		if (q[k].qlen_pkts[0] != aqm_fifo_len(&q[k].fifo[0]) ||
		    q[k].qlen_pkts[1] != aqm_fifo_len(&q[k].fifo[1]))
			fail("core backlog differs from its FIFOs", iter);
		if ((why = ivl_check(&q[k], &sh[k])) != NULL ||
		    (why = residual_check(&q[k], now)) != NULL)
			fail(why, iter);
	}
}

int
main(int argc, char **argv)
{
	static struct aqm_pkt *store[NQUEUES][2];
	static struct ivl_shadow shadow[NQUEUES];
	struct aqm_pkt gone;
	struct aqm_queue q[NQUEUES];
	struct aqm_params par;
	struct aqm_ring ring;
	struct aqm_geom geom = { 256, 128, 64, NQUEUES };
	unsigned char *region;
	void *priv;
	uint64_t iters = 200000, seed = 1, it, now = AQM_NS_PER_S;
	uint64_t passed = 0, dropped = 0, marked = 0;
	size_t size, priv_size;
	int ch, k, cls;

	while ((ch = getopt(argc, argv, "n:s:")) != -1) {
		switch (ch) {
		case 'n':
			iters = strtoull(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: fuzz_ring [-n iters] [-s seed] "
			    "[file ...]\n");
			return (2);
		}
	}
	aqm_prng_seed(&gen, seed);
	for (; optind < argc; optind++) {
		FILE *f = fopen(argv[optind], "rb");
		long len;

		if (f == NULL || fseek(f, 0, SEEK_END) != 0 ||
		    (len = ftell(f)) < 0) {
			perror(argv[optind]);
			return (2);
		}
		rewind(f);
		stream = realloc(stream, stream_len + (size_t)len + 1);
		if (stream == NULL ||
		    fread(stream + stream_len, 1, (size_t)len, f) != (size_t)len)
			return (2);
		stream_len += (size_t)len;
		fclose(f);
	}

	size = aqm_region_size(&geom);
	priv_size = aqm_ring_private_size(&geom);
	region = malloc(size);
	priv = malloc(priv_size);
	if (region == NULL || priv == NULL)
		return (2);
	if (aqm_ring_init(&ring, region, size, &geom, priv, priv_size) != 0)
		fail("ring init", 0);
	/* Both exports, a short interval: many records and residuals. */
	if (aqm_ring_set_export(&ring, AQMLLM_EXPORT_BOTH,
	    AQMLLM_IVL_MIN_NS) != 0)
		fail("export", 0);
	aqm_ring_set_attached(&ring, 1);
	ring.hdr->daemon_state = AQMLLM_DS_ATTACHED;
	for (k = 0; k < NQUEUES; k++) {
		aqm_params_defaults(&par, (uint32_t)k % AQMLLM_FB_COUNT);
		par.limit_pkts = LIMIT;
		par.link_rate_bps = 100000000;
		if (aqm_queue_init(&q[k], (uint32_t)k, &par, seed + k, now) != 0)
			fail("queue init", 0);
		ivl_shadow_init(&shadow[k], &q[k]);
		/* Start small and grow: every move of the FIFOs is exercised. */
		for (cls = 0; cls < 2; cls++) {
			store[k][cls] = malloc(4 * sizeof(struct aqm_pkt));
			if (store[k][cls] == NULL || aqm_queue_storage(&q[k], cls,
			    store[k][cls], 4, NULL) != 0)
				fail("queue storage", 0);
		}
	}

	for (it = 0; it < iters; it++) {
		struct aqm_pkt p;
		int qi = (int)(next_u32() % NQUEUES), act;
		uint32_t op = next_u32() % 16;

		now += next_u32() % (2 * AQM_NS_PER_MS);
		if (op < 7) {
			memset(&p, 0, sizeof(p));
			p.len = 40 + next_u32() % 1461;
			p.ecn = (uint8_t)(next_u32() % 4);
			p.flow_hash = next_u32();
			p.item = &q[qi];
			grow(&q[qi], aqm_class_of(p.ecn), store[qi], it);
			act = aqm_enqueue(&q[qi], &ring, &p, now);
			if (act != AQMLLM_ACT_PASS && act != AQMLLM_ACT_DROP)
				fail("enqueue action", it);
		} else if (op < 13) {
			if ((cls = aqm_select(&q[qi], now)) < 0)
				continue;
			act = aqm_dequeue(&q[qi], &ring, cls, now, &p);
			if (p.item != &q[qi] || p.cls != cls)
				fail("dequeued a packet of another queue or class", it);
			if (act < AQMLLM_ACT_PASS || act > AQMLLM_ACT_MAX)
				fail("dequeue action out of range", it);
			if (act == AQMLLM_ACT_MARK && p.ecn == AQMLLM_ECN_NOT_ECT)
				fail("Not-ECT packet marked", it);
			passed += act == AQMLLM_ACT_PASS;
			dropped += act == AQMLLM_ACT_DROP;
			marked += act == AQMLLM_ACT_MARK;
		} else if (op < 15)
			scribble_verdicts(&ring, now);
		else
			scribble_bytes(region, size);
		if (next_u32() % 256 == 0 && aqm_ring_set_export(&ring,
		    1 + next_u32() % 3, next_u32() % 2 ? 0 : AQMLLM_IVL_MIN_NS *
		    (1 + next_u32() % 20)) != 0)
			fail("set_export refused a valid mode", it);
		if (next_u32() % 64 == 0) {
			aqm_ring_set_attached(&ring, (int)(next_u32() % 4 != 0));
			(void)aqm_ring_take_wakeup(&ring);
			aqm_ring_export_counters(&ring, now);
		}
		check_queues(q, shadow, now, it);
	}
	/* The geometry the producer uses must be its own, untouched copy. */
	if (ring.rec_entries != geom.rec_entries ||
	    ring.vd_entries != geom.vd_entries ||
	    ring.ivl_entries != geom.ivl_entries || ring.nqueues != NQUEUES)
		fail("private geometry changed", iters);
	printf("iterations: %llu\npassed: %llu\ndropped: %llu\nmarked: %llu\n"
	    "records: %llu\nrejected_index: %llu\nrejected_seq: %llu\n"
	    "rejected_kind: %llu\nrejected_action: %llu\n"
	    "interval_records: %llu\nresiduals_accepted: %llu\n"
	    "residuals_clamped: %llu\nresiduals_rejected: %llu\n"
	    "residuals_ignored: %llu\nresiduals_expired: %llu\n",
	    (unsigned long long)iters, (unsigned long long)passed,
	    (unsigned long long)dropped, (unsigned long long)marked,
	    (unsigned long long)ring.cnt[AQMLLM_CNT_RECORDS],
	    (unsigned long long)ring.cnt[AQMLLM_CNT_REJ_INDEX],
	    (unsigned long long)ring.cnt[AQMLLM_CNT_REJ_SEQ],
	    (unsigned long long)ring.cnt[AQMLLM_CNT_REJ_KIND],
	    (unsigned long long)ring.cnt[AQMLLM_CNT_REJ_ACTION],
	    (unsigned long long)ring.cnt[AQMLLM_CNT_IVL_RECORDS],
	    (unsigned long long)ring.cnt[AQMLLM_CNT_RES_ACCEPTED],
	    (unsigned long long)(ring.cnt[AQMLLM_CNT_RES_CLAMP_MULT_C] +
	    ring.cnt[AQMLLM_CNT_RES_CLAMP_MULT_L] +
	    ring.cnt[AQMLLM_CNT_RES_CLAMP_STEP] +
	    ring.cnt[AQMLLM_CNT_RES_CLAMP_TARGET] +
	    ring.cnt[AQMLLM_CNT_RES_CLAMP_EXPIRY]),
	    (unsigned long long)(ring.cnt[AQMLLM_CNT_RES_REJ_SEQ] +
	    ring.cnt[AQMLLM_CNT_RES_REJ_STALE] +
	    ring.cnt[AQMLLM_CNT_RES_REJ_QUEUE] +
	    ring.cnt[AQMLLM_CNT_RES_REJ_FIELD]),
	    (unsigned long long)ring.cnt[AQMLLM_CNT_RES_IGNORED],
	    (unsigned long long)ring.cnt[AQMLLM_CNT_RES_EXPIRED]);
	for (k = 0; k < NQUEUES; k++) {
		while (aqm_flush(&q[k], &ring, &gone))
			;
		if (q[k].qlen_pkts[0] + q[k].qlen_pkts[1] != 0)
			fail("a flushed queue keeps a backlog", iters);
		free(store[k][0]);
		free(store[k][1]);
	}
	free(region);
	free(priv);
	free(stream);
	return (0);
}
