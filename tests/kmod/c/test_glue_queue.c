/*
 * The queues' FIFO storage grown by need (llm_fifo.c, issue 17 finding 2)
 * against an allocator that fails on demand and accounts for every byte,
 * and dummynet's admission rules restated for the scheduler (llm_admit.c).
 * Built with ASan and UBSan: a leak or a stray access fails the run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm_glue.h"
#include "test_check.h"

/* ---- an allocator that fails on demand ---- */

static struct tmem {
	uint64_t	allocs, frees;
	size_t		live;		/* bytes handed out, not yet freed */
	long		fail_at;	/* the n-th alloc (from 0) fails; -1 none */
	int		fail_all;
	long		n;
	int		bad_free;	/* a free of the wrong size */
} tm;

struct tblock {
	size_t	bytes;
};

static void *
t_alloc(size_t bytes, void *ctx)
{
	struct tblock *b;

	(void)ctx;
	if (tm.fail_all || tm.n++ == tm.fail_at)
		return (NULL);
	b = malloc(sizeof(*b) + bytes);
	if (b == NULL)
		return (NULL);
	b->bytes = bytes;
	tm.allocs++;
	tm.live += bytes;
	return (b + 1);
}

static void
t_free(void *p, size_t bytes, void *ctx)
{
	struct tblock *b = (struct tblock *)p - 1;

	(void)ctx;
	tm.bad_free += b->bytes != bytes;
	tm.frees++;
	tm.live -= b->bytes;
	free(b);
}

static const struct llm_mem mem = { t_alloc, t_free, NULL };

static void
tm_reset(void)
{
	memset(&tm, 0, sizeof(tm));
	tm.fail_at = -1;
}

static void
queue_new(struct aqm_queue *q, uint32_t limit)
{
	struct aqm_params par;

	/* CoDel decides at dequeue only: every enqueue below is the FIFO's. */
	aqm_params_defaults(&par, AQMLLM_FB_CODEL);
	par.limit_pkts = limit;
	CHECK(aqm_queue_init(q, 0, &par, 1, 1000) == 0);
}

/* One arrival as the glue makes it: room by need, then the core. */
static int
arrive(struct aqm_queue *q, uint8_t ecn, uintptr_t tag, int *nomem)
{
	struct aqm_pkt p;

	memset(&p, 0, sizeof(p));
	p.len = 1000;
	p.ecn = ecn;
	p.item = (void *)tag;
	*nomem = llm_fifo_make_room(q, aqm_class_of(ecn), &mem) != 0;
	return (aqm_enqueue(q, NULL, &p, 1000));
}

static int
backlog_matches(const struct aqm_queue *q)
{
	return (q->qlen_pkts[0] == aqm_fifo_len(&q->fifo[0]) &&
	    q->qlen_pkts[1] == aqm_fifo_len(&q->fifo[1]));
}

static void
test_next_cap(void)
{
	CHECK(llm_fifo_next_cap(0, 100) == LLM_FIFO_MIN);
	CHECK(llm_fifo_next_cap(64, 100) == 128);
	CHECK(llm_fifo_next_cap(128, 100) == 0);	/* never above the need */
	CHECK(llm_fifo_next_cap(0, 10) == 16);		/* a small limit's cap */
	CHECK(llm_fifo_next_cap(16, 10) == 0);
	CHECK(llm_fifo_next_cap(0, 1) == 1);
	CHECK(llm_fifo_next_cap(1, 1) == 0);
	CHECK(llm_fifo_next_cap(0, 64) == 64 && llm_fifo_next_cap(64, 64) == 0);
	CHECK(llm_fifo_next_cap(1U << 19, 1U << 20) == 1U << 20);
	CHECK(llm_fifo_next_cap(1U << 20, 1U << 20) == 0);
	CHECK(llm_fifo_next_cap(1U << 20, 0xffffffffU) == 0);	/* the core's cap */
}

