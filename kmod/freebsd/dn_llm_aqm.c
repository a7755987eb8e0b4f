/*
 * The dummynet AQM "llm" for single-queue configurations (a pipe's or a
 * queue's FIFO).  Stock ipfw cannot name it; aqmllmctl sends the
 * IP_DUMMYNET3 message with dn_extra_parms.name = "llm".
 * par[0]: fallback, an AQMLLM_FB_* id (-1: the sysctl default).
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
#include <netpfil/ipfw/dn_sched.h>	/* _SI() */

#include "llm_pktq.h"
#include "llm_var.h"

#define	DN_AQM_LLM	64	/* unique among dummynet AQMs, never 0 */

#define	LLM_AQM_CFG_MAGIC	0x6c6c6d43	/* "llmC": a configuration of ours */

struct llm_aqm_cfg {
	uint32_t	magic;
	struct aqm_params par;
};

/*
 * The mbufs stay in dummynet's q->mq, in arrival order (dummynet's
 * schedulers read it); the core's FIFOs hold their metadata, item = mbuf.
 */
struct llm_aqm_q {
	struct aqm_queue aq;
	uint32_t	qid;
};

static struct dn_aqm llm_aqm_desc;

/* Queue instances and configured flowsets pin the module. */
static void
llm_aqm_ref(int *count, int delta)
{
	dummynet_sched_lock();
	*count += delta;
	dummynet_sched_unlock();
}

int
llm_aqm_busy(void)
{
	int n;

	dummynet_sched_lock();
	n = llm_aqm_desc.ref_count != 0 || llm_aqm_desc.cfg_ref_count != 0;
	dummynet_sched_unlock();
	return (n);
}

/* Room for one more packet: dummynet's queue size in bytes, or our limit. */
static int
llm_aqm_full(const struct dn_queue *q, const struct llm_aqm_q *lq,
    uint32_t len)
{
	if (q->fs->fs.flags & DN_QSIZE_BYTES)
		return (q->ni.len_bytes + len > (uint32_t)q->fs->fs.qsize);
	return (q->ni.length >= lq->aq.par.limit_pkts);
}

/* The class whose FIFO head is m (q->mq's head, the oldest packet); -1: none. */
static int
llm_aqm_head_class(const struct aqm_queue *aq, const struct mbuf *m)
{
	const struct aqm_pkt *h;
	int cls;

	for (cls = 0; cls < 2; cls++) {
		h = aqm_fifo_head(&aq->fifo[cls]);
		if (h != NULL && h->item == m)
			return (cls);
	}
	return (-1);
}

static int
llm_aqm_enqueue(struct dn_queue *q, struct mbuf *m)
{
	struct llm_aqm_q *lq = q->aqm_status;
	struct aqm_ring *r;
	struct aqm_pkt p;
	int act;

	if (lq == NULL || llm_aqm_full(q, lq, m->m_pkthdr.len))
		goto drop;
	memset(&p, 0, sizeof(p));
	p.len = m->m_pkthdr.len;
	p.flow_hash = m->m_pkthdr.flowid;
	p.ecn = llm_ecn_of(mtodo(m, dn_tag_get(m)->iphdr_off));
	p.item = m;
	r = lq->qid != LLM_QID_NONE ? llm_ring_lock() : NULL;
	act = aqm_enqueue(&lq->aq, r, &p, llm_now_ns());
	if (r != NULL) {
		llm_ring_kick(r);
		llm_ring_unlock(r);
	}
	if (act != AQMLLM_ACT_PASS)
		goto drop;
	mq_append(&q->mq, m);
	update_stats(q, p.len, 0);
	return (0);
drop:
	update_stats(q, 0, 1);
	FREE_PKT(m);
	return (1);
}

static struct mbuf *
llm_aqm_dequeue(struct dn_queue *q)
{
	struct llm_aqm_q *lq = q->aqm_status;
	struct aqm_ring *r;
	struct aqm_pkt p;
	struct mbuf *m;
	uint64_t now;
	int act, cls;

	if (lq == NULL)
		return (NULL);
	r = lq->qid != LLM_QID_NONE ? llm_ring_lock() : NULL;
	now = llm_now_ns();
	for (;;) {
		/* Dummynet's FIFO and the core's class FIFOs hold the same. */
		if ((m = q->mq.head) == NULL ||
		    (cls = llm_aqm_head_class(&lq->aq, m)) < 0) {
			KASSERT(m == NULL && aqm_oldest(&lq->aq) < 0,
			    ("dn_aqm_llm: dummynet's and the core's queues differ"));
			m = NULL;
			break;
		}
		q->mq.head = m->m_nextpkt;
		m->m_nextpkt = NULL;
		act = aqm_dequeue(&lq->aq, r, cls, now, &p);
		update_stats(q, -(int)p.len, 0);
		if (act == AQMLLM_ACT_DROP) {
			update_stats(q, 0, 1);
			FREE_PKT(m);
			continue;
		}
		if (m->m_pkthdr.rcvif != NULL &&
		    __predict_false(m_rcvif_restore(m) == NULL)) {
			/* the interface went away while the packet waited */
			m_freem(m);
			continue;
		}
		if (act == AQMLLM_ACT_MARK)
			(void)ecn_mark(m);
		break;
	}
	if (q->mq.head == NULL)
		q->q_time = V_dn_cfg.curr_time;
	if (r != NULL) {
		llm_ring_kick(r);
		llm_ring_unlock(r);
	}
	return (m);
}

