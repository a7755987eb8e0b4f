/*
 * aqmllm-prague-send: a Prague-like scalable congestion-controlled sender
 * over UDP, the emulator's L4S traffic (the kernel here has no DCTCP or
 * Prague).  The controller is prague_cc.c; this file is the transport:
 * pacing, ACK processing, loss detection, RTO and reporting.
 *
 *   aqmllm-prague-send --dst IPV4 --port N --seconds S [--mss BYTES]
 *       [--ecn ect1|ect0|not-ect] [--rtt-ref-ms MS] [--ai PKTS]
 *       [--g-shift N] [--init-cwnd PKTS] [--pacing-ss X] [--pacing-ca X]
 *       [--pacing-credit PKTS] [--min-rto-ms MS] [--report-ms MS]
 *       [--rt-priority 0-99]
 *   aqmllm-prague-send --selftest
 *
 * Every data packet carries the codepoint --ecn (ECT(1) by default).  The
 * receiver (aqmllm-prague-recv) acknowledges every few packets with its
 * cumulative delivered and CE-marked byte counts (see prague_wire.h).
 *
 * Pacing: at --pacing-ss / --pacing-ca times cwnd/srtt; a timer that fires
 * late may catch up --pacing-credit packets (1) back to back, while after a
 * wait for the window pacing restarts from the time it opens.
 *
 * Loss detection is time-based (RACK-like), so reordering within the
 * reordering window is not taken for loss: a packet is lost when a later
 * one has been acknowledged and it is older than the latest RTT plus the
 * window (a quarter of the minimum RTT, at least 1 ms, widened each time a
 * loss proves spurious).  A timeout with nothing acknowledged is an RTO.
 *
 * stdout: one JSON line every --report-ms (t, cwnd, alpha, srtt, pacing
 * rate, delivered rate and CE fraction over the interval, losses), then a
 * summary line with "summary": true.  Times are CLOCK_MONOTONIC.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen_common.h"
#include "prague_cc.h"
#include "prague_wire.h"

#define	PROG		"aqmllm-prague-send"
#define	RING		(1u << 16)	/* packets tracked; flight stays below half */
#define	MAX_MSS		1472
#define	MIN_REO_NS	(1000 * 1000ULL)
#define	MAX_BACKOFF	64

enum { ST_FREE, ST_FLIGHT, ST_ACKED, ST_LOST };

struct sent {
	uint64_t send_ns;
	uint32_t epoch;		/* loss epoch when declared lost */
	uint16_t bytes;
	uint8_t state;
};

static struct {
	int fd;
	uint32_t flow_id, mss;
	struct prague_cc cc;
	struct sent ring[RING];
	uint64_t next_seq, oldest;	/* oldest: no packet below is in flight */
	uint64_t largest_acked;
	int have_acked;
	uint64_t inflight;
	uint64_t srtt, rttvar, min_rtt, latest_rtt;
	uint64_t min_rto_ns, last_progress_ns, loss_timer_ns;
	unsigned backoff, reo_mult;
	uint64_t next_send_ns;
	uint64_t credit;	/* pacing credit, packets */
	uint64_t cwnd_full_ns;	/* the last time the window stopped sending */
	int blocked;		/* the window, not pacing, holds the next packet */
	/* the receiver's counters as last seen */
	uint64_t fb_rx_pkts, fb_rx_bytes, fb_ce_bytes, fb_not_l4s;
	/* totals */
	uint64_t sent_pkts, lost_pkts, spurious, bad_pkts, send_errors;
	uint64_t acks, rtt_samples;
	double cwnd_sum;
	uint64_t cwnd_n;
} S;

static volatile sig_atomic_t want_quit;

static void
on_term(int sig)
{
	(void)sig;
	want_quit = 1;
}

static struct sent *
slot(uint64_t seq)
{
	return (&S.ring[seq & (RING - 1)]);
}

static uint64_t
rto_ns(void)
{
	uint64_t r;

	if (S.srtt == 0)
		r = 1000 * 1000 * 1000ULL;
	else {
		r = S.srtt + 4 * S.rttvar;
		if (r < S.min_rto_ns)
			r = S.min_rto_ns;
	}
	return (r * S.backoff);
}

