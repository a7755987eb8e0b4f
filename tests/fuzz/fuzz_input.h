/*
 * Reading a fuzzer's input as a stream of integers: every take_*() past
 * the end returns 0, so any input is a complete script.
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fin {
	const uint8_t	*p;
	size_t		n, pos;
};

static inline int
fin_left(const struct fin *f)
{
	return (f->pos < f->n);
}

static inline uint64_t
fin_take(struct fin *f, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < bytes; i++) {
		v |= (uint64_t)(f->pos < f->n ? f->p[f->pos] : 0) << (8 * i);
		f->pos++;
	}
	return (v);
}

#define	take_u8(f)	((uint8_t)fin_take((f), 1))
#define	take_u16(f)	((uint16_t)fin_take((f), 2))
#define	take_u32(f)	((uint32_t)fin_take((f), 4))
#define	take_u64(f)	(fin_take((f), 8))

/* A violated invariant is a finding: abort, so libFuzzer keeps the input. */
#define	FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "invariant violated: %s (%s:%d)\n",	\
		    #cond, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

#endif /* FUZZ_INPUT_H */
