/*
 * emu-router: the Linux stand-in for a dummynet pipe with the llm AQM.
 *
 * Moves real IP packets between two TUN devices (side A: the senders,
 * side B: the receivers).  Packets from A to B wait in one aqm_queue of
 * the portable core (two FIFOs, L and C) behind a link of the configured
 * rate, then in a delay line; packets from B to A (the ACKs) only cross a
 * delay line.  Decisions come from the core: the daemon's verdicts through
 * the shared-memory ring when one is attached and alive, else the fallback
 * AQM.  A mark sets CE in the IP header (IPv4 checksum updated).
 *
 *   emu-router --tun-a NAME --tun-b NAME --rate BPS [--delay-us US]
 *       [--host-delay IPV4=US]... [--limit PKTS] [--fallback dualpi2|pie|codel]
 *       [--ring PATH [--ring-entries N] [--verdict-timeout-us US]
 *       [--batch N]] [--pool N] [--log FILE] [--stats FILE] [--seed N]
 *       [--rt-priority 0-99]
 *   emu-router --selftest
 *   emu-router --evlog-replay SCRIPT --log FILE
 *
 * Delays are one way; a host delay applies to packets to (A->B) and from
 * (B->A) that address, as a per-flow RTT does in dummynet with one pipe per
 * flow.  Control: SIGUSR1 writes the statistics (JSON) to --stats; lines
 * on stdin: "rate BPS", "stats", "quit".  SIGTERM/SIGINT and "quit" exit
 * cleanly, writing the statistics.  Every time is CLOCK_MONOTONIC in ns.
 *
 * The per-packet log (--log) is the event log of the ns-3 harness, written
 * by the same writer (sim/evlog/aqmllm_evlog.h): one outcome row per packet,
 * times in ns since t0_ns.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "aqm_shm.h"
#include "aqmllm_evlog.h"

#define	PKT_MAX		2048
#define	MAX_HOSTS	64
#define	READ_BURST	64
#define	TICK_NS		(1000 * 1000ULL)	/* counters, liveness */
#define	LATE_SLACK_NS	(2 * 1000 * 1000ULL)	/* link credit after a late wake */
#define	MAX_TRANS	256
#define	MAX_GAPS	64			/* longest service gaps kept */
#define	GAP_REPORT_NS	(10 * 1000 * 1000ULL)	/* gaps longer than this are kept */
#define	DIR_FWD		0
#define	DIR_REV		1

struct pbuf {
	struct pbuf *next;
	uint64_t release_ns;
	struct aqm_pkt pkt;
	uint32_t len;
	uint8_t data[PKT_MAX];
};

struct plist {
	struct pbuf *head, *tail;
	uint32_t n;
};

struct host {
	uint32_t addr;		/* network order */
	uint64_t delay_ns;
};

struct trans {
	uint64_t t_ns;
	int alive;
};

/*
 * A time the link idled with packets queued, and where the router's time
 * went just before it: asleep past the wake-up it asked for (the kernel or
 * the hypervisor did not run it) or busy in its own loop.
 */
struct gap {
	uint64_t t_ns, gap_ns, oversleep_ns, work_ns;
};

static struct {
	int fd[2];
	char name[2][IFNAMSIZ];
	uint64_t rate_bps;
	uint64_t delay_ns;
	struct host hosts[MAX_HOSTS];
	uint32_t nhosts;
	struct plist line[2][MAX_HOSTS + 1];	/* delay lines per dir, host */
	struct plist fifo[2];			/* AQM class FIFOs */
	struct pbuf *pool, *free_list;
	uint32_t pool_size, in_use, max_in_use;
	struct aqm_queue q;
	struct aqm_shm shm;
	struct aqm_ring *ring;
	const char *ring_path;
	struct aqmllm_evlog evlog;	/* --log; f == NULL: none */
	const char *stats_path;
	uint64_t t0_ns, link_free_ns, last_tick_ns;
	uint64_t max_gap_ns;
	int backlogged;			/* the link had work at link_free_ns */
	uint64_t oversleep_ns, work_ns;	/* of the last loop iteration */
	uint64_t max_stats_ns;		/* the slowest write_stats */
	struct gap gaps[MAX_GAPS];
	uint32_t ngaps;
	uint64_t gaps_total;
	int alive;
	struct trans trans[MAX_TRANS];
	uint32_t ntrans;
	/* counters */
	uint64_t rx[2], tx[2], rx_bytes[2], tx_bytes[2];
	uint64_t aqm_drops, tail_drops, marks, pool_drops, bad_pkts;
	uint64_t write_errors, read_errors, rate_changes;
	uint64_t lost_fwd;	/* forward packets lost outside the AQM */
} E;

static volatile sig_atomic_t want_stats, want_quit;

