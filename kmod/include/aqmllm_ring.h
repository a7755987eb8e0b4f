/*
 * aqmllm ring ABI: the shared-memory layout between the packet path
 * (FreeBSD kernel module, ns-3 queue disc, Linux emulator) and the
 * inference daemon.  This header is the single source of truth for the
 * layout: the kernel, the portable core, the cffi bridge and the
 * simulators all read it.  The cffi bridge parses it after running the
 * C preprocessor with AQMLLM_CDEF defined, so everything cffi cannot
 * parse (static assertions, attributes) lives outside that condition.
 *
 * Region layout (all offsets are from the start of the region):
 *
 *   [0, 4096)                        struct aqmllm_region_hdr
 *   [rec_offset, + rec_entries*64)   struct aqmllm_record   (kernel -> daemon)
 *   [vd_offset,  + vd_entries*32)    struct aqmllm_verdict  (daemon -> kernel)
 *   [ivl_offset, + ivl_entries*192)  struct aqmllm_interval (kernel -> daemon)
 *
 * Ownership.  Each index lives on its own cache line and has exactly one
 * writer.  Everything the daemon writes (rec_cons, vd_prod, the verdict
 * slots, the daemon line) is untrusted by the packet path: indices are
 * validated against the producer's own copy, sequence numbers checked,
 * action codes validated, and every rejection counted.  The geometry in
 * the header is written once by the producer and never read back by it.
 *
 * Integers only: probabilities are u32 fixed point scaled to 2^32
 * (0xffffffff means "always"), times are u64 nanoseconds of the
 * producer's monotonic clock.
 *
 * The three rings.  All are single-producer single-consumer queues over
 * free-running u64 indices: an index counts the entries ever published
 * (prod) or consumed (cons), never wraps in practice (2^64 entries), and
 * names the slot index & (entries - 1), entries being a power of two.
 * prod - cons is the number of entries in flight, 0 .. entries; any other
 * value is garbage and is treated as such (see each index below).  The
 * record with index i carries seq = i + 1, so seq 0 is never issued; the
 * interval ring numbers its records the same way, in a sequence space of
 * its own.
 *
 * Ordering.  A writer fills a slot completely, then stores its prod index
 * with release semantics; a reader loads prod with acquire semantics
 * before it reads the slots below it, and stores its cons index (release)
 * only after it has finished reading the slots it releases.  On x86 (TSO)
 * plain aligned 8-byte loads and stores have these semantics, which is
 * what the daemon's numpy stores rely on.  Nothing else is ordered: the
 * daemon line, the clock and the counter mirror are single relaxed words
 * that a reader may see a moment late.
 */
#ifndef AQMLLM_RING_H
#define AQMLLM_RING_H

#ifndef AQMLLM_CDEF
#ifdef _KERNEL
#include <sys/types.h>
#else
#include <stdint.h>
#endif
#endif

#define AQMLLM_MAGIC		0x314d4c4c4d514141ULL	/* "AAQMLLM1" LE */
#define AQMLLM_ABI_VERSION	2
#define AQMLLM_CACHELINE	64
#define AQMLLM_HDR_SIZE		4096
#define AQMLLM_REC_SIZE		64
#define AQMLLM_VERDICT_SIZE	32
#define AQMLLM_IVL_SIZE		192	/* 64 B head + one 64 B line per class */
#define AQMLLM_MIN_ENTRIES	64
#define AQMLLM_MAX_ENTRIES	1048576

/* Traffic class of a packet (RFC 9332 classifier). */
#define AQMLLM_CLASS_C		0	/* Classic: Not-ECT, ECT(0) */
#define AQMLLM_CLASS_L		1	/* L4S: ECT(1), CE */

/* ECN codepoints as carried in the IP header. */
#define AQMLLM_ECN_NOT_ECT	0
#define AQMLLM_ECN_ECT1		1
#define AQMLLM_ECN_ECT0		2
#define AQMLLM_ECN_CE		3

