/*
 * Decisions of the FreeBSD glue that need no kernel: module registration
 * bookkeeping, the unload gate, ioctl access, tunable validation and the
 * parse of llm's dummynet AQM parameters.  Plain C over the portable core,
 * so the same code is compiled into the module and tested (and fuzzed)
 * on Linux.  Errors are errno values, which agree between FreeBSD and
 * Linux for every code used here.
 */
#ifndef _DN_LLM_GLUE_H_
#define _DN_LLM_GLUE_H_

#include "aqm_core.h"

#if defined(_KERNEL)
#include <sys/errno.h>
#else
#include <errno.h>
#endif
#ifndef EPROGMISMATCH
#define	EPROGMISMATCH	75	/* FreeBSD's value; Linux has none */
#endif

/* ---- module registration (llm_life.c) ---- */

#define	LLM_HAVE_RING	0x01
#define	LLM_HAVE_DEV	0x02
#define	LLM_HAVE_SCHED	0x04
#define	LLM_HAVE_AQM	0x08

/* The steps of a load, each undone by its pair; supplied by the glue. */
struct llm_life_ops {
	int	(*ring_create)(void);
	void	(*ring_destroy)(void);
	int	(*dev_create)(void);
	void	(*dev_destroy)(void);
	int	(*sched_register)(void);
	int	(*sched_unregister)(void);	/* EBUSY while referenced */
	int	(*aqm_register)(void);
	int	(*aqm_unregister)(void);	/* EBUSY while referenced */
	/* Refuse new users from now on; EBUSY (gate reopened) if any remain. */
	int	(*close_gate)(void);
	void	(*open_gate)(void);
	/* A scheduler configuration that found us before we left the list. */
	int	(*sched_busy)(void);
};

/* What a load actually registered: an unload undoes exactly that. */
struct llm_life {
	unsigned	have;		/* LLM_HAVE_* */
};

int	llm_life_load(struct llm_life *l, const struct llm_life_ops *ops);
int	llm_life_unload(struct llm_life *l, const struct llm_life_ops *ops);

/*
 * The unload gate: no new configuration takes llm while an unload is
 * deciding.  The unload closes it first, then counts every user it can
 * find, then decides; configurations test it under the lock that guards
 * it, so one either finished before the count saw it or sees it closed.
 */
struct llm_gate {
	int	closing;
};

int	llm_gate_open_p(const struct llm_gate *g);	/* configs allowed? */
void	llm_gate_close(struct llm_gate *g);
/* With users left the gate reopens and the unload is refused (EBUSY). */
int	llm_gate_decide(struct llm_gate *g, int users);
void	llm_gate_open(struct llm_gate *g);

/* ---- llm's flowset configurations (llm_cfg.c) ---- */

/*
 * Dummynet can drop a flowset's AQM without deconfiguring it (config_fs
 * clears aqmfp on a reconfiguration; another AQM's config frees the old
 * aqmcfg), so configurations are found, not counted: a flowset whose
 * aqmfp is ours uses llm; one whose aqmcfg is ours under another (or no)
 * AQM holds a stale configuration that the unload frees.
 */
#define	LLM_CFG_MAGIC	0x6766436d6c6c4141ULL	/* "AAllmCfg" */

struct llm_aqm_cfg {
	uint64_t	magic;		/* first: read in others' configs too */
	struct aqm_params par;
};

#define	LLM_FS_OTHER	0	/* not ours */
#define	LLM_FS_LIVE	1	/* dummynet calls llm for this flowset */
#define	LLM_FS_STALE	2	/* our configuration, left behind */

/* aqmcfg, when not NULL, is some AQM's configuration of >= 8 bytes. */
int	llm_fs_use(const void *aqmfp, const void *ours, const void *aqmcfg);

/*
 * What llm reads from dummynet's configuration of a flowset: the
 * dn_extra_parms object (its length and par[0]: the fallback, -1 for the
 * sysctl default) and the flowset's queue size (in bytes or packets).
 */
