/*
 * aqmllm-producer: the kernel side, on Linux, for tests and benchmarks.
 *
 * Creates a shared-memory ring, drives the portable core with synthetic
 * packets at a configured rate (each held for --hold-us before dequeue,
 * as dummynet holds a packet at least until its next tick, in arrival
 * order: one FIFO per queue across both classes), consumes the
 * daemon's verdicts and reports what the packet path saw: verdict latency
 * (record published -> verdict visible), coverage (share of packets the
 * daemon decided), fallbacks, overflows and rejections; with interval
 * records exported, the residuals' delay from the end of the interval
 * record they answer (which includes the lazy record's own wait for the
 * queue's next packet) and from the record's publication (the daemon's
 * share) to the verdict being visible, how many came within an interval of
 * each, and the residual counters.
 *
 *   aqmllm-producer --ring PATH [--rate PPS] [--duration S] [--hold-us US]
 *       [--fallback NAME] [--queues N] [--entries N] [--limit PKTS]
 *       [--export packets|intervals|both] [--interval-us US]
 *       [--wait-attach S] [--verdict-timeout-us US] [--json]
 *   aqmllm-producer --help | --version
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

#ifndef AQMLLM_VERSION
#define	AQMLLM_VERSION	"unknown"	/* the Makefile passes aqmllm/__init__.py's */
#endif

#define	MAX_QUEUES	65536
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

#define	USAGE \
	"usage: aqmllm-producer --ring PATH [--rate PPS] [--duration S]\n" \
	"           [--hold-us US] [--fallback NAME] [--queues N]\n" \
	"           [--entries N] [--limit PKTS] [--export packets|intervals|both]\n" \
	"           [--interval-us US] [--wait-attach S] [--verdict-timeout-us US]\n" \
	"           [--json]\n" \
	"       aqmllm-producer --help | --version\n"

#define	HELP \
	"\nThe packet path on Linux, for tests and benchmarks: makes a shared-memory\n" \
	"ring at PATH, drives the portable core with synthetic packets and reports\n" \
	"what the packet path saw when the daemon (aqmllmd) decides on that ring.\n\n" \
	"  --ring PATH              the ring file to create (removed at exit)\n" \
	"  --rate PPS               offered packets per second; 0: as fast as it goes\n" \
	"                           (default 100000)\n" \
	"  --duration S             seconds of traffic (default 2)\n" \
	"  --hold-us US             each packet's time in the queue (default 1000)\n" \
	"  --fallback NAME          the fallback AQM (default dualpi2; the names follow)\n" \
	"  --queues N               queues, 1..65536 (default 1)\n" \
	"  --entries N              ring entries, a power of two (default 65536)\n" \
	"  --limit PKTS             packets held per queue (default and most 1048575)\n" \
	"  --export WHAT            what the ring exports: packets, intervals or both\n" \
	"                           (default both)\n" \
	"  --interval-us US         interval records' interval; 0: the fallback's\n" \
	"                           update interval (default 0)\n" \
	"  --wait-attach S          wait this long for a daemon first (default 10)\n" \
	"  --verdict-timeout-us US  heartbeat age after which verdicts are ignored\n" \
	"  --json                   one JSON line instead of name: value lines\n"

/* The fallback AQMs, from the core's table. */
static void
print_fallbacks(FILE *f)
{
	uint32_t id;

	fputs("fallbacks:", f);
	for (id = 0; aqm_alg_by_id(id) != NULL; id++)
		fprintf(f, " %s", aqm_alg_by_id(id)->name);
	fputc('\n', f);
}

static void
usage(void)
{
	fputs(USAGE, stderr);
	print_fallbacks(stderr);
	exit(2);
}

/* Give a queue its FIFO storage (calloc: untouched slots cost nothing). */
static int
give_storage(struct aqm_queue *q, uint32_t limit)
{
	struct aqm_pkt *slots;
	int k;

	for (k = 0; k < 2; k++) {
		slots = calloc(aqm_fifo_cap(limit), sizeof(*slots));
		if (slots == NULL ||
		    aqm_queue_storage(q, k, slots, aqm_fifo_cap(limit), NULL) != 0)
			return (-1);
	}
	return (0);
}

