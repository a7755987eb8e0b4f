/*
 * The FreeBSD glue's decisions on Linux: module registration against a
 * fake dummynet that fails any step on demand, the unload gate, which
 * flowsets use llm, the parse of llm's AQM parameters and the sysctl
 * tunables (the interval tier's included); the queues' FIFO growth and
 * dummynet's admission rules are in test_glue_queue.c.
 * Prints one line per failed check and exits non-zero if any failed.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "llm_glue.h"
#include "test_check.h"

int failures, checks;

/* ---- a fake kernel and dummynet ---- */

enum step { RING, DEV, SREG, AREG, SUNREG, AUNREG, NSTEPS };

static struct fake {
	int	ring, dev, sched_listed, aqm_listed;	/* what exists */
	int	fail[NSTEPS];				/* errno per step */
	int	users;			/* configs, queues, instances, opens */
	int	sched_slips_in;		/* a config races the unregistration */
	int	gate_closed;
	int	registers_in_unload;
	int	in_unload;
} f;

static int ring_create(void) { if (f.fail[RING]) return (f.fail[RING]); f.ring = 1; return (0); }
static void ring_destroy(void) { CHECK(f.ring); f.ring = 0; }
static int dev_create(void) { if (f.fail[DEV]) return (f.fail[DEV]); f.dev = 1; return (0); }
static void dev_destroy(void) { CHECK(f.dev); f.dev = 0; }

static int
sched_register(void)
{
	f.registers_in_unload += f.in_unload;
	if (f.fail[SREG])
		return (f.fail[SREG]);
	f.sched_listed = 1;
	return (0);
}

static int
sched_unregister(void)
{
	if (!f.sched_listed)
		return (EINVAL);	/* what dummynet answers */
	if (f.fail[SUNREG])
		return (f.fail[SUNREG]);
	f.sched_listed = 0;
	return (0);
}

static int
aqm_register(void)
{
	f.registers_in_unload += f.in_unload;
	if (f.fail[AREG])
		return (f.fail[AREG]);
	f.aqm_listed = 1;
	return (0);
}

static int
aqm_unregister(void)
{
	if (f.fail[AUNREG])
		return (f.fail[AUNREG]);
	f.aqm_listed = 0;	/* 0 even when it never was: dummynet's answer */
	return (0);
}

static int
close_gate(void)
{
	if (f.users)
		return (EBUSY);
	f.gate_closed = 1;
	return (0);
}

static void open_gate(void) { f.gate_closed = 0; }
static int sched_busy(void) { return (f.sched_slips_in); }

static const struct llm_life_ops ops = {
	ring_create, ring_destroy, dev_create, dev_destroy,
	sched_register, sched_unregister, aqm_register, aqm_unregister,
	close_gate, open_gate, sched_busy,
};

static int
unload(struct llm_life *l)
{
	int error;

	f.in_unload = 1;
	error = llm_life_unload(l, &ops);
	f.in_unload = 0;
	return (error);
}

static int
nothing_left(void)
{
	return (!f.ring && !f.dev && !f.sched_listed && !f.aqm_listed);
}

static void
test_load_unload(void)
{
	struct llm_life l;

	memset(&f, 0, sizeof(f));
	CHECK(llm_life_load(&l, &ops) == 0);
	CHECK(f.ring && f.dev && f.sched_listed && f.aqm_listed);
	CHECK(unload(&l) == 0);
	CHECK(nothing_left() && f.registers_in_unload == 0);
	CHECK(unload(&l) == 0);		/* a second unload has nothing to do */
}

/* Finding 1: every failed load, then the kernel's MOD_UNLOAD. */
static void
test_failed_load_then_unload(void)
{
	struct llm_life l;
	int k;

	for (k = RING; k <= AREG; k++) {
		memset(&f, 0, sizeof(f));
		f.fail[k] = k == AREG ? EEXIST : ENOMEM;
		CHECK(llm_life_load(&l, &ops) == f.fail[k]);
		CHECK(nothing_left());
		CHECK(unload(&l) == 0);
		CHECK(nothing_left());
		CHECK(f.registers_in_unload == 0);
	}
}

static void
test_unload_refused_while_used(void)
{
	struct llm_life l;

	memset(&f, 0, sizeof(f));
	CHECK(llm_life_load(&l, &ops) == 0);
	f.users = 1;
	CHECK(unload(&l) == EBUSY);
	CHECK(f.ring && f.dev && f.sched_listed && f.aqm_listed);
	f.users = 0;
	CHECK(unload(&l) == 0 && nothing_left());
}

