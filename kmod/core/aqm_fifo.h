/*
 * The per-class packet FIFO of a queue.  The core keeps each queued
 * packet's metadata in order here, so that callers neither keep a second
 * FIFO in step nor tell the core about their heads; the packet itself
 * stays with the caller (an mbuf, an emulator buffer, an ns-3 item) and is
 * named by aqm_pkt.item.
 *
 * The storage is the caller's: an array of a power-of-two number of slots
 * (at most AQM_FIFO_MAX_CAP), given to a queue with aqm_queue_storage().
 * A full FIFO tail-drops.  A caller that wants small queues to stay small
 * starts with a few slots and, before an enqueue that finds its class full
 * (aqm_fifo_full), hands over a larger array: the queued entries move.
 * aqm_fifo_cap() is the fixed capacity that never fills below a limit.
 */
#ifndef AQM_FIFO_H
#define AQM_FIFO_H

#include "aqm_types.h"

#define	AQM_FIFO_MAX_CAP	(1U << 20)	/* = the largest queue limit */

/* Per-packet metadata, kept in the FIFO of its class. */
struct aqm_pkt {
	uint64_t seq;		/* record seq, 0 if none was exported */
	uint64_t enq_ns;
	uint32_t len;
	uint32_t flow_hash;
	uint8_t ecn;		/* codepoint at enqueue */
	uint8_t cls;		/* AQMLLM_CLASS_*, set by aqm_enqueue */
	uint8_t fb_action;	/* fallback's enqueue-time decision (PIE) */
	uint8_t src;		/* AQM_SRC_* of the last decision */
	uint32_t reserved;
	void *item;		/* the caller's packet; the core never follows it */
};

struct aqm_fifo {
	struct aqm_pkt *slot;	/* cap entries of caller memory */
	uint32_t head, tail;	/* free-running: tail - head entries queued */
	uint32_t cap;		/* a power of two; 0: no storage yet */
	uint32_t pad;
};

#ifndef AQMLLM_CDEF

static inline uint32_t
aqm_fifo_len(const struct aqm_fifo *f)
{
	return (f->tail - f->head);
}

static inline int
aqm_fifo_full(const struct aqm_fifo *f)
{
	return (f->tail - f->head >= f->cap);
}

/* The oldest entry, or NULL. */
static inline const struct aqm_pkt *
aqm_fifo_head(const struct aqm_fifo *f)
{
	return (f->head == f->tail ? NULL : &f->slot[f->head & (f->cap - 1)]);
}

/* Append p; the caller has checked that the FIFO is not full. */
static inline void
aqm_fifo_push(struct aqm_fifo *f, const struct aqm_pkt *p)
{
	f->slot[f->tail++ & (f->cap - 1)] = *p;
}

/* Remove the oldest entry into *out; the caller has checked it exists. */
static inline void
aqm_fifo_pop(struct aqm_fifo *f, struct aqm_pkt *out)
{
	*out = f->slot[f->head++ & (f->cap - 1)];
}

#endif /* !AQMLLM_CDEF */

/* The capacity that never fills before a queue limit: a power of two. */
uint32_t aqm_fifo_cap(uint32_t limit_pkts);

#endif /* AQM_FIFO_H */
