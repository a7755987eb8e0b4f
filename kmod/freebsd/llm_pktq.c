/*
 * The lifecycle of one of llm's queues (llm_pktq.h), shared by the
 * scheduler and the AQM form: setup with the no-slot fallback, FIFO
 * storage grown in the packet path, the ring taken only by queues that
 * have a slot in it, and teardown.  Public headers only.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <machine/atomic.h>

#include "llm_pktq.h"

MALLOC_DEFINE(M_AQMLLM_PKTQ, "aqmllm_pktq", "dn_aqm_llm queues and FIFOs");

/* Queues of different vnets grow under different locks: atomics. */
uint64_t llm_pktq_fifo_bytes;
uint64_t llm_pktq_fifo_nomem;

static void *
llm_pktq_alloc(size_t bytes, void *ctx __unused)
{
	void *p = malloc(bytes, M_AQMLLM_PKTQ, M_NOWAIT);

	if (p != NULL)
		atomic_add_64(&llm_pktq_fifo_bytes, bytes);
	return (p);
}

static void
llm_pktq_free(void *p, size_t bytes, void *ctx __unused)
{
	free(p, M_AQMLLM_PKTQ);
	atomic_subtract_64(&llm_pktq_fifo_bytes, bytes);
}

static const struct llm_mem llm_pktq_mem = {
	llm_pktq_alloc, llm_pktq_free, NULL
};

int
llm_pktq_setup(struct llm_pktq *pq, const struct aqm_params *par,
    uint64_t seed)
{
	/* Every ring slot taken: this queue is the fallback's alone. */
	if (llm_queue_id_alloc(&pq->qid) != 0)
		pq->qid = LLM_QID_NONE;
	if (aqm_queue_init(&pq->aq, pq->qid, par, seed, llm_now_ns()) != 0) {
		llm_queue_id_free(pq->qid);
		pq->qid = LLM_QID_NONE;
		return (EINVAL);
	}
	pq->up = 1;
	return (0);
}

void
llm_pktq_teardown(struct llm_pktq *pq, struct mbuf **gone)
{
	struct mbuf *head = NULL, *tail = NULL, *m;
	struct aqm_ring *r;
	struct aqm_pkt p;

	if (!pq->up)
		return;
	r = llm_pktq_ring(pq);
	while (aqm_flush(&pq->aq, r, &p)) {
		if (gone == NULL)
			continue;	/* the mbufs are on the caller's list */
		m = p.item;
		m->m_nextpkt = NULL;
		if (tail == NULL)
			head = m;
		else
			tail->m_nextpkt = m;
		tail = m;
	}
	llm_ring_unlock(r);
	if (gone != NULL)
		*gone = head;
	llm_fifo_release(&pq->aq, &llm_pktq_mem);
	llm_queue_id_free(pq->qid);
	pq->qid = LLM_QID_NONE;
	pq->up = 0;
}

int
llm_pktq_enqueue(struct llm_pktq *pq, struct mbuf *m, const void *iphdr)
{
	struct aqm_ring *r;
	struct aqm_pkt p;
	int act;

	memset(&p, 0, sizeof(p));
	p.len = m->m_pkthdr.len;
	p.flow_hash = m->m_pkthdr.flowid;
	p.ecn = llm_ecn_of(iphdr);
	p.item = m;
	/* No memory: the FIFO stays full and the core tail-drops it. */
	if (llm_fifo_make_room(&pq->aq, aqm_class_of(p.ecn),
	    &llm_pktq_mem) != 0)
		atomic_add_64(&llm_pktq_fifo_nomem, 1);
	r = llm_pktq_ring(pq);
	act = aqm_enqueue(&pq->aq, r, &p, llm_now_ns());
	llm_pktq_ring_done(r);
	return (act);
}

struct aqm_ring *
llm_pktq_ring(const struct llm_pktq *pq)
{
	return (pq->qid != LLM_QID_NONE ? llm_ring_lock() : NULL);
}

void
llm_pktq_ring_done(struct aqm_ring *r)
{
	if (r != NULL) {
		llm_ring_kick(r);
		llm_ring_unlock(r);
	}
}