static void
test_unregistration_refused(void)
{
	struct llm_life l;

	memset(&f, 0, sizeof(f));
	CHECK(llm_life_load(&l, &ops) == 0);
	f.fail[SUNREG] = EBUSY;
	CHECK(unload(&l) == EBUSY);
	CHECK(!f.gate_closed && f.sched_listed && f.aqm_listed && f.dev);
	f.fail[SUNREG] = 0;
	f.fail[AUNREG] = EBUSY;
	CHECK(unload(&l) == EBUSY);
	CHECK(!f.gate_closed && !f.sched_listed && f.aqm_listed && f.dev);
	f.fail[AUNREG] = 0;
	CHECK(unload(&l) == 0 && nothing_left());
	CHECK(f.registers_in_unload == 0);
}

/* Finding 4: a scheduler configuration that raced the unregistration. */
static void
test_sched_config_slips_in(void)
{
	struct llm_life l;

	memset(&f, 0, sizeof(f));
	CHECK(llm_life_load(&l, &ops) == 0);
	f.sched_slips_in = 1;
	CHECK(unload(&l) == EBUSY);
	CHECK(f.registers_in_unload == 0);	/* stays out of the list */
	CHECK(!f.gate_closed && f.aqm_listed && f.dev && f.ring);
	f.sched_slips_in = 0;
	CHECK(unload(&l) == 0 && nothing_left());
}

static void
test_gate(void)
{
	struct llm_gate g = { 0 };

	CHECK(llm_gate_open_p(&g));
	llm_gate_close(&g);
	CHECK(!llm_gate_open_p(&g));
	CHECK(llm_gate_decide(&g, 2) == EBUSY && llm_gate_open_p(&g));
	llm_gate_close(&g);
	CHECK(llm_gate_decide(&g, 0) == 0 && !llm_gate_open_p(&g));
	llm_gate_open(&g);
	CHECK(llm_gate_open_p(&g));
}

static void
test_fs_use(void)
{
	static const int ours = 0, theirs = 0;
	struct llm_aqm_cfg mine = { .magic = LLM_CFG_MAGIC };
	struct { uint32_t target, interval, flags; } codel = { 5000, 100000, 0 };

	CHECK(llm_fs_use(&ours, &ours, &mine) == LLM_FS_LIVE);
	CHECK(llm_fs_use(&ours, &ours, NULL) == LLM_FS_LIVE);
	CHECK(llm_fs_use(NULL, &ours, &mine) == LLM_FS_STALE);
	CHECK(llm_fs_use(&theirs, &ours, &mine) == LLM_FS_STALE);
	CHECK(llm_fs_use(&theirs, &ours, &codel) == LLM_FS_OTHER);
	CHECK(llm_fs_use(NULL, &ours, NULL) == LLM_FS_OTHER);
}

static void
test_aqm_parse(void)
{
	struct aqm_params d, out;
	struct llm_aqm_args a = { .ep_len = 112, .ep_min = 112, .fallback = -1 };

	aqm_params_defaults(&d, AQMLLM_FB_DUALPI2);
	CHECK(llm_aqm_parse(&a, &d, &out) == 0);
	CHECK(out.fb_id == AQMLLM_FB_DUALPI2 && out.limit_pkts == d.limit_pkts);
	a.fallback = AQMLLM_FB_CODEL;
	a.qsize = 80;
	CHECK(llm_aqm_parse(&a, &d, &out) == 0);
	CHECK(out.fb_id == AQMLLM_FB_CODEL && out.limit_pkts == 80);
	a.qsize_bytes = 1;
	a.qsize = 16384;
	CHECK(llm_aqm_parse(&a, &d, &out) == 0 && out.limit_pkts == d.limit_pkts);
	memset(&out, 0x5a, sizeof(out));
	a.qsize_bytes = 0;
	a.qsize = 1;			/* below the guard's minimum backlog */
	CHECK(llm_aqm_parse(&a, &d, &out) == EINVAL);
	CHECK(out.limit_pkts == 0x5a5a5a5a);	/* untouched on error */
	a.qsize = 0;
	a.fallback = AQMLLM_FB_COUNT;
	CHECK(llm_aqm_parse(&a, &d, &out) == EINVAL);
	a.fallback = -2;
	CHECK(llm_aqm_parse(&a, &d, &out) == EINVAL);
	a.fallback = -1;
	a.ep_len = 111;
	CHECK(llm_aqm_parse(&a, &d, &out) == EINVAL);
}

