/*
 * aqmllm-producer: the kernel side, on Linux, for tests and benchmarks.
 *
 * Creates a shared-memory ring, drives the portable core with synthetic
 * packets at a configured rate (each held for --hold-us before dequeue,
 * as dummynet holds a packet at least until its next tick, in arrival
 * order: one FIFO per queue across both classes), consumes the
 * daemon's verdicts and reports what the packet path saw: verdict latency
 * (record published -> verdict visible), coverage (share of packets the
 * daemon decided), fallbacks, overflows and rejections.
 *
 *   aqmllm-producer --ring PATH [--rate PPS] [--duration S] [--hold-us US]
 *       [--fallback NAME] [--queues N] [--entries N]
 *       [--wait-attach S] [--verdict-timeout-us US] [--json]
 *
 * --rate 0 means as fast as the core goes (throughput runs).  Times in the
 * JSON output (t0_ns, last_daemon_ns) are CLOCK_MONOTONIC nanoseconds, the
 * producer clock, so a test can relate them to events it caused.
 */
#define _GNU_SOURCE

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aqm_shm.h"

#define	MAX_QUEUES	64
#define	LIMIT		(AQM_FIFO_MAX_CAP - 1)	/* packets held per queue */
#define	LAT_MAX		(1U << 22)	/* latency samples kept */

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return ((x > y) - (x < y));
}

static uint64_t
pct(uint64_t *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return (0);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return (v[i < n ? i : n - 1]);
}

static void
usage(void)
{
	uint32_t id;

	fprintf(stderr, "usage: aqmllm-producer --ring PATH [--rate PPS] "
	    "[--duration S] [--hold-us US] [--fallback NAME] "
	    "[--queues N] [--entries N] [--wait-attach S] [--json]\n"
	    "fallbacks:");
	for (id = 0; aqm_alg_by_id(id) != NULL; id++)
		fprintf(stderr, " %s", aqm_alg_by_id(id)->name);
	fputc('\n', stderr);
	exit(2);
}

struct opts {
	const char *path;
	double rate, duration, wait_attach;
	uint64_t hold_ns, vtimeout_ns;
	uint32_t nq, fb, entries;
	int json;
};

/* The packet path's state and what it saw. */
struct run {
	struct aqm_shm shm;
	struct aqm_queue *queues;
	uint64_t *lat, *t_enq;		/* latency samples; enqueue time by seq */
	uint64_t nlat, seen_vd;
	uint64_t sent, decided, fallback, dropped, marked, by_policy;
	uint64_t t0, now, last_daemon, max_gap;
};

/* Give a queue its FIFO storage (calloc: untouched slots cost nothing). */
static int
give_storage(struct aqm_queue *q)
{
	struct aqm_pkt *slots;
	int k;

	for (k = 0; k < 2; k++) {
		slots = calloc(aqm_fifo_cap(LIMIT), sizeof(*slots));
		if (slots == NULL ||
		    aqm_queue_storage(q, k, slots, aqm_fifo_cap(LIMIT), NULL) != 0)
			return (-1);
	}
	return (0);
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "rate", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "hold-us", required_argument, NULL, 'h' },
		{ "fallback", required_argument, NULL, 'f' },
		{ "queues", required_argument, NULL, 'q' },
		{ "entries", required_argument, NULL, 'e' },
		{ "wait-attach", required_argument, NULL, 'w' },
		{ "verdict-timeout-us", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->rate = 100000;
	o->duration = 2;
	o->wait_attach = 10;
	o->hold_ns = 1000000;
	o->nq = 1;
	o->fb = AQMLLM_FB_DUALPI2;
	o->entries = 65536;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': o->path = optarg; break;
		case 'p': o->rate = atof(optarg); break;
		case 'd': o->duration = atof(optarg); break;
		case 'h': o->hold_ns = (uint64_t)(atof(optarg) * 1000); break;
		case 'q': o->nq = (uint32_t)atoi(optarg); break;
		case 'e': o->entries = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'w': o->wait_attach = atof(optarg); break;
		case 't': o->vtimeout_ns = (uint64_t)(atof(optarg) * 1000); break;
		case 'j': o->json = 1; break;
		case 'f':
			if (aqm_alg_by_name(optarg) == NULL) {
				fprintf(stderr, "aqmllm-producer: unknown fallback "
				    "'%s'\n", optarg);
				usage();
			}
			o->fb = aqm_alg_by_name(optarg)->id;
			break;
		default:
			usage();
		}
	}
	if (o->path == NULL || o->rate < 0 || o->duration <= 0 || o->nq == 0 ||
	    o->nq > MAX_QUEUES)
		usage();
}

