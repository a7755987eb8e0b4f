/*
 * The dummynet scheduler "llm": one dual L/C queue per scheduler
 * instance (the way fq_pie is a scheduler), driven by the portable core.
 * Stock tools attach it, and a queue feeds it:
 *	ipfw sched 1 config pipe 1 type llm queue 100 plr 0.001
 *	ipfw queue 1 config sched 1
 *	ipfw add queue 1 ...
 * The fallback and its parameters come from the net.inet.ip.dummynet.llm
 * sysctls; the queue size and packet loss rate from the scheduler's own
 * flowset (the one dummynet gives a single-queue scheduler), as
 * dn_enqueue() applies them to every other dummynet queue.
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

/* Per configured scheduler: whether it holds a reference on the module. */
struct llm_schk {
	int		counted;
};

/*
 * Per scheduler instance.  Dummynet takes the memory right after a
 * !DN_MULTIQUEUE instance for its queue (si_new, si_destroy and the idle
 * drain read (si + 1) as a struct dn_queue), so one comes first, as in
 * fq_pie: its counters are the ones dummynet shows and tests.
 */
struct llm_si {
	struct dn_queue	main_q;
	struct llm_pktq	pq;		/* set up with the first packet */
};

static struct dn_alg llm_sched_desc;
static int	llm_si_setup(struct dn_sch_inst *_si, struct llm_si *si);

/* Instances and configured schedulers pin the module (see llm_sched_busy). */
static void
llm_sched_ref(int delta)
{
	dummynet_sched_lock();
	llm_sched_desc.ref_count += delta;
	dummynet_sched_unlock();
}

/* Caller holds dummynet's sched_mtx. */
int
llm_sched_refs(void)
{
	return (llm_sched_desc.ref_count);
}

int
llm_sched_busy(void)
{
	int n;

	dummynet_sched_lock();
	n = llm_sched_refs();
	dummynet_sched_unlock();
	return (n != 0);
}

enum llm_move { LLM_IN, LLM_IN_DROP, LLM_OUT, LLM_OUT_DROP };

/*
 * Dummynet's counters for the instance and its queue: arrivals (dropped
 * ones too, as dn_enqueue() counts them), backlog and drops.  Every drop
 * also counts in io_pkt_drop, which dummynet_io() expects enqueue to do.
 */
static void
llm_si_count(struct dn_sch_inst *_si, struct llm_si *si, uint32_t len,
    enum llm_move how)
{
	struct dn_flow *ni[2] = { &_si->ni, &si->main_q.ni };
	int k;

	for (k = 0; k < 2; k++) {
		switch (how) {
		case LLM_IN:
			ni[k]->length++;
			ni[k]->len_bytes += len;
			/* FALLTHROUGH */
		case LLM_IN_DROP:
			ni[k]->tot_pkts++;
			ni[k]->tot_bytes += len;
			break;
		case LLM_OUT:
		case LLM_OUT_DROP:
			ni[k]->length--;
			ni[k]->len_bytes -= len;
			break;
		}
		if (how == LLM_IN_DROP || how == LLM_OUT_DROP)
			ni[k]->drops++;
	}
	if (how == LLM_IN_DROP || how == LLM_OUT_DROP)
		V_dn_cfg.io_pkt_drop++;
}

static uint32_t
llm_random(void *ctx __unused)
{
	return ((uint32_t)random());
}

/* What dn_enqueue() would apply: the flowset's loss rate and queue size. */
static int
llm_si_refused(struct llm_si *si, uint32_t len)
{
	struct dn_fsk *fs = si->main_q.fs;

	if (fs == NULL)
		return (0);
	return (llm_plr_lost(fs->fs.plr, &fs->fs.pl_state, llm_random, NULL) ||
	    llm_qsize_full(fs->fs.qsize, (fs->fs.flags & DN_QSIZE_BYTES) != 0,
	    si->main_q.ni.length, si->main_q.ni.len_bytes, len));
}

