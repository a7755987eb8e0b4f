/*
 * emu-router's parts (see emu_router.c): the state they share and what
 * each file offers the others.
 *
 *   emu_router.c  options, set-up, the event loop, control
 *   emu_path.c    the packet path: buffers, the AQM queue, the link, delay lines
 *   emu_ip.c      IP headers: parsing, ECN (CE) rewriting with checksums
 *   emu_stats.c   statistics, the per-packet log, soak diagnostics
 */
#ifndef EMU_H
#define EMU_H

#include <linux/if.h>
#include <stdio.h>

#include "aqm_shm.h"
#include "aqmllm_evlog.h"

#define	PKT_MAX		2048
#define	MAX_HOSTS	64
#define	READ_BURST	64
#define	TICK_NS		(1000 * 1000ULL)	/* counters, liveness */
#define	LATE_SLACK_NS	(2 * 1000 * 1000ULL)	/* link credit after a late wake */
#define	MAX_TRANS	256
#define	MAX_GAPS	64			/* longest service gaps kept */
#define	GAP_REPORT_NS	(10 * 1000 * 1000ULL)	/* gaps longer than this are kept */
#define	DIR_FWD		0
#define	DIR_REV		1

struct pbuf {
	struct pbuf *next;
	uint64_t release_ns;
	uint32_t len;
	uint8_t data[PKT_MAX];
};

struct plist {
	struct pbuf *head, *tail;
	uint32_t n;
};

struct host {
	uint32_t addr;		/* network order */
	uint64_t delay_ns;
};

struct trans {
	uint64_t t_ns;
	int alive;
};

/*
 * A time the link idled with packets queued, and where the router's time
 * went just before it: asleep past the wake-up it asked for (the kernel or
 * the hypervisor did not run it) or busy in its own loop.
 */
struct gap {
	uint64_t t_ns, gap_ns, oversleep_ns, work_ns;
};

struct emu {
	int fd[2];
	char name[2][IFNAMSIZ];
	uint64_t rate_bps;
	uint64_t delay_ns;
	struct host hosts[MAX_HOSTS];
	uint32_t nhosts;
	struct plist line[2][MAX_HOSTS + 1];	/* delay lines per dir, host */
	struct aqm_pkt *slots[2];		/* the core's FIFO storage */
	struct pbuf *pool, *free_list;
	uint32_t pool_size, in_use, max_in_use;
	struct aqm_queue q;
	struct aqm_shm shm;
	struct aqm_ring *ring;
	const char *ring_path;
	struct aqmllm_evlog evlog;	/* --log; f == NULL: none */
	const char *stats_path;
	uint64_t t0_ns, link_free_ns, last_tick_ns;
	uint64_t max_gap_ns;
	int backlogged;			/* the link had work at link_free_ns */
	uint64_t oversleep_ns, work_ns;	/* of the last loop iteration */
	uint64_t max_stats_ns;		/* the slowest write_stats */
	struct gap gaps[MAX_GAPS];
	uint32_t ngaps;
	uint64_t gaps_total;
	int alive;
	struct trans trans[MAX_TRANS];
	uint32_t ntrans;
	/* counters */
	uint64_t rx[2], tx[2], rx_bytes[2], tx_bytes[2];
	uint64_t aqm_drops, tail_drops, marks, pool_drops, bad_pkts;
	uint64_t write_errors, read_errors, rate_changes;
	uint64_t lost_fwd;	/* forward packets lost outside the AQM */
};

extern struct emu E;

/* Packets the core holds in a class FIFO. */
static inline uint32_t
queued(int cls)
{
	return (aqm_fifo_len(&E.q.fifo[cls]));
}

/* emu_path.c */
int	pool_init(uint32_t n);
void	rx(int side, uint64_t now);
void	serve(uint64_t now);
uint64_t release(uint64_t now);

/* emu_ip.c */
int	parse(const uint8_t *p, uint32_t len, int dir, uint8_t *ecn,
	    uint32_t *hash, uint32_t *baddr);
void	set_ce(uint8_t *p, uint32_t len);
int	ip_selftest(void);

/* emu_stats.c: the per-packet event log, statistics, diagnostics */
void	log_event(uint64_t now, uint64_t enq_ns, const struct pbuf *b,
	    uint8_t ecn, uint8_t src, int ev);
void	write_stats(uint64_t now);
void	note_alive(uint64_t now);
void	note_gap(uint64_t now, uint64_t gap);

#endif /* EMU_H */