/* Actions: what happens to a packet at dequeue. */
#define AQMLLM_ACT_NONE		0	/* no decision (internal only) */
#define AQMLLM_ACT_PASS		1
#define AQMLLM_ACT_DROP		2
#define AQMLLM_ACT_MARK		3	/* CE mark; a drop never results */
#define AQMLLM_ACT_MAX		3

/* Verdict kinds. */
#define AQMLLM_VK_PACKET	1	/* seq -> action */
#define AQMLLM_VK_POLICY	2	/* queue -> probabilities until expiry */
#define AQMLLM_VK_RESIDUAL	3	/* queue -> residual on its fallback */

/*
 * What the producer exports (the header's export_mode): per-packet records,
 * one interval record per queue per interval, or both.  Per-packet
 * verdicts need per-packet records; residuals need interval records.
 */
#define AQMLLM_EXPORT_PACKETS	1
#define AQMLLM_EXPORT_INTERVALS	2
#define AQMLLM_EXPORT_BOTH	3

/*
 * Interval length (the header's interval_ns): 0 is each queue's fallback
 * update interval (DualPI2 16 ms, PIE 15 ms, CoDel, which has none, 16 ms);
 * anything else lies in [MIN, MAX].
 */
#define AQMLLM_IVL_MIN_NS	1000000ULL	/* 1 ms */
#define AQMLLM_IVL_MAX_NS	1000000000ULL	/* 1 s */
#define AQMLLM_IVL_DEFAULT_NS	16000000ULL	/* a fallback without Tupdate */

/*
 * Residual bounds.  The packet path clamps every residual verdict to them
 * and counts each clamp (AQMLLM_CNT_RES_CLAMP_*).  Log2 scales are Q8
 * fixed point: 256 is x2, -256 is x1/2.
 *   res_log2_mult[cls]  the class's signal probability: x1/8 .. x8
 *   res_log2_target     the classic delay target:       x1/4 .. x2
 *   res_step_us         DualPI2's L step threshold: 250 .. 4000 us,
 *                       0 keeps the configured step
 *   expiry_ns           at most RES_MAX_TTL_NS past the producer's clock
 */
#define AQMLLM_RES_Q8_ONE	256
#define AQMLLM_RES_MULT_MIN	(-768)
#define AQMLLM_RES_MULT_MAX	768
#define AQMLLM_RES_TARGET_MIN	(-512)
#define AQMLLM_RES_TARGET_MAX	256
#define AQMLLM_RES_STEP_MIN_US	250
#define AQMLLM_RES_STEP_MAX_US	4000
#define AQMLLM_RES_MAX_TTL_NS	1000000000ULL	/* 1 s */

/*
 * Fallback AQM identifiers (the records' fb_id).  Their names and
 * algorithms are the core's table (kmod/core/aqm_alg.c), one entry per id.
 */
#define AQMLLM_FB_DUALPI2	0
#define AQMLLM_FB_PIE		1
#define AQMLLM_FB_CODEL		2
#define AQMLLM_FB_COUNT		3

/* Record flags. */
#define AQMLLM_RF_FB_DROP	0x01	/* the fallback would drop it now */
#define AQMLLM_RF_FB_MARK	0x02	/* the fallback would mark it now */
#define AQMLLM_RF_OVERLOAD	0x04	/* the fallback is in overload */
#define AQMLLM_RF_FB_SIGNAL	(AQMLLM_RF_FB_DROP | AQMLLM_RF_FB_MARK)

/* Interval record flags. */
#define AQMLLM_IF_GAP		0x01	/* spans idle intervals: interval_ns longer */
#define AQMLLM_IF_RESIDUAL	0x02	/* a nonzero residual is in effect at t_ns */
#define AQMLLM_IF_RES_ENDED	0x04	/* a residual expired or was withdrawn */
#define AQMLLM_IF_OVERLOAD	0x08	/* the fallback is in overload at t_ns */
#define AQMLLM_IF_AFTER_LOSS	0x10	/* this queue's previous record was lost */