/* The ring and the queues; an exit status on failure, else 0. */
static int
setup(const struct opts *o, struct run *r)
{
	struct aqm_params par;
	uint32_t q;
	int error;

	memset(r, 0, sizeof(*r));
	error = aqm_shm_create(&r->shm, o->path, o->entries, o->entries, o->nq);
	if (error != 0) {
		fprintf(stderr, "aqmllm-producer: cannot create ring %s "
		    "(entries %u): %s\n", o->path, o->entries, strerror(-error));
		return (1);
	}
	if (o->vtimeout_ns != 0 && aqm_ring_configure(&r->shm.ring,
	    r->shm.ring.batch_size, o->vtimeout_ns) != 0) {
		fprintf(stderr, "aqmllm-producer: bad --verdict-timeout-us\n");
		aqm_shm_destroy(&r->shm, o->path, 1);
		return (2);
	}
	r->queues = calloc(o->nq, sizeof(*r->queues));
	r->lat = malloc(LAT_MAX * sizeof(*r->lat));
	r->t_enq = calloc(o->entries, sizeof(*r->t_enq));
	if (r->queues == NULL || r->lat == NULL || r->t_enq == NULL)
		return (1);
	aqm_params_defaults(&par, o->fb);
	par.limit_pkts = LIMIT;
	/* The drain rate that makes est_wait match the hold time. */
	par.link_rate_bps = o->rate > 0 ?
	    (uint64_t)(o->rate * 1500 * 8 / o->nq) : 100000000000ULL;
	for (q = 0; q < o->nq; q++) {
		if (aqm_queue_init(&r->queues[q], q, &par, 1 + q,
		    aqm_shm_now_ns()) != 0 || give_storage(&r->queues[q]) != 0)
			return (1);
	}
	return (0);
}

/* Wait for the daemon and for its first heartbeat: a closed loop. */
static void
wait_for_daemon(struct run *r, double wait_attach)
{
	struct aqmllm_region_hdr *h = r->shm.ring.hdr;
	uint64_t now, tend = aqm_shm_now_ns() + (uint64_t)(wait_attach * 1e9);

	while (h->daemon_state != AQMLLM_DS_ATTACHED &&
	    aqm_shm_now_ns() < tend && !stopping) {
		/* Publish the clock, as a kernel does: the heartbeat echoes it. */
		aqm_ring_export_counters(&r->shm.ring, aqm_shm_now_ns());
		usleep(1000);
	}
	/* ... and until it echoes the clock: its loop is running. */
	now = aqm_shm_now_ns();
	while (h->daemon_state == AQMLLM_DS_ATTACHED &&
	    __atomic_load_n(&h->heartbeat_ns, __ATOMIC_ACQUIRE) < now &&
	    aqm_shm_now_ns() < tend && !stopping) {
		aqm_ring_export_counters(&r->shm.ring, aqm_shm_now_ns());
		usleep(200);
	}
}

