/*
 * Cost per packet of enqueue + dequeue in the portable core, for each
 * fallback AQM, without and with a daemon attached.  "Attached" means a
 * second thread plays the daemon: it consumes every record and answers
 * each with a verdict, so the producer pays for record production,
 * verdict draining and the cache-line traffic with the other core.
 *
 * For DualPI2 also by export mode: per-packet records only (the daemon
 * answers each), interval records only (the daemon answers each with a
 * nonzero residual, so the residual arithmetic is paid too), and both;
 * each with its ratio to the unattached figure of the same run.
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
#define	IVL_ENTRIES	64


struct daemon_arg {
	struct aqm_ring *r;
	volatile int stop;
	uint32_t poll_ns;	/* between two looks at the rings */
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
 * does) when packets are exported, every millisecond when only intervals
 * are (as aqmllmd's interval loop, which sleeps between intervals); answer
 * every record with PASS and every interval record with a residual, echo
 * the producer clock.
 */
static void *
daemon_main(void *arg)
{
	struct daemon_arg *d = arg;
	struct aqmllm_region_hdr *h = d->r->hdr;
	struct aqmllm_record *recs = d->r->recs;
	struct aqmllm_verdict *vds = d->r->vds;
	struct aqmllm_interval *ivls = d->r->ivls;
	uint64_t cons = 0, icons = 0, vprod = 0, clock, hb = 0;

	while (!d->stop) {
		uint64_t prod = __atomic_load_n(&h->rec_prod, __ATOMIC_ACQUIRE);
		uint64_t iprod = __atomic_load_n(&h->ivl_prod, __ATOMIC_ACQUIRE);
		uint64_t vcons = __atomic_load_n(&h->vd_cons, __ATOMIC_ACQUIRE);
		uint64_t until = mono_ns() + d->poll_ns;

		clock = __atomic_load_n(&h->producer_clock_ns, __ATOMIC_RELAXED);
		if (clock != hb)
			h->heartbeat_ns = hb = clock;
		/* Each interval record: a residual, x2 on C, 4 intervals ahead. */
		while (icons < iprod && vprod - vcons < VD_ENTRIES) {
			struct aqmllm_interval *iv = &ivls[icons & (IVL_ENTRIES - 1)];
			struct aqmllm_verdict *v = &vds[vprod & (VD_ENTRIES - 1)];

			memset(v, 0, sizeof(*v));
			v->seq = iv->seq;
			v->kind = AQMLLM_VK_RESIDUAL;
			v->queue_id = iv->queue_id;
			v->res_log2_mult[AQMLLM_CLASS_C] = AQMLLM_RES_Q8_ONE;
			v->expiry_ns = iv->t_ns + 4 * iv->interval_ns;
			icons++;
			vprod++;
		}
		__atomic_store_n(&h->ivl_cons, icons, __ATOMIC_RELEASE);
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
		if (d->poll_ns >= 1000000) {
			struct timespec ts = { 0, (long)d->poll_ns };

			nanosleep(&ts, NULL);
		} else
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
	fprintf(stderr, "intervals %llu residuals %llu rejected %llu\n",
	    (unsigned long long)r->cnt[AQMLLM_CNT_IVL_RECORDS],
	    (unsigned long long)r->cnt[AQMLLM_CNT_RES_ACCEPTED],
	    (unsigned long long)(r->cnt[AQMLLM_CNT_RES_REJ_SEQ] +
	    r->cnt[AQMLLM_CNT_RES_REJ_STALE] + r->cnt[AQMLLM_CNT_RES_REJ_QUEUE]));
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

/* export: 0 unattached, else the AQMLLM_EXPORT_* mode of an attached run. */
static double
run_once(uint32_t fb, uint32_t export, uint64_t *by_verdict)
{
	static struct aqm_pkt slots[2][AQM_FIFO_MAX_CAP];
	struct aqm_geom g = { REC_ENTRIES, VD_ENTRIES, IVL_ENTRIES, 1 };
	struct aqm_params par;
	struct aqm_queue q;
	struct aqm_ring r;
	struct daemon_arg d;
	struct aqm_pkt p;
	pthread_t th;
	size_t size = aqm_region_size(&g), priv_size = aqm_ring_private_size(&g);
	void *region = aligned_alloc(4096, size), *priv = calloc(1, priv_size);
	uint64_t now = 1000000000ULL, t0, t1, i;
	int attached = export != 0;

	if (region == NULL || priv == NULL ||
	    aqm_ring_init(&r, region, size, &g, priv, priv_size) != 0 ||
	    aqm_ring_set_export(&r, attached ? export : AQMLLM_EXPORT_BOTH,
	    0) != 0)
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
	d.poll_ns = export == AQMLLM_EXPORT_INTERVALS ? 1000000 : 1000;
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
	free(priv);
	free(region);
	return ((double)(t1 - t0) / (double)PACKETS);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

static double
median_run(uint32_t fb, uint32_t export, uint64_t *by_verdict)
{
	double ns[RUNS];
	int k;

	for (k = 0; k < RUNS; k++)
		ns[k] = run_once(fb, export, by_verdict);
	qsort(ns, RUNS, sizeof(ns[0]), cmp_double);
	return (ns[RUNS / 2]);
}

int
main(void)
{
	static const struct {
		const char *name;
		uint32_t mode;
	} modes[] = {
		{ "packets", AQMLLM_EXPORT_PACKETS },
		{ "intervals", AQMLLM_EXPORT_INTERVALS },
		{ "both", AQMLLM_EXPORT_BOTH },
	};
	uint64_t by_verdict = 0;
	double bare, ns;
	uint32_t fb, m;

	for (fb = 0; fb < AQMLLM_FB_COUNT; fb++) {
		const char *name = aqm_alg_by_id(fb)->name;

		bare = median_run(fb, 0, &by_verdict);
		printf("core_ns_per_packet_%s: %.1f\n", name, bare);
		ns = median_run(fb, AQMLLM_EXPORT_PACKETS, &by_verdict);
		printf("core_ns_per_packet_%s_attached: %.1f\n", name, ns);
		printf("core_verdict_share_%s: %.3f\n", name,
		    (double)by_verdict / (double)PACKETS);
		if (fb != AQMLLM_FB_DUALPI2)
			continue;
		/* The same unattached figure is the reference of every ratio. */
		for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			ns = median_run(fb, modes[m].mode, &by_verdict);
			printf("core_ns_per_packet_%s_export_%s: %.1f\n", name,
			    modes[m].name, ns);
			printf("core_ratio_to_unattached_%s_export_%s: %.2f\n",
			    name, modes[m].name, ns / bare);
		}
	}
	return (0);
}