static int
llm_aqm_init(struct dn_queue *q)
{
	struct llm_aqm_cfg *cfg = q->fs->aqmcfg;
	struct llm_aqm_q *lq;

	/* Another AQM's configuration (dummynet can leave one): not ours. */
	if (cfg == NULL || cfg->magic != LLM_AQM_CFG_MAGIC)
		return (EINVAL);
	lq = malloc(sizeof(*lq), M_DUMMYNET, M_NOWAIT | M_ZERO);
	if (lq == NULL)
		return (ENOMEM);
	/* Every ring slot taken: this queue is the fallback's alone. */
	if (llm_queue_id_alloc(&lq->qid) != 0)
		lq->qid = LLM_QID_NONE;
	if (aqm_queue_init(&lq->aq, lq->qid, &cfg->par,
	    (uint64_t)(uintptr_t)q ^ arc4random(), llm_now_ns()) != 0 ||
	    llm_pktq_alloc(&lq->aq, cfg->par.limit_pkts, M_DUMMYNET) != 0) {
		llm_pktq_free(&lq->aq, M_DUMMYNET);
		llm_queue_id_free(lq->qid);
		free(lq, M_DUMMYNET);
		return (ENOMEM);
	}
	q->aqm_status = lq;
	llm_aqm_ref(&llm_aqm_desc.ref_count, 1);
	return (0);
}

static int
llm_aqm_cleanup(struct dn_queue *q)
{
	struct llm_aqm_q *lq = q->aqm_status;
	struct aqm_ring *r;
	struct aqm_pkt p;

	if (lq == NULL)
		return (0);
	/*
	 * Packets still queued leave undecided: their verdict slots are free.
	 * The mbufs are dummynet's (q->mq), which frees them.
	 */
	r = lq->qid != LLM_QID_NONE ? llm_ring_lock() : NULL;
	while (aqm_flush(&lq->aq, r, &p))
		;
	llm_ring_unlock(r);
	llm_queue_id_free(lq->qid);
	llm_pktq_free(&lq->aq, M_DUMMYNET);
	free(lq, M_DUMMYNET);
	q->aqm_status = NULL;
	llm_aqm_ref(&llm_aqm_desc.ref_count, -1);
	return (0);
}

static int
llm_aqm_config(struct dn_fsk *fs, struct dn_extra_parms *ep, int len)
{
	struct llm_aqm_cfg *cfg;

	/*
	 * A configuration still here was not deconfigured: a flowset without
	 * a scheduler is reconfigured without deconfig, and another AQM's
	 * failed attempt leaves its own.  Ours is counted: uncount it.
	 */
	if (fs->aqmcfg != NULL) {
		cfg = fs->aqmcfg;
		if (cfg->magic == LLM_AQM_CFG_MAGIC)
			llm_aqm_ref(&llm_aqm_desc.cfg_ref_count, -1);
		free(cfg, M_DUMMYNET);
		fs->aqmcfg = NULL;
	}
	if (ep == NULL || len < (int)sizeof(*ep))
		return (EINVAL);
	if (ep->par[0] < -1 ||
	    (ep->par[0] >= 0 && aqm_alg_by_id((uint32_t)ep->par[0]) == NULL))
		return (EINVAL);
	cfg = malloc(sizeof(*cfg), M_DUMMYNET, M_NOWAIT | M_ZERO);
	if (cfg == NULL)
		return (ENOMEM);
	cfg->magic = LLM_AQM_CFG_MAGIC;
	llm_tun_params(&cfg->par);
	if (ep->par[0] >= 0)
		cfg->par.fb_id = (uint32_t)ep->par[0];
	/* dummynet's own queue size is the limit, when given in packets */
	if ((fs->fs.flags & DN_QSIZE_BYTES) == 0 && fs->fs.qsize > 0)
		cfg->par.limit_pkts = fs->fs.qsize;
	if (aqm_params_validate(&cfg->par) != 0) {
		free(cfg, M_DUMMYNET);
		return (EINVAL);
	}
	fs->aqmcfg = cfg;
	llm_aqm_ref(&llm_aqm_desc.cfg_ref_count, 1);
	return (0);
}

static int
llm_aqm_deconfig(struct dn_fsk *fs)
{
	struct llm_aqm_cfg *cfg;

	if (fs != NULL && fs->aqmcfg != NULL) {
		cfg = fs->aqmcfg;
		if (cfg->magic == LLM_AQM_CFG_MAGIC)
			llm_aqm_ref(&llm_aqm_desc.cfg_ref_count, -1);
		free(cfg, M_DUMMYNET);
		fs->aqmcfg = NULL;
		fs->aqmfp = NULL;
	}
	return (0);
}

static int
llm_aqm_getconfig(struct dn_fsk *fs, struct dn_extra_parms *ep)
{
	struct llm_aqm_cfg *cfg = fs->aqmcfg;

	if (cfg == NULL || cfg->magic != LLM_AQM_CFG_MAGIC)
		return (EINVAL);
	strlcpy(ep->name, llm_aqm_desc.name, sizeof(ep->name));
	ep->par[0] = cfg->par.fb_id;
	ep->par[1] = cfg->par.limit_pkts;
	return (0);
}

static struct dn_aqm llm_aqm_desc = {
	_SI( .type = )		DN_AQM_LLM,
	_SI( .name = )		"LLM",
	_SI( .enqueue = )	llm_aqm_enqueue,
	_SI( .dequeue = )	llm_aqm_dequeue,
	_SI( .config = )	llm_aqm_config,
	_SI( .deconfig = )	llm_aqm_deconfig,
	_SI( .getconfig = )	llm_aqm_getconfig,
	_SI( .init = )		llm_aqm_init,
	_SI( .cleanup = )	llm_aqm_cleanup,
};

int
llm_aqm_modevent(int type)
{
	return (dn_aqm_modevent(NULL, type, &llm_aqm_desc));
}
