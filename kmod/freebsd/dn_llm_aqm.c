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
#include <net/vnet.h>
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

#define	DN_AQM_LLM	64	/* unique among dummynet AQMs, never 0 */

/*
 * Each queue's state is a struct llm_pktq (q->aqm_status).  The mbufs
 * stay in dummynet's q->mq, in arrival order (dummynet's schedulers read
 * it); the core's FIFOs hold their metadata, item = mbuf.
 */

static struct dn_aqm llm_aqm_desc;

/*
 * The unload gate, under dummynet's sched_mtx like the descriptors'
 * reference counts.  Only a new configuration needs it: a queue or a
 * scheduler instance is created for a flowset or scheduler that already
 * makes the unload refuse.  Queue instances count in ref_count; flowsets
 * are found by llm_aqm_flowsets() instead (cfg_ref_count stays 0:
 * dummynet loses configurations without telling their AQM).
 */
struct llm_gate llm_gate;

/* Queue instances pin the module (counted, as dummynet's unload expects). */
static void
llm_aqm_ref(int *count, int delta)
{
	dummynet_sched_lock();
	*count += delta;
	dummynet_sched_unlock();
}

static int
llm_config_allowed(void)
{
	int ok;

	dummynet_sched_lock();
	ok = llm_gate_open_p(&llm_gate);
	dummynet_sched_unlock();
	return (ok);
}

/* Free a stale configuration of ours; count the flowsets that use llm. */
static int
llm_fs_scan(void *obj, void *arg)
{
	struct dn_fsk *fs = obj;
	int *live = arg;

	switch (llm_fs_use(fs->aqmfp, &llm_aqm_desc, fs->aqmcfg)) {
	case LLM_FS_LIVE:
		(*live)++;
		break;
	case LLM_FS_STALE:
		free(fs->aqmcfg, M_DUMMYNET);
		fs->aqmcfg = NULL;
		break;
	}
	return (0);
}

/*
 * Flowsets using llm in every vnet (kldunload runs in one vnet, and
 * dummynet's own unload scans only that one), under each one's lock.
 */
static int
llm_aqm_flowsets(void)
{
	VNET_ITERATOR_DECL(vnet_iter);
	int live = 0;

	VNET_LIST_RLOCK();
	VNET_FOREACH(vnet_iter) {
		CURVNET_SET(vnet_iter);
		if (V_dn_cfg.init_done && V_dn_cfg.fshash != NULL) {
			DN_BH_WLOCK();
			dn_ht_scan(V_dn_cfg.fshash, llm_fs_scan, &live);
			DN_BH_WUNLOCK();
		}
		CURVNET_RESTORE();
	}
	VNET_LIST_RUNLOCK();
	return (live);
}

int
llm_users_close(void)
{
	int users, error;

	dummynet_sched_lock();
	llm_gate_close(&llm_gate);
	dummynet_sched_unlock();
	users = llm_aqm_flowsets();
	dummynet_sched_lock();
	users += llm_aqm_desc.ref_count + llm_sched_refs();
	error = llm_gate_decide(&llm_gate, users);
	dummynet_sched_unlock();
	return (error);
}

void
llm_users_open(void)
{
	dummynet_sched_lock();
	llm_gate_open(&llm_gate);
	dummynet_sched_unlock();
}

/*
 * dn_enqueue() has applied the flowset's packet loss rate; its queue size
 * is the AQM's to apply (in bytes, or in packets, which is also the
 * core's limit).
 */
static int
llm_aqm_full(const struct dn_queue *q, uint32_t len)
{
	const struct dn_fs *f = &q->fs->fs;

	return (llm_qsize_full(f->qsize, (f->flags & DN_QSIZE_BYTES) != 0,
	    q->ni.length, q->ni.len_bytes, len));
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
	struct llm_pktq *pq = q->aqm_status;
	uint32_t len = m->m_pkthdr.len;

	if (pq == NULL || llm_aqm_full(q, len) ||
	    llm_pktq_enqueue(pq, m, mtodo(m, dn_tag_get(m)->iphdr_off)) !=
	    AQMLLM_ACT_PASS) {
		update_stats(q, 0, 1);
		FREE_PKT(m);
		return (1);
	}
	mq_append(&q->mq, m);
	update_stats(q, len, 0);
	return (0);
}