/* What the packet path sees: each new verdict's age on arrival. */
static void
note_verdicts(struct run *r, uint32_t entries)
{
	struct aqm_ring *ring = &r->shm.ring;
	uint64_t vprod = __atomic_load_n(&ring->hdr->vd_prod, __ATOMIC_ACQUIRE);
	/*
	 * Stamp the verdicts after loading vd_prod: a stamp taken before (at
	 * the loop top) would understate the latency of verdicts that arrived
	 * while this process was descheduled.
	 */
	uint64_t seen_at = aqm_shm_now_ns(), s, te;

	if (vprod - r->seen_vd > ring->vd_entries) {
		r->seen_vd = vprod;
		return;
	}
	for (; r->seen_vd < vprod; r->seen_vd++) {
		const struct aqmllm_verdict *v =
		    &ring->vds[r->seen_vd & ring->vd_mask];

		s = v->seq;
		if (v->kind != AQMLLM_VK_PACKET || s == 0 || s > ring->rec_prod)
			continue;
		te = r->t_enq[s & (entries - 1)];
		if (te != 0 && r->nlat < LAT_MAX)
			r->lat[r->nlat++] = seen_at - te;
	}
}

/* One synthetic packet into the next queue. */
static void
offer(struct run *r, const struct opts *o)
{
	struct aqm_pkt p;
	uint32_t q = (uint32_t)(r->sent % o->nq);

	memset(&p, 0, sizeof(p));
	p.len = 1500;
	p.ecn = (uint8_t)(r->sent % 3 == 0 ? AQMLLM_ECN_NOT_ECT :
	    AQMLLM_ECN_ECT1);
	p.flow_hash = (uint32_t)(r->sent * 2654435761U);
	if (aqm_enqueue(&r->queues[q], &r->shm.ring, &p, r->now) ==
	    AQMLLM_ACT_PASS && p.seq != 0)
		r->t_enq[p.seq & (o->entries - 1)] = r->now;
	r->sent++;
}

/*
 * Serve every queue's packets whose hold time is over, in arrival order
 * (unpaced: one packet per queue and call).
 */
static void
serve(struct run *r, const struct opts *o, int paced)
{
	struct aqm_queue *aq;
	struct aqm_pkt p;
	uint32_t q;
	int act, cls;

	for (q = 0; q < o->nq; q++) {
		aq = &r->queues[q];
		while ((cls = aqm_oldest(aq)) >= 0) {
			if (paced && r->now < aqm_fifo_head(&aq->fifo[cls])->enq_ns +
			    o->hold_ns)
				break;
			act = aqm_dequeue(aq, &r->shm.ring, cls, r->now, &p);
			if (p.src == AQM_SRC_VERDICT || p.src == AQM_SRC_POLICY) {
				r->decided++;
				r->by_policy += p.src == AQM_SRC_POLICY;
				r->last_daemon = r->now;
			} else
				r->fallback++;
			r->dropped += act == AQMLLM_ACT_DROP;
			r->marked += act == AQMLLM_ACT_MARK;
			if (!paced)
				break;
		}
	}
}

/* The packets at the configured rate (0: as fast as the core goes). */
static void
run_traffic(struct run *r, const struct opts *o)
{
	uint64_t interval, tend, next, last_iter;

	interval = o->rate > 0 ? (uint64_t)(1e9 / o->rate) : 0;
	r->t0 = aqm_shm_now_ns();
	tend = r->t0 + (uint64_t)(o->duration * 1e9);
	next = last_iter = r->t0;
	for (r->now = r->t0; r->now < tend && !stopping;
	    r->now = aqm_shm_now_ns()) {
		/* A stall of the packet path would show as a long iteration. */
		if (r->now - last_iter > r->max_gap)
			r->max_gap = r->now - last_iter;
		last_iter = r->now;
		note_verdicts(r, o->entries);
		if (interval == 0 || r->now >= next) {
			offer(r, o);
			next += interval;
		}
		serve(r, o, interval != 0);
		if (aqm_ring_take_wakeup(&r->shm.ring))
			aqm_ring_export_counters(&r->shm.ring, r->now);
	}
	aqm_ring_export_counters(&r->shm.ring, r->now);
}

