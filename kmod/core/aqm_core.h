/*
 * The portable AQM core: per-queue fallback AQM, record production into
 * the shared ring at enqueue, and the verdict path at dequeue.
 *
 * The caller owns packets, time, memory and locking: it keeps each
 * packet's struct aqm_pkt next to the packet (an mbuf tag, an ns-3
 * packet tag, a slot in the emulator), passes the current time in
 * nanoseconds, and serialises all calls that share one aqm_ring.
 *
 * Decision precedence at dequeue, for a live daemon:
 *   1. a fresh per-packet verdict for the packet's seq,
 *   2. else an unexpired per-queue policy,
 *   3. else the fallback AQM.
 * A dead, slow or detached daemon leaves only 3.
 */
#ifndef AQM_CORE_H
#define AQM_CORE_H

#include "aqm_algo.h"

/* Decision sources, as returned through aqm_pkt.src. */
#define AQM_SRC_NONE		0
#define AQM_SRC_VERDICT		1
#define AQM_SRC_POLICY		2
#define AQM_SRC_FALLBACK	3
#define AQM_SRC_LIMIT		4	/* tail drop on a full queue */

/* Error codes of init/validate functions (negative errno-like). */
#define AQM_EINVAL		(-22)
#define AQM_ENOSPC		(-28)

/* Per-packet metadata; the caller stores it with the packet. */
struct aqm_pkt {
	uint64_t seq;		/* record seq, 0 if none was exported */
	uint64_t enq_ns;
	uint32_t len;
	uint32_t flow_hash;
	uint8_t ecn;		/* codepoint at enqueue */
	uint8_t cls;		/* AQMLLM_CLASS_*, set by aqm_enqueue */
	uint8_t fb_action;	/* fallback's enqueue-time decision (PIE) */
	uint8_t src;		/* AQM_SRC_* of the last decision */
	uint32_t reserved;
};

/* Queue parameters. */
struct aqm_params {
	uint32_t fb_id;		/* AQMLLM_FB_* */
	uint32_t limit_pkts;	/* tail-drop limit over both classes */
	uint64_t link_rate_bps;	/* drain rate for est_wait; 0 = unknown */
	uint32_t guard_min_pkts;	/* no model drop below this backlog */
	uint32_t reserved;
	struct aqm_dualpi2_params dualpi2;
	struct aqm_pie_params pie;
	struct aqm_codel_params codel;
};

/* Per-queue state (one per dummynet queue / ns-3 queue disc). */
struct aqm_queue {
	uint32_t id;		/* < ring nqueues */
	uint32_t pad;
	struct aqm_params par;
	struct aqm_prng rng;
	uint32_t qlen_pkts[2];
	uint32_t qlen_bytes[2];
	uint64_t window_start_ns;	/* recent drop/mark window */
	uint32_t recent_drops, recent_marks;
	uint32_t win_drops, win_marks;
	union {
		struct aqm_dualpi2 dualpi2;
		struct aqm_pie pie;
		struct aqm_codel codel;
	} fb;
	/* per-queue statistics */
	uint64_t enqueued, dequeued, drops, marks, tail_drops;
	uint64_t by_src[5];	/* decisions by AQM_SRC_* */
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

/* Producer-private view of one shared region. */
struct aqm_ring {
	struct aqmllm_region_hdr *hdr;
	struct aqmllm_record *recs;
	struct aqmllm_verdict *vds;
	struct aqm_vt_entry *vt;	/* rec_entries entries */
	struct aqm_policy *pol;		/* nqueues entries */
	uint32_t rec_entries, rec_mask;
	uint32_t vd_entries, vd_mask;
	uint32_t nqueues;
	uint32_t batch_size;
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

/* Bytes needed for a region of the given geometry; 0 if invalid. */
size_t	aqm_region_size(uint32_t rec_entries, uint32_t vd_entries);
/*
 * Lay out a region in caller memory (zeroed here) and the private view.
 * vt must hold rec_entries entries and pol nqueues entries.
 */
int	aqm_ring_init(struct aqm_ring *r, void *region, size_t region_size,
	    uint32_t rec_entries, uint32_t vd_entries, uint32_t nqueues,
	    struct aqm_vt_entry *vt, struct aqm_policy *pol);
/* batch_size in records, verdict_timeout in ns; AQM_EINVAL if absurd. */
int	aqm_ring_configure(struct aqm_ring *r, uint32_t batch_size,
	    uint64_t verdict_timeout_ns);
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
int	aqm_queue_init(struct aqm_queue *q, uint32_t id,
	    const struct aqm_params *par, uint64_t seed, uint64_t now_ns);

/*
 * A packet arrives.  Fills p->cls and p->seq, produces its record when a
 * daemon is attached.  Returns AQMLLM_ACT_PASS (queue it in class p->cls)
 * or AQMLLM_ACT_DROP (free it; p->src says why).
 * head_enq_ns[cls] is the enqueue time of each class's head, 0 if empty.
 */
int	aqm_enqueue(struct aqm_queue *q, struct aqm_ring *r,
	    struct aqm_pkt *p, const uint64_t head_enq_ns[2], uint64_t now_ns);

/* Which class the caller should dequeue from next; -1 if both empty. */
int	aqm_select(struct aqm_queue *q, const uint64_t head_enq_ns[2],
	    const uint32_t head_len[2], uint64_t now_ns);

/*
 * The head packet p of class p->cls has been removed from its queue.
 * head_enq_ns describes the heads before removal (p included).  Returns
 * AQMLLM_ACT_PASS, AQMLLM_ACT_MARK (set CE, then send) or
 * AQMLLM_ACT_DROP (free it and dequeue again); p->src tells the source.
 */
int	aqm_dequeue(struct aqm_queue *q, struct aqm_ring *r,
	    struct aqm_pkt *p, const uint64_t head_enq_ns[2], uint64_t now_ns);

/* Forget a queued packet without a decision (flush, queue destroyed). */
void	aqm_forget(struct aqm_queue *q, struct aqm_ring *r,
	    const struct aqm_pkt *p);

#endif /* AQM_CORE_H */