static uint64_t
reo_wnd_ns(void)
{
	uint64_t w = S.min_rtt / 4 * S.reo_mult;

	if (w < MIN_REO_NS)
		w = MIN_REO_NS;
	if (S.srtt != 0 && w > S.srtt)
		w = S.srtt;
	return (w);
}

static void
rtt_sample(uint64_t r)
{
	S.latest_rtt = r;
	S.rtt_samples++;
	if (S.min_rtt == 0 || r < S.min_rtt)
		S.min_rtt = r;
	if (S.srtt == 0) {
		S.srtt = r;
		S.rttvar = r / 2;
	} else {
		uint64_t d = S.srtt > r ? S.srtt - r : r - S.srtt;

		S.rttvar = (3 * S.rttvar + d) / 4;
		S.srtt = (7 * S.srtt + r) / 8;
	}
}

static void
advance_oldest(void)
{
	while (S.oldest < S.next_seq && slot(S.oldest)->state != ST_FLIGHT)
		S.oldest++;
}

/* A packet the receiver has: out of flight, or a loss that was not one. */
static void
acked(uint64_t seq)
{
	struct sent *p = slot(seq);

	if (p->state == ST_FLIGHT) {
		p->state = ST_ACKED;
		S.inflight -= p->bytes;
	} else if (p->state == ST_LOST) {
		p->state = ST_ACKED;
		S.spurious++;
		if (p->epoch == S.cc.epoch && S.reo_mult < 4 &&
		    S.cc.epoch_lost != 0)
			S.reo_mult++;
		prague_on_spurious(&S.cc, p->epoch);
	}
}

static void
detect_loss(uint64_t now)
{
	uint64_t seq, thresh, r;

	S.loss_timer_ns = 0;
	if (!S.have_acked)
		return;
	r = S.latest_rtt > S.srtt ? S.latest_rtt : S.srtt;
	thresh = r + reo_wnd_ns();
	advance_oldest();
	for (seq = S.oldest; seq < S.largest_acked; seq++) {
		struct sent *p = slot(seq);

		if (p->state != ST_FLIGHT)
			continue;
		if (now < p->send_ns + thresh) {
			S.loss_timer_ns = p->send_ns + thresh;
			break;
		}
		p->state = ST_LOST;
		S.inflight -= p->bytes;
		S.lost_pkts++;
		p->epoch = prague_on_loss(&S.cc, seq, S.next_seq);
	}
	advance_oldest();
}

static void
check_rto(uint64_t now)
{
	uint64_t seq;

	if (S.inflight == 0 || now < S.last_progress_ns + rto_ns())
		return;
	for (seq = S.oldest; seq < S.next_seq; seq++) {
		struct sent *p = slot(seq);

		if (p->state == ST_FLIGHT) {
			p->state = ST_LOST;
			p->epoch = 0;
			S.lost_pkts++;
		}
	}
	S.inflight = 0;
	advance_oldest();
	prague_on_rto(&S.cc, now, S.next_seq);
	if (S.backoff < MAX_BACKOFF)
		S.backoff *= 2;
	S.last_progress_ns = now;
}

static int
bit(const uint8_t *bm, uint64_t i)
{
	return ((bm[i / 8] >> (i % 8)) & 1);
}

