/*
 * What the queue logic's files share (aqm_queue.c, aqm_ivl.c,
 * aqm_residual.c); not part of the core's interface.
 */
#ifndef AQM_QUEUE_INT_H
#define AQM_QUEUE_INT_H

#include "aqm_core.h"

/* Open the queue's first interval at now_ns. */
void	aqm_ivl_open(struct aqm_queue *q, uint64_t now_ns);
/* Close every interval that ended by now_ns, writing records as exported. */
void	aqm_ivl_close(struct aqm_queue *q, struct aqm_ring *r, uint64_t now_ns);
/* Take the ring's new residual for the queue, or end an expired one. */
void	aqm_res_update(struct aqm_queue *q, struct aqm_ring *r, uint64_t now_ns);

/* Every call into a queue starts here: intervals first, then the residual. */
static inline void
aqm_ivl_res_tick(struct aqm_queue *q, struct aqm_ring *r, uint64_t now_ns)
{
	if (now_ns >= q->ivl_end_ns)
		aqm_ivl_close(q, r, now_ns);
	if ((r != NULL && q->id < r->nqueues &&
	    r->res[q->id].gen != q->res_gen) ||
	    (q->res_on && (r == NULL || now_ns >= q->res_expiry_ns ||
	    !aqm_ring_daemon_alive(r, now_ns))))
		aqm_res_update(q, r, now_ns);
}

/* The queue's backlog over both classes went from 0 to 1: busy from now. */
static inline void
aqm_ivl_busy_starts(struct aqm_queue *q, uint64_t now_ns)
{
	q->busy_from_ns = now_ns;
}

/* The queue's backlog went to 0 at now_ns. */
static inline void
aqm_ivl_busy_ends(struct aqm_queue *q, uint64_t now_ns)
{
	if (now_ns > q->busy_from_ns)
		q->busy_ns += now_ns - q->busy_from_ns;
	q->busy_from_ns = now_ns;
}

#endif /* AQM_QUEUE_INT_H */
