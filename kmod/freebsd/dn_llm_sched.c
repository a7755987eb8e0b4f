/*
 * The dummynet scheduler "llm": one dual L/C queue per scheduler
 * instance (the way fq_pie is a scheduler), driven by the portable core.
 * Stock tools attach it:  ipfw sched 1 config pipe 1 type llm
 * Its parameters come from the net.inet.ip.dummynet.llm sysctls.
 *
 * Needs dummynet's private headers: compiled only against a source tree.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/mbuf.h>
#include <sys/module.h>
#include <sys/mutex.h>
#include <sys/socket.h>
#include <net/if.h>
#include <net/if_var.h>
#include <netinet/in.h>
#include <netinet/ip_var.h>
#include <netinet/ip_fw.h>
#include <netinet/ip_dummynet.h>
#include <netpfil/ipfw/ip_fw_private.h>
#include <netpfil/ipfw/dn_heap.h>
#include <netpfil/ipfw/ip_dn_private.h>
#include <netpfil/ipfw/dn_aqm.h>
#include <netpfil/ipfw/dn_sched.h>

#include "llm_pktq.h"
#include "llm_var.h"

#define	DN_SCHED_LLM	64	/* unique among dummynet schedulers */

struct llm_si {
	struct mq	q[2];		/* AQMLLM_CLASS_C, AQMLLM_CLASS_L */
	struct llm_metaq meta[2];
	struct aqm_queue aq;
	uint32_t	qid;
	int		ok;
};

static int
llm_si_enqueue(struct dn_sch_inst *_si, struct dn_queue *q __unused,
    struct mbuf *m)
{
	struct llm_si *si = (struct llm_si *)(_si + 1);
	struct aqm_pkt p;
	struct aqm_ring *r;
	uint64_t heads[2];
	int act, k;

	if (!si->ok) {
		FREE_PKT(m);
		return (1);
	}
	memset(&p, 0, sizeof(p));
	p.len = m->m_pkthdr.len;
	p.flow_hash = m->m_pkthdr.flowid;
	p.ecn = llm_ecn_of(mtodo(m, dn_tag_get(m)->iphdr_off));
	for (k = 0; k < 2; k++) {
		struct aqm_pkt *h = llm_metaq_head(&si->meta[k]);

		heads[k] = h != NULL ? h->enq_ns : 0;
	}
	r = llm_ring_lock();
	act = aqm_enqueue(&si->aq, r, &p, heads, llm_now_ns());
	if (r != NULL) {
		llm_ring_kick(r);
		llm_ring_unlock(r);
	}
	if (act != AQMLLM_ACT_PASS || llm_metaq_push(&si->meta[p.cls], &p)) {
		if (act == AQMLLM_ACT_PASS)	/* no room for metadata */
			aqm_forget(&si->aq, NULL, &p);
		_si->ni.drops++;
		FREE_PKT(m);
		return (1);
	}
	mq_append(&si->q[p.cls], m);
	_si->ni.length++;
	_si->ni.len_bytes += p.len;
	_si->ni.tot_pkts++;
	_si->ni.tot_bytes += p.len;
	return (0);
}

static struct mbuf *
llm_si_dequeue(struct dn_sch_inst *_si)
{
	struct llm_si *si = (struct llm_si *)(_si + 1);
	struct aqm_ring *r;
	struct aqm_pkt p, *h;
	struct mbuf *m;
	uint64_t heads[2], now;
	uint32_t lens[2];
	int act, cls, k;

	r = llm_ring_lock();
	now = llm_now_ns();
	for (;;) {
		for (k = 0; k < 2; k++) {
			h = llm_metaq_head(&si->meta[k]);
			heads[k] = h != NULL ? h->enq_ns : 0;
			lens[k] = h != NULL ? h->len : 0;
		}
		cls = aqm_select(&si->aq, heads, lens, now);
		if (cls < 0 || (m = si->q[cls].head) == NULL) {
			m = NULL;
			break;
		}
		si->q[cls].head = m->m_nextpkt;
		m->m_nextpkt = NULL;
		p = *llm_metaq_head(&si->meta[cls]);
		llm_metaq_pop(&si->meta[cls]);
		_si->ni.length--;
		_si->ni.len_bytes -= p.len;
		act = aqm_dequeue(&si->aq, r, &p, heads, now);
		if (act == AQMLLM_ACT_DROP) {
			_si->ni.drops++;
			FREE_PKT(m);
			continue;
		}
		/* ecn_mark() finds the IP header through the dummynet tag. */
		if (act == AQMLLM_ACT_MARK)
			(void)ecn_mark(m);
		break;
	}
	if (r != NULL) {
		llm_ring_kick(r);
		llm_ring_unlock(r);
	}
	return (m);
}