static int
llm_si_enqueue(struct dn_sch_inst *_si, struct dn_queue *q __unused,
    struct mbuf *m)
{
	struct llm_si *si = (struct llm_si *)(_si + 1);
	uint32_t len = m->m_pkthdr.len;

	if (!si->pq.up && llm_si_setup(_si, si) != 0)
		goto drop;
	if (llm_si_refused(si, len))
		goto drop;
	/*
	 * Dummynet keeps rcvif as an index while a packet waits (the
	 * interface may go away); dn_enqueue() does it for AQMs, and the
	 * dequeue restores it.
	 */
	if (m->m_pkthdr.rcvif != NULL)
		m_rcvif_serialize(m);
	if (llm_pktq_enqueue(&si->pq, m,
	    mtodo(m, dn_tag_get(m)->iphdr_off)) != AQMLLM_ACT_PASS)
		goto drop;
	llm_si_count(_si, si, len, LLM_IN);
	return (0);
drop:
	llm_si_count(_si, si, len, LLM_IN_DROP);
	FREE_PKT(m);
	return (1);
}

static struct mbuf *
llm_si_dequeue(struct dn_sch_inst *_si)
{
	struct llm_si *si = (struct llm_si *)(_si + 1);
	struct aqm_ring *r;
	struct aqm_pkt p;
	struct mbuf *m;
	uint64_t now;
	int act, cls;

	if (!si->pq.up)
		return (NULL);
	r = llm_pktq_ring(&si->pq);
	now = llm_now_ns();
	for (;;) {
		m = NULL;
		if ((cls = aqm_select(&si->pq.aq, now)) < 0)
			break;
		act = aqm_dequeue(&si->pq.aq, r, cls, now, &p);
		m = p.item;
		m->m_nextpkt = NULL;
		if (act == AQMLLM_ACT_DROP) {
			llm_si_count(_si, si, p.len, LLM_OUT_DROP);
			FREE_PKT(m);
			continue;
		}
		llm_si_count(_si, si, p.len, LLM_OUT);
		/* Dummynet keeps rcvif as an index while a packet waits. */
		if (m->m_pkthdr.rcvif != NULL &&
		    __predict_false(m_rcvif_restore(m) == NULL)) {
			m_freem(m);	/* the interface went away meanwhile */
			continue;
		}
		/* ecn_mark() finds the IP header through the dummynet tag. */
		if (act == AQMLLM_ACT_MARK)
			(void)ecn_mark(m);
		break;
	}
	if (si->main_q.ni.length == 0)
		si->main_q.q_time = V_dn_cfg.curr_time;
	llm_pktq_ring_done(r);
	return (m);
}

/*
 * The parameters of a new instance: the sysctl defaults, with the limit
 * the scheduler's flowset gives (its queue size when given in packets,
 * bounded by pipe_slot_limit), as for the AQM form; a size the core
 * refuses (below the guard's backlog) leaves the llm limit, and the
 * flowset's size is still applied to every packet.
 */
static void
llm_sched_params(const struct dn_fsk *fs, struct aqm_params *par)
{
	struct aqm_params defaults;
	struct llm_aqm_args a;

	llm_tun_params(&defaults);
	memset(&a, 0, sizeof(a));
	a.fallback = -1;
	if (fs != NULL) {
		a.qsize = fs->fs.qsize;
		a.qsize_bytes = (fs->fs.flags & DN_QSIZE_BYTES) != 0;
	}
	if (llm_aqm_parse(&a, &defaults, par) != 0)
		*par = defaults;
}

/*
 * The queue is set up with the first packet, not in new_sched: dummynet
 * frees an instance without free_sched when an AQM configured on the
 * scheduler's own flowset fails to initialise after new_sched succeeded.
 */
