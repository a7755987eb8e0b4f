/*
 * Memory of the FreeBSD glue's queues, measured through the glue itself
 * (llm_fifo.c with an allocator that counts bytes), against what the
 * module allocated before storage grew by need: 2 x aqm_fifo_cap(limit)
 * slots per queue at its first packet.  Prints `name: value` lines.
 *
 *   bench_kmod_fifo
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_glue.h"

static size_t live;

static void *
count_alloc(size_t bytes, void *ctx)
{
	size_t *b = malloc(sizeof(*b) + bytes);

	(void)ctx;
	if (b == NULL)
		return (NULL);
	*b = bytes;
	live += bytes;
	return (b + 1);
}

static void
count_free(void *p, size_t bytes, void *ctx)
{
	(void)ctx;
	live -= bytes;
	free((size_t *)p - 1);
}

static const struct llm_mem mem = { count_alloc, count_free, NULL };

static void
queue_new(struct aqm_queue *q, uint32_t limit)
{
	struct aqm_params par;

	/* CoDel: no enqueue-time drop, so every arrival below is queued. */
	aqm_params_defaults(&par, AQMLLM_FB_CODEL);
	par.limit_pkts = limit;
	if (aqm_queue_init(q, 0, &par, 1, 1000) != 0)
		exit(1);
}

static void
arrive(struct aqm_queue *q, uint8_t ecn, uint32_t n)
{
	struct aqm_pkt p;

	while (n-- > 0) {
		memset(&p, 0, sizeof(p));
		p.len = 1500;
		p.ecn = ecn;
		(void)llm_fifo_make_room(q, aqm_class_of(ecn), &mem);
		(void)aqm_enqueue(q, NULL, &p, 1000);
	}
}

static size_t
done(struct aqm_queue *q)
{
	struct aqm_pkt out;
	size_t held = llm_fifo_bytes(q);

	while (aqm_flush(q, NULL, &out))
		;
	llm_fifo_release(q, &mem);
	return (held);
}

/* Bytes held after n_l L and n_c Classic arrivals, none gone. */
static size_t
held_after(uint32_t limit, uint32_t n_l, uint32_t n_c)
{
	struct aqm_queue q;

	queue_new(&q, limit);
	arrive(&q, AQMLLM_ECN_ECT1, n_l);
	arrive(&q, AQMLLM_ECN_NOT_ECT, n_c);
	return (done(&q));
}

/* The most a queue can hold: each class filled to the limit in turn. */
static size_t
held_worst(uint32_t limit)
{
	struct aqm_queue q;
	struct aqm_pkt out;

	queue_new(&q, limit);
	arrive(&q, AQMLLM_ECN_ECT1, limit);
	while (aqm_flush(&q, NULL, &out))
		;
	arrive(&q, AQMLLM_ECN_NOT_ECT, limit);
	return (done(&q));
}

int
main(void)
{
	static const uint32_t limits[] = { 50, 100, 10000, 1U << 20 };
	size_t i;

	printf("fifo_slot_bytes: %zu\n", sizeof(struct aqm_pkt));
	printf("queue_bytes_at_setup: %zu\n", held_after(100, 0, 0));
	printf("queue_bytes_after_one_packet: %zu\n", held_after(100, 1, 0));
	printf("queue_bytes_after_both_classes: %zu\n", held_after(100, 1, 1));
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		uint32_t lim = limits[i];

		printf("limit_%u_bytes_one_class_full: %zu\n", lim,
		    held_after(lim, 0, lim));
		printf("limit_%u_bytes_worst: %zu\n", lim, held_worst(lim));
		/* What the module allocated at each queue's first packet before. */
		printf("limit_%u_bytes_fixed_before: %zu\n", lim,
		    2 * (size_t)aqm_fifo_cap(lim) * sizeof(struct aqm_pkt));
	}
	return (live != 0);
}
