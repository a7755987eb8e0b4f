/*
 * net.inet.ip.dummynet.llm.*: tunables of the ring and defaults of the
 * fallback AQMs for new queues.  Every write is validated; a value out of
 * range is refused with EINVAL and changes nothing.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/sx.h>
#include <sys/sysctl.h>

#include "llm_pktq.h"

struct llm_tunables llm_tun = {
	.batch_size = 64,
	.fallback = AQMLLM_FB_DUALPI2,
	.verdict_timeout_us = 10000,
	.ring_entries = LLM_RING_DEFAULT,
	.limit_pkts = 10000,
	.export_mode = AQMLLM_EXPORT_BOTH,
	.interval_us = 0,
};

/*
 * Writers take llm_tun_sx for the whole read-check-write (they may sleep
 * copying the value in), so two never interleave; llm_tun_mtx guards the
 * published set against the packet path, which copies the defaults for a
 * new queue under the dummynet lock (a leaf mutex).
 */
static struct sx llm_tun_sx;
SX_SYSINIT(llm_tun_sx, &llm_tun_sx, "aqmllm sysctl writers");
static struct mtx llm_tun_mtx;
MTX_SYSINIT(llm_tun, &llm_tun_mtx, "aqmllm tunables", MTX_DEF);

void
llm_tun_params(struct aqm_params *par)
{
	mtx_lock(&llm_tun_mtx);
	*par = llm_tun.defaults;
	mtx_unlock(&llm_tun_mtx);
}

void
llm_sysctl_defaults(void)
{
	aqm_params_defaults(&llm_tun.defaults, llm_tun.fallback);
	llm_tun.defaults.limit_pkts = llm_tun.limit_pkts;
}

/* Publish a checked set (writer lock held) and let the ring follow it. */
static int
llm_tun_publish(const struct llm_tunables *t)
{
	sx_assert(&llm_tun_sx, SA_XLOCKED);
	mtx_lock(&llm_tun_mtx);
	llm_tun = *t;
	mtx_unlock(&llm_tun_mtx);
	return (llm_ring_reconfigure());
}

SYSCTL_DECL(_net_inet_ip_dummynet);
static SYSCTL_NODE(_net_inet_ip_dummynet, OID_AUTO, llm,
    CTLFLAG_RW | CTLFLAG_MPSAFE, 0, "LLM-driven AQM (dn_aqm_llm)");

SYSCTL_UINT(_net_inet_ip_dummynet_llm, OID_AUTO, ring_entries,
    CTLFLAG_RDTUN, &llm_tun.ring_entries, 0,
    "Records in the shared ring (loader tunable, power of two)");

/* arg2: LLM_TUN_* */
static int
llm_sysctl_u32(SYSCTL_HANDLER_ARGS)
{
	struct llm_tunables trial;
	uint32_t v;
	int error;

	sx_xlock(&llm_tun_sx);
	trial = llm_tun;
	v = arg2 == LLM_TUN_BATCH ? trial.batch_size :
	    arg2 == LLM_TUN_TIMEOUT ? trial.verdict_timeout_us :
	    arg2 == LLM_TUN_INTERVAL ? trial.interval_us :
	    trial.limit_pkts;
	error = sysctl_handle_32(oidp, &v, 0, req);
	if (error == 0 && req->newptr != NULL) {
		error = llm_tun_set_u32(&trial, arg2, v);
		if (error == 0)
			error = llm_tun_publish(&trial);
	}
	sx_xunlock(&llm_tun_sx);
	return (error);
}

SYSCTL_PROC(_net_inet_ip_dummynet_llm, OID_AUTO, batch_size,
    CTLTYPE_U32 | CTLFLAG_RW | CTLFLAG_MPSAFE, NULL, LLM_TUN_BATCH,
    llm_sysctl_u32, "IU", "Records per daemon wakeup");
SYSCTL_PROC(_net_inet_ip_dummynet_llm, OID_AUTO, verdict_timeout_us,
    CTLTYPE_U32 | CTLFLAG_RW | CTLFLAG_MPSAFE, NULL, LLM_TUN_TIMEOUT,
    llm_sysctl_u32, "IU",
    "Heartbeat age after which the daemon is ignored (us)");
