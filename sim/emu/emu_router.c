/*
 * aqmllm-emu-router: the Linux stand-in for a dummynet pipe with the llm
 * AQM.  Real packets from two TUN devices (moved into network namespaces
 * by the harness) cross a rate-limited link with a propagation delay;
 * the forward direction queues in the portable core (L/C queues, fallback
 * AQM, records into a shared-memory ring that aqmllmd reads, verdicts
 * back); the reverse direction only gets the delay.
 *
 *   aqmllm-emu-router --in aqa0 --out aqb0 --rate-mbps 20 --delay-ms 10
 *       [--limit 1000] [--fallback dualpi2|pie|codel] [--ring PATH]
 *       [--entries N] [--log FILE] [--stats FILE]
 *
 * SIGTERM/SIGINT: stop and write the stats JSON and the per-packet log.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "aqm_shm.h"

#define	MTU		2048
#define	SLOTS		65536		/* packets held per direction, at most */
#define	LOG_MAX		(1U << 23)

struct pkt {
	uint64_t	due_ns;		/* delay line: release time */
	uint32_t	len;
	struct aqm_pkt	meta;
	uint8_t		data[MTU];
};

struct fifo {
	struct pkt	*slot;
	uint32_t	head, tail;
};

/* One row per event, the layout sim/metrics.py reads (LOG_DTYPE). */
struct log_row {
	double		t;
	double		sojourn;
	uint32_t	bytes;
	uint8_t		cls;
	uint8_t		event;
	uint16_t	pad;
};

