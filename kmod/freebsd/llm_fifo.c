/*
 * FIFO storage of llm's queues, sized by need.  A scheduler mask makes
 * one instance per flow key, so storage fixed at the limit let remote
 * traffic allocate the limit's worth of kernel memory per new key; here
 * a class holds storage only for the backlog it has actually had.
 * Growth happens in the packet path and may fail: the class's FIFO then
 * stays full and the core tail-drops the packet, as it drops one that
 * finds its queue at the limit.
 */
#include "llm_glue.h"

uint32_t
llm_fifo_next_cap(uint32_t cap, uint32_t limit_pkts)
{
	uint32_t most = aqm_fifo_cap(limit_pkts);

	if (cap >= most)
		return (0);
	if (cap == 0)
		return (LLM_FIFO_MIN < most ? LLM_FIFO_MIN : most);
	return (2 * cap);
}

int
llm_fifo_make_room(struct aqm_queue *aq, int cls, const struct llm_mem *m)
{
	struct aqm_fifo *f = &aq->fifo[cls];
	struct aqm_pkt *bigger, *old;
	uint32_t cap, was = f->cap;

	if (!aqm_fifo_full(f) ||
	    aq->qlen_pkts[0] + aq->qlen_pkts[1] >= aq->par.limit_pkts)
		return (0);		/* room, or a drop on the limit */
	cap = llm_fifo_next_cap(was, aq->par.limit_pkts);
	if (cap == 0)
		return (0);		/* at the cap: the limit drops first */
	bigger = m->alloc((size_t)cap * sizeof(*bigger), m->ctx);
	if (bigger == NULL)
		return (ENOMEM);
	old = NULL;
	if (aqm_queue_storage(aq, cls, bigger, cap, &old) != 0) {
		/* cannot happen: cap is a power of two above the backlog */
		m->free(bigger, (size_t)cap * sizeof(*bigger), m->ctx);
		return (ENOMEM);
	}
	if (old != NULL)
		m->free(old, (size_t)was * sizeof(*old), m->ctx);
	return (0);
}

void
llm_fifo_release(struct aqm_queue *aq, const struct llm_mem *m)
{
	struct aqm_fifo *f;
	int k;

	for (k = 0; k < 2; k++) {
		f = &aq->fifo[k];
		if (f->slot != NULL)
			m->free(f->slot, (size_t)f->cap * sizeof(*f->slot),
			    m->ctx);
		f->slot = NULL;
		f->cap = 0;
		f->head = f->tail = 0;
	}
}

size_t
llm_fifo_bytes(const struct aqm_queue *aq)
{
	return (((size_t)aq->fifo[0].cap + aq->fifo[1].cap) *
	    sizeof(struct aqm_pkt));
}
