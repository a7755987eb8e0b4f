/*
 * Helpers shared by the emulator's traffic generators (web client/server,
 * Prague-like sender/receiver): clock, argument parsing, priority.
 * Static inline: each generator is one small binary.
 */
#ifndef AQMLLM_GEN_COMMON_H
#define AQMLLM_GEN_COMMON_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns: the router's clock, shared by every namespace. */
static inline uint64_t
gen_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* An unsigned integer in [lo, hi], or exit 2 naming the option. */
static inline uint64_t
gen_parse_u64(const char *prog, const char *what, const char *s, uint64_t lo,
    uint64_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo ||
	    v > hi) {
		fprintf(stderr, "%s: %s: '%s' is not an integer in [%llu, %llu]\n",
		    prog, what, s, (unsigned long long)lo, (unsigned long long)hi);
		exit(2);
	}
	return ((uint64_t)v);
}

/* A finite real number in [lo, hi], or exit 2 naming the option. */
static inline double
gen_parse_f64(const char *prog, const char *what, const char *s, double lo,
    double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "%s: %s: '%s' is not a number in [%g, %g]\n", prog,
		    what, s, lo, hi);
		exit(2);
	}
	return (v);
}

/* ECN codepoint names as the scenario files spell them. */
static inline int
gen_parse_ecn(const char *s)
{
	if (strcmp(s, "not-ect") == 0)
		return (0);
	if (strcmp(s, "ect1") == 0)
		return (1);
	if (strcmp(s, "ect0") == 0)
		return (2);
	return (-1);
}

/*
 * Short sleeps must be short (1 us timer slack) and, with a priority, the
 * generator is not run behind bulk processes on a loaded machine: its
 * timestamps and its pacing are then the network's, not the scheduler's.
 * Refused (no root): a warning, and normal priority.
 */
static inline void
gen_realtime(const char *prog, int prio)
{
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	if (prio > 0) {
		struct sched_param sp = { .sched_priority = prio };

		if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
			fprintf(stderr, "%s: --rt-priority %d refused (%s); "
			    "running at normal priority\n", prog, prio,
			    strerror(errno));
	}
}

/* As many descriptors as the hard limit allows (many short connections). */
static inline void
gen_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

#endif /* AQMLLM_GEN_COMMON_H */
