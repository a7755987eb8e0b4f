/*
 * Cost per packet of enqueue + dequeue in the portable core, for each
 * fallback AQM, without and with a daemon attached.  "Attached" means a
 * second thread plays the daemon: it consumes every record and answers
 * each with a verdict, so the producer pays for record production,
 * verdict draining and the cache-line traffic with the other core.
 *
 * Prints one `name: value` line per figure: the median over repeated
 * runs of nanoseconds per packet (one enqueue plus one dequeue).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aqm_core.h"

#define	RUNS		7
#define	PACKETS		2000000ULL
#define	BACKLOG		64
#define	REC_ENTRIES	4096
#define	VD_ENTRIES	4096


struct daemon_arg {
	struct aqm_ring *r;
	volatile int stop;
	uint64_t verdicts;
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/*
 * The daemon thread: poll every microsecond (as a busy-polling aqmllmd
 * does), answer every record with PASS, echo the producer clock.
 */
static void *
daemon_main(void *arg)
{
	struct daemon_arg *d = arg;
	struct aqmllm_region_hdr *h = d->r->hdr;
	struct aqmllm_record *recs = d->r->recs;
	struct aqmllm_verdict *vds = d->r->vds;
	uint64_t cons = 0, vprod = 0, clock, hb = 0;

	while (!d->stop) {
		uint64_t prod = __atomic_load_n(&h->rec_prod, __ATOMIC_ACQUIRE);
		uint64_t vcons = __atomic_load_n(&h->vd_cons, __ATOMIC_ACQUIRE);
		uint64_t until = mono_ns() + 1000;

		clock = __atomic_load_n(&h->producer_clock_ns, __ATOMIC_RELAXED);
		if (clock != hb)
			h->heartbeat_ns = hb = clock;
		while (cons < prod && vprod - vcons < VD_ENTRIES) {
			struct aqmllm_record *rec = &recs[cons & (REC_ENTRIES - 1)];
			struct aqmllm_verdict *v = &vds[vprod & (VD_ENTRIES - 1)];

			v->seq = rec->seq;
			v->kind = AQMLLM_VK_PACKET;
			v->action = AQMLLM_ACT_PASS;
			v->flags = 0;
			cons++;
			vprod++;
		}
		__atomic_store_n(&h->rec_cons, cons, __ATOMIC_RELEASE);
		__atomic_store_n(&h->vd_prod, vprod, __ATOMIC_RELEASE);
		while (mono_ns() < until)
			;
	}
	d->verdicts = vprod;
	return (NULL);
}

/* BENCH_DEBUG=1: where the verdicts went (late ones explain a low share). */
static void
print_counters(const struct aqm_ring *r)
{
	fprintf(stderr, "records %llu verdicts_in %llu overflows %llu late %llu "
	    "bad_seq %llu stale_daemon %llu fallback %llu\n",
	    (unsigned long long)r->cnt[AQMLLM_CNT_RECORDS],
	    (unsigned long long)r->cnt[AQMLLM_CNT_VERDICTS_IN],
	    (unsigned long long)r->cnt[AQMLLM_CNT_OVERFLOWS],
	    (unsigned long long)r->cnt[AQMLLM_CNT_REJ_LATE],
	    (unsigned long long)r->cnt[AQMLLM_CNT_REJ_SEQ],
	    (unsigned long long)r->cnt[AQMLLM_CNT_STALE_DAEMON],
	    (unsigned long long)r->cnt[AQMLLM_CNT_SRC_FALLBACK]);
}

/* One in, one out: the caller's side of a queue that keeps a backlog. */
static void
offer(struct aqm_queue *q, struct aqm_ring *r, struct aqm_pkt *p, uint64_t now)
{
	(void)aqm_enqueue(q, r, p, now);
}

static void
take(struct aqm_queue *q, struct aqm_ring *r, uint64_t now)
{
	struct aqm_pkt out;
	int cls = aqm_select(q, now);

	if (cls >= 0)
		(void)aqm_dequeue(q, r, cls, now, &out);
}