static volatile sig_atomic_t stopping;
static struct log_row *logrows;
static uint32_t nlog;
static uint64_t t_start;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
tun_open(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return (-1);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

static uint32_t
fifo_len(const struct fifo *f)
{
	return (f->tail - f->head);
}

static struct pkt *
fifo_at(struct fifo *f, uint32_t i)
{
	return (&f->slot[i & (SLOTS - 1)]);
}

static uint8_t
ecn_of(const uint8_t *ip, uint32_t len)
{
	if (len >= 20 && (ip[0] >> 4) == 4)
		return (ip[1] & 0x3);
	if (len >= 40 && (ip[0] >> 4) == 6)
		return ((ip[1] >> 4) & 0x3);
	return (AQMLLM_ECN_NOT_ECT);
}

/* Set CE, updating the IPv4 header checksum incrementally (RFC 1624). */
static void
mark_ce(uint8_t *ip, uint32_t len)
{
	if (len >= 20 && (ip[0] >> 4) == 4) {
		uint16_t old = (uint16_t)((ip[0] << 8) | ip[1]), new;
		uint32_t sum;

		ip[1] |= 0x3;
		new = (uint16_t)((ip[0] << 8) | ip[1]);
		sum = (uint16_t)~((ip[10] << 8) | ip[11]) + (uint16_t)~old + new;
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (uint16_t)~sum;
		ip[10] = (uint8_t)(sum >> 8);
		ip[11] = (uint8_t)sum;
	} else if (len >= 40 && (ip[0] >> 4) == 6)
		ip[1] |= 0x30;
}

static void
log_event(uint64_t now, uint64_t sojourn, uint32_t bytes, int cls, int ev)
{
	if (logrows == NULL || nlog >= LOG_MAX)
		return;
	logrows[nlog].t = (double)(now - t_start) / 1e9;
	logrows[nlog].sojourn = (double)sojourn / 1e9;
	logrows[nlog].bytes = bytes;
	logrows[nlog].cls = (uint8_t)cls;
	logrows[nlog].event = (uint8_t)ev;
	logrows[nlog].pad = 0;
	nlog++;
}

static void
usage(void)
{
	fprintf(stderr, "usage: aqmllm-emu-router --in TUN --out TUN --rate-mbps R "
	    "--delay-ms D [--limit N] [--fallback dualpi2|pie|codel] [--ring PATH] "
	    "[--entries N] [--log FILE] [--stats FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "rate-mbps", required_argument, NULL, 'r' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "limit", required_argument, NULL, 'l' },
		{ "fallback", required_argument, NULL, 'f' },
		{ "ring", required_argument, NULL, 'R' },
		{ "entries", required_argument, NULL, 'e' },
		{ "log", required_argument, NULL, 'L' },
		{ "stats", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tin = NULL, *tout = NULL, *ring_path = NULL, *log_path = NULL;
	const char *stats_path = NULL;
	double rate_mbps = 0, delay_ms = 0;
	uint32_t limit = 1000, entries = 16384, fb = AQMLLM_FB_DUALPI2;
	struct fifo q[2], fwd_line, rev_line;
	struct aqm_params par;
	struct aqm_queue aq;
	struct aqm_shm shm;
	struct aqm_ring *ring = NULL;
	uint64_t link_free = 0, delay_ns, fwd_pkts = 0, rev_pkts = 0, tx_bytes = 0;
	uint64_t rx_drops = 0;
	int fd_in, fd_out, ch, k;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'i': tin = optarg; break;
		case 'o': tout = optarg; break;
		case 'r': rate_mbps = atof(optarg); break;
		case 'd': delay_ms = atof(optarg); break;
		case 'l': limit = (uint32_t)atoi(optarg); break;
		case 'R': ring_path = optarg; break;
		case 'e': entries = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'L': log_path = optarg; break;
		case 's': stats_path = optarg; break;
		case 'f':
			if (strcmp(optarg, "dualpi2") == 0)
				fb = AQMLLM_FB_DUALPI2;
			else if (strcmp(optarg, "pie") == 0)
				fb = AQMLLM_FB_PIE;
			else if (strcmp(optarg, "codel") == 0)
				fb = AQMLLM_FB_CODEL;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (tin == NULL || tout == NULL || rate_mbps <= 0 || delay_ms < 0 ||
	    limit == 0 || limit >= SLOTS)
		usage();
	fd_in = tun_open(tin);
	fd_out = tun_open(tout);
	if (fd_in < 0 || fd_out < 0) {
		fprintf(stderr, "aqmllm-emu-router: cannot create TUN devices %s/%s: "
		    "%s (root and /dev/net/tun needed)\n", tin, tout,
		    strerror(errno));
		return (1);
	}
	aqm_params_defaults(&par, fb);
	par.limit_pkts = limit;
	par.link_rate_bps = (uint64_t)(rate_mbps * 1e6);
	if (aqm_queue_init(&aq, 0, &par, (uint64_t)getpid(), aqm_shm_now_ns())) {
		fprintf(stderr, "aqmllm-emu-router: invalid AQM parameters\n");
		return (1);
	}
	if (ring_path != NULL) {
		int error = aqm_shm_create(&shm, ring_path, entries, entries, 1);

		if (error != 0) {
			fprintf(stderr, "aqmllm-emu-router: cannot create ring %s: "
			    "%s\n", ring_path, strerror(-error));
			return (1);
		}
		ring = &shm.ring;
	}
	for (k = 0; k < 2; k++) {
		q[k].slot = calloc(SLOTS, sizeof(struct pkt));
		q[k].head = q[k].tail = 0;
	}
	fwd_line.slot = calloc(SLOTS, sizeof(struct pkt));
	rev_line.slot = calloc(SLOTS, sizeof(struct pkt));
	fwd_line.head = fwd_line.tail = rev_line.head = rev_line.tail = 0;
	logrows = log_path ? malloc(LOG_MAX * sizeof(*logrows)) : NULL;
	if (q[0].slot == NULL || q[1].slot == NULL || fwd_line.slot == NULL ||
	    rev_line.slot == NULL)
		return (1);
	delay_ns = (uint64_t)(delay_ms * 1e6);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	t_start = aqm_shm_now_ns();
	printf("ready\n");
	fflush(stdout);

	while (!stopping) {
		struct pollfd pfd[2] = {
			{ .fd = fd_in, .events = POLLIN },
			{ .fd = fd_out, .events = POLLIN },
		};
		uint64_t now = aqm_shm_now_ns(), wake = now + 1000000;
		int timeout_ms;

		/* Forward: arrivals from the sender side into the AQM. */
		for (;;) {
			struct pkt p;
			uint64_t heads[2];
			ssize_t n = read(fd_in, p.data, MTU);
			int cls;

			if (n <= 0)
				break;
			fwd_pkts++;
			memset(&p.meta, 0, sizeof(p.meta));
			p.len = (uint32_t)n;
			p.meta.len = (uint32_t)n;
			p.meta.ecn = ecn_of(p.data, p.len);
			for (k = 0; k < 2; k++)
				heads[k] = fifo_len(&q[k]) ?
				    fifo_at(&q[k], q[k].head)->meta.enq_ns : 0;
			if (aqm_enqueue(&aq, ring, &p.meta, heads, now) !=
			    AQMLLM_ACT_PASS) {
				log_event(now, 0, p.len,
				    p.meta.ecn == AQMLLM_ECN_ECT1 ||
				    p.meta.ecn == AQMLLM_ECN_CE, 1);
				continue;
			}
			cls = p.meta.cls;
			if (fifo_len(&q[cls]) >= SLOTS) {
				aqm_forget(&aq, ring, &p.meta);
				rx_drops++;
				continue;
			}
			*fifo_at(&q[cls], q[cls].tail++) = p;
		}
		/* Reverse: ACKs get the delay only. */
		for (;;) {
			struct pkt *p = fifo_at(&rev_line, rev_line.tail);
			ssize_t n;

			if (fifo_len(&rev_line) >= SLOTS - 1)
				break;
			n = read(fd_out, p->data, MTU);
			if (n <= 0)
				break;
			p->len = (uint32_t)n;
			p->due_ns = now + delay_ns;
			rev_line.tail++;
			rev_pkts++;
		}
		/* The link: one packet per transmission time. */
		while (now >= link_free && fifo_len(&q[0]) + fifo_len(&q[1]) > 0 &&
		    fifo_len(&fwd_line) < SLOTS - 1) {
			uint64_t heads[2];
			uint32_t lens[2];
			struct pkt *p;
			int cls, act;

			for (k = 0; k < 2; k++) {
				struct pkt *h = fifo_len(&q[k]) ?
				    fifo_at(&q[k], q[k].head) : NULL;

				heads[k] = h ? h->meta.enq_ns : 0;
				lens[k] = h ? h->len : 0;
			}
			cls = aqm_select(&aq, heads, lens, now);
			if (cls < 0)
				break;
			p = fifo_at(&q[cls], q[cls].head++);
			act = aqm_dequeue(&aq, ring, &p->meta, heads, now);
			if (act == AQMLLM_ACT_DROP) {
				log_event(now, 0, p->len, cls, 1);
				continue;
			}
			if (act == AQMLLM_ACT_MARK) {
				mark_ce(p->data, p->len);
				log_event(now, 0, p->len, cls, 2);
			}
			log_event(now, now - p->meta.enq_ns, p->len, cls, 0);
			link_free = (link_free > now ? link_free : now) +
			    (uint64_t)((double)p->len * 8e3 / rate_mbps);
			p->due_ns = link_free + delay_ns;
			*fifo_at(&fwd_line, fwd_line.tail++) = *p;
			tx_bytes += p->len;
		}
		/* Delay lines: release what is due. */
		while (fifo_len(&fwd_line) &&
		    fifo_at(&fwd_line, fwd_line.head)->due_ns <= now) {
			struct pkt *p = fifo_at(&fwd_line, fwd_line.head++);

			if (write(fd_out, p->data, p->len) < 0)
				rx_drops++;
		}
		while (fifo_len(&rev_line) &&
		    fifo_at(&rev_line, rev_line.head)->due_ns <= now) {
			struct pkt *p = fifo_at(&rev_line, rev_line.head++);

			if (write(fd_in, p->data, p->len) < 0)
				rx_drops++;
		}
		if (ring != NULL && aqm_ring_take_wakeup(ring))
			aqm_ring_export_counters(ring, now);
		/* Sleep until the next thing to do, at most 1 ms. */
		if (fifo_len(&q[0]) + fifo_len(&q[1]) && link_free < wake)
			wake = link_free;
		if (fifo_len(&fwd_line) && fifo_at(&fwd_line, fwd_line.head)->due_ns < wake)
			wake = fifo_at(&fwd_line, fwd_line.head)->due_ns;
		if (fifo_len(&rev_line) && fifo_at(&rev_line, rev_line.head)->due_ns < wake)
			wake = fifo_at(&rev_line, rev_line.head)->due_ns;
		now = aqm_shm_now_ns();
		timeout_ms = wake > now ? (int)((wake - now) / 1000000) : 0;
		if (timeout_ms > 0 || wake > now + 50000)
			(void)poll(pfd, 2, timeout_ms);
	}
	if (ring != NULL)
		aqm_ring_export_counters(ring, aqm_shm_now_ns());
	if (log_path != NULL) {
		FILE *f = fopen(log_path, "wb");

		if (f != NULL) {
			fwrite(logrows, sizeof(*logrows), nlog, f);
			fclose(f);
		}
	}
	if (stats_path != NULL) {
		FILE *f = fopen(stats_path, "w");

		if (f != NULL) {
			fprintf(f, "{\"fwd_packets\": %llu, \"rev_packets\": %llu, "
			    "\"tx_bytes\": %llu, \"local_drops\": %llu, "
			    "\"by_src\": {\"verdict\": %llu, \"policy\": %llu, "
			    "\"fallback\": %llu, \"limit\": %llu}, \"drops\": %llu, "
			    "\"marks\": %llu, \"seconds\": %.3f",
			    (unsigned long long)fwd_pkts,
			    (unsigned long long)rev_pkts,
			    (unsigned long long)tx_bytes,
			    (unsigned long long)rx_drops,
			    (unsigned long long)aq.by_src[AQM_SRC_VERDICT],
			    (unsigned long long)aq.by_src[AQM_SRC_POLICY],
			    (unsigned long long)aq.by_src[AQM_SRC_FALLBACK],
			    (unsigned long long)aq.by_src[AQM_SRC_LIMIT],
			    (unsigned long long)aq.drops,
			    (unsigned long long)aq.marks,
			    (double)(aqm_shm_now_ns() - t_start) / 1e9);
			if (ring != NULL) {
				fprintf(f, ", \"ring\": {\"records\": %llu, "
				    "\"overflows\": %llu, \"stale_daemon\": %llu, "
				    "\"rejected\": %llu}",
				    (unsigned long long)ring->cnt[AQMLLM_CNT_RECORDS],
				    (unsigned long long)ring->cnt[AQMLLM_CNT_OVERFLOWS],
				    (unsigned long long)ring->cnt[AQMLLM_CNT_STALE_DAEMON],
				    (unsigned long long)(ring->cnt[AQMLLM_CNT_REJ_KIND] +
				    ring->cnt[AQMLLM_CNT_REJ_ACTION] +
				    ring->cnt[AQMLLM_CNT_REJ_SEQ] +
				    ring->cnt[AQMLLM_CNT_REJ_DUP] +
				    ring->cnt[AQMLLM_CNT_REJ_LATE] +
				    ring->cnt[AQMLLM_CNT_REJ_INDEX] +
				    ring->cnt[AQMLLM_CNT_REJ_POLICY]));
			}
			fprintf(f, "}\n");
			fclose(f);
		}
	}
	if (ring != NULL)
		aqm_shm_destroy(&shm, ring_path, 1);
	return (0);
}
