/*
 * Queue logic of the portable core: classification, tail drop, record
 * production at enqueue, class selection, and the decision at dequeue
 * with its precedence (verdict > policy > fallback) and guardrails.
 *
 * The fallback AQM always runs, even while the daemon decides, so that
 * its controller state is current the instant the daemon goes away.
 */
#include "aqm_core.h"

#define	AQM_WINDOW_NS		(16 * AQM_NS_PER_MS)	/* recent counters */
#define	AQM_MAX_LIMIT		(1U << 20)
#define	AQM_DRAIN_PERIOD_NS	(50 * AQM_NS_PER_US)
/*
 * No daemon answers within 2 us of an enqueue (its wakeup alone takes
 * longer): a packet leaving sooner is not worth a look at the verdict ring,
 * which costs a cache miss on the line the daemon writes.
 */
#define	AQM_MIN_VERDICT_NS	(2 * AQM_NS_PER_US)

static uint16_t
sat16(uint32_t v)
{
	return (v > 0xffff ? 0xffff : (uint16_t)v);
}

static int
is_l4s(uint8_t ecn)
{
	return (ecn == AQMLLM_ECN_ECT1 || ecn == AQMLLM_ECN_CE);
}

void
aqm_params_defaults(struct aqm_params *par, uint32_t fb_id)
{
	__builtin_memset(par, 0, sizeof(*par));
	par->fb_id = fb_id;
	par->limit_pkts = 10000;	/* Linux dualpi2 default */
	par->link_rate_bps = 0;
	par->guard_min_pkts = 2;
	aqm_dualpi2_defaults(&par->dualpi2);
	aqm_pie_defaults(&par->pie);
	aqm_codel_defaults(&par->codel);
}

int
aqm_params_validate(const struct aqm_params *par)
{
	if (par == NULL || par->fb_id >= AQMLLM_FB_COUNT ||
	    par->limit_pkts == 0 || par->limit_pkts > AQM_MAX_LIMIT ||
	    par->guard_min_pkts > par->limit_pkts)
		return (AQM_EINVAL);
	if (aqm_dualpi2_validate(&par->dualpi2) != 0 ||
	    aqm_pie_validate(&par->pie) != 0 ||
	    aqm_codel_validate(&par->codel) != 0)
		return (AQM_EINVAL);
	return (0);
}

int
aqm_queue_init(struct aqm_queue *q, uint32_t id, const struct aqm_params *par,
    uint64_t seed, uint64_t now_ns)
{
	int error;

	if (q == NULL)
		return (AQM_EINVAL);
	error = aqm_params_validate(par);
	if (error != 0)
		return (error);
	__builtin_memset(q, 0, sizeof(*q));
	q->id = id;
	q->par = *par;
	aqm_prng_seed(&q->rng, seed ^ ((uint64_t)id << 32));
	q->window_start_ns = now_ns;
	switch (par->fb_id) {
	case AQMLLM_FB_DUALPI2:
		aqm_dualpi2_init(&q->fb.dualpi2, &par->dualpi2, now_ns);
		break;
	case AQMLLM_FB_PIE:
		aqm_pie_init(&q->fb.pie, &par->pie, now_ns);
		break;
	default:
		aqm_codel_init(&q->fb.codel, &par->codel, now_ns);
		break;
	}
	return (0);
}

/* Head-of-queue sojourn per class, from the caller's head timestamps. */
static void
fill_ctx(struct aqm_queue *q, struct aqm_ctx *c, const uint64_t head_enq_ns[2],
    uint64_t now_ns)
{
	int k;

	c->now_ns = now_ns;
	c->rng = &q->rng;
	for (k = 0; k < 2; k++) {
		c->qlen_pkts[k] = q->qlen_pkts[k];
		c->qlen_bytes[k] = q->qlen_bytes[k];
		c->qdelay_ns[k] = (q->qlen_pkts[k] > 0 &&
		    head_enq_ns[k] < now_ns) ? now_ns - head_enq_ns[k] : 0;
	}
}

static void
roll_window(struct aqm_queue *q, uint64_t now_ns)
{
	if (now_ns - q->window_start_ns < AQM_WINDOW_NS)
		return;
	q->recent_drops = q->win_drops;
	q->recent_marks = q->win_marks;
	q->win_drops = q->win_marks = 0;
	q->window_start_ns = now_ns;
}

static uint32_t
fallback_prob(const struct aqm_queue *q, int cls)
{
	switch (q->par.fb_id) {
	case AQMLLM_FB_DUALPI2:
		return (aqm_dualpi2_prob(&q->fb.dualpi2, cls));
	case AQMLLM_FB_PIE:
		return (aqm_pie_prob(&q->fb.pie));
	default:
		return (aqm_codel_prob(&q->fb.codel));
	}
}