static int
llm_si_new(struct dn_sch_inst *_si)
{
	struct llm_si *si = (struct llm_si *)(_si + 1);
	struct aqm_params par = llm_tun.defaults;
	uint32_t cap, k;

	memset(si, 0, sizeof(*si));
	cap = llm_metaq_cap(par.limit_pkts);
	for (k = 0; k < 2; k++) {
		si->meta[k].cap = cap;
		si->meta[k].slot = malloc(cap * sizeof(struct aqm_pkt),
		    M_DUMMYNET, M_NOWAIT | M_ZERO);
		if (si->meta[k].slot == NULL)
			goto fail;
	}
	if (llm_queue_id_alloc(&si->qid) != 0)
		goto fail;
	if (aqm_queue_init(&si->aq, si->qid, &par,
	    (uint64_t)(uintptr_t)_si ^ arc4random(), llm_now_ns()) != 0) {
		llm_queue_id_free(si->qid);
		goto fail;
	}
	si->ok = 1;
	return (0);
fail:
	for (k = 0; k < 2; k++)
		free(si->meta[k].slot, M_DUMMYNET);
	memset(si, 0, sizeof(*si));
	return (ENOMEM);
}

static int
llm_si_free(struct dn_sch_inst *_si)
{
	struct llm_si *si = (struct llm_si *)(_si + 1);
	int k;

	for (k = 0; k < 2; k++) {
		dn_free_pkts(si->q[k].head);
		si->q[k].head = si->q[k].tail = NULL;
		free(si->meta[k].slot, M_DUMMYNET);
		si->meta[k].slot = NULL;
	}
	if (si->ok)
		llm_queue_id_free(si->qid);
	si->ok = 0;
	return (0);
}

static int
llm_sched_config(struct dn_schk *s __unused)
{
	return (0);
}

static int
llm_sched_getconfig(struct dn_schk *s __unused, struct dn_extra_parms *ep)
{
	strlcpy(ep->name, "llm", sizeof(ep->name));
	ep->par[0] = llm_tun.fallback;
	ep->par[1] = llm_tun.limit_pkts;
	return (0);
}

static struct dn_alg llm_sched_desc = {
	_SI( .type = )		DN_SCHED_LLM,
	_SI( .name = )		"LLM",
	_SI( .flags = )		0,
	_SI( .schk_datalen = )	0,
	_SI( .si_datalen = )	sizeof(struct llm_si),
	_SI( .q_datalen = )	0,
	_SI( .enqueue = )	llm_si_enqueue,
	_SI( .dequeue = )	llm_si_dequeue,
	_SI( .config = )	llm_sched_config,
	_SI( .destroy = )	NULL,
	_SI( .new_sched = )	llm_si_new,
	_SI( .free_sched = )	llm_si_free,
	_SI( .new_fsk = )	NULL,
	_SI( .free_fsk = )	NULL,
	_SI( .new_queue = )	NULL,
	_SI( .free_queue = )	NULL,
	_SI( .getconfig = )	llm_sched_getconfig,
};

int
llm_sched_modevent(int type)
{
	return (dn_sched_modevent(NULL, type, &llm_sched_desc));
}