static void
on_usr1(int sig)
{
	(void)sig;
	want_stats = 1;
}

static void
on_term(int sig)
{
	(void)sig;
	want_quit = 1;
}

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "emu-router: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

/* ---- packet lists and pool ---- */

static void
pl_push(struct plist *l, struct pbuf *b)
{
	b->next = NULL;
	if (l->tail != NULL)
		l->tail->next = b;
	else
		l->head = b;
	l->tail = b;
	l->n++;
}

static struct pbuf *
pl_pop(struct plist *l)
{
	struct pbuf *b = l->head;

	if (b == NULL)
		return (NULL);
	l->head = b->next;
	if (l->head == NULL)
		l->tail = NULL;
	l->n--;
	return (b);
}

static struct pbuf *
pbuf_get(void)
{
	struct pbuf *b = E.free_list;

	if (b == NULL)
		return (NULL);
	E.free_list = b->next;
	if (++E.in_use > E.max_in_use)
		E.max_in_use = E.in_use;
	return (b);
}

static void
pbuf_put(struct pbuf *b)
{
	b->next = E.free_list;
	E.free_list = b;
	E.in_use--;
}

/* ---- IP header access ---- */

static uint16_t
csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ((uint16_t)s);
}

/* Full IPv4 header checksum (the self-test's reference). */
static uint16_t
ip4_csum(const uint8_t *h, size_t hlen)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i < hlen; i += 2)
		if (i != 10)
			s += (uint32_t)(h[i] << 8 | h[i + 1]);
	return ((uint16_t)~csum_fold(s));
}

/* Set CE; for IPv4 update the checksum incrementally (RFC 1624, eqn. 3). */
static void
set_ce(uint8_t *p, uint32_t len)
{
	uint16_t oldw, neww, hc;
	uint32_t s;

	if (len >= 20 && (p[0] >> 4) == 4) {
		oldw = (uint16_t)(p[0] << 8 | p[1]);
		p[1] |= AQMLLM_ECN_CE;
		neww = (uint16_t)(p[0] << 8 | p[1]);
		hc = (uint16_t)(p[10] << 8 | p[11]);
		s = (uint16_t)~hc + (uint32_t)(uint16_t)~oldw + neww;
		hc = (uint16_t)~csum_fold(s);
		p[10] = (uint8_t)(hc >> 8);
		p[11] = (uint8_t)hc;
	} else if (len >= 40 && (p[0] >> 4) == 6)
		p[1] |= AQMLLM_ECN_CE << 4;
}

static uint32_t
mix32(uint32_t h, uint32_t v)
{
	h ^= v;
	h *= 0x9e3779b1U;
	return (h ^ (h >> 15));
}

/*
 * Parse what the core needs: ECN codepoint, flow hash, and the address
 * on side B (destination forward, source reverse) for the host delay.
 * Returns -1 for anything that is not a well-formed IP packet.
 */
static int
parse(const uint8_t *p, uint32_t len, int dir, uint8_t *ecn, uint32_t *hash,
    uint32_t *baddr)
{
	uint32_t h = 0x811c9dc5U, ihl, proto, i;
	uint32_t src, dst;

	*baddr = 0;
	if (len >= 20 && (p[0] >> 4) == 4) {
		ihl = (uint32_t)(p[0] & 0x0f) * 4;
		if (ihl < 20 || ihl > len || ((uint32_t)p[2] << 8 | p[3]) != len)
			return (-1);
		*ecn = p[1] & 3;
		memcpy(&src, p + 12, 4);
		memcpy(&dst, p + 16, 4);
		proto = p[9];
		h = mix32(mix32(mix32(h, src), dst), proto);
		if ((proto == 6 || proto == 17) && len >= ihl + 4)
			h = mix32(h, (uint32_t)p[ihl] << 24 | (uint32_t)p[ihl + 1]
			    << 16 | (uint32_t)p[ihl + 2] << 8 | p[ihl + 3]);
		*baddr = dir == DIR_FWD ? dst : src;
	} else if (len >= 40 && (p[0] >> 4) == 6) {
		if (((uint32_t)p[4] << 8 | p[5]) + 40 != len)
			return (-1);
		*ecn = (p[1] >> 4) & 3;
		for (i = 8; i < 40; i += 4)
			h = mix32(h, (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
			    (uint32_t)p[i + 2] << 8 | p[i + 3]);
		h = mix32(h, p[6]);
	} else
		return (-1);
	*hash = h;
	return (0);
}

static uint32_t
host_index(uint32_t addr)
{
	uint32_t i;

	for (i = 0; i < E.nhosts; i++)
		if (E.hosts[i].addr == addr)
			return (i + 1);
	return (0);
}

static uint64_t
host_delay(uint32_t idx)
{
	return (idx == 0 ? E.delay_ns : E.hosts[idx - 1].delay_ns);
}

/* ---- logging, statistics ---- */

/* One outcome row of a forward packet (sim/evlog/aqmllm_evlog.h). */
static void
log_event(uint64_t now, const struct pbuf *b, int ev)
{
	(void)aqmllm_evlog_packet(&E.evlog, now, b->pkt.enq_ns, b->data, b->len,
	    (uint8_t)ev, b->pkt.ecn, b->pkt.src);
}

static long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return (kb);
}

