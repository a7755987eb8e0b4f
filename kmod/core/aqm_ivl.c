/*
 * Interval records: each queue's traffic per class over one interval,
 * written when the queue is first called after the interval's end (no
 * timer, so an idle queue writes nothing until traffic returns, and then
 * one record spanning the idle intervals).  The counting itself is in
 * aqm_queue.c where the packets pass; here the interval is closed: its
 * record built from the counts, the backlog and the fallback's state, and
 * published when the ring exports intervals to an attached daemon.
 */
#include "aqm_queue_int.h"

/* The length of a queue's next interval. */
static uint64_t
next_length(const struct aqm_queue *q, const struct aqm_ring *r)
{
	if (r != NULL && r->interval_ns != 0)
		return (r->interval_ns);
	if (q->alg->tupdate_ns != NULL)
		return (q->alg->tupdate_ns(&q->fb));
	return (AQMLLM_IVL_DEFAULT_NS);
}

void
aqm_ivl_open(struct aqm_queue *q, uint64_t now_ns)
{
	q->ivl_start_ns = now_ns;
	q->ivl_end_ns = now_ns + next_length(q, NULL);
	q->busy_from_ns = now_ns;
	q->busy_ns = 0;
	q->ivl_flags = 0;
	__builtin_memset(q->acc, 0, sizeof(q->acc));
}

static void
fill_class(const struct aqm_queue *q, int k, struct aqmllm_class_ivl *out)
{
	const struct aqm_ivl_acc *a = &q->acc[k];
	int e;

	out->backlog_pkts = q->qlen_pkts[k];
	out->backlog_bytes = q->qlen_bytes[k];
	out->arr_pkts = a->arr_pkts;
	out->arr_bytes = aqm_sat_u32(a->arr_bytes);
	out->dep_pkts = a->dep_pkts;
	out->dep_bytes = aqm_sat_u32(a->dep_bytes);
	out->sojourn_max_ns = aqm_sat_u32(a->sojourn_max_ns);
	out->sojourn_mean_ns = a->dep_pkts != 0 ?
	    aqm_sat_u32(a->sojourn_sum_ns / a->dep_pkts) : 0;
	out->drop_enq = a->drop_enq;
	out->drop_deq = a->drop_deq;
	out->drop_limit = a->drop_limit;
	out->marks = a->marks;
	for (e = 0; e < 4; e++)
		out->ecn[e] = a->ecn[e];
}

static void
build_record(const struct aqm_queue *q, uint64_t start, uint64_t end,
    uint32_t flags, struct aqmllm_interval *iv)
{
	struct aqm_ctx c;
	uint64_t target = 0;
	int k;

	__builtin_memset(iv, 0, sizeof(*iv));
	iv->t_ns = end;
	iv->queue_id = q->id;
	iv->interval_ns = aqm_sat_u32(end - start);
	iv->busy_ns = aqm_sat_u32(q->busy_ns < end - start ? q->busy_ns :
	    end - start);
	iv->rate_kbps = aqm_sat_u32(q->par.link_rate_bps / 1000);
	iv->fb_id = (uint16_t)q->par.fb_id;
	/* What overloaded() reads of a context: the backlog and the limit. */
	__builtin_memset(&c, 0, sizeof(c));
	c.now_ns = end;
	c.limit_pkts = q->par.limit_pkts;
	for (k = 0; k < 2; k++) {
		c.qlen_pkts[k] = q->qlen_pkts[k];
		c.qlen_bytes[k] = q->qlen_bytes[k];
	}
	if (q->alg->overloaded(&q->fb, &c))
		flags |= AQMLLM_IF_OVERLOAD;
	if (q->res_on)
		flags |= AQMLLM_IF_RESIDUAL;
	iv->flags = (uint16_t)flags;
	if (q->alg->interval_state != NULL)
		q->alg->interval_state(&q->fb, iv->fb_state, &target);
	iv->target_ns = aqm_sat_u32(target);
	iv->res_log2_mult[0] = q->res.log2_mult[0];
	iv->res_log2_mult[1] = q->res.log2_mult[1];
	iv->res_step_us = q->res.step_us;
	iv->res_log2_target = q->res.log2_target;
	for (k = 0; k < 2; k++)
		fill_class(q, k, &iv->cls[k]);
}

/* Close [ivl_start, end): its record out (if exported), the next one open. */
static void
close_one(struct aqm_queue *q, struct aqm_ring *r, uint64_t end,
    uint32_t flags, uint64_t now_ns)
{
	struct aqmllm_interval iv;
	int published = 0;

	if (q->qlen_pkts[0] + q->qlen_pkts[1] > 0) {
		q->busy_ns += end - q->busy_from_ns;
		q->busy_from_ns = end;
	}
	if (r != NULL && q->id < r->nqueues &&
	    (r->export_mode & AQMLLM_EXPORT_INTERVALS) != 0 &&
	    aqm_ring_records_wanted(r, now_ns)) {
		build_record(q, q->ivl_start_ns, end, flags | q->ivl_flags, &iv);
		published = aqm_ring_produce_interval(r, &iv, now_ns);
	}
	q->ivl_flags = published ? 0 : AQMLLM_IF_AFTER_LOSS;
	__builtin_memset(q->acc, 0, sizeof(q->acc));
	q->busy_ns = 0;
	q->ivl_start_ns = end;
	q->ivl_end_ns = end + next_length(q, r);
}

void
aqm_ivl_close(struct aqm_queue *q, struct aqm_ring *r, uint64_t now_ns)
{
	uint64_t len, end;

	while (now_ns >= q->ivl_end_ns) {
		len = q->ivl_end_ns - q->ivl_start_ns;
		if (now_ns - q->ivl_end_ns < len) {
			close_one(q, r, q->ivl_end_ns, 0, now_ns);
			continue;
		}
		/* Idle for whole intervals: one record up to the last boundary. */
		end = q->ivl_start_ns + (now_ns - q->ivl_start_ns) / len * len;
		close_one(q, r, end, AQMLLM_IF_GAP, now_ns);
	}
}
