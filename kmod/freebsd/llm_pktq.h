/*
 * One queue of llm's, whichever dummynet object holds it (a scheduler
 * instance, an AQM's queue): the core's queue, whose FIFOs keep each
 * mbuf's metadata (struct aqm_pkt, item = the mbuf, so no m_tag is
 * allocated per packet and the dummynet tag stays first, as ecn_mark()
 * requires), and its slot in the shared ring.  llm_pktq.c owns its
 * lifecycle: setup, storage grown by need, the ring lock, teardown.
 * Public headers only.
 */
#ifndef _DN_LLM_PKTQ_H_
#define _DN_LLM_PKTQ_H_

#include <sys/malloc.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>

#include "llm_var.h"

MALLOC_DECLARE(M_AQMLLM_PKTQ);

struct mbuf;

struct llm_pktq {
	struct aqm_queue aq;
	uint32_t	qid;		/* LLM_QID_NONE: no slot in the ring */
	int		up;		/* set up, until torn down */
};

/*
 * A queue with parameters par: a ring slot if one is free (else the
 * fallback decides alone and no record is exported), the core's state,
 * and no FIFO storage until packets come.  Fails only on parameters the
 * core refuses (EINVAL).
 */
int	llm_pktq_setup(struct llm_pktq *pq, const struct aqm_params *par,
	    uint64_t seed);
/*
 * The queued packets leave undecided (their verdict slots are freed under
 * the ring lock); with gone, their mbufs are chained through m_nextpkt
 * into *gone for the caller to free; the storage and the slot are freed.
 */
void	llm_pktq_teardown(struct llm_pktq *pq, struct mbuf **gone);
/*
 * A packet arrives (the dummynet lock held): room made by need, then the
 * core's decision, under the ring lock when the queue has a slot.
 * AQMLLM_ACT_PASS: the core holds it; AQMLLM_ACT_DROP: the caller frees it.
 */
int	llm_pktq_enqueue(struct llm_pktq *pq, struct mbuf *m, const void *iphdr);
/* The ring, locked, for a queue that has a slot in it; else NULL. */
struct aqm_ring *llm_pktq_ring(const struct llm_pktq *pq);
/* After a burst of decisions: wake the daemon if a batch is due, unlock. */
void	llm_pktq_ring_done(struct aqm_ring *r);

/* Totals over every queue: FIFO bytes held, growths refused for memory. */
extern uint64_t llm_pktq_fifo_bytes;
extern uint64_t llm_pktq_fifo_nomem;

/* ECN codepoint of an IPv4 or IPv6 header; Not-ECT for anything else. */
static __inline uint8_t
llm_ecn_of(const void *iphdr)
{
	const struct ip *ip = iphdr;
	const struct ip6_hdr *ip6 = iphdr;

	if (ip->ip_v == IPVERSION)
		return (ip->ip_tos & IPTOS_ECN_MASK);
	if ((ip6->ip6_vfc & IPV6_VERSION_MASK) == IPV6_VERSION)
		return ((ntohl(ip6->ip6_flow) >> 20) & IPTOS_ECN_MASK);
	return (AQMLLM_ECN_NOT_ECT);
}

#endif /* _DN_LLM_PKTQ_H_ */
