/*
 * The checks of the glue tests (test_glue.c and its companions): one line
 * per failed check, counted; main() reports and fails if any did.
 */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <stdio.h>

extern int failures, checks;

#define	CHECK(cond) do {						\
	checks++;							\
	if (!(cond)) {							\
		failures++;						\
		printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);	\
	}								\
} while (0)

/* The FIFO growth and admission tests (test_glue_queue.c). */
void	test_glue_queue(void);

#endif /* TEST_CHECK_H */