SYSCTL_PROC(_net_inet_ip_dummynet_llm, OID_AUTO, limit,
    CTLTYPE_U32 | CTLFLAG_RW | CTLFLAG_MPSAFE, NULL, LLM_TUN_LIMIT,
    llm_sysctl_u32, "IU", "Queue limit of new queues (packets)");

/*
 * The tunables set by name (arg2): the fallback AQM of new queues
 * (aqm_alg_by_name()), and what the ring exports: "packets", "intervals"
 * or "both" (llm_export_name()).
 */
#define	LLM_NAME_FALLBACK	0
#define	LLM_NAME_EXPORT		1

static int
llm_sysctl_name(SYSCTL_HANDLER_ARGS)
{
	struct llm_tunables trial;
	char buf[16];
	int error;

	sx_xlock(&llm_tun_sx);
	trial = llm_tun;
	strlcpy(buf, arg2 == LLM_NAME_FALLBACK ?
	    aqm_alg_by_id(trial.fallback)->name :
	    llm_export_name(trial.export_mode), sizeof(buf));
	error = sysctl_handle_string(oidp, buf, sizeof(buf), req);
	if (error == 0 && req->newptr != NULL) {
		error = arg2 == LLM_NAME_FALLBACK ?
		    llm_tun_set_fallback(&trial, buf) :
		    llm_tun_set_export(&trial, buf);
		if (error == 0)
			error = llm_tun_publish(&trial);
	}
	sx_xunlock(&llm_tun_sx);
	return (error);
}

SYSCTL_PROC(_net_inet_ip_dummynet_llm, OID_AUTO, fallback,
    CTLTYPE_STRING | CTLFLAG_RW | CTLFLAG_MPSAFE, NULL, LLM_NAME_FALLBACK,
    llm_sysctl_name, "A", "Fallback AQM of new queues, by name (dn_aqm_llm(4))");
SYSCTL_PROC(_net_inet_ip_dummynet_llm, OID_AUTO, export,
    CTLTYPE_STRING | CTLFLAG_RW | CTLFLAG_MPSAFE, NULL, LLM_NAME_EXPORT,
    llm_sysctl_name, "A",
    "What the ring exports: packets, intervals or both (dn_aqm_llm(4))");

/* The interval length in microseconds (0: each queue's fallback Tupdate). */
SYSCTL_PROC(_net_inet_ip_dummynet_llm, OID_AUTO, interval_us,
    CTLTYPE_U32 | CTLFLAG_RW | CTLFLAG_MPSAFE, NULL, LLM_TUN_INTERVAL,
    llm_sysctl_u32, "IU",
    "Interval of the interval records (us); 0: each fallback's update interval");

/* The residual bounds: the header's constants, for the operator to read. */
SYSCTL_INT(_net_inet_ip_dummynet_llm, OID_AUTO, res_mult_min_q8, CTLFLAG_RD,
    SYSCTL_NULL_INT_PTR, AQMLLM_RES_MULT_MIN,
    "Smallest residual multiplier, log2 Q8 (-768: x1/8)");
SYSCTL_INT(_net_inet_ip_dummynet_llm, OID_AUTO, res_mult_max_q8, CTLFLAG_RD,
    SYSCTL_NULL_INT_PTR, AQMLLM_RES_MULT_MAX,
    "Largest residual multiplier, log2 Q8 (768: x8)");
SYSCTL_INT(_net_inet_ip_dummynet_llm, OID_AUTO, res_target_min_q8, CTLFLAG_RD,
    SYSCTL_NULL_INT_PTR, AQMLLM_RES_TARGET_MIN,
    "Smallest residual target scale, log2 Q8 (-512: x1/4)");
SYSCTL_INT(_net_inet_ip_dummynet_llm, OID_AUTO, res_target_max_q8, CTLFLAG_RD,
    SYSCTL_NULL_INT_PTR, AQMLLM_RES_TARGET_MAX,
    "Largest residual target scale, log2 Q8 (256: x2)");
SYSCTL_INT(_net_inet_ip_dummynet_llm, OID_AUTO, res_step_min_us, CTLFLAG_RD,
    SYSCTL_NULL_INT_PTR, AQMLLM_RES_STEP_MIN_US, "Smallest residual L step (us)");
SYSCTL_INT(_net_inet_ip_dummynet_llm, OID_AUTO, res_step_max_us, CTLFLAG_RD,
    SYSCTL_NULL_INT_PTR, AQMLLM_RES_STEP_MAX_US, "Largest residual L step (us)");

