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
 *   [0, 4096)                       struct aqmllm_region_hdr
 *   [rec_offset, + rec_entries*64)  struct aqmllm_record   (kernel -> daemon)
 *   [vd_offset,  + vd_entries*32)   struct aqmllm_verdict  (daemon -> kernel)
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
 * The two rings.  Both are single-producer single-consumer queues over
 * free-running u64 indices: an index counts the entries ever published
 * (prod) or consumed (cons), never wraps in practice (2^64 entries), and
 * names the slot index & (entries - 1), entries being a power of two.
 * prod - cons is the number of entries in flight, 0 .. entries; any other
 * value is garbage and is treated as such (see each index below).  The
 * record with index i carries seq = i + 1, so seq 0 is never issued.
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
#define AQMLLM_ABI_VERSION	1
#define AQMLLM_CACHELINE	64
#define AQMLLM_HDR_SIZE		4096
#define AQMLLM_REC_SIZE		64
#define AQMLLM_VERDICT_SIZE	32
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
#define AQMLLM_CNT_COUNT		20
#define AQMLLM_CNT_SLOTS		24

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
 */
struct aqmllm_verdict {
	uint64_t seq;		/* VK_PACKET: record seq; VK_POLICY: 0 */
	uint8_t kind;		/* AQMLLM_VK_* */
	uint8_t action;		/* VK_PACKET: AQMLLM_ACT_PASS..MARK */
	uint16_t flags;		/* must be 0 */
	uint32_t queue_id;	/* VK_POLICY: target queue */
	uint32_t drop_prob;	/* VK_POLICY: 2^-32 */
	uint32_t mark_prob;	/* VK_POLICY: 2^-32 */
	uint64_t expiry_ns;	/* VK_POLICY: absolute, producer clock */
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

	/* lines 6-8: counter mirror; producer, relaxed, for display only */
	uint64_t counters[AQMLLM_CNT_SLOTS];

	uint8_t reserved[AQMLLM_HDR_SIZE - 9 * AQMLLM_CACHELINE];
};

#ifndef AQMLLM_CDEF
#define AQMLLM_OFF(t, f)	__builtin_offsetof(struct t, f)

_Static_assert(sizeof(struct aqmllm_record) == AQMLLM_REC_SIZE,
    "record must be one cache line");
_Static_assert(sizeof(struct aqmllm_verdict) == AQMLLM_VERDICT_SIZE,
    "verdict is 32 bytes");
_Static_assert(sizeof(struct aqmllm_region_hdr) == AQMLLM_HDR_SIZE,
    "header is one page");
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
_Static_assert(AQMLLM_OFF(aqmllm_region_hdr, counters) == 6 * AQMLLM_CACHELINE,
    "counter mirror");
_Static_assert(AQMLLM_CNT_COUNT <= AQMLLM_CNT_SLOTS, "counter slots");
#undef AQMLLM_OFF
#endif /* !AQMLLM_CDEF */

#endif /* AQMLLM_RING_H */
