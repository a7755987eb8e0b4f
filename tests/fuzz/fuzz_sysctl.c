/*
 * libFuzzer target: net.inet.ip.dummynet.llm.* writes as the kernel
 * checks them (kmod/freebsd/llm_tun.c).  Any sequence of writes, of any
 * value, to any tunable (the interval length included), the fallback or
 * export mode by name, or any fallback parameter offset: after each, the
 * set is valid and accepted by the ring (batch, timeout, export mode and
 * interval) and the core; a refused write changed nothing; an accepted
 * one reads back.
 */
#include <stdlib.h>
#include <string.h>

#include "llm_glue.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
tun_boot(struct llm_tunables *t, uint32_t ring_entries)
{
	memset(t, 0, sizeof(*t));
	t->batch_size = 64;
	t->fallback = AQMLLM_FB_DUALPI2;
	t->verdict_timeout_us = 10000;
	t->ring_entries = ring_entries;
	t->limit_pkts = 10000;
	t->export_mode = AQMLLM_EXPORT_BOTH;
	t->interval_us = 0;
	aqm_params_defaults(&t->defaults, t->fallback);
	t->defaults.limit_pkts = t->limit_pkts;
}

static const char *
fallback_name(uint8_t n)
{
	return (aqm_alg_by_id(n % AQMLLM_FB_COUNT)->name);
}

static const char *
export_name(uint8_t n)
{
	return (llm_export_name(AQMLLM_EXPORT_PACKETS + n % 3));
}

/* A name a sysctl write brings: one it knows (known(n)), or any bytes. */
static void
take_name(struct fin *f, uint8_t op, char *name, size_t size,
    const char *(*known)(uint8_t))
{
	uint8_t n = take_u8(f) % size, i;

	if (op & 0x40) {
		for (i = 0; i < n; i++)
			name[i] = (char)take_u8(f);
		name[n] = '\0';
	} else
		strcpy(name, known(n));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t priv[8192];
	static unsigned char region[131072];
	struct fin f = { data, size, 0 };
	struct llm_tunables t, before;
	char name[24];
	struct aqm_queue q;
	struct aqm_ring ring;
	uint32_t entries = AQMLLM_MIN_ENTRIES << (take_u8(&f) % 3);
	const struct aqm_geom g = { entries, entries, 0, 1 };

	tun_boot(&t, entries);
	FUZZ_ASSERT(aqm_region_size(&g) <= sizeof(region) &&
	    aqm_ring_private_size(&g) <= sizeof(priv));
	FUZZ_ASSERT(aqm_ring_init(&ring, region, sizeof(region), &g, priv,
	    sizeof(priv)) == 0);
	while (fin_left(&f)) {
		uint8_t op = take_u8(&f);
		uint64_t v = op & 0x80 ? take_u64(&f) : take_u32(&f) % 70000;
		int error;

		before = t;
		switch (op % 4) {
		case 0: {
			int which = (op >> 2) % 5;	/* 4: no such tunable */

			if (which == LLM_TUN_INTERVAL && !(op & 0x80))
				v = (v % 1100) * 1000;	/* near the range */
			error = llm_tun_set_u32(&t, which, v);
			if (error == 0)
				FUZZ_ASSERT(which == LLM_TUN_BATCH ?
				    t.batch_size == v :
				    which == LLM_TUN_TIMEOUT ?
				    t.verdict_timeout_us == v :
				    which == LLM_TUN_INTERVAL ?
				    t.interval_us == v : t.limit_pkts == v);
			if (which > LLM_TUN_INTERVAL)
				FUZZ_ASSERT(error == EINVAL);
			break;
		}
		case 1:
			take_name(&f, op, name, sizeof(name), fallback_name);
			error = llm_tun_set_fallback(&t, name);
			if (error == 0)
				FUZZ_ASSERT(strcmp(name,
				    aqm_alg_by_id(t.fallback)->name) == 0);
			break;
		case 2:
			take_name(&f, op, name, sizeof(name), export_name);
			error = llm_tun_set_export(&t, name);
			if (error == 0)
				FUZZ_ASSERT(strcmp(name,
				    llm_export_name(t.export_mode)) == 0);
			break;
		default:
			error = llm_tun_set_param(&t,
			    take_u8(&f) % (sizeof(t.defaults) + 8),
			    (op >> 2) & 1, v);
			break;
		}
		if (error != 0)
			FUZZ_ASSERT(memcmp(&before, &t, sizeof(t)) == 0);
		FUZZ_ASSERT(llm_tun_valid(&t));
		/* What the handler publishes, the ring and a new queue accept. */
		FUZZ_ASSERT(aqm_ring_configure(&ring, t.batch_size,
		    (uint64_t)t.verdict_timeout_us * 1000) == 0);
		FUZZ_ASSERT(aqm_ring_set_export(&ring, t.export_mode,
		    (uint64_t)t.interval_us * 1000) == 0);
		FUZZ_ASSERT(aqm_queue_init(&q, 0, &t.defaults, 1, 0) == 0);
	}
	return (0);
}
