/*
 * Queue logic of the portable core: classification, tail drop, the
 * per-class FIFOs, record production at enqueue, class selection, and the
 * decision at dequeue with its precedence (verdict > policy > fallback)
 * and guardrails.
 *
 * The fallback AQM always runs, even while the daemon decides, so that
 * its controller state is current the instant the daemon goes away.  It
 * is reached only through its descriptor (q->alg, aqm_alg.h).
 *
 * Every packet is counted here for its interval record (aqm_ivl.c), where
 * it happens: arrival, tail drop, AQM drop, departure, mark.
 */
#include "aqm_queue_int.h"

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

int
aqm_class_of(uint8_t ecn)
{
	return (ecn == AQMLLM_ECN_ECT1 || ecn == AQMLLM_ECN_CE ?
	    AQMLLM_CLASS_L : AQMLLM_CLASS_C);
}

const char *
aqm_src_name(uint32_t src)
{
	static const char *const names[AQM_SRC_COUNT] = {
		[AQM_SRC_NONE] = "none",
		[AQM_SRC_VERDICT] = "verdict",
		[AQM_SRC_POLICY] = "policy",
		[AQM_SRC_FALLBACK] = "fallback",
		[AQM_SRC_LIMIT] = "limit",
	};

	return (src < AQM_SRC_COUNT ? names[src] : NULL);
}

void
aqm_params_defaults(struct aqm_params *par, uint32_t fb_id)
{
	uint32_t id;

	__builtin_memset(par, 0, sizeof(*par));
	par->fb_id = fb_id;
	par->limit_pkts = 10000;	/* Linux dualpi2 default */
	par->link_rate_bps = 0;
	par->guard_min_pkts = 2;
	for (id = 0; id < AQMLLM_FB_COUNT; id++)
		aqm_alg_by_id(id)->defaults(par);
}

/* Every algorithm's parameters are checked: the fallback may change. */
int
aqm_params_validate(const struct aqm_params *par)
{
	uint32_t id;

	if (par == NULL || aqm_alg_by_id(par->fb_id) == NULL ||
	    par->limit_pkts == 0 || par->limit_pkts > AQM_MAX_LIMIT ||
	    par->guard_min_pkts > par->limit_pkts)
		return (AQM_EINVAL);
	for (id = 0; id < AQMLLM_FB_COUNT; id++)
		if (aqm_alg_by_id(id)->validate(par) != 0)
			return (AQM_EINVAL);
	return (0);
}

uint32_t
aqm_fifo_cap(uint32_t limit_pkts)
{
	uint32_t cap = 1;

	while (cap < limit_pkts && cap < AQM_FIFO_MAX_CAP)
		cap <<= 1;
	return (cap);
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
	q->alg = aqm_alg_by_id(par->fb_id);
	q->alg->init(&q->fb, par);
	if (q->alg->update != NULL)
		q->next_update_ns = now_ns + q->alg->tupdate_ns(&q->fb);
	aqm_ivl_open(q, now_ns);
	return (0);
}

int
aqm_queue_storage(struct aqm_queue *q, int cls, struct aqm_pkt *slots,
    uint32_t cap, struct aqm_pkt **old)
{
	struct aqm_fifo *f, moved;
	struct aqm_pkt p;

	if ((cls != AQMLLM_CLASS_C && cls != AQMLLM_CLASS_L) || slots == NULL ||
	    cap == 0 || (cap & (cap - 1)) != 0 || cap > AQM_FIFO_MAX_CAP)
		return (AQM_EINVAL);
	f = &q->fifo[cls];
	if (aqm_fifo_len(f) > cap)
		return (AQM_ENOSPC);
	moved.slot = slots;
	moved.cap = cap;
	moved.head = moved.tail = 0;
	moved.pad = 0;
	while (aqm_fifo_len(f) > 0) {
		aqm_fifo_pop(f, &p);
		aqm_fifo_push(&moved, &p);
	}
	if (old != NULL)
		*old = f->slot;
	*f = moved;
	return (0);
}

/*
 * Head-of-queue sojourn per class, from the FIFOs' heads (a class's FIFO
 * holds exactly its qlen_pkts packets).
 */
static inline void
fill_ctx(struct aqm_queue *q, struct aqm_ctx *c, uint64_t now_ns)
{
	const struct aqm_fifo *f;
	uint64_t enq;
	int k;

	c->now_ns = now_ns;
	c->rng = &q->rng;
	c->limit_pkts = q->par.limit_pkts;
	for (k = 0; k < 2; k++) {
		f = &q->fifo[k];
		c->qlen_pkts[k] = q->qlen_pkts[k];
		c->qlen_bytes[k] = q->qlen_bytes[k];
		enq = q->qlen_pkts[k] > 0 ?
		    f->slot[f->head & (f->cap - 1)].enq_ns : now_ns;
		c->qdelay_ns[k] = enq < now_ns ? now_ns - enq : 0;
	}
}