static void
on_ack(const struct pw_ack *a, uint64_t now)
{
	uint64_t largest = be64toh(a->largest), lo, seq, i;
	uint64_t rx_pkts = be64toh(a->rx_pkts), rx_bytes = be64toh(a->rx_bytes);
	uint64_t ce_bytes = be64toh(a->ce_bytes), delay = be64toh(a->ack_delay_ns);
	struct sent *lp;
	int progress = 0;

	if (largest >= S.next_seq || ce_bytes > rx_bytes) {
		S.bad_pkts++;
		return;
	}
	S.acks++;
	lp = slot(largest);
	if (S.next_seq - largest < RING / 2 && lp->state == ST_FLIGHT &&
	    (!S.have_acked || largest > S.largest_acked)) {
		uint64_t r = now - lp->send_ns;

		if (delay < r)
			r -= delay;
		rtt_sample(r);
	}
	lo = largest >= PW_ACK_BITS ? largest - PW_ACK_BITS : 0;
	if (S.next_seq - lo >= RING / 2)
		lo = S.next_seq - RING / 2;
	for (seq = lo; seq <= largest; seq++) {
		i = largest - 1 - seq;
		if (seq != largest && !bit(a->bitmap, i))
			continue;
		if (slot(seq)->state == ST_FLIGHT)
			progress = 1;
		acked(seq);
	}
	if (!S.have_acked || largest > S.largest_acked)
		S.largest_acked = largest;
	S.have_acked = 1;
	if (progress) {
		S.last_progress_ns = now;
		S.backoff = 1;
	}
	/* Cumulative counters: an older (reordered) ACK carries nothing new. */
	if (rx_pkts > S.fb_rx_pkts && rx_bytes >= S.fb_rx_bytes &&
	    ce_bytes >= S.fb_ce_bytes) {
		double delivered = (double)(rx_bytes - S.fb_rx_bytes);
		double ce = (double)(ce_bytes - S.fb_ce_bytes);

		S.fb_rx_pkts = rx_pkts;
		S.fb_rx_bytes = rx_bytes;
		S.fb_ce_bytes = ce_bytes;
		S.fb_not_l4s = be64toh(a->not_l4s_pkts);
		/* the window limited sending within the last RTT (slow start:
		 * at least half of it was in flight) */
		S.cc.cwnd_limited = now - S.cwnd_full_ns <= (S.srtt ? S.srtt :
		    S.cc.p.initial_rtt_ns) || (S.cc.slow_start &&
		    2 * (double)S.inflight >= S.cc.cwnd);
		prague_on_ack(&S.cc, now, delivered, ce, S.largest_acked,
		    S.next_seq, S.srtt);
	}
	detect_loss(now);
}

static void
drain(uint64_t now)
{
	struct pw_ack a;
	ssize_t n;

	for (;;) {
		n = recv(S.fd, &a, sizeof(a), 0);
		if (n < 0)
			return;
		if (n != (ssize_t)sizeof(a) || ntohl(a.h.magic) != PW_MAGIC ||
		    a.h.type != PW_ACK || ntohl(a.h.flow_id) != S.flow_id) {
			S.bad_pkts++;
			continue;
		}
		on_ack(&a, now);
	}
}

static int
can_send(void)
{
	return ((double)(S.inflight + S.mss) <= S.cc.cwnd + 1e-6 &&
	    S.next_seq - S.oldest < RING / 2);
}

static uint64_t
pkt_interval_ns(void)
{
	double bps = prague_pacing_Bps(&S.cc, S.srtt);

	return ((uint64_t)((double)S.mss * 1e9 / bps));
}

static void
send_ready(uint64_t now)
{
	static uint8_t buf[MAX_MSS];
	struct pw_data *d = (struct pw_data *)buf;
	uint64_t gap;
	int burst = 0;

	if (!can_send()) {
		S.cwnd_full_ns = now;
		S.blocked = 1;
		return;
	}
	/* The window opened after a wait: pacing restarts from now, no burst.
	 * Late only for the timer: up to --pacing-credit packets may catch up,
	 * or the wake-up latency of every packet would come off the rate. */
	if (S.blocked && S.next_send_ns < now)
		S.next_send_ns = now;
	S.blocked = 0;
	/* at most 64 packets between two looks at the ACKs */
	while (can_send() && burst++ < 64) {
		gap = pkt_interval_ns();
		if (S.next_send_ns + S.credit * gap < now)
			S.next_send_ns = now - S.credit * gap;
		if (now < S.next_send_ns)
			return;
		d->h.magic = htonl(PW_MAGIC);
		d->h.type = PW_DATA;
		d->h.flow_id = htonl(S.flow_id);
		d->seq = htobe64(S.next_seq);
		d->send_ns = htobe64(now);
		if (send(S.fd, buf, S.mss, 0) != (ssize_t)S.mss) {
			S.send_errors++;
			S.next_send_ns += gap;	/* the socket is full: try later */
			return;
		}
		if (S.inflight == 0)
			S.last_progress_ns = now;
		*slot(S.next_seq) = (struct sent){ .send_ns = now,
		    .bytes = (uint16_t)S.mss, .state = ST_FLIGHT };
		S.next_seq++;
		S.inflight += S.mss;
		S.sent_pkts++;
		S.next_send_ns += gap;
		if (!can_send()) {
			S.cwnd_full_ns = now;
			S.blocked = 1;
		}
	}
}

