/*
 * dn_aqm_llm module events: the ring and /dev/aqmllm first, then the
 * dummynet scheduler and AQM "llm"; unload in the reverse order, refusing
 * (EBUSY) while a dummynet scheduler, queue or flowset still uses ours or
 * a descriptor is open on /dev/aqmllm.  What was registered, and what an
 * unload may undo, is decided in llm_life.c.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/module.h>

#include "llm_glue.h"
#include "llm_var.h"

static struct llm_life llm_life;

static int
llm_sched_register(void)
{
	return (llm_sched_modevent(MOD_LOAD));
}

static int
llm_sched_unregister(void)
{
	return (llm_sched_modevent(MOD_UNLOAD));
}

static int
llm_aqm_register(void)
{
	return (llm_aqm_modevent(MOD_LOAD));
}

static int
llm_aqm_unregister(void)
{
	return (llm_aqm_modevent(MOD_UNLOAD));
}

/*
 * From here on no configuration, queue or scheduler instance takes llm,
 * and no descriptor is opened; refused (and undone) while any remains.
 */
static int
llm_close_gate(void)
{
	int error;

	error = llm_users_close();
	if (error == 0 && (error = llm_dev_quiesce(1)) != 0)
		llm_users_open();
	return (error);
}

static void
llm_open_gate(void)
{
	(void)llm_dev_quiesce(0);
	llm_users_open();
}

static const struct llm_life_ops llm_life_ops = {
	.ring_create =		llm_ring_create,
	.ring_destroy =		llm_ring_destroy,
	.dev_create =		llm_dev_create,
	.dev_destroy =		llm_dev_destroy,
	.sched_register =	llm_sched_register,
	.sched_unregister =	llm_sched_unregister,
	.aqm_register =		llm_aqm_register,
	.aqm_unregister =	llm_aqm_unregister,
	.close_gate =		llm_close_gate,
	.open_gate =		llm_open_gate,
	.sched_busy =		llm_sched_busy,
};

static int
llm_modevent(module_t mod __unused, int type, void *data __unused)
{
	switch (type) {
	case MOD_LOAD:
		TUNABLE_INT_FETCH("net.inet.ip.dummynet.llm.ring_entries",
		    &llm_tun.ring_entries);
		llm_sysctl_defaults();
		return (llm_life_load(&llm_life, &llm_life_ops));
	case MOD_UNLOAD:
		return (llm_life_unload(&llm_life, &llm_life_ops));
	default:
		return (EOPNOTSUPP);
	}
}

static moduledata_t llm_mod = {
	"dn_aqm_llm",
	llm_modevent,
	NULL
};

DECLARE_MODULE(dn_aqm_llm, llm_mod, SI_SUB_PROTO_IFATTACHDOMAIN, SI_ORDER_ANY);
MODULE_DEPEND(dn_aqm_llm, dummynet, 3, 3, 3);
MODULE_VERSION(dn_aqm_llm, 1);