static void
write_stats(uint64_t now)
{
	static const char *srcs[] = { "none", "verdict", "policy", "fallback",
	    "limit" };
	char tmp[4096];
	FILE *f;
	uint64_t held = 0;
	uint32_t i;

	if (E.stats_path == NULL)
		return;
	for (i = 0; i <= E.nhosts; i++)
		held += E.line[DIR_FWD][i].n;
	if (E.evlog.f != NULL)
		fflush(E.evlog.f);
	snprintf(tmp, sizeof(tmp), "%s.tmp", E.stats_path);
	if ((f = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "emu-router: cannot write %s: %s\n", tmp,
		    strerror(errno));
		return;
	}
	if (E.ring != NULL)
		aqm_ring_export_counters(E.ring, now);
	fprintf(f, "{\"t0_ns\": %llu, \"now_ns\": %llu, \"pid\": %d, "
	    "\"rss_kb\": %ld,\n", (unsigned long long)E.t0_ns,
	    (unsigned long long)now, (int)getpid(), rss_kb());
	fprintf(f, " \"rate_bps\": %llu, \"delay_ns\": %llu, \"limit_pkts\": %u, "
	    "\"fallback\": %u,\n", (unsigned long long)E.rate_bps,
	    (unsigned long long)E.delay_ns, E.q.par.limit_pkts, E.q.par.fb_id);
	fprintf(f, " \"rx_fwd\": %llu, \"rx_rev\": %llu, \"tx_fwd\": %llu, "
	    "\"tx_rev\": %llu, \"rx_fwd_bytes\": %llu, \"tx_fwd_bytes\": %llu,\n",
	    (unsigned long long)E.rx[0], (unsigned long long)E.rx[1],
	    (unsigned long long)E.tx[0], (unsigned long long)E.tx[1],
	    (unsigned long long)E.rx_bytes[0], (unsigned long long)E.tx_bytes[0]);
	fprintf(f, " \"aqm_drops\": %llu, \"tail_drops\": %llu, \"marks\": %llu, "
	    "\"pool_drops\": %llu, \"bad_pkts\": %llu, \"write_errors\": %llu, "
	    "\"read_errors\": %llu, \"rate_changes\": %llu,\n",
	    (unsigned long long)E.aqm_drops, (unsigned long long)E.tail_drops,
	    (unsigned long long)E.marks, (unsigned long long)E.pool_drops,
	    (unsigned long long)E.bad_pkts, (unsigned long long)E.write_errors,
	    (unsigned long long)E.read_errors,
	    (unsigned long long)E.rate_changes);
	fprintf(f, " \"queued\": [%u, %u], \"in_delay_lines\": %u, "
	    "\"pool_size\": %u, \"pool_in_use\": %u, \"pool_max_in_use\": %u, "
	    "\"max_service_gap_ns\": %llu,\n", E.fifo[0].n, E.fifo[1].n,
	    E.in_use - E.fifo[0].n - E.fifo[1].n, E.pool_size, E.in_use,
	    E.max_in_use, (unsigned long long)E.max_gap_ns);
	/* Every forward packet is sent, dropped by a decision, held or lost. */
	fprintf(f, " \"in_line_fwd\": %llu, \"lost_fwd\": %llu, "
	    "\"fwd_unaccounted\": %lld,\n", (unsigned long long)held,
	    (unsigned long long)E.lost_fwd, (long long)(E.rx[0] - E.tx[0] -
	    E.aqm_drops - E.tail_drops - E.lost_fwd - E.fifo[0].n - E.fifo[1].n -
	    held));
	fprintf(f, " \"by_src\": {");
	for (i = 0; i < 5; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", srcs[i],
		    (unsigned long long)E.q.by_src[i]);
	fprintf(f, "},\n \"ring\": %s, \"ring_counters\": [",
	    E.ring != NULL ? "true" : "false");
	for (i = 0; E.ring != NULL && i < AQMLLM_CNT_COUNT; i++)
		fprintf(f, "%s%llu", i ? ", " : "",
		    (unsigned long long)E.ring->cnt[i]);
	fprintf(f, "],\n \"daemon_alive\": %d, \"alive_transitions\": [",
	    E.alive);
	for (i = 0; i < E.ntrans; i++)
		fprintf(f, "%s[%llu, %d]", i ? ", " : "",
		    (unsigned long long)E.trans[i].t_ns, E.trans[i].alive);
	fprintf(f, "],\n \"max_stats_write_ns\": %llu, \"service_gaps_total\": "
	    "%llu, \"service_gaps\": [", (unsigned long long)E.max_stats_ns,
	    (unsigned long long)E.gaps_total);
	for (i = 0; i < E.ngaps; i++)
		fprintf(f, "%s[%llu, %llu, %llu, %llu]", i ? ", " : "",
		    (unsigned long long)E.gaps[i].t_ns,
		    (unsigned long long)E.gaps[i].gap_ns,
		    (unsigned long long)E.gaps[i].oversleep_ns,
		    (unsigned long long)E.gaps[i].work_ns);
	fprintf(f, "]}\n");
	if (fclose(f) != 0 || rename(tmp, E.stats_path) != 0)
		fprintf(stderr, "emu-router: cannot write %s: %s\n",
		    E.stats_path, strerror(errno));
}