static void
report(uint64_t now, uint64_t t0, uint64_t *last_ns, uint64_t *last_rx,
    uint64_t *last_ce)
{
	double dt = (double)(now - *last_ns) / 1e9;
	uint64_t drx = S.fb_rx_bytes - *last_rx, dce = S.fb_ce_bytes - *last_ce;

	printf("{\"t\": %.4f, \"cwnd\": %.0f, \"ssthresh\": %.0f, \"alpha\": %.5f, "
	    "\"srtt_ms\": %.3f, \"min_rtt_ms\": %.3f, \"pacing_mbps\": %.3f, "
	    "\"inflight\": %llu, \"delivered_mbps\": %.3f, \"ce_frac\": %.5f, "
	    "\"lost\": %llu, \"rtos\": %llu, \"slow_start\": %d}\n",
	    (double)(now - t0) / 1e9, S.cc.cwnd,
	    S.cc.ssthresh > 1e17 ? -1.0 : S.cc.ssthresh, S.cc.alpha,
	    (double)S.srtt / 1e6, (double)S.min_rtt / 1e6,
	    prague_pacing_Bps(&S.cc, S.srtt) * 8 / 1e6,
	    (unsigned long long)S.inflight, dt > 0 ? (double)drx * 8 / dt / 1e6 :
	    0.0, drx ? (double)dce / (double)drx : 0.0,
	    (unsigned long long)S.lost_pkts, (unsigned long long)S.cc.rtos,
	    S.cc.slow_start);
	*last_ns = now;
	*last_rx = S.fb_rx_bytes;
	*last_ce = S.fb_ce_bytes;
}

static void
summary(uint64_t t0, uint64_t t_end)
{
	double secs = (double)(t_end - t0) / 1e9;

	printf("{\"summary\": true, \"seconds\": %.4f, \"mss\": %u, "
	    "\"sent_pkts\": %llu, \"delivered_pkts\": %llu, "
	    "\"delivered_bytes\": %llu, \"goodput_mbps\": %.4f, "
	    "\"ce_bytes\": %llu, \"ce_fraction\": %.6f, \"not_l4s_pkts\": %llu, "
	    "\"lost_pkts\": %llu, \"spurious_losses\": %llu, \"rtos\": %llu, "
	    "\"ce_reductions\": %llu, \"loss_reductions\": %llu, \"undos\": %llu, "
	    "\"rounds\": %llu, \"alpha\": %.5f, \"mean_cwnd\": %.0f, "
	    "\"srtt_ms\": %.3f, \"min_rtt_ms\": %.3f, \"acks\": %llu, "
	    "\"bad_pkts\": %llu, \"send_errors\": %llu, \"inflight_end_pkts\": "
	    "%llu}\n", secs, S.mss,
	    (unsigned long long)S.sent_pkts, (unsigned long long)S.fb_rx_pkts,
	    (unsigned long long)S.fb_rx_bytes,
	    secs > 0 ? (double)S.fb_rx_bytes * 8 / secs / 1e6 : 0.0,
	    (unsigned long long)S.fb_ce_bytes,
	    S.fb_rx_bytes ? (double)S.fb_ce_bytes / (double)S.fb_rx_bytes : 0.0,
	    (unsigned long long)S.fb_not_l4s, (unsigned long long)S.lost_pkts,
	    (unsigned long long)S.spurious, (unsigned long long)S.cc.rtos,
	    (unsigned long long)S.cc.ce_reductions,
	    (unsigned long long)S.cc.loss_reductions,
	    (unsigned long long)S.cc.undos, (unsigned long long)S.cc.rounds,
	    S.cc.alpha, S.cwnd_n ? S.cwnd_sum / (double)S.cwnd_n : 0.0,
	    (double)S.srtt / 1e6, (double)S.min_rtt / 1e6,
	    (unsigned long long)S.acks, (unsigned long long)S.bad_pkts,
	    (unsigned long long)S.send_errors,
	    (unsigned long long)(S.inflight / S.mss));
}

static void
send_fin(void)
{
	struct pw_fin f = { .h = { .magic = htonl(PW_MAGIC), .type = PW_FIN,
	    .flow_id = htonl(S.flow_id) }, .sent_pkts = htobe64(S.sent_pkts) };
	int i;

	/* FIN is not acknowledged: a few copies, the receiver also times out */
	for (i = 0; i < 3; i++) {
		(void)send(S.fd, &f, sizeof(f), 0);
		usleep(5000);
	}
}