static int
fallback_overloaded(const struct aqm_queue *q)
{
	switch (q->par.fb_id) {
	case AQMLLM_FB_DUALPI2:
		return (aqm_dualpi2_overloaded(&q->fb.dualpi2));
	case AQMLLM_FB_PIE:
		/* RFC 8033: above mark_ecn_th PIE stops marking and drops */
		return (aqm_pie_prob(&q->fb.pie) > q->par.pie.mark_ecn_th);
	default:
		return ((uint64_t)(q->qlen_pkts[0] + q->qlen_pkts[1]) * 4 >=
		    (uint64_t)q->par.limit_pkts * 3);
	}
}

/* Expected wait before dequeue, from the backlog ahead and the rate. */
static uint32_t
est_wait(const struct aqm_queue *q, int cls)
{
	uint64_t bytes;

	if (q->par.link_rate_bps == 0)
		return (0);
	bytes = q->qlen_bytes[AQMLLM_CLASS_L];
	if (q->par.fb_id != AQMLLM_FB_DUALPI2 || cls == AQMLLM_CLASS_C)
		bytes += q->qlen_bytes[AQMLLM_CLASS_C];
	/* bytes < 2^32 and 8e9 < 2^33: the product fits in 64 bits */
	return (aqm_sat_u32(bytes * 8 * AQM_NS_PER_S / q->par.link_rate_bps));
}

static void
produce_record(struct aqm_queue *q, struct aqm_ring *r, struct aqm_pkt *p,
    const struct aqm_ctx *c)
{
	struct aqmllm_record rec;
	int cls = p->cls;

	rec.seq = 0;
	rec.t_ns = c->now_ns;
	rec.queue_id = q->id;
	rec.flow_hash = p->flow_hash;
	rec.qlen_pkts = q->qlen_pkts[cls];
	rec.qlen_bytes = q->qlen_bytes[cls];
	rec.sojourn_ns = aqm_sat_u32(c->qdelay_ns[cls]);
	rec.fb_prob = fallback_prob(q, cls);
	rec.rate_kbps = aqm_sat_u32(q->par.link_rate_bps / 1000);
	rec.pkt_len = sat16(p->len);
	rec.ecn = p->ecn;
	rec.cls = (uint8_t)cls;
	rec.recent_drops = sat16(q->recent_drops);
	rec.recent_marks = sat16(q->recent_marks);
	rec.fb_id = (uint8_t)q->par.fb_id;
	rec.flags = 0;
	if (p->fb_action == AQMLLM_ACT_DROP)
		rec.flags |= AQMLLM_RF_FB_DROP;
	else if (p->fb_action == AQMLLM_ACT_MARK)
		rec.flags |= AQMLLM_RF_FB_MARK;
	if (fallback_overloaded(q))
		rec.flags |= AQMLLM_RF_OVERLOAD;
	rec.other_qlen_pkts = sat16(q->qlen_pkts[cls ^ 1]);
	rec.est_wait_ns = est_wait(q, cls);
	rec.reserved = 0;
	(void)aqm_ring_produce(r, &rec, c->now_ns, &p->seq);
}

static void
count_decision(struct aqm_queue *q, struct aqm_ring *r, int src, int act)
{
	q->by_src[src]++;
	if (r != NULL) {
		if (src == AQM_SRC_VERDICT)
			r->cnt[AQMLLM_CNT_SRC_VERDICT]++;
		else if (src == AQM_SRC_POLICY)
			r->cnt[AQMLLM_CNT_SRC_POLICY]++;
		else
			r->cnt[AQMLLM_CNT_SRC_FALLBACK]++;
		if (act == AQMLLM_ACT_DROP)
			r->cnt[AQMLLM_CNT_DROPS]++;
		else if (act == AQMLLM_ACT_MARK)
			r->cnt[AQMLLM_CNT_MARKS]++;
	}
	if (act == AQMLLM_ACT_DROP) {
		q->drops++;
		q->win_drops++;
	} else if (act == AQMLLM_ACT_MARK) {
		q->marks++;
		q->win_marks++;
	}
}