struct llm_aqm_args {
	int		ep_len;		/* dn_extra_parms.oid.len */
	int		ep_min;		/* sizeof(struct dn_extra_parms) */
	int64_t		fallback;	/* par[0] */
	int		qsize;		/* dn_fs.qsize */
	int		qsize_bytes;	/* DN_QSIZE_BYTES set */
};

/* The queue parameters for a configuration; EINVAL names nothing usable. */
int	llm_aqm_parse(const struct llm_aqm_args *a,
	    const struct aqm_params *defaults, struct aqm_params *out);

/* ---- packet FIFO storage, sized by need (llm_fifo.c) ---- */

/*
 * A queue starts with no FIFO storage: a class gets LLM_FIFO_MIN slots
 * with its first packet and doubles whenever it is full, up to the
 * capacity that never fills below the queue's limit (aqm_fifo_cap: the
 * next power of two, at most AQM_FIFO_MAX_CAP).  Storage therefore
 * follows the largest backlog a class has held, never the configured
 * limit alone: 2 x LLM_FIFO_MIN x 40 bytes for a queue that saw both
 * classes, 2 x aqm_fifo_cap(limit) x 40 bytes at most.
 */
#define	LLM_FIFO_MIN		64U

/*
 * Where storage comes from: the kernel's malloc(9) with M_NOWAIT in the
 * packet path, an allocator that fails on demand in the tests.  alloc
 * answers NULL when there is no memory now; free is given the size.
 */
struct llm_mem {
	void	*(*alloc)(size_t bytes, void *ctx);
	void	(*free)(void *p, size_t bytes, void *ctx);
	void	*ctx;
};

/* The capacity after cap when a class of a queue with this limit is full; 0: none. */
uint32_t llm_fifo_next_cap(uint32_t cap, uint32_t limit_pkts);
/*
 * Before an enqueue of class cls: grow its FIFO if it is full and the
 * queue is below its limit.  0 when the packet has room or the core will
 * tail-drop it on the limit anyway; ENOMEM when no memory came (the
 * FIFO stays full, so the core tail-drops the packet: AQM_SRC_LIMIT).
 */
int	llm_fifo_make_room(struct aqm_queue *aq, int cls, const struct llm_mem *m);
/* Free both classes' storage; the caller has flushed the queue. */
void	llm_fifo_release(struct aqm_queue *aq, const struct llm_mem *m);
/* Bytes of FIFO storage a queue holds now. */
size_t	llm_fifo_bytes(const struct aqm_queue *aq);

/* ---- what dummynet applies before a packet is queued (llm_admit.c) ---- */

/*
 * dn_enqueue() applies a flowset's packet loss rate and queue size before
 * a packet reaches an AQM; a scheduler's own enqueue is called without
 * it, so the llm scheduler applies them itself with these.  plr[] are
 * dummynet's probabilities (2^31 - 1 is 1): plr[0] alone is a Bernoulli
 * loss; with plr[1] set, a Gilbert-Elliott channel: in the good state
 * plr[1] moves to the bad one and plr[0] loses, in the bad state plr[3]
 * moves back and plr[2] loses.  rnd() draws like random(9), 0 .. 2^31 - 1.
 */
#define	LLM_PL_GOOD	0	/* dummynet's PLR_STATE_G */
#define	LLM_PL_BAD	1	/* PLR_STATE_B */

int	llm_plr_lost(const int32_t plr[4], int32_t *state,
	    uint32_t (*rnd)(void *), void *ctx);
/*
 * Whether a packet of len bytes finds dummynet's queue size reached:
 * qsize packets, or (in bytes) no room for len more bytes.
 */
int	llm_qsize_full(int qsize, int in_bytes, uint32_t qlen_pkts,
	    uint64_t qlen_bytes, uint32_t len);

/* ---- /dev/aqmllm requests (llm_ctl.c) ---- */

#include "aqmllm_dev.h"