static uint64_t
min_t(uint64_t a, uint64_t b)
{
	return (a != 0 && (b == 0 || a < b) ? a : b);
}

/* ---- self-test of the controller (no network) ---- */

static int fails;

static void
expect(int ok, const char *what, double got, double want)
{
	if (!ok) {
		fails++;
		printf("FAIL %s: got %g, want %g\n", what, got, want);
	}
}

/* One round of a saturating flow: cwnd bytes delivered in n ACKs, a
 * fraction f of them marked, one RTT of time. */
static void
run_round(struct prague_cc *cc, uint64_t *now, uint64_t *seq, double f,
    uint64_t rtt, int n)
{
	double per = cc->cwnd / n;
	int i;

	for (i = 0; i < n; i++) {
		*seq += 1;
		*now += rtt / (uint64_t)n;
		prague_on_ack(cc, *now, per, per * f, *seq, *seq + (uint64_t)n,
		    rtt);
	}
}

static int
selftest(void)
{
	struct prague_params p;
	struct prague_cc cc;
	uint64_t now = 1000000000ULL, seq = 0, rtt = 40 * 1000 * 1000ULL;
	double before, a;
	uint64_t red;
	uint32_t e;
	int i;

	prague_params_default(&p, 1000);
	/* alpha: one unmarked round from 1 gives 15/16; a steady 10 % marked
	 * fraction is learnt (rounds carry reductions; fraction per round). */
	prague_init(&cc, &p, now);
	cc.slow_start = 0;
	cc.cwnd = 100000;
	run_round(&cc, &now, &seq, 0.0, rtt, 10);
	expect(fabs(cc.alpha - 15.0 / 16) < 1e-9, "alpha after one round",
	    cc.alpha, 15.0 / 16);
	for (i = 0; i < 300; i++) {
		cc.cwnd = 100000;
		run_round(&cc, &now, &seq, 0.1, rtt, 10);
	}
	expect(fabs(cc.alpha - 0.1) < 0.005, "alpha at 10 % marks", cc.alpha,
	    0.1);

	/* CE reduction: (1 - alpha/2), once per round however many marks */
	cc.in_cwr = 0;
	cc.cwnd = 100000;
	a = cc.alpha;
	red = cc.ce_reductions;
	run_round(&cc, &now, &seq, 1.0, rtt, 10);
	expect(cc.ce_reductions == red + 1, "reductions in a marked round",
	    (double)(cc.ce_reductions - red), 1);
	/* alpha took a step at the round's first ACK, the one that reduced */
	expect(fabs(cc.alpha - a) < 0.01, "alpha step", cc.alpha, a);
	expect(fabs(cc.cwnd - 100000 * (1 - cc.alpha / 2)) < 1e-6,
	    "cwnd after CE", cc.cwnd, 100000 * (1 - cc.alpha / 2));

	/* Additive increase: one segment per round above the reference RTT,
	 * (rtt/25 ms)^2 of one below it; marked bytes earn nothing. */
	prague_init(&cc, &p, now);
	cc.slow_start = 0;
	cc.alpha = 0;
	cc.cwnd = before = 50000;
	for (i = 0; i < 20; i++)
		run_round(&cc, &now, &seq, 0.0, rtt, 50);
	expect(fabs((cc.cwnd - before) / 20 - 1000) < 30, "AI per 40 ms round",
	    (cc.cwnd - before) / 20, 1000);
	prague_init(&cc, &p, now);
	cc.slow_start = 0;
	cc.alpha = 0;
	cc.cwnd = before = 50000;
	for (i = 0; i < 100; i++)
		run_round(&cc, &now, &seq, 0.0, 5 * 1000 * 1000ULL, 50);
	expect(fabs((cc.cwnd - before) / 100 - 40) < 3, "AI per 5 ms round",
	    (cc.cwnd - before) / 100, 40);
	before = cc.cwnd;
	cc.in_cwr = 1;	/* no reduction: see only the increase */
	cc.cwr_start_ns = now;
	cc.cwr_end_seq = seq + 1000000;
	run_round(&cc, &now, &seq, 1.0, rtt, 50);
	expect(cc.cwnd == before, "marked bytes earn no increase", cc.cwnd,
	    before);
	run_round(&cc, &now, &seq, 0.5, rtt, 50);
	expect(fabs(cc.cwnd - before - 500) < 20, "half-marked round in CWR",
	    cc.cwnd - before, 500);
	cc.in_recovery = 1;
	cc.recovery_end_seq = seq + 1000000;
	before = cc.cwnd;
	run_round(&cc, &now, &seq, 0.0, rtt, 50);
	expect(cc.cwnd == before, "no increase in loss recovery", cc.cwnd,
	    before);

	cc.in_recovery = 0;
	cc.cwnd_limited = 0;
	before = cc.cwnd;
	run_round(&cc, &now, &seq, 0.0, rtt, 50);
	expect(cc.cwnd == before, "no increase when not cwnd-limited", cc.cwnd,
	    before);

	/* RTT independence: a 5 ms flow reduces at most once per 25 ms */
	prague_init(&cc, &p, now);
	cc.slow_start = 0;
	cc.alpha = 0.5;
	red = cc.ce_reductions;
	for (i = 0; i < 50; i++) {
		cc.cwnd = 50000;
		run_round(&cc, &now, &seq, 0.5, 5 * 1000 * 1000ULL, 10);
	}
	expect(cc.ce_reductions - red >= 8 && cc.ce_reductions - red <= 10,
	    "reductions in 250 ms at 5 ms RTT", (double)(cc.ce_reductions - red),
	    9);

	/* Slow start doubles per round, and the first CE out of it halves */
	prague_init(&cc, &p, now);
	before = cc.cwnd;
	run_round(&cc, &now, &seq, 0.0, rtt, 10);
	expect(fabs(cc.cwnd - 2 * before) < 1, "slow start round", cc.cwnd,
	    2 * before);
	prague_init(&cc, &p, now);
	before = cc.cwnd;
	prague_on_ack(&cc, now, 1000, 1000, 1, 10, rtt);
	expect(fabs(cc.cwnd - before / 2) < 1 && !cc.slow_start,
	    "first CE from slow start", cc.cwnd, before / 2);

	/* Loss: halved once per epoch; a wholly spurious epoch is undone */
	prague_init(&cc, &p, now);
	cc.slow_start = 0;
	cc.cwnd = 80000;
	e = prague_on_loss(&cc, 100, 200);
	(void)prague_on_loss(&cc, 101, 200);
	expect(cc.cwnd == 40000 && cc.loss_reductions == 1, "loss halving",
	    cc.cwnd, 40000);
	prague_on_spurious(&cc, e);
	expect(cc.cwnd == 40000, "one of two losses spurious", cc.cwnd, 40000);
	prague_on_spurious(&cc, e);
	expect(cc.cwnd == 80000 && cc.undos == 1, "undo", cc.cwnd, 80000);
	(void)prague_on_loss(&cc, 300, 400);
	prague_on_ack(&cc, now, 0, 0, 400, 450, rtt);
	(void)prague_on_loss(&cc, 420, 450);
	expect(cc.loss_reductions == 3 && cc.cwnd == 20000,
	    "a new epoch after one RTT", cc.cwnd, 20000);

	/* RTO: one segment, slow start towards half the old window */
	cc.cwnd = 60000;
	prague_on_rto(&cc, now, 500);
	expect(cc.cwnd == 1000 && cc.ssthresh == 30000 && cc.slow_start,
	    "rto", cc.cwnd, 1000);

	/* Pacing: 1.2 cwnd/srtt in congestion avoidance, 2 in slow start */
	cc.slow_start = 0;
	cc.cwnd = 50000;
	expect(fabs(prague_pacing_Bps(&cc, rtt) - 1.2 * 50000 / 0.04) < 1,
	    "pacing", prague_pacing_Bps(&cc, rtt), 1.2 * 50000 / 0.04);
	printf("selftest: %d checks failed\n", fails);
	return (fails != 0);
}

