/*
 * A caller-side packet store for C drivers of the core (fuzzer, bench):
 * two FIFOs of aqm_pkt, one per class, as a kernel or simulator keeps.
 */
#ifndef PKTQ_H
#define PKTQ_H

#include <stdlib.h>

#include "aqm_core.h"

#define	PKTQ_CAP	16384U	/* power of two */

struct pktq {
	struct aqm_pkt fifo[2][PKTQ_CAP];
	uint32_t head[2], tail[2];
};

static inline uint32_t
pktq_len(const struct pktq *s, int cls)
{
	return (s->tail[cls] - s->head[cls]);
}

static inline void
pktq_heads(const struct pktq *s, uint64_t enq[2], uint32_t len[2])
{
	int k;

	for (k = 0; k < 2; k++) {
		if (pktq_len(s, k) == 0) {
			enq[k] = 0;
			len[k] = 0;
		} else {
			const struct aqm_pkt *p =
			    &s->fifo[k][s->head[k] & (PKTQ_CAP - 1)];
			enq[k] = p->enq_ns;
			len[k] = p->len;
		}
	}
}

/* Offer a packet to the core; keep it if the core accepts it. */
static inline int
pktq_offer(struct pktq *s, struct aqm_queue *q, struct aqm_ring *r,
    struct aqm_pkt *p, uint64_t now)
{
	uint64_t enq[2];
	uint32_t len[2];
	int act;

	pktq_heads(s, enq, len);
	act = aqm_enqueue(q, r, p, enq, now);
	if (act == AQMLLM_ACT_PASS) {
		if (pktq_len(s, p->cls) >= PKTQ_CAP)
			abort();	/* limit must be below PKTQ_CAP */
		s->fifo[p->cls][s->tail[p->cls]++ & (PKTQ_CAP - 1)] = *p;
	}
	return (act);
}

/* Take the next packet the core selects; returns its action or -1. */
static inline int
pktq_take(struct pktq *s, struct aqm_queue *q, struct aqm_ring *r,
    struct aqm_pkt *out, uint64_t now)
{
	uint64_t enq[2];
	uint32_t len[2];
	int cls;

	pktq_heads(s, enq, len);
	cls = aqm_select(q, enq, len, now);
	if (cls < 0)
		return (-1);
	if (pktq_len(s, cls) == 0)
		abort();	/* the core selected an empty class */
	*out = s->fifo[cls][s->head[cls]++ & (PKTQ_CAP - 1)];
	return (aqm_dequeue(q, r, out, enq, now));
}

#endif /* PKTQ_H */