/* Daemon states in the daemon line. */
#define AQMLLM_DS_DETACHED	0
#define AQMLLM_DS_ATTACHED	1
#define AQMLLM_DS_POLICY_OFF	2	/* attached, but not deciding */

/*
 * Counters the producer mirrors into the header for display.  The
 * authoritative copy is producer-private; the daemon may scribble on
 * this mirror without effect.
 */
#define AQMLLM_CNT_RECORDS		0	/* records written */
#define AQMLLM_CNT_OVERFLOWS		1	/* records lost: ring full */
#define AQMLLM_CNT_SRC_VERDICT		2	/* decisions by packet verdict */
#define AQMLLM_CNT_SRC_POLICY		3	/* decisions by queue policy */
#define AQMLLM_CNT_SRC_FALLBACK		4	/* decisions by the fallback */
#define AQMLLM_CNT_VERDICTS_IN		5	/* verdict slots accepted */
#define AQMLLM_CNT_REJ_KIND		6	/* unknown verdict kind */
#define AQMLLM_CNT_REJ_ACTION		7	/* invalid action code */
#define AQMLLM_CNT_REJ_SEQ		8	/* seq never issued / too old */
#define AQMLLM_CNT_REJ_DUP		9	/* second verdict for one seq */
#define AQMLLM_CNT_REJ_LATE		10	/* verdict for a departed packet */
#define AQMLLM_CNT_REJ_INDEX		11	/* rec_cons / vd_prod out of range */
#define AQMLLM_CNT_REJ_POLICY		12	/* bad queue id, prob or expiry */
#define AQMLLM_CNT_MARK_NOT_ECT		13	/* mark asked on Not-ECT: passed */
#define AQMLLM_CNT_GUARD_MINQ		14	/* drop refused: backlog too small */
#define AQMLLM_CNT_GUARD_ECN		15	/* drop turned into mark (ECT) */
#define AQMLLM_CNT_DROPS		16	/* packets dropped by decisions */
#define AQMLLM_CNT_MARKS		17	/* packets CE-marked */
#define AQMLLM_CNT_WAKEUPS		18	/* daemon wakeups requested */
#define AQMLLM_CNT_STALE_DAEMON		19	/* fallbacks: heartbeat too old */
#define AQMLLM_CNT_IVL_RECORDS		20	/* interval records written */
#define AQMLLM_CNT_IVL_OVERFLOWS	21	/* interval records lost: ring full */
#define AQMLLM_CNT_RES_ACCEPTED		22	/* residual verdicts taken (clamped) */
#define AQMLLM_CNT_RES_CLAMP_MULT_C	23	/* C multiplier outside its bounds */
#define AQMLLM_CNT_RES_CLAMP_MULT_L	24	/* L multiplier outside its bounds */
#define AQMLLM_CNT_RES_CLAMP_STEP	25	/* L step outside its bounds */
#define AQMLLM_CNT_RES_CLAMP_TARGET	26	/* target scale outside its bounds */
#define AQMLLM_CNT_RES_CLAMP_EXPIRY	27	/* expiry beyond RES_MAX_TTL_NS */
#define AQMLLM_CNT_RES_IGNORED		28	/* knobs the fallback has no use for */
#define AQMLLM_CNT_RES_REJ_SEQ		29	/* interval seq never issued / too old */
#define AQMLLM_CNT_RES_REJ_STALE	30	/* seq <= last applied for the queue */
#define AQMLLM_CNT_RES_REJ_QUEUE	31	/* queue id not the record's */
#define AQMLLM_CNT_RES_REJ_FIELD	32	/* nonzero action or flags */
#define AQMLLM_CNT_RES_EXPIRED		33	/* residuals ended: expiry, dead daemon */
#define AQMLLM_CNT_COUNT		34
#define AQMLLM_CNT_SLOTS		48

