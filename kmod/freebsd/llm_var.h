/*
 * Module-private declarations of dn_aqm_llm: the one shared ring, its
 * lock and tunables, and the hooks between the device, the sysctls and
 * the dummynet glue.  Only public kernel headers are needed here.
 */
#ifndef _DN_LLM_VAR_H_
#define _DN_LLM_VAR_H_

#include "llm_glue.h"

#define	LLM_NQUEUES_DEFAULT	256
#define	LLM_QID_NONE		UINT32_MAX	/* no ring slot: fallback only */

extern struct llm_tunables llm_tun;

/* Ring lifecycle (llm_dev.c). */
int	llm_ring_create(void);
void	llm_ring_destroy(void);
int	llm_dev_create(void);
void	llm_dev_destroy(void);
int	llm_dev_quiesce(int on);	/* EBUSY while a descriptor is open */

/*
 * The packet path's access to the shared ring.  The ring is global to the
 * module; callers hold the dummynet lock of their vnet, then this one.
 */
struct aqm_ring *llm_ring_lock(void);
void	llm_ring_unlock(struct aqm_ring *r);
void	llm_ring_kick(struct aqm_ring *r);	/* batched wakeup, locked */
int	llm_queue_id_alloc(uint32_t *id);
void	llm_queue_id_free(uint32_t id);
uint64_t llm_now_ns(void);
int	llm_ring_reconfigure(void);	/* sysctl changed batch, timeout, export */

/*
 * Dummynet registration (dn_llm_sched.c, dn_llm_aqm.c).  Busy while any
 * dummynet object uses them: dummynet's own unload would tear an AQM off
 * its flowsets without its lock, and keeps pointers to a scheduler.
 */
int	llm_sched_modevent(int type);
int	llm_aqm_modevent(int type);
int	llm_sched_busy(void);
int	llm_sched_refs(void);		/* under dummynet's sched_mtx */
/*
 * The unload gate (dn_llm_aqm.c): close it and count every user in every
 * vnet (EBUSY, reopened, if any), or open it again after a refusal.
 */
int	llm_users_close(void);
void	llm_users_open(void);

/* sysctl registration (llm_sysctl.c). */
void	llm_sysctl_defaults(void);
void	llm_tun_params(struct aqm_params *par);	/* a consistent copy */

#endif /* _DN_LLM_VAR_H_ */