/* Finding 6: a read-only descriptor reads; only the daemon writes or maps. */
static void
test_ioctl_access(void)
{
	struct aqmllm_attach at = { AQMLLM_ABI_VERSION, 0 };
	unsigned nr;

	for (nr = AQMLLM_IOC_INFO_NR; nr <= AQMLLM_IOC_MAP_NR; nr++) {
		int reads = nr == AQMLLM_IOC_INFO_NR || nr == AQMLLM_IOC_STATS_NR;

		CHECK(llm_ioctl_access(nr, 1, 1) == 0);
		CHECK(llm_ioctl_access(nr, 1, 0) == (reads ? 0 : EBADF));
		CHECK(llm_ioctl_access(nr, 0, 1) == EBADF);
		CHECK(llm_ioctl_access(nr, 0, 0) == EBADF);
	}
	CHECK(llm_ioctl_access(0, 1, 1) == ENOTTY);
	CHECK(llm_ioctl_access(AQMLLM_IOC_MAP_NR + 1, 1, 1) == ENOTTY);
	CHECK(llm_ioctl_access(~0U, 1, 1) == ENOTTY);

	CHECK(llm_attach_decide(&at, LLM_OWNER_NONE) == 0);
	CHECK(llm_attach_decide(&at, LLM_OWNER_SELF) == 0);
	CHECK(llm_attach_decide(&at, LLM_OWNER_OTHER) == EBUSY);
	at.flags = 1;
	CHECK(llm_attach_decide(&at, LLM_OWNER_NONE) == EINVAL);
	at.flags = 0;
	at.abi_version = AQMLLM_ABI_VERSION + 1;
	CHECK(llm_attach_decide(&at, LLM_OWNER_NONE) == EPROGMISMATCH);
	CHECK(llm_detach_decide(LLM_OWNER_SELF) == 0);
	CHECK(llm_detach_decide(LLM_OWNER_OTHER) == EPERM);
	CHECK(llm_detach_decide(LLM_OWNER_NONE) == EPERM);
	CHECK(llm_map_decide(LLM_OWNER_SELF) == 0);
	CHECK(llm_map_decide(LLM_OWNER_OTHER) == EPERM);
	CHECK(llm_map_decide(LLM_OWNER_NONE) == EPERM);
}

static void
tun_init(struct llm_tunables *t)
{
	memset(t, 0, sizeof(*t));
	t->batch_size = 64;
	t->fallback = AQMLLM_FB_DUALPI2;
	t->verdict_timeout_us = 10000;
	t->ring_entries = 16384;
	t->limit_pkts = 10000;
	t->export_mode = AQMLLM_EXPORT_BOTH;
	t->interval_us = 0;
	aqm_params_defaults(&t->defaults, t->fallback);
	t->defaults.limit_pkts = t->limit_pkts;
}

/* Finding 7: every write checked against the whole set before it is kept. */
static void
test_tunables(void)
{
	struct llm_tunables t, before;
	const size_t tgt = offsetof(struct aqm_params, dualpi2.target_ns);
	const size_t k = offsetof(struct aqm_params, dualpi2.k);

	tun_init(&t);
	CHECK(llm_tun_valid(&t));
#define	REFUSED(call) do {						\
	before = t;							\
	CHECK((call) == EINVAL);					\
	CHECK(memcmp(&before, &t, sizeof(t)) == 0);			\
} while (0)
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_BATCH, 0));
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_BATCH, 16385));	/* > ring */
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_BATCH, 1ULL << 32));
	CHECK(llm_tun_set_u32(&t, LLM_TUN_BATCH, 16384) == 0 &&
	    t.batch_size == 16384);
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_TIMEOUT, 0));
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_TIMEOUT, LLM_TIMEOUT_US_MAX + 1));
	CHECK(llm_tun_set_u32(&t, LLM_TUN_TIMEOUT, LLM_TIMEOUT_US_MAX) == 0);
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_LIMIT, 1));	/* < guard minimum */
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_LIMIT, LLM_LIMIT_MAX + 1));
	CHECK(llm_tun_set_u32(&t, LLM_TUN_LIMIT, 2) == 0 &&
	    t.limit_pkts == 2 && t.defaults.limit_pkts == 2);
	REFUSED(llm_tun_set_u32(&t, 7, 1));
	CHECK(llm_tun_set_fallback(&t, "pie") == 0 &&
	    t.fallback == AQMLLM_FB_PIE && t.defaults.fb_id == AQMLLM_FB_PIE);
	REFUSED(llm_tun_set_fallback(&t, "PIE"));
	REFUSED(llm_tun_set_fallback(&t, ""));
	REFUSED(llm_tun_set_fallback(&t, "dualpi2 "));
	CHECK(llm_tun_set_param(&t, tgt, 1, 20000) == 0 &&
	    t.defaults.dualpi2.target_ns == 20000000ULL);
	REFUSED(llm_tun_set_param(&t, tgt, 1, 0));
	REFUSED(llm_tun_set_param(&t, tgt, 1, 1ULL << 32));
	REFUSED(llm_tun_set_param(&t, tgt + 1, 1, 1000));	/* misaligned */
	REFUSED(llm_tun_set_param(&t, sizeof(t.defaults), 0, 1));
	CHECK(llm_tun_set_param(&t, k, 0, 2) == 0);
	CHECK(llm_tun_valid(&t));