static double
run_once(uint32_t fb, int attached, uint64_t *by_verdict)
{
	static struct aqm_pkt slots[2][AQM_FIFO_MAX_CAP];
	struct aqm_params par;
	struct aqm_queue q;
	struct aqm_ring r;
	struct daemon_arg d;
	struct aqm_vt_entry *vt;
	struct aqm_policy pol[1];
	struct aqm_pkt p;
	pthread_t th;
	size_t size = aqm_region_size(REC_ENTRIES, VD_ENTRIES);
	void *region = aligned_alloc(4096, size);
	uint64_t now = 1000000000ULL, t0, t1, i;

	vt = calloc(REC_ENTRIES, sizeof(*vt));
	if (region == NULL || vt == NULL ||
	    aqm_ring_init(&r, region, size, REC_ENTRIES, VD_ENTRIES, 1, vt,
	    pol) != 0)
		abort();
	aqm_params_defaults(&par, fb);
	par.link_rate_bps = 10000000000ULL;
	if (aqm_queue_init(&q, 0, &par, 42, now) != 0 ||
	    aqm_queue_storage(&q, 0, slots[0], aqm_fifo_cap(par.limit_pkts),
	    NULL) != 0 ||
	    aqm_queue_storage(&q, 1, slots[1], aqm_fifo_cap(par.limit_pkts),
	    NULL) != 0)
		abort();
	memset(&d, 0, sizeof(d));
	d.r = &r;
	if (attached) {
		aqm_ring_set_attached(&r, 1);
		r.hdr->daemon_state = AQMLLM_DS_ATTACHED;
		r.hdr->heartbeat_ns = now;
		if (pthread_create(&th, NULL, daemon_main, &d) != 0)
			abort();
	}
	memset(&p, 0, sizeof(p));
	p.len = 1500;
	/* Prime a standing backlog, then one in, one out. */
	for (i = 0; i < BACKLOG; i++) {
		p.ecn = (uint8_t)(i & 1 ? AQMLLM_ECN_ECT1 : AQMLLM_ECN_NOT_ECT);
		offer(&q, &r, &p, now);
	}
	t0 = mono_ns();
	for (i = 0; i < PACKETS; i++) {
		now += 1200;	/* 1500 B at 10 Gbit/s */
		p.ecn = (uint8_t)(i & 1 ? AQMLLM_ECN_ECT1 : AQMLLM_ECN_ECT0);
		p.flow_hash = (uint32_t)i;
		offer(&q, &r, &p, now);
		take(&q, &r, now);
	}
	t1 = mono_ns();
	if (attached) {
		d.stop = 1;
		pthread_join(th, NULL);
	}
	*by_verdict = r.cnt[AQMLLM_CNT_SRC_VERDICT];
	if (getenv("BENCH_DEBUG") != NULL)
		print_counters(&r);
	free(vt);
	free(region);
	return ((double)(t1 - t0) / (double)PACKETS);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

int
main(void)
{
	double ns[RUNS];
	uint64_t by_verdict = 0;
	uint32_t fb;
	int attached, k;

	for (fb = 0; fb < AQMLLM_FB_COUNT; fb++) {
		for (attached = 0; attached < 2; attached++) {
			for (k = 0; k < RUNS; k++)
				ns[k] = run_once(fb, attached, &by_verdict);
			qsort(ns, RUNS, sizeof(ns[0]), cmp_double);
			printf("core_ns_per_packet_%s%s: %.1f\n",
			    aqm_alg_by_id(fb)->name,
			    attached ? "_attached" : "", ns[RUNS / 2]);
			if (attached)
				printf("core_verdict_share_%s: %.3f\n",
				    aqm_alg_by_id(fb)->name,
				    (double)by_verdict / (double)PACKETS);
		}
	}
	return (0);
}