/* A class starts empty, doubles when full, and keeps its packets in order. */
static void
test_growth_keeps_order(void)
{
	struct aqm_queue q;
	struct aqm_pkt out;
	uint32_t caps[5] = { 0 }, ncap = 0, want;
	uintptr_t i;
	int nomem, ok = 1;

	tm_reset();
	queue_new(&q, 1000);
	CHECK(q.fifo[0].cap == 0 && q.fifo[1].cap == 0 && tm.allocs == 0);
	for (i = 1; i <= 300; i++) {
		ok &= arrive(&q, AQMLLM_ECN_NOT_ECT, i, &nomem) ==
		    AQMLLM_ACT_PASS && !nomem;
		if (ncap == 0 || caps[ncap - 1] != q.fifo[AQMLLM_CLASS_C].cap)
			caps[ncap < 5 ? ncap++ : 4] = q.fifo[AQMLLM_CLASS_C].cap;
	}
	CHECK(ok);
	CHECK(ncap == 4 && caps[0] == 64 && caps[1] == 128 && caps[2] == 256 &&
	    caps[3] == 512);
	CHECK(q.fifo[AQMLLM_CLASS_L].cap == 0);		/* no L packet: no L storage */
	CHECK(tm.live == llm_fifo_bytes(&q) && tm.live == 512 * sizeof(out));
	CHECK(tm.allocs == 4 && tm.frees == 3 && !tm.bad_free);
	CHECK(backlog_matches(&q));
	for (want = 1, ok = 1; aqm_flush(&q, NULL, &out); want++)
		ok &= (uintptr_t)out.item == want;
	CHECK(ok && want == 301);
	llm_fifo_release(&q, &mem);
	CHECK(tm.live == 0 && tm.allocs == tm.frees && llm_fifo_bytes(&q) == 0);
}

/* At the limit no storage is added: the core drops on the limit first. */
static void
test_no_growth_past_the_need(void)
{
	struct aqm_queue q;
	struct aqm_pkt out;
	uintptr_t i;
	int nomem, ok = 1;

	tm_reset();
	queue_new(&q, 100);
	for (i = 0; i < 100; i++)
		ok &= arrive(&q, AQMLLM_ECN_NOT_ECT, i, &nomem) ==
		    AQMLLM_ACT_PASS;
	CHECK(ok && q.fifo[AQMLLM_CLASS_C].cap == 128);
	CHECK(arrive(&q, AQMLLM_ECN_NOT_ECT, 100, &nomem) == AQMLLM_ACT_DROP &&
	    !nomem && q.tail_drops == 1);
	CHECK(q.fifo[AQMLLM_CLASS_C].cap == 128 && tm.allocs == 2);
	while (aqm_flush(&q, NULL, &out))
		;
	llm_fifo_release(&q, &mem);

	/* 64 L (full at 64) and 36 C: the limit, so L does not grow. */
	tm_reset();
	queue_new(&q, 100);
	for (i = 0; i < 64; i++)
		(void)arrive(&q, AQMLLM_ECN_ECT1, i, &nomem);
	for (i = 0; i < 36; i++)
		(void)arrive(&q, AQMLLM_ECN_ECT0, i, &nomem);
	CHECK(q.qlen_pkts[0] + q.qlen_pkts[1] == 100);
	CHECK(arrive(&q, AQMLLM_ECN_ECT1, 0, &nomem) == AQMLLM_ACT_DROP &&
	    !nomem);
	CHECK(q.fifo[AQMLLM_CLASS_L].cap == 64 && q.fifo[AQMLLM_CLASS_C].cap == 64);
	CHECK(tm.live == 128 * sizeof(out));
	while (aqm_flush(&q, NULL, &out))
		;
	llm_fifo_release(&q, &mem);
	CHECK(tm.live == 0 && tm.allocs == tm.frees);
}