int
aqm_enqueue(struct aqm_queue *q, struct aqm_ring *r, struct aqm_pkt *p,
    const uint64_t head_enq_ns[2], uint64_t now_ns)
{
	struct aqm_ctx c;
	int cls, fa;

	cls = is_l4s(p->ecn) ? AQMLLM_CLASS_L : AQMLLM_CLASS_C;
	p->cls = (uint8_t)cls;
	p->enq_ns = now_ns;
	p->seq = 0;
	p->fb_action = AQMLLM_ACT_NONE;
	p->src = AQM_SRC_NONE;
	roll_window(q, now_ns);

	if (q->qlen_pkts[0] + q->qlen_pkts[1] >= q->par.limit_pkts) {
		p->src = AQM_SRC_LIMIT;
		q->tail_drops++;
		count_decision(q, NULL, AQM_SRC_LIMIT, AQMLLM_ACT_DROP);
		return (AQMLLM_ACT_DROP);
	}
	fill_ctx(q, &c, head_enq_ns, now_ns);
	c.sojourn_ns = 0;
	c.pkt_len = p->len;
	c.ecn = p->ecn;
	c.cls = (uint8_t)cls;
	c.qlen_pkts[cls]++;
	c.qlen_bytes[cls] += p->len;

	if (q->par.fb_id == AQMLLM_FB_PIE) {
		/* RFC 8033 decides on arrival. */
		aqm_pie_tick(&q->fb.pie, &c);
		fa = aqm_pie_enqueue(&q->fb.pie, &c);
		p->fb_action = (uint8_t)fa;
		if (fa == AQMLLM_ACT_DROP &&
		    (r == NULL || !aqm_ring_daemon_alive(r, now_ns))) {
			/* The fallback is final: drop now, as PIE does. */
			p->src = AQM_SRC_FALLBACK;
			count_decision(q, r, AQM_SRC_FALLBACK, fa);
			return (AQMLLM_ACT_DROP);
		}
	} else if (q->par.fb_id == AQMLLM_FB_DUALPI2)
		aqm_dualpi2_tick(&q->fb.dualpi2, &c);

	q->qlen_pkts[cls]++;
	q->qlen_bytes[cls] += p->len;
	q->enqueued++;
	if (r != NULL && aqm_ring_records_wanted(r, now_ns))
		produce_record(q, r, p, &c);
	return (AQMLLM_ACT_PASS);
}

int
aqm_select(struct aqm_queue *q, const uint64_t head_enq_ns[2],
    const uint32_t head_len[2], uint64_t now_ns)
{
	int l = q->qlen_pkts[AQMLLM_CLASS_L] > 0;
	int c = q->qlen_pkts[AQMLLM_CLASS_C] > 0;

	(void)now_ns;
	if (!l && !c)
		return (-1);
	if (q->par.fb_id == AQMLLM_FB_DUALPI2)
		return (aqm_dualpi2_select(&q->fb.dualpi2, l, c,
		    head_len[AQMLLM_CLASS_L], head_len[AQMLLM_CLASS_C]));
	/* Single-queue AQMs: one FIFO across both classes, oldest first. */
	if (l && c)
		return (head_enq_ns[AQMLLM_CLASS_L] <=
		    head_enq_ns[AQMLLM_CLASS_C] ? AQMLLM_CLASS_L :
		    AQMLLM_CLASS_C);
	return (l ? AQMLLM_CLASS_L : AQMLLM_CLASS_C);
}

static int
fallback_dequeue(struct aqm_queue *q, const struct aqm_pkt *p,
    const struct aqm_ctx *c)
{
	int fa;

	switch (q->par.fb_id) {
	case AQMLLM_FB_DUALPI2:
		aqm_dualpi2_tick(&q->fb.dualpi2, c);
		fa = aqm_dualpi2_dequeue(&q->fb.dualpi2, c);
		break;
	case AQMLLM_FB_PIE:
		aqm_pie_tick(&q->fb.pie, c);
		fa = p->fb_action;
		break;
	default:
		fa = aqm_codel_dequeue(&q->fb.codel, c);
		break;
	}
	if (fa == AQMLLM_ACT_NONE)
		fa = AQMLLM_ACT_PASS;
	/* A congestion signal on a Not-ECT packet can only be a drop. */
	if (fa == AQMLLM_ACT_MARK && !aqm_ecn_capable(c->ecn))
		fa = AQMLLM_ACT_DROP;
	return (fa);
}

