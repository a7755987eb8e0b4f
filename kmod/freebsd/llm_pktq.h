/*
 * Packets of the dummynet glue in the core's FIFOs: each mbuf's metadata
 * (struct aqm_pkt, item = the mbuf) lives in FIFO storage the glue gives
 * every queue, so no m_tag is allocated per packet (and the dummynet tag
 * stays first, as ecn_mark() requires).  Public headers only.
 */
#ifndef _DN_LLM_PKTQ_H_
#define _DN_LLM_PKTQ_H_

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>

#include "aqm_core.h"

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

/*
 * FIFO storage for both classes of a queue: the fixed capacity that never
 * fills before the limit (aqm_fifo_cap).  Freed with llm_pktq_free().
 */
static __inline int
llm_pktq_alloc(struct aqm_queue *aq, uint32_t limit, struct malloc_type *mt)
{
	uint32_t cap = aqm_fifo_cap(limit);
	struct aqm_pkt *slots;
	int k;

	for (k = 0; k < 2; k++) {
		slots = malloc(cap * sizeof(*slots), mt, M_NOWAIT | M_ZERO);
		if (slots == NULL || aqm_queue_storage(aq, k, slots, cap,
		    NULL) != 0) {
			free(slots, mt);
			return (ENOMEM);
		}
	}
	return (0);
}

static __inline void
llm_pktq_free(struct aqm_queue *aq, struct malloc_type *mt)
{
	int k;

	for (k = 0; k < 2; k++) {
		free(aq->fifo[k].slot, mt);
		aq->fifo[k].slot = NULL;
		aq->fifo[k].cap = 0;
	}
}

#endif /* _DN_LLM_PKTQ_H_ */
