/*
 * The Prague-like congestion controller: see prague_cc.h for what it does
 * and where it comes from.
 */
#include "prague_cc.h"

#define	NS	1000000000.0

void
prague_params_default(struct prague_params *p, uint32_t mss)
{
	p->mss = mss;
	p->init_cwnd_pkts = 10;
	p->min_cwnd_pkts = 2;
	p->g_shift = 4;
	p->rtt_ref_ns = 25 * 1000 * 1000ULL;
	p->ai_pkts = 1;
	p->pacing_ss = 2.0;
	p->pacing_ca = 1.2;
	p->alpha_init = 1.0;
	p->initial_rtt_ns = 25 * 1000 * 1000ULL;
}

void
prague_init(struct prague_cc *cc, const struct prague_params *p,
    uint64_t now_ns)
{
	*cc = (struct prague_cc){ .p = *p };
	cc->cwnd = p->init_cwnd_pkts * p->mss;
	cc->ssthresh = 1e18;
	cc->alpha = p->alpha_init;
	cc->slow_start = 1;
	cc->round_start_ns = now_ns;
	cc->cwnd_limited = 1;
}

uint64_t
prague_rtt_virt(const struct prague_cc *cc, uint64_t srtt_ns)
{
	uint64_t r = srtt_ns != 0 ? srtt_ns : cc->p.initial_rtt_ns;

	return (r > cc->p.rtt_ref_ns ? r : cc->p.rtt_ref_ns);
}

static double
min_cwnd(const struct prague_cc *cc)
{
	return (cc->p.min_cwnd_pkts * cc->p.mss);
}

/*
 * A round ends when a packet sent after its start is acknowledged and, below
 * the reference RTT, not before the reference RTT has passed.
 */
static int
round_over(const struct prague_cc *cc, uint64_t end_seq, uint64_t start_ns,
    uint64_t now_ns, uint64_t largest_acked, uint64_t srtt_ns)
{
	uint64_t min_ns = cc->p.rtt_ref_ns != 0 && srtt_ns <= cc->p.rtt_ref_ns ?
	    cc->p.rtt_ref_ns : 0;

	return (largest_acked >= end_seq && now_ns - start_ns >= min_ns);
}

void
prague_on_ack(struct prague_cc *cc, uint64_t now_ns, double delivered,
    double ce, uint64_t largest_acked, uint64_t next_seq, uint64_t srtt_ns)
{
	double inc, scale, rv;

	if (ce > delivered)
		ce = delivered;
	/* alpha: the marked fraction of each round's delivered bytes */
	cc->round_bytes += delivered;
	cc->round_ce += ce;
	if (round_over(cc, cc->round_end_seq, cc->round_start_ns, now_ns,
	    largest_acked, srtt_ns)) {
		if (cc->round_bytes > 0) {
			double frac = cc->round_ce / cc->round_bytes;

			cc->alpha += (frac - cc->alpha) /
			    (double)(1u << cc->p.g_shift);
		}
		cc->round_bytes = cc->round_ce = 0;
		cc->round_end_seq = next_seq;
		cc->round_start_ns = now_ns;
		cc->rounds++;
	}
	if (cc->in_cwr && round_over(cc, cc->cwr_end_seq, cc->cwr_start_ns,
	    now_ns, largest_acked, srtt_ns))
		cc->in_cwr = 0;
	if (cc->in_recovery && largest_acked >= cc->recovery_end_seq)
		cc->in_recovery = 0;

	if (ce > 0 && !cc->in_cwr && !cc->in_recovery) {
		cc->cwnd *= 1.0 - cc->alpha / 2.0;
		if (cc->cwnd < min_cwnd(cc))
			cc->cwnd = min_cwnd(cc);
		cc->ssthresh = cc->cwnd;
		cc->slow_start = 0;
		cc->in_cwr = 1;
		cc->cwr_end_seq = next_seq;
		cc->cwr_start_ns = now_ns;
		cc->ce_reductions++;
		return;
	}
	/* CWR does not stop the increase (only marked bytes earn none):
	 * with coupled, randomly spread marks most rounds carry one, and a
	 * window that grew only in unmarked rounds would sit far below the
	 * 2/p that the coupling factor k = 2 of DualPI2 assumes. */
	if (cc->in_recovery || !cc->cwnd_limited)
		return;
	inc = delivered - ce;
	if (inc <= 0)
		return;
	if (cc->slow_start) {
		cc->cwnd += inc;
		if (cc->cwnd >= cc->ssthresh)
			cc->slow_start = 0;
		return;
	}
	scale = 1.0;
	if (cc->p.rtt_ref_ns != 0 && srtt_ns != 0 && srtt_ns < cc->p.rtt_ref_ns) {
		rv = (double)srtt_ns / (double)cc->p.rtt_ref_ns;
		scale = rv * rv;
	}
	cc->cwnd += inc * cc->p.ai_pkts * cc->p.mss * scale / cc->cwnd;
}

uint32_t
prague_on_loss(struct prague_cc *cc, uint64_t lost_seq, uint64_t next_seq)
{
	if (cc->in_recovery && lost_seq < cc->recovery_end_seq) {
		cc->epoch_lost++;
		return (cc->epoch);
	}
	cc->epoch++;
	cc->epoch_lost = 1;
	cc->epoch_spurious = 0;
	cc->prior_cwnd = cc->cwnd;
	cc->prior_ssthresh = cc->ssthresh;
	cc->cwnd /= 2;
	if (cc->cwnd < min_cwnd(cc))
		cc->cwnd = min_cwnd(cc);
	cc->ssthresh = cc->cwnd;
	cc->slow_start = 0;
	cc->in_recovery = 1;
	cc->recovery_end_seq = next_seq;
	cc->loss_reductions++;
	return (cc->epoch);
}

void
prague_on_spurious(struct prague_cc *cc, uint32_t e)
{
	if (e != cc->epoch || cc->epoch_lost == 0)
		return;
	if (++cc->epoch_spurious == cc->epoch_lost) {
		/* every loss of the epoch was reordering: undo its reduction */
		if (cc->cwnd < cc->prior_cwnd)
			cc->cwnd = cc->prior_cwnd;
		if (cc->ssthresh < cc->prior_ssthresh)
			cc->ssthresh = cc->prior_ssthresh;
		cc->in_recovery = 0;
		cc->epoch_lost = 0;
		cc->undos++;
	}
}

void
prague_on_rto(struct prague_cc *cc, uint64_t now_ns, uint64_t next_seq)
{
	(void)now_ns;
	cc->ssthresh = cc->cwnd / 2;
	if (cc->ssthresh < min_cwnd(cc))
		cc->ssthresh = min_cwnd(cc);
	cc->cwnd = cc->p.mss;
	cc->slow_start = 1;
	cc->in_cwr = 0;
	cc->in_recovery = 1;
	cc->recovery_end_seq = next_seq;
	cc->epoch++;
	cc->epoch_lost = 0;	/* a timeout is never undone */
	cc->rtos++;
}

double
prague_pacing_Bps(const struct prague_cc *cc, uint64_t srtt_ns)
{
	uint64_t r = srtt_ns != 0 ? srtt_ns : cc->p.initial_rtt_ns;
	double gain = cc->slow_start ? cc->p.pacing_ss : cc->p.pacing_ca;

	return (gain * cc->cwnd * NS / (double)r);
}