/*
 * One record per exported packet, written at enqueue.  64 bytes.
 * The daemon may assume: a slot below rec_prod is complete and stays
 * unchanged until rec_cons passes it (a full ring loses new records, it
 * never overwrites); seqs are consecutive; t_ns never decreases along the
 * ring (one producer clock, records published in order).
 */
struct aqmllm_record {
	uint64_t seq;		/* 1, 2, 3, ...; 0 is never issued */
	uint64_t t_ns;		/* enqueue time */
	uint32_t queue_id;	/* producer's queue index */
	uint32_t flow_hash;
	uint32_t qlen_pkts;	/* backlog of the packet's queue at enqueue */
	uint32_t qlen_bytes;
	uint32_t sojourn_ns;	/* head-of-queue sojourn, saturating */
	uint32_t fb_prob;	/* fallback's current probability, 2^-32 */
	uint32_t rate_kbps;	/* drain rate estimate of the link */
	uint16_t pkt_len;	/* bytes, saturating */
	uint8_t ecn;		/* AQMLLM_ECN_* at enqueue */
	uint8_t cls;		/* AQMLLM_CLASS_* */
	uint16_t recent_drops;	/* drops in the last update interval */
	uint16_t recent_marks;	/* marks in the last update interval */
	uint8_t fb_id;		/* AQMLLM_FB_* */
	uint8_t flags;		/* AQMLLM_RF_* */
	uint16_t other_qlen_pkts;	/* backlog of the other class queue */
	uint32_t est_wait_ns;	/* expected wait until dequeue */
	uint32_t reserved;
};

/*
 * Daemon -> producer.  32 bytes.  The producer reads each slot once (no
 * double fetch) and validates every field: a VK_PACKET verdict counts only
 * for a seq among the last rec_entries records issued whose packet has not
 * yet left and has no verdict yet; anything else is counted and ignored.
 *
 * VK_RESIDUAL: a bounded change of the queue's fallback, in effect from the
 * moment the producer reads it until expiry_ns (then the fallback is bare
 * again).  seq names the interval record it answers: one among the last
 * ivl_entries issued, for this queue_id, newer than the last residual
 * applied to the queue; action and flags 0.  Anything else is rejected and
 * counted (AQMLLM_CNT_RES_REJ_*) and changes nothing.  Values outside the
 * AQMLLM_RES_* bounds are clamped and counted; an expiry at or before the
 * producer's clock withdraws the queue's residual.  An all-zero residual is
 * the bare fallback, exactly: no arithmetic is applied.  How each fallback
 * uses the knobs (and which it ignores, counted in RES_IGNORED) is told at
 * its descriptor (kmod/core/aqm_<name>.c) and in dn_aqm_llm(4).
 */
struct aqmllm_verdict {
	uint64_t seq;		/* PACKET: record seq; RESIDUAL: interval seq */
	uint8_t kind;		/* AQMLLM_VK_* */
	uint8_t action;		/* VK_PACKET: AQMLLM_ACT_PASS..MARK, else 0 */
	uint16_t flags;		/* must be 0 */
	uint32_t queue_id;	/* VK_POLICY, VK_RESIDUAL: target queue */
	union {
		struct {	/* VK_POLICY */
			uint32_t drop_prob;	/* 2^-32 */
			uint32_t mark_prob;	/* 2^-32 */
		};
		struct {	/* VK_RESIDUAL */
			int16_t res_log2_mult[2];	/* per class, Q8 */
			uint16_t res_step_us;	/* L step; 0 keeps it */
			int16_t res_log2_target;	/* classic target, Q8 */
		};
	};
	uint64_t expiry_ns;	/* POLICY, RESIDUAL: absolute, producer clock */
};