/* Record daemon liveness changes as the packet path sees them. */
static void
note_alive(uint64_t now)
{
	int a;

	if (E.ring == NULL)
		return;
	a = aqm_ring_daemon_alive(E.ring, now) != 0;
	if (a == E.alive)
		return;
	E.alive = a;
	if (E.ntrans == MAX_TRANS) {
		memmove(&E.trans[0], &E.trans[1],
		    (MAX_TRANS - 1) * sizeof(E.trans[0]));
		E.ntrans--;
	}
	E.trans[E.ntrans].t_ns = now;
	E.trans[E.ntrans].alive = a;
	E.ntrans++;
}

/* ---- the packet path ---- */

static void
note_gap(uint64_t now, uint64_t gap)
{
	uint32_t i, slot;

	if (gap > E.max_gap_ns)
		E.max_gap_ns = gap;
	if (gap < GAP_REPORT_NS)
		return;
	E.gaps_total++;
	/* Keep the longest ones: the shortest kept makes room. */
	if (E.ngaps < MAX_GAPS)
		slot = E.ngaps++;
	else {
		slot = 0;
		for (i = 1; i < MAX_GAPS; i++)
			if (E.gaps[i].gap_ns < E.gaps[slot].gap_ns)
				slot = i;
		if (E.gaps[slot].gap_ns >= gap)
			return;
	}
	E.gaps[slot].t_ns = now;
	E.gaps[slot].gap_ns = gap;
	E.gaps[slot].oversleep_ns = E.oversleep_ns;
	E.gaps[slot].work_ns = E.work_ns;
}

static void
heads(uint64_t enq[2], uint32_t hlen[2])
{
	int k;

	for (k = 0; k < 2; k++) {
		enq[k] = E.fifo[k].head != NULL ? E.fifo[k].head->pkt.enq_ns : 0;
		if (hlen != NULL)
			hlen[k] = E.fifo[k].head != NULL ? E.fifo[k].head->len : 0;
	}
}

static void
arrive(struct pbuf *b, int dir, uint64_t now)
{
	uint64_t enq[2];
	uint32_t addr, hash;
	uint8_t ecn;
	int act;

	if (parse(b->data, b->len, dir, &ecn, &hash, &addr) != 0) {
		E.bad_pkts++;
		if (dir == DIR_FWD)
			E.lost_fwd++;
		pbuf_put(b);
		return;
	}
	if (dir == DIR_REV) {
		uint32_t hi = host_index(addr);

		b->release_ns = now + host_delay(hi);
		pl_push(&E.line[DIR_REV][hi], b);
		return;
	}
	memset(&b->pkt, 0, sizeof(b->pkt));
	b->pkt.len = b->len;
	b->pkt.ecn = ecn;
	b->pkt.flow_hash = hash;
	heads(enq, NULL);
	act = aqm_enqueue(&E.q, E.ring, &b->pkt, enq, now);
	if (act != AQMLLM_ACT_PASS) {
		if (b->pkt.src == AQM_SRC_LIMIT)
			E.tail_drops++;
		else
			E.aqm_drops++;
		log_event(now, b, b->pkt.src == AQM_SRC_LIMIT ?
		    AQMLLM_EV_DROP_TAIL : AQMLLM_EV_DROP_ENQ);
		pbuf_put(b);
		return;
	}
	/* The link was idle: service starts now, not at an old link_free. */
	if (E.fifo[0].n + E.fifo[1].n == 0 && E.link_free_ns < now)
		E.link_free_ns = now;
	pl_push(&E.fifo[b->pkt.cls & 1], b);
}