/* The daemon's choice for this packet, or AQMLLM_ACT_NONE. */
static int
daemon_decision(struct aqm_queue *q, struct aqm_ring *r,
    const struct aqm_pkt *p, uint64_t now_ns, int *src)
{
	const struct aqm_vt_entry *e;
	const struct aqm_policy *pol;

	if (p->seq != 0) {
		e = &r->vt[p->seq & r->rec_mask];
		if (e->seq == p->seq && e->state == AQM_VT_DECIDED) {
			*src = AQM_SRC_VERDICT;
			return (e->action);
		}
	}
	if (q->id < r->nqueues) {
		pol = &r->pol[q->id];
		if (pol->expiry_ns > now_ns) {
			*src = AQM_SRC_POLICY;
			if (aqm_ecn_capable(p->ecn) &&
			    aqm_roll(&q->rng, pol->mark_prob))
				return (AQMLLM_ACT_MARK);
			if (aqm_roll(&q->rng, pol->drop_prob))
				return (AQMLLM_ACT_DROP);
			return (AQMLLM_ACT_PASS);
		}
	}
	return (AQMLLM_ACT_NONE);
}

/* Guardrails on model decisions; the fallbacks follow their RFCs. */
static int
guard(struct aqm_queue *q, struct aqm_ring *r, const struct aqm_pkt *p,
    int act, uint32_t backlog_pkts)
{
	if (act == AQMLLM_ACT_MARK && !aqm_ecn_capable(p->ecn)) {
		r->cnt[AQMLLM_CNT_MARK_NOT_ECT]++;
		return (AQMLLM_ACT_PASS);
	}
	if (act == AQMLLM_ACT_DROP) {
		if (backlog_pkts < q->par.guard_min_pkts) {
			r->cnt[AQMLLM_CNT_GUARD_MINQ]++;
			return (AQMLLM_ACT_PASS);
		}
		if (aqm_ecn_capable(p->ecn) && !fallback_overloaded(q)) {
			r->cnt[AQMLLM_CNT_GUARD_ECN]++;
			return (AQMLLM_ACT_MARK);
		}
	}
	return (act);
}

static void
release(struct aqm_queue *q, struct aqm_ring *r, const struct aqm_pkt *p)
{
	struct aqm_vt_entry *e;
	int cls = p->cls & 1;

	if (q->qlen_pkts[cls] > 0)
		q->qlen_pkts[cls]--;
	q->qlen_bytes[cls] = q->qlen_bytes[cls] > p->len ?
	    q->qlen_bytes[cls] - p->len : 0;
	if (r != NULL && p->seq != 0) {
		e = &r->vt[p->seq & r->rec_mask];
		if (e->seq == p->seq)
			e->state = AQM_VT_DEPARTED;
	}
}

int
aqm_dequeue(struct aqm_queue *q, struct aqm_ring *r, struct aqm_pkt *p,
    const uint64_t head_enq_ns[2], uint64_t now_ns)
{
	struct aqm_ctx c;
	uint32_t backlog;
	int act, fa, src, cls = p->cls & 1;

	roll_window(q, now_ns);
	fill_ctx(q, &c, head_enq_ns, now_ns);
	c.sojourn_ns = now_ns > p->enq_ns ? now_ns - p->enq_ns : 0;
	c.pkt_len = p->len;
	c.ecn = p->ecn;
	c.cls = (uint8_t)cls;
	backlog = q->qlen_pkts[0] + q->qlen_pkts[1];

	fa = fallback_dequeue(q, p, &c);
	act = fa;
	src = AQM_SRC_FALLBACK;
	if (r != NULL) {
		/*
		 * Read the daemon's index only when this packet still waits for
		 * a verdict that could have come, or once per drain period for
		 * policies: a verdict already in the table needs no shared-line
		 * traffic.
		 */
		if (((p->seq == 0 || r->vt[p->seq & r->rec_mask].seq != p->seq ||
		    r->vt[p->seq & r->rec_mask].state != AQM_VT_DECIDED) &&
		    c.sojourn_ns >= AQM_MIN_VERDICT_NS) ||
		    now_ns - r->last_drain_ns >= AQM_DRAIN_PERIOD_NS) {
			r->last_drain_ns = now_ns;
			aqm_ring_drain(r, now_ns);
		}
		if (aqm_ring_daemon_alive(r, now_ns)) {
			int dsrc = AQM_SRC_NONE;
			int da = daemon_decision(q, r, p, now_ns, &dsrc);

			if (da != AQMLLM_ACT_NONE) {
				act = guard(q, r, p, da, backlog);
				src = dsrc;
			}
		} else if (r->stale)
			r->cnt[AQMLLM_CNT_STALE_DAEMON]++;
	}
	release(q, r, p);
	q->dequeued++;
	p->src = (uint8_t)src;
	count_decision(q, r, src, act);
	return (act);
}

void
aqm_forget(struct aqm_queue *q, struct aqm_ring *r, const struct aqm_pkt *p)
{
	release(q, r, p);
}