static void
usage(void)
{
	fprintf(stderr, "usage: " PROG " --dst IPV4 --port N --seconds S "
	    "[--mss BYTES] [--ecn ect1|ect0|not-ect]\n"
	    "    [--rtt-ref-ms MS] [--ai PKTS] [--g-shift N] [--init-cwnd PKTS]"
	    " [--pacing-ss X]\n    [--pacing-ca X] [--pacing-credit PKTS] "
	    "[--min-rto-ms MS] [--report-ms MS]\n    [--rt-priority 0-99]\n"
	    "       " PROG
	    " --selftest\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 's' },
		{ "mss", required_argument, NULL, 'm' },
		{ "ecn", required_argument, NULL, 'e' },
		{ "rtt-ref-ms", required_argument, NULL, 'r' },
		{ "ai", required_argument, NULL, 'a' },
		{ "g-shift", required_argument, NULL, 'g' },
		{ "init-cwnd", required_argument, NULL, 'i' },
		{ "pacing-ss", required_argument, NULL, 'S' },
		{ "pacing-ca", required_argument, NULL, 'C' },
		{ "min-rto-ms", required_argument, NULL, 'o' },
		{ "report-ms", required_argument, NULL, 'R' },
		{ "pacing-credit", required_argument, NULL, 'c' },
		{ "rt-priority", required_argument, NULL, 'P' },
		{ "selftest", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct prague_params par;
	struct sockaddr_in dst = { .sin_family = AF_INET };
	const char *dst_s = NULL;
	uint64_t port = 0, report_ns = 100 * 1000 * 1000ULL, now, t0, t_end;
	uint64_t last_ns, last_rx = 0, last_ce = 0, next_report, wake, drain_end;
	double seconds = 0, rtt_ref_ms = 25, ai = 1, init_cwnd = 10;
	double pacing_ss = 2.0, pacing_ca = 1.2, min_rto_ms = 200;
	unsigned g_shift = 4;
	int ch, ecn = 1, tos, prio = 0, rcvbuf = 4 << 20;
	struct pollfd pfd;
	struct timespec ts;
	struct sigaction sa;

	S.mss = 1200;
	/* One packet of catch-up after a late timer (never after a wait for
	 * the window).  Paired runs at load 7: one flow at 40 Mbit/s got
	 * utilisation 0.97-0.99 with it, 0.84-0.97 without (each wake-up's
	 * latency came off the rate, and the flow, pacing-limited, saw few
	 * marks); 20 Mbit/s, one or two flows, 0.97-0.99 either way.  Credit
	 * after a window wait too gave two flows at 20 Mbit/s 0.89 and 60/40:
	 * the pair lands on DualPI2's 1 ms step, two packets at that rate. */
	S.credit = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dst_s = optarg; break;
		case 'p': port = gen_parse_u64(PROG, "--port", optarg, 1, 65535);
			break;
		case 's': seconds = gen_parse_f64(PROG, "--seconds", optarg, 0.1,
			    86400);
			break;
		case 'm': S.mss = (uint32_t)gen_parse_u64(PROG, "--mss", optarg,
			    sizeof(struct pw_data), MAX_MSS);
			break;
		case 'e':
			if ((ecn = gen_parse_ecn(optarg)) < 0) {
				fprintf(stderr, PROG ": --ecn '%s': choose "
				    "ect1, ect0 or not-ect\n", optarg);
				exit(2);
			}
			break;
		case 'r': rtt_ref_ms = gen_parse_f64(PROG, "--rtt-ref-ms", optarg,
			    0, 1000);
			break;
		case 'a': ai = gen_parse_f64(PROG, "--ai", optarg, 0.01, 100);
			break;
		case 'g': g_shift = (unsigned)gen_parse_u64(PROG, "--g-shift",
			    optarg, 0, 10);
			break;
		case 'i': init_cwnd = gen_parse_f64(PROG, "--init-cwnd", optarg,
			    1, 1000);
			break;
		case 'S': pacing_ss = gen_parse_f64(PROG, "--pacing-ss", optarg,
			    0.5, 10);
			break;
		case 'C': pacing_ca = gen_parse_f64(PROG, "--pacing-ca", optarg,
			    0.5, 10);
			break;
		case 'o': min_rto_ms = gen_parse_f64(PROG, "--min-rto-ms", optarg,
			    1, 10000);
			break;
		case 'R': report_ns = gen_parse_u64(PROG, "--report-ms", optarg,
			    1, 60000) * 1000 * 1000ULL;
			break;
		case 'P': prio = (int)gen_parse_u64(PROG, "--rt-priority", optarg,
			    0, 99);
			break;
		case 'c': S.credit = gen_parse_u64(PROG, "--pacing-credit", optarg,
			    0, 64);
			break;
		case 'T': return (selftest());
		default: usage();
		}
	}
	if (dst_s == NULL || port == 0 || seconds == 0 || optind != argc)
		usage();
	if (inet_pton(AF_INET, dst_s, &dst.sin_addr) != 1) {
		fprintf(stderr, PROG ": --dst '%s' is not an IPv4 address\n",
		    dst_s);
		exit(2);
	}
	dst.sin_port = htons((uint16_t)port);

	S.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (S.fd < 0) {
		perror(PROG ": socket");
		return (1);
	}
	tos = ecn;	/* DSCP 0; the ECN field is the codepoint */
	(void)setsockopt(S.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
	    sizeof(rcvbuf));	/* root: room for ACKs while busy */
	if (setsockopt(S.fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) != 0 ||
	    connect(S.fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
		fprintf(stderr, PROG ": cannot reach %s:%llu: %s\n", dst_s,
		    (unsigned long long)port, strerror(errno));
		return (1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	gen_realtime(PROG, prio);

	now = t0 = gen_now_ns();
	S.flow_id = (uint32_t)(now ^ (uint64_t)getpid() << 16);
	prague_params_default(&par, S.mss);
	par.rtt_ref_ns = (uint64_t)(rtt_ref_ms * 1e6);
	par.ai_pkts = ai;
	par.g_shift = g_shift;
	par.init_cwnd_pkts = init_cwnd;
	par.pacing_ss = pacing_ss;
	par.pacing_ca = pacing_ca;
	prague_init(&S.cc, &par, now);
	S.min_rto_ns = (uint64_t)(min_rto_ms * 1e6);
	S.backoff = 1;
	S.reo_mult = 1;
	S.next_send_ns = now;
	S.last_progress_ns = now;
	t_end = t0 + (uint64_t)(seconds * 1e9);
	last_ns = t0;
	next_report = t0 + report_ns;
	printf("{\"start\": true, \"t0_ns\": %llu, \"flow_id\": %u, \"ecn\": %d, "
	    "\"mss\": %u, \"rtt_ref_ms\": %g}\n", (unsigned long long)t0,
	    S.flow_id, ecn, S.mss, rtt_ref_ms);
	fflush(stdout);

	pfd.fd = S.fd;
	pfd.events = POLLIN;
	while (!want_quit) {
		now = gen_now_ns();
		drain(now);
		if (S.loss_timer_ns != 0 && now >= S.loss_timer_ns)
			detect_loss(now);
		check_rto(now);
		if (now >= t_end)
			break;
		send_ready(now);
		S.cwnd_sum += S.cc.cwnd;
		S.cwnd_n++;
		if (now >= next_report) {
			report(now, t0, &last_ns, &last_rx, &last_ce);
			fflush(stdout);
			next_report += report_ns;
			if (next_report < now)
				next_report = now + report_ns;
		}
		wake = min_t(next_report, t_end);
		if (can_send())
			wake = min_t(S.next_send_ns > now ? S.next_send_ns : now + 1000,
			    wake);
		wake = min_t(S.loss_timer_ns, wake);
		if (S.inflight)
			wake = min_t(S.last_progress_ns + rto_ns(), wake);
		if (wake > now) {
			ts.tv_sec = (time_t)((wake - now) / 1000000000ULL);
			ts.tv_nsec = (long)((wake - now) % 1000000000ULL);
			(void)ppoll(&pfd, 1, &ts, NULL);
		}
	}
	/* Stop sending; collect the ACKs still on their way. */
	now = gen_now_ns();
	t_end = now;
	drain_end = now + (S.srtt ? 2 * S.srtt : 200 * 1000 * 1000ULL) +
	    50 * 1000 * 1000ULL;
	while (!want_quit && S.inflight > 0 && (now = gen_now_ns()) < drain_end) {
		drain(now);
		detect_loss(now);
		ts.tv_sec = 0;
		ts.tv_nsec = 1000 * 1000;
		(void)ppoll(&pfd, 1, &ts, NULL);
	}
	report(gen_now_ns(), t0, &last_ns, &last_rx, &last_ce);
	send_fin();
	summary(t0, t_end);
	fflush(stdout);
	close(S.fd);
	return (0);
}