/* No memory: a tail drop the core counts, the queue intact, nothing lost. */
static void
test_no_memory_is_a_tail_drop(void)
{
	struct aqm_queue q;
	struct aqm_pkt out;
	uintptr_t i, want;
	int nomem, ok = 1;

	tm_reset();
	queue_new(&q, 1000);
	tm.fail_all = 1;
	CHECK(arrive(&q, AQMLLM_ECN_ECT1, 1, &nomem) == AQMLLM_ACT_DROP && nomem);
	CHECK(q.tail_drops == 1 && q.by_src[AQM_SRC_LIMIT] == 1 &&
	    q.enqueued == 0 && backlog_matches(&q) && tm.live == 0);
	tm.fail_all = 0;
	for (i = 1; i <= 64; i++)
		ok &= arrive(&q, AQMLLM_ECN_ECT1, i, &nomem) == AQMLLM_ACT_PASS;
	CHECK(ok && q.fifo[AQMLLM_CLASS_L].cap == 64);
	tm.fail_all = 1;		/* the 65th needs 128 slots: none */
	CHECK(arrive(&q, AQMLLM_ECN_ECT1, 65, &nomem) == AQMLLM_ACT_DROP && nomem);
	CHECK(q.tail_drops == 2 && q.fifo[AQMLLM_CLASS_L].cap == 64 &&
	    q.qlen_pkts[AQMLLM_CLASS_L] == 64 && backlog_matches(&q));
	/* Classic traffic still has no storage, and gets none. */
	CHECK(arrive(&q, AQMLLM_ECN_NOT_ECT, 66, &nomem) == AQMLLM_ACT_DROP &&
	    nomem && q.tail_drops == 3);
	tm.fail_all = 0;
	CHECK(arrive(&q, AQMLLM_ECN_ECT1, 67, &nomem) == AQMLLM_ACT_PASS &&
	    !nomem && q.fifo[AQMLLM_CLASS_L].cap == 128);
	for (want = 1, ok = 1; aqm_flush(&q, NULL, &out); want++)
		ok &= (uintptr_t)out.item == (want == 65 ? 67 : want);
	CHECK(ok && want == 66);
	llm_fifo_release(&q, &mem);
	CHECK(tm.live == 0 && tm.allocs == tm.frees && !tm.bad_free);
}

/*
 * Every allocation failing in turn, over a mixed run of both classes up
 * to the limit and down again: the backlog always matches the FIFOs,
 * each failure is exactly one more tail drop, storage never exceeds
 * twice a class's peak backlog (or the minimum) nor the limit's cap, and
 * nothing leaks.
 */
static void
test_every_failure_in_turn(void)
{
	struct aqm_queue q;
	struct aqm_pkt out;
	struct aqm_prng rng;
	uint32_t peak[2], r, step, k;
	uint64_t nomems, clean_allocs = 0;
	long fail;
	int nomem, act, ok, cls;

	/* First without a failure, to learn how many allocations the run makes. */
	for (fail = -1; fail < (long)clean_allocs; fail++) {
		tm_reset();
		tm.fail_at = fail;
		queue_new(&q, 300);
		aqm_prng_seed(&rng, 7);
		peak[0] = peak[1] = 0;
		nomems = 0;
		ok = 1;
		for (step = 0; step < 4000; step++) {
			r = aqm_prng_next(&rng);
			if ((r & 3) != 0 && step % 2000 < 1400) {
				uint64_t before = q.tail_drops;

				act = arrive(&q, (uint8_t)((r >> 2) & 3), step,
				    &nomem);
				nomems += nomem;
				ok &= !nomem || (act == AQMLLM_ACT_DROP &&
				    q.tail_drops == before + 1);
			} else if ((cls = aqm_select(&q, 1000)) >= 0)
				(void)aqm_dequeue(&q, NULL, cls, 1000, &out);
			for (k = 0; k < 2; k++) {
				uint32_t c = q.fifo[k].cap;

				if (q.qlen_pkts[k] > peak[k])
					peak[k] = q.qlen_pkts[k];
				ok &= c <= aqm_fifo_cap(300) &&
				    (c <= LLM_FIFO_MIN || c < 2 * peak[k]);
			}
			ok &= backlog_matches(&q) &&
			    tm.live == llm_fifo_bytes(&q);
		}
		CHECK(ok);
		CHECK(fail < 0 ? nomems == 0 : nomems >= 1);
		if (fail < 0)
			clean_allocs = tm.allocs;
		while (aqm_flush(&q, NULL, &out))
			;
		llm_fifo_release(&q, &mem);
		CHECK(tm.live == 0 && tm.allocs == tm.frees && !tm.bad_free);
	}
	CHECK(clean_allocs >= 6);	/* both classes grew at least twice */
}

