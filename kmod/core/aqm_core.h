/*
 * The portable AQM core: per-queue fallback AQM, the per-class packet
 * FIFOs, record production into the shared ring at enqueue, and the
 * verdict path at dequeue.
 *
 * The caller owns packets, time, memory and locking: it gives each queue
 * the storage of its FIFOs (aqm_fifo.h), keeps the packets themselves,
 * passes the current time in nanoseconds, and serialises all calls that
 * share one aqm_ring.
 *
 * Decision precedence at dequeue, for a live daemon:
 *   1. a fresh per-packet verdict for the packet's seq,
 *   2. else an unexpired per-queue policy,
 *   3. else the fallback AQM, with the queue's unexpired residual applied.
 * A dead, slow or detached daemon leaves only 3, bare.
 *
 * Interval records (aqm_ivl.c): every queue counts its traffic per class
 * and, at its first call after an interval's end, closes the interval and,
 * when the ring exports intervals to an attached daemon, writes its record.
 */
#ifndef AQM_CORE_H
#define AQM_CORE_H

#include "aqm_alg.h"
#include "aqm_fifo.h"
#include "aqm_dualpi2.h"
#include "aqm_pie.h"
#include "aqm_codel.h"

/* Decision sources, as returned through aqm_pkt.src; aqm_src_name() names them. */
#define AQM_SRC_NONE		0
#define AQM_SRC_VERDICT		1
#define AQM_SRC_POLICY		2
#define AQM_SRC_FALLBACK	3
#define AQM_SRC_LIMIT		4	/* tail drop on a full queue */
#define AQM_SRC_COUNT		5

/* Error codes of init/validate functions (negative errno-like). */
#define AQM_EINVAL		(-22)
#define AQM_ENOSPC		(-28)

/*
 * A packet that had a record, and the action decided for it: what the
 * simulators' collectors write, an array of these, to a decisions file.
 */
struct aqm_decision {
	uint64_t seq;
	uint64_t action;	/* AQMLLM_ACT_* */
};

/*
 * The open interval of a queue, per class: what its record will say.
 * Producer-private; wide counters, saturated into the record.
 */
struct aqm_ivl_acc {
	uint64_t arr_bytes;
	uint64_t dep_bytes;
	uint64_t sojourn_sum_ns;
	uint64_t sojourn_max_ns;
	uint32_t arr_pkts;
	uint32_t dep_pkts;
	uint32_t drop_enq;
	uint32_t drop_deq;
	uint32_t drop_limit;
	uint32_t marks;
	uint32_t ecn[4];
};

/* Queue parameters. */
struct aqm_params {
	uint32_t fb_id;		/* AQMLLM_FB_* */
	uint32_t limit_pkts;	/* tail-drop limit over both classes */
	uint64_t link_rate_bps;	/* drain rate for est_wait; 0 = unknown */
	uint32_t guard_min_pkts;	/* no model drop below this backlog */
	uint32_t reserved;
	/* each algorithm's own, kept for all so that the fallback can change */
	struct aqm_dualpi2_params dualpi2;
	struct aqm_pie_params pie;
	struct aqm_codel_params codel;
};

/* The state of the queue's algorithm: one member per descriptor. */
union aqm_alg_state {
	struct aqm_dualpi2 dualpi2;
	struct aqm_pie pie;
	struct aqm_codel codel;
};

/* Per-queue state (one per dummynet queue / ns-3 queue disc). */
struct aqm_queue {
	uint32_t id;		/* < ring nqueues */
	uint32_t pad;
	struct aqm_params par;
	const struct aqm_alg *alg;	/* the fallback, par.fb_id's */
	struct aqm_prng rng;
	struct aqm_fifo fifo[2];	/* per class, AQMLLM_CLASS_* */
	uint32_t qlen_pkts[2];
	uint32_t qlen_bytes[2];
	uint64_t window_start_ns;	/* recent drop/mark window */
	uint32_t recent_drops, recent_marks;
	uint32_t win_drops, win_marks;
	uint64_t next_update_ns;	/* the fallback's next Tupdate */
	union aqm_alg_state fb;
	/* per-queue statistics */
	uint64_t enqueued, dequeued, drops, marks, tail_drops;
	uint64_t by_src[AQM_SRC_COUNT];	/* decisions by AQM_SRC_* */
	/* the open interval (aqm_ivl.c) */
	uint64_t ivl_start_ns;
	uint64_t ivl_end_ns;		/* closed at the first call at or after */
	uint64_t busy_from_ns;		/* while backlogged: busy since */
	uint64_t busy_ns;		/* in this interval, before busy_from */
	uint32_t ivl_flags;		/* AQMLLM_IF_* carried to the next record */
	uint32_t res_gen;		/* the ring's residual generation applied */
	struct aqm_ivl_acc acc[2];	/* per class */
	/* the residual in effect (aqm_residual.c): all zero for none */
	struct aqm_residual res;
	uint16_t res_on;		/* res is nonzero and applied */
	uint64_t res_expiry_ns;
};