/* The periodic update, if the fallback has one and a boundary has passed. */
static inline void
fallback_tick(struct aqm_queue *q, const struct aqm_ctx *c)
{
	if (q->alg->update != NULL && c->now_ns >= q->next_update_ns)
		aqm_alg_tick(q->alg, &q->fb, &q->next_update_ns, c);
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

/* Expected wait before dequeue, from the backlog ahead and the rate. */
static uint32_t
est_wait(const struct aqm_queue *q, int cls)
{
	uint64_t bytes;

	if (q->par.link_rate_bps == 0)
		return (0);
	bytes = q->qlen_bytes[AQMLLM_CLASS_L];
	/* Behind a DualQ scheduler an L packet waits behind L only. */
	if (q->alg->select == NULL || cls == AQMLLM_CLASS_C)
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
	rec.fb_prob = q->alg->prob(&q->fb, cls);
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
	if (q->alg->overloaded(&q->fb, c))
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

/* The interval's view of a decided head: a drop, or a departure. */
static void
count_departure(struct aqm_ivl_acc *a, int act, uint64_t sojourn_ns,
    uint32_t len)
{
	if (act == AQMLLM_ACT_DROP) {
		a->drop_deq++;
		return;
	}
	a->dep_pkts++;
	a->dep_bytes += len;
	a->sojourn_sum_ns += sojourn_ns;
	if (sojourn_ns > a->sojourn_max_ns)
		a->sojourn_max_ns = sojourn_ns;
	if (act == AQMLLM_ACT_MARK)
		a->marks++;
}

int
aqm_enqueue(struct aqm_queue *q, struct aqm_ring *r, struct aqm_pkt *p,
    uint64_t now_ns)
{
	const struct aqm_alg *a = q->alg;
	struct aqm_ivl_acc *acc;
	struct aqm_ctx c;
	int cls, fa, packets;

	cls = aqm_class_of(p->ecn);
	p->cls = (uint8_t)cls;
	p->enq_ns = now_ns;
	p->seq = 0;
	p->fb_action = AQMLLM_ACT_NONE;
	p->src = AQM_SRC_NONE;
	roll_window(q, now_ns);
	aqm_ivl_res_tick(q, r, now_ns);
	acc = &q->acc[cls];
	acc->arr_pkts++;
	acc->arr_bytes += p->len;
	acc->ecn[p->ecn & 3]++;

	if (q->qlen_pkts[0] + q->qlen_pkts[1] >= q->par.limit_pkts ||
	    aqm_fifo_full(&q->fifo[cls])) {
		p->src = AQM_SRC_LIMIT;
		q->tail_drops++;
		acc->drop_limit++;
		count_decision(q, NULL, AQM_SRC_LIMIT, AQMLLM_ACT_DROP);
		return (AQMLLM_ACT_DROP);
	}
	fill_ctx(q, &c, now_ns);
	c.sojourn_ns = 0;
	c.pkt_len = p->len;
	c.ecn = p->ecn;
	c.cls = (uint8_t)cls;
	c.qlen_pkts[cls]++;
	c.qlen_bytes[cls] += p->len;

	fallback_tick(q, &c);
	/* Only a packet with a record can get a verdict that overrides. */
	packets = r != NULL && (r->export_mode & AQMLLM_EXPORT_PACKETS) != 0;
	if (a->enqueue != NULL) {
		fa = a->enqueue(&q->fb, &c);
		p->fb_action = (uint8_t)fa;
		if (fa == AQMLLM_ACT_DROP &&
		    (!packets || !aqm_ring_daemon_alive(r, now_ns))) {
			/* The fallback is final: drop now, as it would alone. */
			p->src = AQM_SRC_FALLBACK;
			acc->drop_enq++;
			count_decision(q, r, AQM_SRC_FALLBACK, fa);
			return (AQMLLM_ACT_DROP);
		}
	}

	if (q->qlen_pkts[0] + q->qlen_pkts[1] == 0)
		aqm_ivl_busy_starts(q, now_ns);
	q->qlen_pkts[cls]++;
	q->qlen_bytes[cls] += p->len;
	q->enqueued++;
	if (packets && aqm_ring_records_wanted(r, now_ns))
		produce_record(q, r, p, &c);
	aqm_fifo_push(&q->fifo[cls], p);
	return (AQMLLM_ACT_PASS);
}

/* Of two class heads (NULL: empty), the one of the oldest packet; -1: none. */
static inline int
oldest_of(const struct aqm_pkt *hl, const struct aqm_pkt *hc)
{
	if (hl != NULL && hc != NULL)
		return (hl->enq_ns <= hc->enq_ns ? AQMLLM_CLASS_L :
		    AQMLLM_CLASS_C);
	if (hl == NULL && hc == NULL)
		return (-1);
	return (hl != NULL ? AQMLLM_CLASS_L : AQMLLM_CLASS_C);
}

int
aqm_oldest(const struct aqm_queue *q)
{
	return (oldest_of(aqm_fifo_head(&q->fifo[AQMLLM_CLASS_L]),
	    aqm_fifo_head(&q->fifo[AQMLLM_CLASS_C])));
}

int
aqm_select(struct aqm_queue *q, uint64_t now_ns)
{
	const struct aqm_pkt *hl = aqm_fifo_head(&q->fifo[AQMLLM_CLASS_L]);
	const struct aqm_pkt *hc = aqm_fifo_head(&q->fifo[AQMLLM_CLASS_C]);

	(void)now_ns;
	if (q->alg->select == NULL) {
		/* Single-queue AQMs: one FIFO across both classes, oldest first. */
		return (oldest_of(hl, hc));
	}
	if (hl == NULL && hc == NULL)
		return (-1);
	return (q->alg->select(&q->fb, hl != NULL, hc != NULL,
	    hl != NULL ? hl->len : 0, hc != NULL ? hc->len : 0));
}

static int
fallback_dequeue(struct aqm_queue *q, const struct aqm_pkt *p,
    const struct aqm_ctx *c)
{
	const struct aqm_alg *a = q->alg;
	int fa;

	fallback_tick(q, c);
	fa = a->dequeue != NULL ? a->dequeue(&q->fb, c) : p->fb_action;
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
    const struct aqm_ctx *c, int act, uint32_t backlog_pkts)
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
		if (aqm_ecn_capable(p->ecn) && !q->alg->overloaded(&q->fb, c)) {
			r->cnt[AQMLLM_CNT_GUARD_ECN]++;
			return (AQMLLM_ACT_MARK);
		}
	}
	return (act);
}