/*
 * One traffic class over one interval.  64 bytes.  Packets are counted when
 * they happen: arrivals at enqueue (tail drops included), departures,
 * marks and drops at dequeue (an AQM drop at enqueue at enqueue).  For
 * every class of every record:
 *   arr_pkts = dep_pkts + drop_enq + drop_deq + drop_limit
 *            + backlog_pkts - (the previous record's backlog_pkts)
 * (a queue's first record starts from an empty queue; after a lost record
 * (AQMLLM_IF_AFTER_LOSS) the sum runs over the lost one too).  Counts
 * saturate at 2^32 - 1; sojourns are those of departed packets.
 */
struct aqmllm_class_ivl {
	uint32_t backlog_pkts;	/* at the end of the interval */
	uint32_t backlog_bytes;
	uint32_t arr_pkts;	/* offered to the queue, tail drops included */
	uint32_t arr_bytes;
	uint32_t dep_pkts;	/* served: sent on the link (marked or not) */
	uint32_t dep_bytes;
	uint32_t sojourn_max_ns;	/* over the departures; saturating */
	uint32_t sojourn_mean_ns;
	uint32_t drop_enq;	/* AQM drops at enqueue */
	uint32_t drop_deq;	/* AQM drops at dequeue, flushed packets */
	uint32_t drop_limit;	/* tail drops: queue limit or FIFO full */
	uint32_t marks;		/* CE marks applied */
	uint32_t ecn[4];	/* arrivals by codepoint, AQMLLM_ECN_* */
};

/*
 * One queue over one interval, written by the packet path the first time it
 * runs for the queue after the interval's end (no timer: an idle queue
 * writes nothing until traffic returns, and then one record covering the
 * idle intervals, AQMLLM_IF_GAP).  192 bytes.  The daemon may assume what
 * it may of the record ring: complete slots below ivl_prod, consecutive
 * seqs, t_ns non-decreasing along the ring; and per queue, consecutive
 * records tile time (each record's t_ns - interval_ns is the previous one's
 * t_ns) unless AQMLLM_IF_AFTER_LOSS says one was lost.
 */
struct aqmllm_interval {
	uint64_t seq;		/* 1, 2, 3, ... in the interval ring */
	uint64_t t_ns;		/* end of the interval, producer clock */
	uint32_t queue_id;
	uint32_t interval_ns;	/* its length; saturating */
	uint32_t busy_ns;	/* time the queue held packets in it */
	uint32_t rate_kbps;	/* configured link rate, 0: unknown */
	uint16_t fb_id;		/* AQMLLM_FB_* */
	uint16_t flags;		/* AQMLLM_IF_* */
	/*
	 * The fallback's state at t_ns, probabilities 2^-32: DualPI2 p' (its
	 * integrator, before any multiplier), p_C and p_CL as applied (the
	 * multipliers included); PIE p, p as applied to C, to L; CoDel its
	 * count, dropping (0/1), 0.
	 */
	uint32_t fb_state[3];
	uint32_t target_ns;	/* effective classic target, residual applied */
	/* The residual in effect at t_ns (all 0: none), as clamped. */
	int16_t res_log2_mult[2];
	uint16_t res_step_us;
	int16_t res_log2_target;
	uint32_t pad;
	struct aqmllm_class_ivl cls[2];	/* AQMLLM_CLASS_C, AQMLLM_CLASS_L */
};

/* The region header: one page, one writer per cache line. */
struct aqmllm_region_hdr {
	/*
	 * line 0: identity and geometry; producer, written once before any
	 * index moves.  The daemon validates it; the producer never reads it
	 * back (it keeps its own copy).
	 */
	uint64_t magic;
	uint32_t abi_version;
	uint32_t hdr_size;
	uint32_t rec_size;
	uint32_t rec_entries;	/* power of two */
	uint32_t vd_size;
	uint32_t vd_entries;	/* power of two */
	uint64_t rec_offset;
	uint64_t vd_offset;
	uint64_t region_size;
	uint32_t nqueues;	/* queue ids are < nqueues */
	uint32_t batch_size;	/* wakeup every batch_size records */