/* Per-packet verdict table entry (producer-private, one per record). */
struct aqm_vt_entry {
	uint64_t seq;
	uint8_t state;		/* AQM_VT_* */
	uint8_t action;
	uint8_t pad[6];
};
#define AQM_VT_FREE	0
#define AQM_VT_PENDING	1	/* record issued, no verdict yet */
#define AQM_VT_DECIDED	2	/* verdict received */
#define AQM_VT_DEPARTED	3	/* packet left the queue */

/* Per-queue policy (producer-private copy of a validated VK_POLICY). */
struct aqm_policy {
	uint32_t drop_prob;
	uint32_t mark_prob;
	uint64_t expiry_ns;	/* 0: none */
};

/*
 * Per-queue residual (producer-private copy of a validated, clamped
 * VK_RESIDUAL).  A queue applies it when gen differs from its own.
 */
struct aqm_res_slot {
	struct aqm_residual res;
	uint32_t gen;		/* bumped on every change */
	uint64_t expiry_ns;
	uint64_t last_seq;	/* the newest interval seq answered */
};

/*
 * The geometry of a region: each ring's entries (powers of two, in
 * [AQMLLM_MIN_ENTRIES, AQMLLM_MAX_ENTRIES]) and the number of queues.
 * ivl_entries 0: aqm_ivl_entries_for(nqueues).
 */
struct aqm_geom {
	uint32_t rec_entries;
	uint32_t vd_entries;
	uint32_t ivl_entries;
	uint32_t nqueues;
};

/* Producer-private view of one shared region. */
struct aqm_ring {
	struct aqmllm_region_hdr *hdr;
	struct aqmllm_record *recs;
	struct aqmllm_verdict *vds;
	struct aqmllm_interval *ivls;
	/* the private tables, carved from the caller's block */
	struct aqm_vt_entry *vt;	/* rec_entries entries */
	struct aqm_policy *pol;		/* nqueues entries */
	struct aqm_res_slot *res;	/* nqueues entries */
	uint32_t *ivl_queue;		/* ivl_entries: the queue of each seq */
	uint32_t rec_entries, rec_mask;
	uint32_t vd_entries, vd_mask;
	uint32_t ivl_entries, ivl_mask;
	uint32_t nqueues;
	uint32_t batch_size;
	uint32_t export_mode;		/* AQMLLM_EXPORT_* */
	uint32_t pad0;
	uint64_t interval_ns;		/* 0: each fallback's Tupdate */
	uint64_t ivl_prod;
	uint64_t ivl_cons_cached;
	uint64_t verdict_timeout_ns;
	uint64_t max_policy_ns;		/* longest policy lifetime accepted */
	uint32_t drain_budget;		/* verdicts read per call, at most */
	uint32_t attached;		/* set by the glue: a daemon holds it */
	uint64_t rec_prod;		/* private copies of the indices */
	uint64_t vd_cons;
	uint64_t rec_cons_cached;	/* last valid rec_cons seen */
	uint64_t clock_published_ns;
	uint64_t live_checked_ns;	/* daemon line last read */
	uint64_t last_drain_ns;		/* verdict ring last read */
	uint32_t live_checked;
	uint32_t alive;			/* cached liveness */
	uint32_t wants_records;
	uint32_t stale;
	uint64_t last_wake_prod;
	uint32_t wake_pending;
	uint32_t pad;
	uint64_t cnt[AQMLLM_CNT_COUNT];
};

/* ---- ring ---- */

/* The interval ring of nqueues queues: ~0.5 s of records at 16 ms. */
uint32_t aqm_ivl_entries_for(uint32_t nqueues);
/* Bytes needed for a region of the given geometry; 0 if invalid. */
size_t	aqm_region_size(const struct aqm_geom *g);
/* Bytes of producer-private tables the geometry needs; 0 if invalid. */
size_t	aqm_ring_private_size(const struct aqm_geom *g);
/*
 * Lay out a region in caller memory (zeroed here) and the private view,
 * whose tables live in priv (priv_size >= aqm_ring_private_size(g),
 * 8-byte aligned, zeroed here).  Exports both records and intervals, each
 * queue at its fallback's Tupdate.
 */
int	aqm_ring_init(struct aqm_ring *r, void *region, size_t region_size,
	    const struct aqm_geom *g, void *priv, size_t priv_size);
/* batch_size in records, verdict_timeout in ns; AQM_EINVAL if absurd. */
int	aqm_ring_configure(struct aqm_ring *r, uint32_t batch_size,
	    uint64_t verdict_timeout_ns);