static void
report(struct run *r, const struct opts *o)
{
	double secs = (double)(r->now - r->t0) / 1e9;
	uint64_t *c = r->shm.ring.cnt, total = r->decided + r->fallback;
	double coverage = total ? (double)r->decided / (double)total : 0.0;

	qsort(r->lat, r->nlat, sizeof(*r->lat), cmp_u64);
	if (!o->json) {
		printf("packets: %llu\npps: %.0f\ncoverage: %.5f\n"
		    "verdict_latency_p50_us: %.2f\n"
		    "verdict_latency_p99_us: %.2f\noverflows: %llu\n",
		    (unsigned long long)r->sent, (double)r->sent / secs,
		    coverage, pct(r->lat, r->nlat, 0.5) / 1e3,
		    pct(r->lat, r->nlat, 0.99) / 1e3,
		    (unsigned long long)c[AQMLLM_CNT_OVERFLOWS]);
		return;
	}
	printf("{\"packets\": %llu, \"seconds\": %.3f, "
	    "\"pps\": %.0f, \"decided\": %llu, \"fallback\": %llu, "
	    "\"coverage\": %.5f, \"verdict_latency_p50_us\": %.2f, "
	    "\"verdict_latency_p99_us\": %.2f, "
	    "\"verdict_latency_p999_us\": %.2f, \"records\": %llu, "
	    "\"overflows\": %llu, \"rejected_late\": %llu, "
	    "\"rejected_seq\": %llu, \"stale_daemon\": %llu, "
	    "\"dropped\": %llu, \"marked\": %llu, "
	    "\"by_policy\": %llu, \"verdicts_in\": %llu, "
	    "\"rejected_dup\": %llu, \"t0_ns\": %llu, "
	    "\"last_daemon_ns\": %llu, \"max_gap_us\": %.1f, "
	    "\"verdict_timeout_us\": %.1f}\n",
	    (unsigned long long)r->sent, secs, (double)r->sent / secs,
	    (unsigned long long)r->decided, (unsigned long long)r->fallback,
	    coverage, pct(r->lat, r->nlat, 0.5) / 1e3,
	    pct(r->lat, r->nlat, 0.99) / 1e3,
	    pct(r->lat, r->nlat, 0.999) / 1e3,
	    (unsigned long long)c[AQMLLM_CNT_RECORDS],
	    (unsigned long long)c[AQMLLM_CNT_OVERFLOWS],
	    (unsigned long long)c[AQMLLM_CNT_REJ_LATE],
	    (unsigned long long)c[AQMLLM_CNT_REJ_SEQ],
	    (unsigned long long)c[AQMLLM_CNT_STALE_DAEMON],
	    (unsigned long long)r->dropped, (unsigned long long)r->marked,
	    (unsigned long long)r->by_policy,
	    (unsigned long long)c[AQMLLM_CNT_VERDICTS_IN],
	    (unsigned long long)c[AQMLLM_CNT_REJ_DUP],
	    (unsigned long long)r->t0, (unsigned long long)r->last_daemon,
	    r->max_gap / 1e3, r->shm.ring.verdict_timeout_ns / 1e3);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct run r;
	uint32_t q;
	int error;

	parse_args(argc, argv, &o);
	if ((error = setup(&o, &r)) != 0)
		return (error);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	wait_for_daemon(&r, o.wait_attach);
	run_traffic(&r, &o);
	report(&r, &o);
	fflush(stdout);
	/* Tell a daemon that may still read: no more producer. */
	r.shm.ring.hdr->producer_flags = 1;
	for (q = 0; q < o.nq; q++) {
		free(r.queues[q].fifo[0].slot);
		free(r.queues[q].fifo[1].slot);
	}
	aqm_shm_destroy(&r.shm, o.path, 1);
	free(r.queues);
	free(r.lat);
	free(r.t_enq);
	return (0);
}