/* Serve the bottleneck: every packet whose turn on the link has come. */
static void
serve(uint64_t now)
{
	struct pbuf *b;
	uint64_t enq[2], start, tx_ns;
	uint32_t hlen[2], addr, hash, hi;
	uint8_t ecn;
	int cls, act;

	while (E.link_free_ns <= now) {
		heads(enq, hlen);
		cls = aqm_select(&E.q, enq, hlen, now);
		if (cls < 0)
			break;
		b = pl_pop(&E.fifo[cls]);
		act = aqm_dequeue(&E.q, E.ring, &b->pkt, enq, now);
		if (act == AQMLLM_ACT_DROP) {
			E.aqm_drops++;
			log_event(now, b, AQMLLM_EV_DROP_DEQ);
			pbuf_put(b);
			continue;
		}
		if (act == AQMLLM_ACT_MARK) {
			set_ce(b->data, b->len);
			E.marks++;
			log_event(now, b, AQMLLM_EV_MARKED);
		} else
			log_event(now, b, AQMLLM_EV_SERVED);
		/* Keep the link's credit after a late wakeup, within limits. */
		start = now - E.link_free_ns <= LATE_SLACK_NS ? E.link_free_ns :
		    now;
		if (start > E.link_free_ns && E.backlogged)
			note_gap(now, start - E.link_free_ns);
		tx_ns = (uint64_t)b->len * 8 * 1000000000ULL / E.rate_bps;
		E.link_free_ns = start + tx_ns;
		(void)parse(b->data, b->len, DIR_FWD, &ecn, &hash, &addr);
		hi = host_index(addr);
		b->release_ns = E.link_free_ns + host_delay(hi);
		pl_push(&E.line[DIR_FWD][hi], b);
	}
	E.backlogged = E.fifo[0].n + E.fifo[1].n > 0;
	if (E.ring != NULL)
		(void)aqm_ring_take_wakeup(E.ring);
}

/* Deliver what left the delay lines; returns the next release time. */
static uint64_t
release(uint64_t now)
{
	struct pbuf *b;
	uint64_t next = UINT64_MAX;
	uint32_t d, h;
	ssize_t n;

	for (d = 0; d < 2; d++) {
		for (h = 0; h <= E.nhosts; h++) {
			struct plist *l = &E.line[d][h];

			while ((b = l->head) != NULL && b->release_ns <= now) {
				pl_pop(l);
				/* A forward packet goes out on B, a reverse one on A. */
				n = write(E.fd[d == DIR_FWD ? 1 : 0], b->data,
				    b->len);
				if (n == (ssize_t)b->len) {
					E.tx[d]++;
					E.tx_bytes[d] += b->len;
				} else {
					E.write_errors++;
					if (d == DIR_FWD)
						E.lost_fwd++;
				}
				pbuf_put(b);
			}
			if (b != NULL && b->release_ns < next)
				next = b->release_ns;
		}
	}
	return (next);
}

static void
rx(int side, uint64_t now)
{
	struct pbuf *b;
	ssize_t n;
	int i;

	for (i = 0; i < READ_BURST; i++) {
		b = pbuf_get();
		if (b == NULL) {
			/* No buffer: read it to keep the TUN queue moving, drop it. */
			static uint8_t sink[PKT_MAX];

			n = read(E.fd[side], sink, sizeof(sink));
			if (n <= 0)
				return;
			E.rx[side]++;
			E.pool_drops++;
			if (side == 0)
				E.lost_fwd++;
			continue;
		}
		n = read(E.fd[side], b->data, sizeof(b->data));
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				E.read_errors++;
			pbuf_put(b);
			return;
		}
		b->len = (uint32_t)n;
		E.rx[side]++;
		E.rx_bytes[side] += (uint64_t)n;
		/* Side A sends forward (through the AQM), side B reverse. */
		arrive(b, side == 0 ? DIR_FWD : DIR_REV, now);
	}
}

/* ---- set-up ---- */

static int
tun_open(const char *name, char *out)
{
	struct ifreq ifr;
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		die("cannot open /dev/net/tun: %s (TUN support and root are "
		    "needed)", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) != 0)
		die("cannot create TUN device: %s", strerror(errno));
	snprintf(out, IFNAMSIZ, "%s", ifr.ifr_name);
	return (fd);
}

static uint64_t
parse_u64(const char *what, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo ||
	    v > hi) {
		fprintf(stderr, "emu-router: %s: '%s' is not an integer in "
		    "[%llu, %llu]\n", what, s, (unsigned long long)lo,
		    (unsigned long long)hi);
		exit(2);
	}
	return ((uint64_t)v);
}