#undef REFUSED
}

/* The interval tier's sysctls (export, interval_us) follow the same rule. */
static void
test_interval_tunables(void)
{
	struct llm_tunables t, before;
	uint32_t m;

	tun_init(&t);
#define	REFUSED(call) do {						\
	before = t;							\
	CHECK((call) == EINVAL);					\
	CHECK(memcmp(&before, &t, sizeof(t)) == 0);			\
} while (0)
	CHECK(strcmp(llm_export_name(t.export_mode), "both") == 0);
	CHECK(llm_tun_set_export(&t, "intervals") == 0 &&
	    t.export_mode == AQMLLM_EXPORT_INTERVALS);
	CHECK(llm_tun_set_export(&t, "packets") == 0 &&
	    t.export_mode == AQMLLM_EXPORT_PACKETS);
	REFUSED(llm_tun_set_export(&t, "Intervals"));
	REFUSED(llm_tun_set_export(&t, "both "));
	REFUSED(llm_tun_set_export(&t, ""));
	REFUSED(llm_tun_set_export(&t, "none"));
	for (m = AQMLLM_EXPORT_PACKETS; m <= AQMLLM_EXPORT_BOTH; m++)
		CHECK(llm_export_name(m) != NULL);
	CHECK(llm_export_name(0) == NULL);
	CHECK(llm_export_name(AQMLLM_EXPORT_BOTH + 1) == NULL);
	CHECK(llm_export_name(UINT32_MAX) == NULL);
	/* 0 (each fallback's Tupdate) or 1 ms .. 1 s */
	CHECK(llm_tun_set_u32(&t, LLM_TUN_INTERVAL, 1000) == 0 &&
	    t.interval_us == 1000);
	CHECK(llm_tun_set_u32(&t, LLM_TUN_INTERVAL, 1000000) == 0);
	CHECK(llm_tun_set_u32(&t, LLM_TUN_INTERVAL, 0) == 0 &&
	    t.interval_us == 0);
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_INTERVAL, 999));
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_INTERVAL, 1000001));
	REFUSED(llm_tun_set_u32(&t, LLM_TUN_INTERVAL, 1ULL << 32));
	/* a set whose export or interval the ring would refuse is invalid */
	before = t;
	t.export_mode = 0;
	CHECK(!llm_tun_valid(&t));
	t = before;
	t.interval_us = 500;
	CHECK(!llm_tun_valid(&t));
	t = before;
	CHECK(llm_tun_valid(&t));
	/* the other writes keep the interval settings */
	CHECK(llm_tun_set_export(&t, "intervals") == 0 &&
	    llm_tun_set_u32(&t, LLM_TUN_INTERVAL, 16000) == 0 &&
	    llm_tun_set_fallback(&t, "codel") == 0 &&
	    llm_tun_set_u32(&t, LLM_TUN_BATCH, 128) == 0 &&
	    t.export_mode == AQMLLM_EXPORT_INTERVALS && t.interval_us == 16000);
#undef REFUSED
}

int
main(void)
{
	test_load_unload();
	test_failed_load_then_unload();
	test_unload_refused_while_used();
	test_unregistration_refused();
	test_sched_config_slips_in();
	test_gate();
	test_fs_use();
	test_aqm_parse();
	test_ioctl_access();
	test_tunables();
	test_interval_tunables();
	test_glue_queue();
	printf("%d passed, %d failed\n", checks - failures, failures);
	return (failures != 0);
}