/*
 * What is exported (AQMLLM_EXPORT_*) and the interval length (0: each
 * fallback's Tupdate, else in [AQMLLM_IVL_MIN_NS, AQMLLM_IVL_MAX_NS]);
 * AQM_EINVAL otherwise.  A queue takes a new length at its next interval.
 */
int	aqm_ring_set_export(struct aqm_ring *r, uint32_t mode,
	    uint64_t interval_ns);
/* Attach or detach the daemon; detaching cancels every queue policy. */
void	aqm_ring_set_attached(struct aqm_ring *r, int attached);
/* Whether records are produced now (a daemon is attached). */
int	aqm_ring_records_wanted(struct aqm_ring *r, uint64_t now_ns);
/*
 * Publish one record (its seq field is assigned here).  Returns 1 and the
 * seq, or 0 when the ring is full (counted as an overflow).
 */
int	aqm_ring_produce(struct aqm_ring *r, const struct aqmllm_record *rec,
	    uint64_t now_ns, uint64_t *seq_out);
/*
 * Publish one interval record (seq assigned here, and remembered as its
 * queue's).  Returns 1, or 0 when the ring is full (counted).
 */
int	aqm_ring_produce_interval(struct aqm_ring *r,
	    const struct aqmllm_interval *iv, uint64_t now_ns);
/* Drain verdicts (bounded by drain_budget) into the private tables. */
void	aqm_ring_drain(struct aqm_ring *r, uint64_t now_ns);
/*
 * Whether the daemon's verdicts and policies are honoured now.  The
 * daemon line is re-read at most every 50 us of producer time.
 */
int	aqm_ring_daemon_alive(struct aqm_ring *r, uint64_t now_ns);
/* Returns 1 once per batch: the glue should wake the daemon. */
int	aqm_ring_take_wakeup(struct aqm_ring *r);
/* Copy the private counters into the header mirror. */
void	aqm_ring_export_counters(struct aqm_ring *r, uint64_t now_ns);

/* ---- queue ---- */

void	aqm_params_defaults(struct aqm_params *par, uint32_t fb_id);
int	aqm_params_validate(const struct aqm_params *par);
/* A queue with empty FIFOs and no storage yet (see aqm_queue_storage). */
int	aqm_queue_init(struct aqm_queue *q, uint32_t id,
	    const struct aqm_params *par, uint64_t seed, uint64_t now_ns);
/*
 * Give class cls its FIFO storage: cap slots (a power of two up to
 * AQM_FIFO_MAX_CAP).  The packets queued move into it; *old (if not NULL)
 * gets the previous storage for the caller to free.  AQM_EINVAL for a bad
 * class or capacity, AQM_ENOSPC if the queued packets do not fit.
 */
int	aqm_queue_storage(struct aqm_queue *q, int cls, struct aqm_pkt *slots,
	    uint32_t cap, struct aqm_pkt **old);

/* The class a packet with this ECN codepoint joins (RFC 9332). */
int	aqm_class_of(uint8_t ecn);

/*
 * A packet arrives: p->len, p->ecn, p->flow_hash and p->item are the
 * caller's.  Fills p->cls and p->seq, produces its record when a daemon
 * is attached.  Returns AQMLLM_ACT_PASS (the core has queued a copy of *p
 * in class p->cls) or AQMLLM_ACT_DROP (the caller frees it; p->src says
 * why: AQM_SRC_LIMIT for a full queue or a full FIFO).
 */
int	aqm_enqueue(struct aqm_queue *q, struct aqm_ring *r,
	    struct aqm_pkt *p, uint64_t now_ns);

/* Which class the caller should dequeue from next; -1 if both empty. */
int	aqm_select(struct aqm_queue *q, uint64_t now_ns);
/*
 * The class holding the oldest queued packet (L on a tie), -1 if none:
 * what a caller's single FIFO across both classes sends next.
 */
int	aqm_oldest(const struct aqm_queue *q);

/*
 * Remove the head of class cls into *out and decide on it.  Returns
 * AQMLLM_ACT_PASS, AQMLLM_ACT_MARK (set CE, then send) or AQMLLM_ACT_DROP
 * (free it and dequeue again); out->src tells the source.  AQMLLM_ACT_NONE
 * if class cls is empty.
 */
int	aqm_dequeue(struct aqm_queue *q, struct aqm_ring *r, int cls,
	    uint64_t now_ns, struct aqm_pkt *out);

/*
 * Remove one queued packet without a decision (a flush, a queue being
 * destroyed) into *out.  Returns 0 once the queue is empty.
 */
int	aqm_flush(struct aqm_queue *q, struct aqm_ring *r, struct aqm_pkt *out);

/* The residual in effect for the queue (all zero: none). */
void	aqm_queue_residual(const struct aqm_queue *q, struct aqm_residual *out);

/* The name of a decision source (AQM_SRC_*); NULL if there is none. */
const char *aqm_src_name(uint32_t src);

#endif /* AQM_CORE_H */