	/*
	 * line 1: producer.  rec_prod: records published (store-release after
	 * the slot is written).  producer_clock_ns: the producer's clock,
	 * stored relaxed at most every 100 us and with each counter export;
	 * the daemon echoes it as its heartbeat.
	 */
	uint64_t rec_prod;
	uint64_t producer_clock_ns;	/* producer's clock at last write */
	uint32_t fb_id;		/* configured fallback */
	uint32_t producer_flags;
	uint32_t verdict_timeout_ns;
	uint32_t pad1[9];

	/*
	 * line 2: daemon.  rec_cons: records the daemon is done with; the
	 * slots below it may be reused.  The producer reloads it (acquire)
	 * only when its cached copy says the ring is full, and refuses a value
	 * above rec_prod or more than rec_entries below it (counted in
	 * REJ_INDEX, the record lost as an overflow).
	 */
	uint64_t rec_cons;
	uint64_t pad2[7];

	/*
	 * line 3: daemon.  vd_prod: verdicts published (store after the slot is
	 * written).  The producer loads it (acquire); a value more than
	 * vd_entries ahead of vd_cons, or behind it, is garbage: the producer
	 * skips to it (REJ_INDEX) and reads nothing in between.  At most a
	 * drain budget of slots is read per visit, the rest on later visits.
	 */
	uint64_t vd_prod;
	uint64_t pad3[7];

	/*
	 * line 4: producer.  vd_cons: verdicts read (store-release after the
	 * reads); the daemon may rewrite the slots below it and has
	 * vd_entries - (vd_prod - vd_cons) free slots.
	 */
	uint64_t vd_cons;
	uint64_t pad4[7];

	/*
	 * line 5: daemon liveness; daemon.  The producer reads the state and
	 * the heartbeat (relaxed) at most every 50 us of its time: it honours
	 * verdicts and policies only while daemon_state is ATTACHED and the
	 * heartbeat is no older than verdict_timeout_ns on its own clock.
	 */
	uint64_t heartbeat_ns;	/* producer clock, as last seen */
	uint32_t daemon_pid;
	uint32_t daemon_state;	/* AQMLLM_DS_* */
	uint64_t daemon_decisions;
	/* For display (aqmllmctl stats); the packet path never reads them. */
	uint64_t daemon_fallbacks;	/* fallback episodes: policy-off stretches */
	uint64_t daemon_fallback_ns;	/* their length, closed episodes */
	uint64_t daemon_fallback_since_ns; /* producer clock; 0: none open */
	uint64_t pad5[2];

	/*
	 * line 6: the interval ring and what is exported; producer.  The
	 * geometry is written once with line 0; export_mode (AQMLLM_EXPORT_*)
	 * and interval_ns (0: each fallback's Tupdate) follow the
	 * configuration, stored relaxed: a reader may see a change a moment
	 * late, and a queue takes a new interval length at its next interval.
	 */
	uint32_t ivl_size;
	uint32_t ivl_entries;	/* power of two */
	uint64_t ivl_offset;
	uint32_t export_mode;
	uint32_t interval_ns;
	uint64_t pad6[5];

	/*
	 * line 7: producer.  ivl_prod: interval records published, as rec_prod.
	 */
	uint64_t ivl_prod;
	uint64_t pad7[7];

	/*
	 * line 8: daemon.  ivl_cons: interval records the daemon is done with;
	 * validated as rec_cons is (REJ_INDEX, the record lost as an overflow).
	 */
	uint64_t ivl_cons;
	uint64_t pad8[7];

	/* lines 9-14: counter mirror; producer, relaxed, for display only */
	uint64_t counters[AQMLLM_CNT_SLOTS];

	uint8_t reserved[AQMLLM_HDR_SIZE - 15 * AQMLLM_CACHELINE];
};