/* ---- dummynet's admission rules ---- */

struct seq {
	const uint32_t	*v;
	int		n, i;
};

static uint32_t
seq_next(void *ctx)
{
	struct seq *s = ctx;

	return (s->v[s->i++ % s->n]);
}

static uint32_t
prng31(void *ctx)
{
	return (aqm_prng_next(ctx) & 0x7fffffff);
}

#define	P(x)	((int32_t)((x) * 2147483647.0))

static double
loss_rate(const int32_t plr[4], int n)
{
	struct aqm_prng rng;
	int32_t state = LLM_PL_GOOD;
	int i, lost = 0;

	aqm_prng_seed(&rng, 11);
	for (i = 0; i < n; i++)
		lost += llm_plr_lost(plr, &state, prng31, &rng);
	return ((double)lost / n);
}

static void
test_plr(void)
{
	static const uint32_t hi[] = { 0x7ffffffe }, top[] = { 0x7fffffff };
	const int32_t none[4] = { 0, 0, 0, 0 }, all[4] = { P(1), 0, 0, 0 };
	const int32_t tenth[4] = { P(0.1), 0, 0, 0 };
	const int32_t to_bad[4] = { 0, P(1), P(1), 0 };
	const int32_t ge[4] = { 0, P(0.01), P(1), P(0.1) };
	struct seq s = { hi, 1, 0 };
	int32_t state = LLM_PL_GOOD;
	double rate;

	CHECK(!llm_plr_lost(none, &state, seq_next, &s) && s.i == 0);
	CHECK(llm_plr_lost(all, &state, seq_next, &s));		/* as random() < plr */
	s.v = top;
	CHECK(!llm_plr_lost(all, &state, seq_next, &s));
	rate = loss_rate(tenth, 200000);
	CHECK(rate > 0.095 && rate < 0.105);
	/* Good to bad at once; nothing lost in the good state, all in the bad. */
	s.v = hi;
	CHECK(!llm_plr_lost(to_bad, &state, seq_next, &s) && state == LLM_PL_BAD);
	CHECK(llm_plr_lost(to_bad, &state, seq_next, &s) && state == LLM_PL_BAD);
	/* Stationary loss of the two-state channel: p(G->B) / (p(G->B) + p(B->G)). */
	rate = loss_rate(ge, 400000);
	CHECK(rate > 0.01 / 0.11 - 0.01 && rate < 0.01 / 0.11 + 0.01);
}

static void
test_qsize(void)
{
	CHECK(!llm_qsize_full(50, 0, 49, 0, 1500));
	CHECK(llm_qsize_full(50, 0, 50, 0, 1500));
	CHECK(!llm_qsize_full(3000, 1, 1000, 1500, 1500));	/* exactly full */
	CHECK(llm_qsize_full(3000, 1, 1, 1500, 1501));
	CHECK(llm_qsize_full(1500, 1, 0, 0, 1501));	/* never above the size */
	CHECK(!llm_qsize_full(0, 0, 1U << 31, 0, 1500));	/* unbounded */
	CHECK(!llm_qsize_full(-1, 1, 0, 1ULL << 40, 1500));
	CHECK(llm_qsize_full(0x7fffffff, 1, 0, 0x7fffffffULL, 1));
}

void
test_glue_queue(void)
{
	test_next_cap();
	test_growth_keeps_order();
	test_no_growth_past_the_need();
	test_no_memory_is_a_tail_drop();
	test_every_failure_in_turn();
	test_plr();
	test_qsize();
}