static int
llm_si_setup(struct dn_sch_inst *_si, struct llm_si *si)
{
	struct aqm_params par;

	llm_sched_params(si->main_q.fs, &par);
	if (llm_pktq_setup(&si->pq, &par,
	    (uint64_t)(uintptr_t)_si ^ arc4random()) != 0)
		return (EINVAL);
	llm_sched_ref(1);
	return (0);
}

static int
llm_si_new(struct dn_sch_inst *_si)
{
	struct llm_si *si = (struct llm_si *)(_si + 1);
	static int warned;

	memset(si, 0, sizeof(*si));
	set_oid(&si->main_q.ni.oid, DN_QUEUE, sizeof(si->main_q));
	si->main_q._si = _si;
	si->main_q.fs = _si->sched->fs;
	if (_si->sched->fs != NULL && _si->sched->fs->aqmfp != NULL &&
	    !warned) {
		warned = 1;
		printf("dn_aqm_llm: the AQM configured on scheduler %d is not "
		    "used; llm decides on its own\n",
		    _si->sched->sch.sched_nr);
	}
	return (0);
}

static int
llm_si_free(struct dn_sch_inst *_si)
{
	struct llm_si *si = (struct llm_si *)(_si + 1);
	struct mbuf *gone;

	if (!si->pq.up)
		return (0);
	llm_pktq_teardown(&si->pq, &gone);
	dn_free_pkts(gone);
	llm_sched_ref(-1);
	return (0);
}

/* Called on every configuration of the scheduler; counted once. */
static int
llm_sched_config(struct dn_schk *s)
{
	struct llm_schk *ls = (struct llm_schk *)(s + 1);

	if (!ls->counted) {
		ls->counted = 1;
		llm_sched_ref(1);
	}
	return (0);
}

static int
llm_sched_destroy(struct dn_schk *s)
{
	struct llm_schk *ls = (struct llm_schk *)(s + 1);

	if (ls->counted) {
		ls->counted = 0;
		llm_sched_ref(-1);
	}
	return (0);
}

/* What a new instance gets: the fallback, and the limit in packets. */
static int
llm_sched_getconfig(struct dn_schk *s, struct dn_extra_parms *ep)
{
	struct aqm_params par;

	llm_sched_params(s->fs, &par);
	strlcpy(ep->name, llm_sched_desc.name, sizeof(ep->name));
	ep->par[0] = par.fb_id;
	ep->par[1] = par.limit_pkts;
	return (0);
}

static struct dn_alg llm_sched_desc = {
	_SI( .type = )		DN_SCHED_LLM,
	_SI( .name = )		"LLM",
	_SI( .flags = )		0,
	_SI( .schk_datalen = )	sizeof(struct llm_schk),
	_SI( .si_datalen = )	sizeof(struct llm_si),
	_SI( .q_datalen = )	0,
	_SI( .enqueue = )	llm_si_enqueue,
	_SI( .dequeue = )	llm_si_dequeue,
	_SI( .config = )	llm_sched_config,
	_SI( .destroy = )	llm_sched_destroy,
	_SI( .new_sched = )	llm_si_new,
	_SI( .free_sched = )	llm_si_free,
	_SI( .new_fsk = )	NULL,
	_SI( .free_fsk = )	NULL,
	_SI( .new_queue = )	NULL,
	_SI( .free_queue = )	NULL,
	_SI( .getconfig = )	llm_sched_getconfig,
};

/* llm_plr_lost() walks dummynet's Gilbert-Elliott states. */
_Static_assert(LLM_PL_GOOD == PLR_STATE_G && LLM_PL_BAD == PLR_STATE_B,
    "dummynet's packet loss states");

/* The instance's queue must sit where dummynet looks for it. */
_Static_assert(offsetof(struct llm_si, main_q) == 0,
    "dummynet reads (si + 1) as a struct dn_queue");

/* dummynet answers 1 for a name already registered: say so. */
int
llm_sched_modevent(int type)
{
	int error = dn_sched_modevent(NULL, type, &llm_sched_desc);

	return (type == MOD_LOAD && error == 1 ? EEXIST : error);
}