#ifndef AQMLLM_CDEF
#define AQMLLM_OFF(t, f)	__builtin_offsetof(struct t, f)

_Static_assert(sizeof(struct aqmllm_record) == AQMLLM_REC_SIZE,
    "record must be one cache line");
_Static_assert(sizeof(struct aqmllm_verdict) == AQMLLM_VERDICT_SIZE,
    "verdict is 32 bytes");
_Static_assert(sizeof(struct aqmllm_region_hdr) == AQMLLM_HDR_SIZE,
    "header is one page");
_Static_assert(sizeof(struct aqmllm_class_ivl) == AQMLLM_CACHELINE,
    "a class of an interval is one cache line");
_Static_assert(sizeof(struct aqmllm_interval) == AQMLLM_IVL_SIZE &&
    AQMLLM_IVL_SIZE % AQMLLM_CACHELINE == 0,
    "interval record is whole cache lines");
_Static_assert(AQMLLM_OFF(aqmllm_interval, queue_id) == 16, "interval layout");
_Static_assert(AQMLLM_OFF(aqmllm_interval, fb_id) == 32, "interval layout");
_Static_assert(AQMLLM_OFF(aqmllm_interval, fb_state) == 36, "interval layout");
_Static_assert(AQMLLM_OFF(aqmllm_interval, res_log2_mult) == 52,
    "interval layout");
_Static_assert(AQMLLM_OFF(aqmllm_interval, cls) == AQMLLM_CACHELINE,
    "interval classes on their own lines");
_Static_assert(AQMLLM_OFF(aqmllm_class_ivl, ecn) == 48, "class layout");
_Static_assert(AQMLLM_OFF(aqmllm_verdict, res_log2_mult) == 16 &&
    AQMLLM_OFF(aqmllm_verdict, drop_prob) == 16 &&
    AQMLLM_OFF(aqmllm_verdict, res_step_us) == 20 &&
    AQMLLM_OFF(aqmllm_verdict, res_log2_target) == 22, "verdict layout");
_Static_assert(AQMLLM_OFF(aqmllm_record, queue_id) == 16, "record layout");
_Static_assert(AQMLLM_OFF(aqmllm_record, sojourn_ns) == 32, "record layout");
_Static_assert(AQMLLM_OFF(aqmllm_record, pkt_len) == 44, "record layout");
_Static_assert(AQMLLM_OFF(aqmllm_record, recent_drops) == 48, "record layout");
_Static_assert(AQMLLM_OFF(aqmllm_record, est_wait_ns) == 56, "record layout");
_Static_assert(AQMLLM_OFF(aqmllm_verdict, kind) == 8, "verdict layout");
_Static_assert(AQMLLM_OFF(aqmllm_verdict, expiry_ns) == 24, "verdict layout");
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, rec_prod) == 1 * AQMLLM_CACHELINE,
    "rec_prod on its own line");
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, rec_cons) == 2 * AQMLLM_CACHELINE,
    "rec_cons on its own line");
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, vd_prod) == 3 * AQMLLM_CACHELINE,
    "vd_prod on its own line");
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, vd_cons) == 4 * AQMLLM_CACHELINE,
    "vd_cons on its own line");
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, heartbeat_ns) ==
    5 * AQMLLM_CACHELINE, "daemon line");
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, ivl_size) == 6 * AQMLLM_CACHELINE,
    "interval geometry line");
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, ivl_prod) == 7 * AQMLLM_CACHELINE,
    "ivl_prod on its own line");
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, ivl_cons) == 8 * AQMLLM_CACHELINE,
    "ivl_cons on its own line");
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, counters) == 9 * AQMLLM_CACHELINE,
    "counter mirror");
_Static_assert(AQMLLM_CNT_COUNT <= AQMLLM_CNT_SLOTS, "counter slots");
#undef AQMLLM_OFF
#endif /* !AQMLLM_CDEF */

#endif /* AQMLLM_RING_H */