/* A number, all of it, >= 0: atof() would take "abc" for 0 (a throughput run). */
static double
number(const char *opt, const char *text)
{
	char *end;
	double v;

	v = strtod(text, &end);
	if (end == text || *end != '\0' || !(v >= 0) || v > 1e15) {
		fprintf(stderr, "aqmllm-producer: --%s '%s' is not a number >= 0\n",
		    opt, text);
		exit(2);
	}
	return (v);
}

static uint32_t
export_mode(const char *name)
{
	if (strcmp(name, "packets") == 0)
		return (AQMLLM_EXPORT_PACKETS);
	if (strcmp(name, "intervals") == 0)
		return (AQMLLM_EXPORT_INTERVALS);
	if (strcmp(name, "both") == 0)
		return (AQMLLM_EXPORT_BOTH);
	fprintf(stderr, "aqmllm-producer: --export '%s' is not packets, "
	    "intervals or both\n", name);
	exit(2);
}

int
main(int argc, char **argv)
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
		{ "limit", required_argument, NULL, 'l' },
		{ "export", required_argument, NULL, 'x' },
		{ "interval-us", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	double rate = 100000, duration = 2, wait_attach = 10;
	uint64_t hold_ns = 1000000, *lat, *t_enq;
	uint32_t nq = 1, fb = AQMLLM_FB_DUALPI2, entries = 65536, q;
	uint64_t sent = 0, decided = 0, fallback = 0, dropped = 0, marked = 0;
	uint64_t nlat = 0, seen_vd = 0, t0, tend, next, now, interval;
	uint64_t by_policy = 0, last_daemon = 0, last_iter, max_gap = 0;
	uint64_t vtimeout_ns = 0, ivl_ns = 0, seen_ivl = 0, *ivl_end, *res_lat;
	uint64_t nres = 0, res_within = 0, res_seen = 0, *ivl_pub, *pub_lat;
	uint64_t npub = 0, pub_within = 0;
	uint32_t export = AQMLLM_EXPORT_BOTH, limit = LIMIT, *ivl_len;
	struct aqm_queue *queues;
	struct aqm_params par;
	struct aqm_shm shm;
	int json = 0, ch, error;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': path = optarg; break;
		case 'p': rate = number("rate", optarg); break;
		case 'd': duration = number("duration", optarg); break;
		case 'h': hold_ns = (uint64_t)(number("hold-us", optarg) * 1000); break;
		case 'q': nq = (uint32_t)number("queues", optarg); break;
		case 'e': entries = (uint32_t)number("entries", optarg); break;
		case 'w': wait_attach = number("wait-attach", optarg); break;
		case 't':
			vtimeout_ns = (uint64_t)(number("verdict-timeout-us", optarg) *
			    1000);
			break;
		case 'l': limit = (uint32_t)number("limit", optarg); break;
		case 'x': export = export_mode(optarg); break;
		case 'i':
			ivl_ns = (uint64_t)(number("interval-us", optarg) * 1000);
			break;
		case 'j': json = 1; break;
		case 'H':
			fputs(USAGE HELP, stdout);
			print_fallbacks(stdout);
			return (0);
		case 'V':
			printf("aqmllm-producer %s (ring ABI %d)\n", AQMLLM_VERSION,
			    AQMLLM_ABI_VERSION);
			return (0);
		case 'f':
			if (aqm_alg_by_name(optarg) == NULL) {
				fprintf(stderr, "aqmllm-producer: unknown fallback "
				    "'%s'\n", optarg);
				usage();
			}
			fb = aqm_alg_by_name(optarg)->id;
			break;
		default:
			usage();
		}
	}
	if (optind < argc) {
		fprintf(stderr, "aqmllm-producer: unexpected argument '%s'\n",
		    argv[optind]);
		usage();
	}
	if (path == NULL) {
		fprintf(stderr, "aqmllm-producer: --ring PATH is required\n");
		usage();
	}
	if (duration <= 0 || nq == 0 || nq > MAX_QUEUES) {
		fprintf(stderr, "aqmllm-producer: --duration must be > 0 and "
		    "--queues 1..%d\n", MAX_QUEUES);
		return (2);
	}
	if (limit == 0 || limit > LIMIT) {
		fprintf(stderr, "aqmllm-producer: --limit must be 1..%d\n", LIMIT);
		return (2);
	}
	if (entries < AQMLLM_MIN_ENTRIES || entries > AQMLLM_MAX_ENTRIES ||
	    (entries & (entries - 1)) != 0) {
		fprintf(stderr, "aqmllm-producer: --entries %u: a power of two "
		    "in %u..%u\n", entries, AQMLLM_MIN_ENTRIES, AQMLLM_MAX_ENTRIES);
		return (2);
	}
	error = aqm_shm_create(&shm, path, entries, entries, nq);
	if (error != 0) {
		fprintf(stderr, "aqmllm-producer: cannot create ring %s "
		    "(entries %u): %s\n", path, entries, strerror(-error));
		return (1);
	}
	if (vtimeout_ns != 0 &&
	    aqm_ring_configure(&shm.ring, shm.ring.batch_size, vtimeout_ns) != 0) {
		fprintf(stderr, "aqmllm-producer: bad --verdict-timeout-us\n");
		aqm_shm_destroy(&shm, path, 1);
		return (2);
	}
	if (aqm_ring_set_export(&shm.ring, export, ivl_ns) != 0) {
		fprintf(stderr, "aqmllm-producer: --interval-us is 0 or in "
		    "[%llu, %llu]\n", AQMLLM_IVL_MIN_NS / 1000,
		    AQMLLM_IVL_MAX_NS / 1000);
		aqm_shm_destroy(&shm, path, 1);
		return (2);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	queues = calloc(nq, sizeof(*queues));
	lat = malloc(LAT_MAX * sizeof(*lat));
	t_enq = calloc(entries, sizeof(*t_enq));
	ivl_end = calloc(shm.ring.ivl_entries, sizeof(*ivl_end));
	ivl_len = calloc(shm.ring.ivl_entries, sizeof(*ivl_len));
	res_lat = malloc(LAT_MAX * sizeof(*res_lat));
	ivl_pub = calloc(shm.ring.ivl_entries, sizeof(*ivl_pub));
	pub_lat = malloc(LAT_MAX * sizeof(*pub_lat));
	if (queues == NULL || lat == NULL || t_enq == NULL || ivl_end == NULL ||
	    ivl_len == NULL || res_lat == NULL || ivl_pub == NULL || pub_lat == NULL)
		return (1);
	aqm_params_defaults(&par, fb);
	par.limit_pkts = limit;
	/* The drain rate that makes est_wait match the hold time. */
	par.link_rate_bps = rate > 0 ? (uint64_t)(rate * 1500 * 8 / nq) :
	    100000000000ULL;
	for (q = 0; q < nq; q++) {
		if (aqm_queue_init(&queues[q], q, &par, 1 + q,
		    aqm_shm_now_ns()) != 0 || give_storage(&queues[q], limit) != 0)
			return (1);
	}
	/* Wait for the daemon, so the run measures a closed loop. */
	tend = aqm_shm_now_ns() + (uint64_t)(wait_attach * 1e9);
	while (shm.ring.hdr->daemon_state != AQMLLM_DS_ATTACHED &&
	    aqm_shm_now_ns() < tend && !stopping) {
		/* Publish the clock, as a kernel does: the heartbeat echoes it. */
		aqm_ring_export_counters(&shm.ring, aqm_shm_now_ns());
		usleep(1000);
	}
	/* ... and until it echoes the clock: its loop is running. */
	now = aqm_shm_now_ns();
	while (shm.ring.hdr->daemon_state == AQMLLM_DS_ATTACHED &&
	    __atomic_load_n(&shm.ring.hdr->heartbeat_ns, __ATOMIC_ACQUIRE) <
	    now && aqm_shm_now_ns() < tend && !stopping) {
		aqm_ring_export_counters(&shm.ring, aqm_shm_now_ns());
		usleep(200);
	}

	interval = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
	t0 = aqm_shm_now_ns();
	tend = t0 + (uint64_t)(duration * 1e9);
	next = t0;
	last_iter = t0;
	for (now = t0; now < tend && !stopping; now = aqm_shm_now_ns()) {
		/* A stall of the packet path would show as a long iteration. */
		if (now - last_iter > max_gap)
			max_gap = now - last_iter;
		last_iter = now;
		uint64_t vprod = __atomic_load_n(&shm.ring.hdr->vd_prod,
		    __ATOMIC_ACQUIRE);
		/*
		 * Stamp the verdicts after loading vd_prod: a stamp taken
		 * before (at the loop top) would understate the latency of
		 * verdicts that arrived while this process was descheduled.
		 */
		uint64_t seen_at = aqm_shm_now_ns();

		/* The end of every interval record, for its residual's delay. */
		for (; seen_ivl < shm.ring.ivl_prod; seen_ivl++) {
			const struct aqmllm_interval *iv = &shm.ring.ivls[
			    seen_ivl & shm.ring.ivl_mask];

			ivl_end[(seen_ivl + 1) & shm.ring.ivl_mask] = iv->t_ns;
			ivl_len[(seen_ivl + 1) & shm.ring.ivl_mask] =
			    iv->interval_ns;
			/* published in the last iteration: stamped at this one */
			ivl_pub[(seen_ivl + 1) & shm.ring.ivl_mask] = seen_at;
		}
		/* What the packet path sees: each verdict's age on arrival. */
		if (vprod - seen_vd <= shm.ring.vd_entries) {
			for (; seen_vd < vprod; seen_vd++) {
				const struct aqmllm_verdict *v = &shm.ring.vds[
				    seen_vd & shm.ring.vd_mask];
				uint64_t s = v->seq, te;

				if (v->kind == AQMLLM_VK_RESIDUAL && s != 0 &&
				    s <= shm.ring.ivl_prod && shm.ring.ivl_prod -
				    s < shm.ring.ivl_entries) {
					uint64_t len = ivl_len[s & shm.ring.ivl_mask];
					uint64_t tp = ivl_pub[s & shm.ring.ivl_mask];

					te = ivl_end[s & shm.ring.ivl_mask];
					res_seen++;
					res_within += seen_at < te + len;
					pub_within += seen_at < tp + len;
					if (nres < LAT_MAX)
						res_lat[nres++] = seen_at - te;
					if (npub < LAT_MAX)
						pub_lat[npub++] = seen_at > tp ?
						    seen_at - tp : 0;
					continue;
				}
				if (v->kind != AQMLLM_VK_PACKET || s == 0 ||
				    s > shm.ring.rec_prod)
					continue;
				te = t_enq[s & (entries - 1)];
				if (te != 0 && nlat < LAT_MAX)
					lat[nlat++] = seen_at - te;
			}
		} else
			seen_vd = vprod;
		if (interval == 0 || now >= next) {
			struct aqm_pkt p;

			q = (uint32_t)(sent % nq);
			memset(&p, 0, sizeof(p));
			p.len = 1500;
			p.ecn = (uint8_t)(sent % 3 == 0 ? AQMLLM_ECN_NOT_ECT :
			    AQMLLM_ECN_ECT1);
			p.flow_hash = (uint32_t)(sent * 2654435761U);
			if (aqm_enqueue(&queues[q], &shm.ring, &p, now) ==
			    AQMLLM_ACT_PASS && p.seq != 0)
				t_enq[p.seq & (entries - 1)] = now;
			sent++;
			next += interval;
		}
		/* Serve every queue's packets whose hold time is over, in order. */
		for (q = 0; q < nq; q++) {
			struct aqm_queue *aq = &queues[q];
			struct aqm_pkt p;
			int act, cls;

			while ((cls = aqm_oldest(aq)) >= 0) {
				if (interval != 0 && now < aqm_fifo_head(
				    &aq->fifo[cls])->enq_ns + hold_ns)
					break;
				act = aqm_dequeue(aq, &shm.ring, cls, now, &p);
				if (p.src == AQM_SRC_VERDICT ||
				    p.src == AQM_SRC_POLICY) {
					decided++;
					by_policy += p.src == AQM_SRC_POLICY;
					last_daemon = now;
				} else
					fallback++;
				dropped += act == AQMLLM_ACT_DROP;
				marked += act == AQMLLM_ACT_MARK;
				if (interval == 0)
					break;
			}
		}
		if (aqm_ring_take_wakeup(&shm.ring))
			aqm_ring_export_counters(&shm.ring, now);
	}
	aqm_ring_export_counters(&shm.ring, now);
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	qsort(res_lat, nres, sizeof(*res_lat), cmp_u64);
	qsort(pub_lat, npub, sizeof(*pub_lat), cmp_u64);
	{
		double secs = (double)(now - t0) / 1e9;
		uint64_t *c = shm.ring.cnt;
		uint64_t total = decided + fallback;

		if (json)
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
			    "\"verdict_timeout_us\": %.1f, "
			    "\"interval_records\": %llu, "
			    "\"interval_overflows\": %llu, "
			    "\"residuals_seen\": %llu, "
			    "\"residuals_within_interval\": %llu, "
			    "\"residual_delay_p50_us\": %.1f, "
			    "\"residual_delay_p99_us\": %.1f, "
			    "\"residual_delay_max_us\": %.1f, "
			    "\"residuals_within_interval_of_publication\": %llu, "
			    "\"residual_pub_delay_p50_us\": %.1f, "
			    "\"residual_pub_delay_p99_us\": %.1f, "
			    "\"residual_pub_delay_max_us\": %.1f, "
			    "\"residuals_accepted\": %llu, "
			    "\"residuals_rejected\": %llu, "
			    "\"residuals_expired\": %llu}\n",
			    (unsigned long long)sent, secs, (double)sent / secs,
			    (unsigned long long)decided,
			    (unsigned long long)fallback,
			    total ? (double)decided / (double)total : 0.0,
			    pct(lat, nlat, 0.5) / 1e3, pct(lat, nlat, 0.99) / 1e3,
			    pct(lat, nlat, 0.999) / 1e3,
			    (unsigned long long)c[AQMLLM_CNT_RECORDS],
			    (unsigned long long)c[AQMLLM_CNT_OVERFLOWS],
			    (unsigned long long)c[AQMLLM_CNT_REJ_LATE],
			    (unsigned long long)c[AQMLLM_CNT_REJ_SEQ],
			    (unsigned long long)c[AQMLLM_CNT_STALE_DAEMON],
			    (unsigned long long)dropped,
			    (unsigned long long)marked,
			    (unsigned long long)by_policy,
			    (unsigned long long)c[AQMLLM_CNT_VERDICTS_IN],
			    (unsigned long long)c[AQMLLM_CNT_REJ_DUP],
			    (unsigned long long)t0,
			    (unsigned long long)last_daemon, max_gap / 1e3,
			    shm.ring.verdict_timeout_ns / 1e3,
			    (unsigned long long)c[AQMLLM_CNT_IVL_RECORDS],
			    (unsigned long long)c[AQMLLM_CNT_IVL_OVERFLOWS],
			    (unsigned long long)res_seen,
			    (unsigned long long)res_within,
			    pct(res_lat, nres, 0.5) / 1e3,
			    pct(res_lat, nres, 0.99) / 1e3,
			    nres ? res_lat[nres - 1] / 1e3 : 0.0,
			    (unsigned long long)pub_within,
			    pct(pub_lat, npub, 0.5) / 1e3,
			    pct(pub_lat, npub, 0.99) / 1e3,
			    npub ? pub_lat[npub - 1] / 1e3 : 0.0,
			    (unsigned long long)c[AQMLLM_CNT_RES_ACCEPTED],
			    (unsigned long long)(c[AQMLLM_CNT_RES_REJ_SEQ] +
			    c[AQMLLM_CNT_RES_REJ_STALE] +
			    c[AQMLLM_CNT_RES_REJ_QUEUE] +
			    c[AQMLLM_CNT_RES_REJ_FIELD]),
			    (unsigned long long)c[AQMLLM_CNT_RES_EXPIRED]);
		else
			printf("packets: %llu\npps: %.0f\ncoverage: %.5f\n"
			    "verdict_latency_p50_us: %.2f\n"
			    "verdict_latency_p99_us: %.2f\n"
			    "overflows: %llu\n", (unsigned long long)sent,
			    (double)sent / secs,
			    total ? (double)decided / (double)total : 0.0,
			    pct(lat, nlat, 0.5) / 1e3, pct(lat, nlat, 0.99) / 1e3,
			    (unsigned long long)c[AQMLLM_CNT_OVERFLOWS]);
	}
	fflush(stdout);
	/* Tell a daemon that may still read: no more producer. */
	shm.ring.hdr->producer_flags = 1;
	for (q = 0; q < nq; q++) {
		free(queues[q].fifo[0].slot);
		free(queues[q].fifo[1].slot);
	}
	aqm_shm_destroy(&shm, path, 1);
	free(queues);
	free(lat);
	free(t_enq);
	free(ivl_end);
	free(ivl_len);
	free(res_lat);
	free(ivl_pub);
	free(pub_lat);
	return (0);
}