static struct mbuf *
llm_aqm_dequeue(struct dn_queue *q)
{
	struct llm_pktq *pq = q->aqm_status;
	struct aqm_ring *r;
	struct aqm_pkt p;
	struct mbuf *m;
	uint64_t now;
	int act, cls;

	if (pq == NULL)
		return (NULL);
	r = llm_pktq_ring(pq);
	now = llm_now_ns();
	for (;;) {
		/* Dummynet's FIFO and the core's class FIFOs hold the same. */
		if ((m = q->mq.head) == NULL ||
		    (cls = llm_aqm_head_class(&pq->aq, m)) < 0) {
			KASSERT(m == NULL && aqm_oldest(&pq->aq) < 0,
			    ("dn_aqm_llm: dummynet's and the core's queues differ"));
			m = NULL;
			break;
		}
		q->mq.head = m->m_nextpkt;
		q->mq.count--;			/* as dn_dequeue() keeps it */
		m->m_nextpkt = NULL;
		act = aqm_dequeue(&pq->aq, r, cls, now, &p);
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
	llm_pktq_ring_done(r);
	return (m);
}

static int
llm_aqm_init(struct dn_queue *q)
{
	struct llm_aqm_cfg *cfg = q->fs->aqmcfg;
	struct llm_pktq *pq;

	/* Another AQM's configuration (dummynet can leave one): not ours. */
	if (cfg == NULL || cfg->magic != LLM_CFG_MAGIC)
		return (EINVAL);
	pq = malloc(sizeof(*pq), M_AQMLLM_PKTQ, M_NOWAIT | M_ZERO);
	if (pq == NULL)
		return (ENOMEM);
	if (llm_pktq_setup(pq, &cfg->par,
	    (uint64_t)(uintptr_t)q ^ arc4random()) != 0) {
		free(pq, M_AQMLLM_PKTQ);
		return (EINVAL);
	}
	q->aqm_status = pq;
	llm_aqm_ref(&llm_aqm_desc.ref_count, 1);
	return (0);
}

static int
llm_aqm_cleanup(struct dn_queue *q)
{
	struct llm_pktq *pq = q->aqm_status;

	if (pq == NULL)
		return (0);
	/* The mbufs are dummynet's (q->mq), which frees them. */
	llm_pktq_teardown(pq, NULL);
	free(pq, M_AQMLLM_PKTQ);
	q->aqm_status = NULL;
	llm_aqm_ref(&llm_aqm_desc.ref_count, -1);
	return (0);
}

static int
llm_aqm_config(struct dn_fsk *fs, struct dn_extra_parms *ep, int len)
{
	struct llm_aqm_args a;
	struct llm_aqm_cfg *cfg;
	struct aqm_params defaults;
	int error;

	/*
	 * A configuration still here was not deconfigured: a flowset without
	 * a scheduler is reconfigured without deconfig, and another AQM's
	 * failed attempt leaves its own.  Either way nobody else frees it.
	 */
	if (fs->aqmcfg != NULL) {
		free(fs->aqmcfg, M_DUMMYNET);
		fs->aqmcfg = NULL;
	}
	if (ep == NULL)
		return (EINVAL);
	if (!llm_config_allowed())
		return (EBUSY);		/* kldunload dn_aqm_llm is deciding */
	memset(&a, 0, sizeof(a));
	a.ep_len = len;
	a.ep_min = sizeof(*ep);
	a.fallback = ep->par[0];
	a.qsize = fs->fs.qsize;
	a.qsize_bytes = (fs->fs.flags & DN_QSIZE_BYTES) != 0;
	llm_tun_params(&defaults);
	cfg = malloc(sizeof(*cfg), M_DUMMYNET, M_NOWAIT | M_ZERO);
	if (cfg == NULL)
		return (ENOMEM);
	error = llm_aqm_parse(&a, &defaults, &cfg->par);
	if (error != 0) {
		free(cfg, M_DUMMYNET);
		return (error);
	}
	cfg->magic = LLM_CFG_MAGIC;
	fs->aqmcfg = cfg;
	return (0);
}

static int
llm_aqm_deconfig(struct dn_fsk *fs)
{
	if (fs != NULL && fs->aqmcfg != NULL) {
		free(fs->aqmcfg, M_DUMMYNET);
		fs->aqmcfg = NULL;
		fs->aqmfp = NULL;
	}
	return (0);
}

static int
llm_aqm_getconfig(struct dn_fsk *fs, struct dn_extra_parms *ep)
{
	struct llm_aqm_cfg *cfg = fs->aqmcfg;

	if (cfg == NULL || cfg->magic != LLM_CFG_MAGIC)
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

/* dummynet answers 1 for a name already registered: say so. */
int
llm_aqm_modevent(int type)
{
	int error = dn_aqm_modevent(NULL, type, &llm_aqm_desc);

	return (type == MOD_LOAD && error == 1 ? EEXIST : error);
}