static void
add_host(const char *arg)
{
	char buf[64], *eq;
	struct in_addr a;

	snprintf(buf, sizeof(buf), "%s", arg);
	eq = strchr(buf, '=');
	if (eq == NULL)
		die("--host-delay '%s': expected IPV4=US", arg);
	*eq = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		die("--host-delay: '%s' is not an IPv4 address", buf);
	if (E.nhosts == MAX_HOSTS)
		die("--host-delay: more than %s hosts", "64");
	E.hosts[E.nhosts].addr = a.s_addr;
	E.hosts[E.nhosts].delay_ns = parse_u64("--host-delay", eq + 1, 0,
	    10000000) * 1000;
	E.nhosts++;
}

/* Incremental CE checksums against full recomputation on random headers. */
static int
selftest(void)
{
	uint8_t h[60], v6[40];
	uint32_t i, ihl, fails = 0, s = 12345;
	uint16_t c;

	for (i = 0; i < 200000; i++) {
		uint32_t k;

		ihl = 20 + 4 * (i % 11);
		for (k = 0; k < ihl; k++) {
			s = s * 1103515245 + 12345;
			h[k] = (uint8_t)(s >> 16);
		}
		h[0] = (uint8_t)(0x40 | ihl / 4);
		c = ip4_csum(h, ihl);
		h[10] = (uint8_t)(c >> 8);
		h[11] = (uint8_t)c;
		set_ce(h, ihl);
		if ((h[1] & 3) != 3 || ip4_csum(h, ihl) !=
		    (uint16_t)(h[10] << 8 | h[11]))
			fails++;
	}
	memset(v6, 0, sizeof(v6));
	v6[0] = 0x60;
	v6[1] = 0x1f;	/* traffic class 0x01: ECT(1), low nibble of flow */
	set_ce(v6, sizeof(v6));
	if (((v6[1] >> 4) & 3) != 3 || (v6[1] & 0x0f) != 0x0f || v6[0] != 0x60)
		fails++;
	printf("selftest: %u checks failed\n", fails);
	return (fails != 0);
}

/*
 * Write the event log of a scripted sequence of outcomes through the same
 * log_event() the packet path calls (a test compares it with ns-3's writer).
 * SCRIPT lines: now_ns enq_ns event src ip-packet-in-hex.
 */
static int
evlog_replay(const char *script, const char *log_path)
{
	static struct pbuf b;
	char hex[2 * PKT_MAX + 1];
	unsigned long long now, enq;
	unsigned ev, src, byte;
	uint32_t hash, addr, i;
	uint8_t ecn;
	FILE *f;

	if (log_path == NULL)
		die("--evlog-replay needs --log%s", "");
	if ((f = fopen(script, "r")) == NULL)
		die("cannot open %s", script);
	if (aqmllm_evlog_open(&E.evlog, log_path, 0) != 0)
		die("cannot open --log: %s", strerror(errno));
	while (fscanf(f, "%llu %llu %u %u %4096s", &now, &enq, &ev, &src, hex) == 5) {
		b.len = (uint32_t)strlen(hex) / 2;
		for (i = 0; i < b.len && sscanf(hex + 2 * i, "%2x", &byte) == 1; i++)
			b.data[i] = (uint8_t)byte;
		if (ev >= AQMLLM_EV_COUNT || parse(b.data, b.len, DIR_FWD, &ecn, &hash,
		    &addr) != 0)
			die("bad line in the replay script %s", script);
		memset(&b.pkt, 0, sizeof(b.pkt));
		b.pkt.enq_ns = enq;
		b.pkt.ecn = ecn;
		b.pkt.src = (uint8_t)src;
		log_event(now, &b, (int)ev);
	}
	fclose(f);
	return (aqmllm_evlog_close(&E.evlog) != 0);
}

static void
usage(void)
{
	fprintf(stderr, "usage: emu-router --tun-a NAME --tun-b NAME --rate BPS "
	    "[--delay-us US] [--host-delay IPV4=US]... [--limit PKTS]\n"
	    "    [--fallback dualpi2|pie|codel] [--ring PATH] [--ring-entries N]"
	    " [--verdict-timeout-us US]\n    [--batch N] [--pool N] [--log FILE]"
	    " [--stats FILE] [--seed N]\n    [--rt-priority 0-99]\n       emu-router --selftest\n"
	    "       emu-router --evlog-replay SCRIPT --log FILE\n");
	exit(2);
}