/*
 * May a descriptor opened for reading (and writing) make request nr?
 * Reading the geometry and the counters needs FREAD; becoming, leaving
 * or mapping the daemon's ring needs FREAD and FWRITE.  ENOTTY for an
 * unknown request, EBADF for a descriptor opened without the access.
 */
int	llm_ioctl_access(unsigned nr, int can_read, int can_write);

/* The daemon's ownership of the ring, as the request handlers decide it. */
#define	LLM_OWNER_NONE	0	/* no daemon attached */
#define	LLM_OWNER_SELF	1	/* this descriptor is the daemon */
#define	LLM_OWNER_OTHER	2	/* another descriptor is */

int	llm_attach_decide(const struct aqmllm_attach *at, int owner);
int	llm_detach_decide(int owner);
int	llm_map_decide(int owner);

/*
 * The answers to INFO and STATS, from the ring as it is now (under the
 * device lock): its geometry, what it exports and how often, and the
 * authoritative counters; every byte of the reply is written.
 */
struct llm_dev_view {
	const struct aqm_ring	*ring;
	uint64_t		region_size;
	uint32_t		fallback;	/* AQMLLM_FB_* of new queues */
	uint32_t		verdict_timeout_us;
	int			attached;
	uint64_t		queues;		/* queues using the ring */
	uint64_t		wakeups;
};

void	llm_info_fill(struct aqmllm_info *info, const struct llm_dev_view *v);
void	llm_stats_fill(struct aqmllm_stats *st, const struct llm_dev_view *v);

/* ---- tunables (llm_tun.c) ---- */

#define	LLM_RING_DEFAULT	16384

/* Tunables and sysctl-visible settings. */
struct llm_tunables {
	uint32_t batch_size;
	uint32_t fallback;		/* AQMLLM_FB_* for new queues */
	uint32_t verdict_timeout_us;
	uint32_t ring_entries;		/* loader tunable */
	uint32_t limit_pkts;		/* per queue */
	uint32_t export_mode;		/* AQMLLM_EXPORT_* */
	uint32_t interval_us;		/* 0: each fallback's Tupdate */
	struct aqm_params defaults;	/* fallback parameters for new queues */
};

/* The u32 tunables a sysctl writes, with their ranges. */
#define	LLM_TUN_BATCH		0	/* 1 .. ring_entries, <= 65536 */
#define	LLM_TUN_TIMEOUT		1	/* 1 .. 4 s, in us */
#define	LLM_TUN_LIMIT		2	/* 1 .. 2^20, and the defaults validate */
#define	LLM_TUN_INTERVAL	3	/* 0, or AQMLLM_IVL_MIN_NS .. MAX_NS in us */

#define	LLM_BATCH_MAX		65536U
#define	LLM_TIMEOUT_US_MAX	4000000U
#define	LLM_LIMIT_MAX		(1U << 20)


/*
 * Each write is tried on the caller's copy and succeeds only if the whole
 * set is still valid (the ring accepts the batch size and timeout, the
 * fallback parameters validate); on an error the copy is unchanged.  The
 * caller serialises writers and publishes the copy.
 */
int	llm_tun_set_u32(struct llm_tunables *t, int which, uint64_t v);
int	llm_tun_set_fallback(struct llm_tunables *t, const char *name);
/* What the ring exports, by name: "packets", "intervals" or "both". */
int	llm_tun_set_export(struct llm_tunables *t, const char *name);
/* The name of an AQMLLM_EXPORT_* mode; NULL for none. */
const char *llm_export_name(uint32_t mode);
/* A fallback parameter: a u64 of ns (in_us: written in us) or a u32. */
int	llm_tun_set_param(struct llm_tunables *t, size_t off, int in_us,
	    uint64_t v);
/* Whether the full set is one the ring and the core accept. */
int	llm_tun_valid(const struct llm_tunables *t);

#endif /* _DN_LLM_GLUE_H_ */