/*
 * Fallback parameters, in microseconds (times) or as given (gains in
 * 1/65536, percentages).  A write is tried on a copy and kept only if the
 * whole parameter set still validates.
 */
#define	P_US	0x10000		/* arg2 flag: value is in us, stored in ns */

static int
llm_sysctl_param(SYSCTL_HANDLER_ARGS)
{
	struct llm_tunables trial;
	size_t off = (size_t)arg2 & 0xffff;
	int in_us = (arg2 & P_US) != 0, error;
	uint64_t v;
	char *base;

	sx_xlock(&llm_tun_sx);
	trial = llm_tun;
	base = (char *)&trial.defaults;
	v = in_us ? *(uint64_t *)(base + off) / 1000 :
	    *(uint32_t *)(base + off);
	error = sysctl_handle_64(oidp, &v, 0, req);
	if (error == 0 && req->newptr != NULL) {
		error = llm_tun_set_param(&trial, off, in_us, v);
		if (error == 0)
			error = llm_tun_publish(&trial);
	}
	sx_xunlock(&llm_tun_sx);
	return (error);
}

#define	LLM_PARAM(name, member, flags, descr)				\
	SYSCTL_PROC(_net_inet_ip_dummynet_llm, OID_AUTO, name,		\
	    CTLTYPE_U64 | CTLFLAG_RW | CTLFLAG_MPSAFE, NULL,		\
	    __offsetof(struct aqm_params, member) | (flags),		\
	    llm_sysctl_param, "QU", descr)

LLM_PARAM(dualpi2_target_us, dualpi2.target_ns, P_US, "DualPI2 classic target");
LLM_PARAM(dualpi2_tupdate_us, dualpi2.tupdate_ns, P_US, "DualPI2 update interval");
LLM_PARAM(dualpi2_step_us, dualpi2.step_ns, P_US, "DualPI2 L4S step threshold");
LLM_PARAM(dualpi2_alpha, dualpi2.alpha_q16, 0, "DualPI2 alpha (Hz * 65536)");
LLM_PARAM(dualpi2_beta, dualpi2.beta_q16, 0, "DualPI2 beta (Hz * 65536)");
LLM_PARAM(dualpi2_k, dualpi2.k, 0, "DualPI2 coupling factor");
LLM_PARAM(dualpi2_wc_pct, dualpi2.wc_pct, 0, "DualPI2 classic protection (%)");
LLM_PARAM(pie_target_us, pie.target_ns, P_US, "PIE QDELAY_REF");
LLM_PARAM(pie_tupdate_us, pie.tupdate_ns, P_US, "PIE T_UPDATE");
LLM_PARAM(pie_max_burst_us, pie.max_burst_ns, P_US, "PIE MAX_BURST");
LLM_PARAM(pie_ecn, pie.ecn, 0, "PIE marks ECN-capable packets (0/1)");
LLM_PARAM(codel_target_us, codel.target_ns, P_US, "CoDel TARGET");
LLM_PARAM(codel_interval_us, codel.interval_ns, P_US, "CoDel INTERVAL");
LLM_PARAM(codel_ecn, codel.ecn, 0, "CoDel marks ECN-capable packets (0/1)");

/* Read-only counters: the authoritative copies, under the ring lock. */
static int
llm_sysctl_counter(SYSCTL_HANDLER_ARGS)
{
	struct aqm_ring *r;
	uint64_t v = 0;

	r = llm_ring_lock();
	if (r != NULL) {
		v = r->cnt[arg2];
		llm_ring_unlock(r);
	}
	return (sysctl_handle_64(oidp, &v, 0, req));
}

#define	LLM_COUNTER(name, idx, descr)					\
	SYSCTL_PROC(_net_inet_ip_dummynet_llm, OID_AUTO, name,		\
	    CTLTYPE_U64 | CTLFLAG_RD | CTLFLAG_MPSAFE, NULL, idx,	\
	    llm_sysctl_counter, "QU", descr)