static void
control(char *line, uint64_t now)
{
	char *nl = strchr(line, '\n');

	if (nl != NULL)
		*nl = '\0';
	if (strncmp(line, "rate ", 5) == 0) {
		E.rate_bps = parse_u64("rate", line + 5, 1000, 100000000000ULL);
		E.q.par.link_rate_bps = E.rate_bps;
		E.rate_changes++;
	} else if (strcmp(line, "stats") == 0)
		want_stats = 1;
	else if (strcmp(line, "quit") == 0)
		want_quit = 1;
	else if (line[0] != '\0')
		fprintf(stderr, "emu-router: unknown command '%s' (rate BPS, "
		    "stats, quit)\n", line);
	(void)now;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tun-a", required_argument, NULL, 'a' },
		{ "tun-b", required_argument, NULL, 'b' },
		{ "rate", required_argument, NULL, 'r' },
		{ "delay-us", required_argument, NULL, 'd' },
		{ "host-delay", required_argument, NULL, 'H' },
		{ "limit", required_argument, NULL, 'l' },
		{ "fallback", required_argument, NULL, 'f' },
		{ "ring", required_argument, NULL, 'R' },
		{ "ring-entries", required_argument, NULL, 'e' },
		{ "verdict-timeout-us", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'B' },
		{ "pool", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'L' },
		{ "stats", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' },
		{ "rt-priority", required_argument, NULL, 'P' },
		{ "selftest", no_argument, NULL, 'T' },
		{ "evlog-replay", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tun_a = NULL, *tun_b = NULL, *log_path = NULL, *replay = NULL;
	uint64_t vtimeout_ns = 0, seed = 1, now, next, wake;
	uint64_t t_top = 0, t_poll = 0, t_back = 0, t_stats;
	uint32_t limit = 1000, entries = 4096, batch = 0, fb = AQMLLM_FB_DUALPI2;
	struct aqm_params par;
	struct pollfd pfd[3];
	struct sigaction sa;
	struct timespec ts;
	char cmd[256];
	size_t cmdlen = 0;
	int ch, error, stdin_open = 1, rt_prio = 0;
	uint32_t i;

	E.pool_size = 16384;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': tun_a = optarg; break;
		case 'b': tun_b = optarg; break;
		case 'r':
			E.rate_bps = parse_u64("--rate", optarg, 1000,
			    100000000000ULL);
			break;
		case 'd':
			E.delay_ns = parse_u64("--delay-us", optarg, 0,
			    10000000) * 1000;
			break;
		case 'H': add_host(optarg); break;
		case 'l':
			limit = (uint32_t)parse_u64("--limit", optarg, 2, 1 << 20);
			break;
		case 'R': E.ring_path = optarg; break;
		case 'e':
			entries = (uint32_t)parse_u64("--ring-entries", optarg,
			    AQMLLM_MIN_ENTRIES, AQMLLM_MAX_ENTRIES);
			break;
		case 't':
			vtimeout_ns = parse_u64("--verdict-timeout-us", optarg,
			    1, 4000000) * 1000;
			break;
		case 'B':
			batch = (uint32_t)parse_u64("--batch", optarg, 1,
			    AQMLLM_MAX_ENTRIES);
			break;
		case 'p':
			E.pool_size = (uint32_t)parse_u64("--pool", optarg, 64,
			    1 << 20);
			break;
		case 'L': log_path = optarg; break;
		case 'S': E.stats_path = optarg; break;
		case 's': seed = parse_u64("--seed", optarg, 0, UINT64_MAX); break;
		case 'T': return (selftest());
		case 'X': replay = optarg; break;
		case 'P':
			rt_prio = (int)parse_u64("--rt-priority", optarg, 0, 99);
			break;
		case 'f':
			if (strcmp(optarg, "dualpi2") == 0)
				fb = AQMLLM_FB_DUALPI2;
			else if (strcmp(optarg, "pie") == 0)
				fb = AQMLLM_FB_PIE;
			else if (strcmp(optarg, "codel") == 0)
				fb = AQMLLM_FB_CODEL;
			else
				die("unknown --fallback '%s' (dualpi2, pie, codel)",
				    optarg);
			break;
		default:
			usage();
		}
	}
	if (replay != NULL)
		return (evlog_replay(replay, log_path));
	if (tun_a == NULL || tun_b == NULL || E.rate_bps == 0 || optind != argc)
		usage();
	if (E.pool_size < limit + 64)
		die("--pool must exceed --limit by 64 buffers at least%s", "");

	aqm_params_defaults(&par, fb);
	par.limit_pkts = limit;
	par.link_rate_bps = E.rate_bps;
	now = aqm_shm_now_ns();
	E.t0_ns = now;
	if (aqm_queue_init(&E.q, 0, &par, seed, now) != 0)
		die("invalid queue parameters%s", "");
	if (E.ring_path != NULL) {
		error = aqm_shm_create(&E.shm, E.ring_path, entries, entries, 1);
		if (error != 0) {
			fprintf(stderr, "emu-router: cannot create ring %s: %s\n",
			    E.ring_path, strerror(-error));
			return (1);
		}
		E.ring = &E.shm.ring;
		if (aqm_ring_configure(E.ring, batch ? batch : E.ring->batch_size,
		    vtimeout_ns ? vtimeout_ns : E.ring->verdict_timeout_ns) != 0)
			die("--batch must not exceed --ring-entries%s", "");
	}
	E.pool = calloc(E.pool_size, sizeof(*E.pool));
	if (E.pool == NULL)
		die("cannot allocate %s packet buffers", "the");
	for (i = 0; i < E.pool_size; i++) {
		E.pool[i].next = E.free_list;
		E.free_list = &E.pool[i];
	}
	if (log_path != NULL) {
		if (aqmllm_evlog_open(&E.evlog, log_path, E.t0_ns) != 0)
			die("cannot open --log: %s", strerror(errno));
	}
	E.fd[0] = tun_open(tun_a, E.name[0]);
	E.fd[1] = tun_open(tun_b, E.name[1]);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * dummynet runs in the kernel, where no user process preempts it: with
	 * --rt-priority the router gets SCHED_FIFO, so traffic generators and
	 * the daemon sharing its cores do not run ahead of it.
	 */
	if (rt_prio > 0) {
		struct sched_param sp = { .sched_priority = rt_prio };

		if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
			fprintf(stderr, "emu-router: --rt-priority %d refused "
			    "(%s); running at normal priority\n", rt_prio,
			    strerror(errno));
	}
	/* Short sleeps must be short: 1 us timer slack. */
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

	printf("{\"ready\": true, \"tun_a\": \"%s\", \"tun_b\": \"%s\", "
	    "\"t0_ns\": %llu, \"pid\": %d}\n", E.name[0], E.name[1],
	    (unsigned long long)E.t0_ns, (int)getpid());
	fflush(stdout);

	while (!want_quit) {
		now = aqm_shm_now_ns();
		/* Where the time went since the last iteration's top. */
		if (t_back != 0)
			E.work_ns = (t_poll - t_top) + (now - t_back);
		t_top = now;
		rx(0, now);
		rx(1, now);
		serve(now);
		next = release(now);
		if (now - E.last_tick_ns >= TICK_NS) {
			E.last_tick_ns = now;
			note_alive(now);
			if (E.ring != NULL)
				aqm_ring_export_counters(E.ring, now);
		}
		if (want_stats) {
			/* A fresh clock: the request may be newer than now. */
			want_stats = 0;
			t_stats = aqm_shm_now_ns();
			write_stats(t_stats);
			t_stats = aqm_shm_now_ns() - t_stats;
			if (t_stats > E.max_stats_ns)
				E.max_stats_ns = t_stats;
		}
		wake = E.last_tick_ns + TICK_NS;
		if (next < wake)
			wake = next;
		if (E.fifo[0].n + E.fifo[1].n > 0 && E.link_free_ns < wake)
			wake = E.link_free_ns;
		pfd[0].fd = E.fd[0];
		pfd[1].fd = E.fd[1];
		pfd[2].fd = stdin_open ? 0 : -1;
		pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
		now = aqm_shm_now_ns();
		t_poll = now;
		if (wake > now) {
			ts.tv_sec = (time_t)((wake - now) / 1000000000ULL);
			ts.tv_nsec = (long)((wake - now) % 1000000000ULL);
			if (ppoll(pfd, 3, &ts, NULL) < 0 && errno != EINTR)
				die("ppoll: %s", strerror(errno));
			t_back = aqm_shm_now_ns();
			E.oversleep_ns = t_back > wake ? t_back - wake : 0;
		} else {
			pfd[2].revents = 0;
			t_back = now;
			E.oversleep_ns = 0;
		}
		if (stdin_open && (pfd[2].revents & (POLLIN | POLLHUP))) {
			ssize_t n = read(0, cmd + cmdlen, sizeof(cmd) - 1 - cmdlen);

			if (n == 0)
				stdin_open = 0;
			else if (n > 0) {
				char *nl;

				cmdlen += (size_t)n;
				cmd[cmdlen] = '\0';
				while ((nl = strchr(cmd, '\n')) != NULL) {
					*nl = '\0';
					control(cmd, now);
					memmove(cmd, nl + 1, cmdlen - (size_t)(nl +
					    1 - cmd) + 1);
					cmdlen -= (size_t)(nl + 1 - cmd);
				}
				if (cmdlen == sizeof(cmd) - 1)
					cmdlen = 0;	/* an absurd line */
			}
		}
	}
	now = aqm_shm_now_ns();
	write_stats(now);
	if (aqmllm_evlog_close(&E.evlog) != 0)
		fprintf(stderr, "emu-router: the event log is incomplete: %s\n",
		    strerror(errno));
	if (E.ring != NULL)
		aqm_shm_destroy(&E.shm, E.ring_path, 1);
	close(E.fd[0]);
	close(E.fd[1]);
	free(E.pool);
	return (0);
}
