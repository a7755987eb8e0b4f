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

/* ---- tunables (llm_tun.c) ---- */

#endif /* _DN_LLM_GLUE_H_ */
