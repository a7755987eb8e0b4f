/*
 * dn_aqm_llm module events: the ring and /dev/aqmllm first, then the
 * dummynet scheduler and AQM "llm"; unload in the reverse order, refusing
 * (EBUSY) while a dummynet scheduler, queue or flowset still uses ours or
 * a descriptor is open on /dev/aqmllm.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/module.h>

#include "llm_var.h"

static int
llm_modevent(module_t mod __unused, int type, void *data __unused)
{
	int error;

	switch (type) {
	case MOD_LOAD:
		TUNABLE_INT_FETCH("net.inet.ip.dummynet.llm.ring_entries",
		    &llm_tun.ring_entries);
		llm_sysctl_defaults();
		error = llm_ring_create();
		if (error != 0)
			return (error);
		error = llm_dev_create();
		if (error == 0)
			error = llm_sched_modevent(MOD_LOAD);
		if (error == 0) {
			error = llm_aqm_modevent(MOD_LOAD);
			if (error != 0)
				(void)llm_sched_modevent(MOD_UNLOAD);
		}
		if (error != 0) {
			llm_dev_destroy();
			llm_ring_destroy();
		}
		return (error);
	case MOD_UNLOAD:
		/* Pipes and queues that use llm must be deleted first. */
		if (llm_sched_busy() || llm_aqm_busy())
			return (EBUSY);
		error = llm_dev_quiesce(1);
		if (error != 0)
			return (error);
		error = llm_aqm_modevent(MOD_UNLOAD);
		if (error != 0) {
			(void)llm_dev_quiesce(0);
			return (error);
		}
		error = llm_sched_modevent(MOD_UNLOAD);
		/* A configuration may have taken llm while it was unhooked. */
		if (error == 0 && (llm_sched_busy() || llm_aqm_busy())) {
			(void)llm_sched_modevent(MOD_LOAD);
			error = EBUSY;
		}
		if (error != 0) {
			(void)llm_aqm_modevent(MOD_LOAD);
			(void)llm_dev_quiesce(0);
			return (error);
		}
		llm_dev_destroy();
		llm_ring_destroy();
		return (0);
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
