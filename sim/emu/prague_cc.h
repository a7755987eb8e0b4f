/*
 * A Prague-like scalable congestion controller (no I/O): written from the
 * published description of TCP Prague (draft-briscoe-iccrg-prague-
 * congestion-control), which derives from DCTCP.
 *
 * - alpha: EWMA of the fraction of delivered bytes that arrived CE-marked,
 *   updated once per observation round (gain 1/2^g_shift, 1/16 by default),
 *   starting from alpha_init (1: the first reduction out of slow start is a
 *   halving, as slow start overshoots by up to 2x).
 * - On CE feedback: cwnd *= (1 - alpha/2), at most once per round (CWR).
 * - Additive increase: ai_pkts segments per round in congestion avoidance,
 *   counted over delivered bytes that were not CE-marked (marked bytes do
 *   not earn increase), on every ACK, in CWR too; slow start adds the
 *   unmarked delivered bytes.  Loss recovery stops the increase, and so
 *   does a window that is not what limits sending (cwnd_limited).
 * - RTT independence: below the reference RTT rtt_ref_ns (25 ms), a round
 *   lasts rtt_virt = max(srtt, rtt_ref) and the increase per real RTT is
 *   scaled by (srtt / rtt_virt)^2, so a short-RTT flow gains rate as fast as
 *   a 25 ms one and reduces as often: its rate dynamics are those of a
 *   25 ms flow.  rtt_ref_ns = 0 turns this off.
 * - Loss: the classic response, cwnd halved once per recovery epoch (one
 *   RTT); an epoch whose losses all prove spurious is undone.
 * - RTO: cwnd to one segment, ssthresh to half, slow start.
 * - Pacing at pacing_ss (slow start) or pacing_ca times cwnd/srtt.
 *
 * Units: bytes of payload, ns.  Packet numbers are the sender's.
 */
#ifndef AQMLLM_PRAGUE_CC_H
#define AQMLLM_PRAGUE_CC_H

#include <stdint.h>

struct prague_params {
	uint32_t mss;		/* payload bytes per packet */
	double init_cwnd_pkts;	/* 10 */
	double min_cwnd_pkts;	/* 2 */
	unsigned g_shift;	/* 4: gain 1/16 */
	uint64_t rtt_ref_ns;	/* 25 ms; 0: no RTT independence */
	double ai_pkts;		/* 1 segment per (virtual) round */
	double pacing_ss;	/* 2.0 */
	double pacing_ca;	/* 1.2 */
	double alpha_init;	/* 1.0 */
	uint64_t initial_rtt_ns;	/* pacing before the first sample: 25 ms */
};

struct prague_cc {
	struct prague_params p;
	double cwnd, ssthresh, alpha;
	int slow_start;
	/* alpha's observation round */
	uint64_t round_end_seq, round_start_ns;
	double round_bytes, round_ce;
	/* CWR: one CE reduction per round */
	int in_cwr;
	uint64_t cwr_end_seq, cwr_start_ns;
	/* loss recovery epoch */
	int in_recovery;
	uint64_t recovery_end_seq;
	uint32_t epoch;			/* id of the current loss epoch */
	uint32_t epoch_lost, epoch_spurious;
	double prior_cwnd, prior_ssthresh;
	/* Set by the transport: the window was what limited sending lately.
	 * Only then does it grow (as Linux's tcp_is_cwnd_limited): a sender
	 * held back by its pacing or its scheduler would otherwise grow a
	 * window it does not use, and send it in a burst later. */
	int cwnd_limited;
	/* counters */
	uint64_t ce_reductions, loss_reductions, rtos, undos, rounds;
};

void	prague_params_default(struct prague_params *p, uint32_t mss);
void	prague_init(struct prague_cc *cc, const struct prague_params *p,
	    uint64_t now_ns);
uint64_t prague_rtt_virt(const struct prague_cc *cc, uint64_t srtt_ns);
/*
 * Feedback from one ACK: delivered and ce are the increases of the
 * receiver's cumulative byte counters; largest_acked the largest packet
 * number acknowledged so far; next_seq the next number to be sent.
 */
void	prague_on_ack(struct prague_cc *cc, uint64_t now_ns, double delivered,
	    double ce, uint64_t largest_acked, uint64_t next_seq, uint64_t srtt_ns);
/* A packet declared lost; returns the loss epoch it is charged to. */
uint32_t prague_on_loss(struct prague_cc *cc, uint64_t lost_seq,
	    uint64_t next_seq);
/* A packet declared lost in epoch e was delivered after all. */
void	prague_on_spurious(struct prague_cc *cc, uint32_t e);
void	prague_on_rto(struct prague_cc *cc, uint64_t now_ns, uint64_t next_seq);
/* Pacing rate in payload bytes per second. */
double	prague_pacing_Bps(const struct prague_cc *cc, uint64_t srtt_ns);

#endif /* AQMLLM_PRAGUE_CC_H */