static inline void
release(struct aqm_queue *q, struct aqm_ring *r, const struct aqm_pkt *p,
    uint64_t now_ns)
{
	struct aqm_vt_entry *e;
	int cls = p->cls & 1;

	if (q->qlen_pkts[cls] > 0)
		q->qlen_pkts[cls]--;
	q->qlen_bytes[cls] = q->qlen_bytes[cls] > p->len ?
	    q->qlen_bytes[cls] - p->len : 0;
	if (q->qlen_pkts[0] + q->qlen_pkts[1] == 0)
		aqm_ivl_busy_ends(q, now_ns);
	if (r != NULL && p->seq != 0) {
		e = &r->vt[p->seq & r->rec_mask];
		if (e->seq == p->seq)
			e->state = AQM_VT_DEPARTED;
	}
}

int
aqm_dequeue(struct aqm_queue *q, struct aqm_ring *r, int cls, uint64_t now_ns,
    struct aqm_pkt *out)
{
	struct aqm_ctx c;
	struct aqm_pkt *p = out;
	uint32_t backlog;
	int act, fa, src;

	if ((cls != AQMLLM_CLASS_C && cls != AQMLLM_CLASS_L) ||
	    aqm_fifo_len(&q->fifo[cls]) == 0)
		return (AQMLLM_ACT_NONE);
	roll_window(q, now_ns);
	aqm_ivl_res_tick(q, r, now_ns);
	/* The context describes the heads before this one leaves. */
	fill_ctx(q, &c, now_ns);
	aqm_fifo_pop(&q->fifo[cls], p);
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
		 * policies and residuals: a verdict already in the table needs
		 * no shared-line traffic, and without per-packet records none
		 * can come.
		 */
		if (((r->export_mode & AQMLLM_EXPORT_PACKETS) != 0 &&
		    (p->seq == 0 || r->vt[p->seq & r->rec_mask].seq != p->seq ||
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
				act = guard(q, r, p, &c, da, backlog);
				src = dsrc;
			}
		} else if (r->stale)
			r->cnt[AQMLLM_CNT_STALE_DAEMON]++;
	}
	release(q, r, p, now_ns);
	q->dequeued++;
	p->src = (uint8_t)src;
	count_decision(q, r, src, act);
	count_departure(&q->acc[cls], act, c.sojourn_ns, p->len);
	return (act);
}

int
aqm_flush(struct aqm_queue *q, struct aqm_ring *r, struct aqm_pkt *out)
{
	int cls;

	for (cls = 0; cls < 2; cls++) {
		if (aqm_fifo_len(&q->fifo[cls]) > 0) {
			aqm_fifo_pop(&q->fifo[cls], out);
			/* No clock here: busy time ends at the last call. */
			release(q, r, out, q->busy_from_ns);
			q->acc[cls].drop_deq++;
			return (1);
		}
	}
	return (0);
}
