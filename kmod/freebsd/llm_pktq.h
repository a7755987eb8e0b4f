/*
 * Per-queue packet metadata for the dummynet glue: a FIFO of aqm_pkt kept
 * in step with an mbuf FIFO, so no m_tag is allocated per packet (and the
 * dummynet tag stays first, as ecn_mark() requires).  Public headers only.
 */
#ifndef _DN_LLM_PKTQ_H_
#define _DN_LLM_PKTQ_H_

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>

#include "aqm_core.h"

struct llm_metaq {
	struct aqm_pkt	*slot;
	uint32_t	head, tail, cap;	/* cap: a power of two */
};

static __inline int
llm_metaq_push(struct llm_metaq *f, const struct aqm_pkt *p)
{
	if (f->tail - f->head >= f->cap)
		return (ENOBUFS);
	f->slot[f->tail++ & (f->cap - 1)] = *p;
	return (0);
}

static __inline struct aqm_pkt *
llm_metaq_head(struct llm_metaq *f)
{
	return (f->head == f->tail ? NULL : &f->slot[f->head & (f->cap - 1)]);
}

static __inline void
llm_metaq_pop(struct llm_metaq *f)
{
	if (f->head != f->tail)
		f->head++;
}

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

/* Capacity for a queue limit: the next power of two, at least 64. */
static __inline uint32_t
llm_metaq_cap(uint32_t limit)
{
	uint32_t cap = 64;

	while (cap < limit && cap < (1U << 20))
		cap <<= 1;
	return (cap);
}

#endif /* _DN_LLM_PKTQ_H_ */