LLM_COUNTER(records, AQMLLM_CNT_RECORDS, "Records exported");
LLM_COUNTER(overflows, AQMLLM_CNT_OVERFLOWS, "Records lost to a full ring");
LLM_COUNTER(src_verdict, AQMLLM_CNT_SRC_VERDICT, "Decisions by packet verdict");
LLM_COUNTER(src_policy, AQMLLM_CNT_SRC_POLICY, "Decisions by queue policy");
LLM_COUNTER(src_fallback, AQMLLM_CNT_SRC_FALLBACK, "Decisions by the fallback");
LLM_COUNTER(verdicts_in, AQMLLM_CNT_VERDICTS_IN, "Verdicts accepted");
LLM_COUNTER(rej_kind, AQMLLM_CNT_REJ_KIND, "Verdicts rejected: kind/flags");
LLM_COUNTER(rej_action, AQMLLM_CNT_REJ_ACTION, "Verdicts rejected: action");
LLM_COUNTER(rej_seq, AQMLLM_CNT_REJ_SEQ, "Verdicts rejected: sequence");
LLM_COUNTER(rej_dup, AQMLLM_CNT_REJ_DUP, "Verdicts rejected: duplicate");
LLM_COUNTER(rej_late, AQMLLM_CNT_REJ_LATE, "Verdicts rejected: too late");
LLM_COUNTER(rej_index, AQMLLM_CNT_REJ_INDEX, "Ring indices rejected");
LLM_COUNTER(rej_policy, AQMLLM_CNT_REJ_POLICY, "Policies rejected");
LLM_COUNTER(mark_not_ect, AQMLLM_CNT_MARK_NOT_ECT, "Marks asked on Not-ECT");
LLM_COUNTER(guard_minq, AQMLLM_CNT_GUARD_MINQ, "Drops refused: small backlog");
LLM_COUNTER(guard_ecn, AQMLLM_CNT_GUARD_ECN, "Drops turned into marks");
LLM_COUNTER(stale_daemon, AQMLLM_CNT_STALE_DAEMON, "Fallbacks: stale daemon");
LLM_COUNTER(ivl_records, AQMLLM_CNT_IVL_RECORDS, "Interval records exported");
LLM_COUNTER(ivl_overflows, AQMLLM_CNT_IVL_OVERFLOWS,
    "Interval records lost to a full ring");
LLM_COUNTER(res_accepted, AQMLLM_CNT_RES_ACCEPTED, "Residuals accepted");
LLM_COUNTER(res_clamp_mult_c, AQMLLM_CNT_RES_CLAMP_MULT_C,
    "Residuals clamped: C multiplier");
LLM_COUNTER(res_clamp_mult_l, AQMLLM_CNT_RES_CLAMP_MULT_L,
    "Residuals clamped: L multiplier");
LLM_COUNTER(res_clamp_step, AQMLLM_CNT_RES_CLAMP_STEP,
    "Residuals clamped: L step");
LLM_COUNTER(res_clamp_target, AQMLLM_CNT_RES_CLAMP_TARGET,
    "Residuals clamped: target scale");
LLM_COUNTER(res_clamp_expiry, AQMLLM_CNT_RES_CLAMP_EXPIRY,
    "Residuals clamped: expiry");
LLM_COUNTER(res_ignored, AQMLLM_CNT_RES_IGNORED,
    "Residual knobs the fallback does not use");
LLM_COUNTER(res_rej_seq, AQMLLM_CNT_RES_REJ_SEQ,
    "Residuals rejected: interval never issued or too old");
LLM_COUNTER(res_rej_stale, AQMLLM_CNT_RES_REJ_STALE,
    "Residuals rejected: not newer than the last applied");
LLM_COUNTER(res_rej_queue, AQMLLM_CNT_RES_REJ_QUEUE,
    "Residuals rejected: not the record's queue");
LLM_COUNTER(res_rej_field, AQMLLM_CNT_RES_REJ_FIELD,
    "Residuals rejected: nonzero action or flags");
LLM_COUNTER(res_expired, AQMLLM_CNT_RES_EXPIRED,
    "Residuals ended by expiry or a dead daemon");

/* The queues' FIFO storage (llm_pktq.c), grown by need in the packet path. */
SYSCTL_U64(_net_inet_ip_dummynet_llm, OID_AUTO, fifo_bytes, CTLFLAG_RD,
    &llm_pktq_fifo_bytes, 0, "Bytes of packet FIFO storage held by all queues");
SYSCTL_U64(_net_inet_ip_dummynet_llm, OID_AUTO, fifo_nomem, CTLFLAG_RD,
    &llm_pktq_fifo_nomem, 0, "Packets tail-dropped: no memory to grow a FIFO");
