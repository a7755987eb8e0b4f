/*
 * The bottleneck event log: one row per packet outcome at the queue, written
 * identically by the ns-3 harness (sim/ns3/aqmllm_ns3.h, QdiscLog) and the
 * emulator's router (sim/emu/emu_router.c), read by Python through cffi
 * (sim/evlog.py derives its numpy dtypes from these structs).
 *
 * Every packet that reaches the queue gets exactly one outcome row:
 *
 *   AQMLLM_EV_SERVED     left the queue onto the link, unmarked by this queue
 *   AQMLLM_EV_MARKED     left the queue onto the link with CE set by this queue
 *   AQMLLM_EV_DROP_TAIL  refused at enqueue: the queue (or its limit) was full
 *   AQMLLM_EV_DROP_ENQ   refused at enqueue by the AQM's decision
 *   AQMLLM_EV_DROP_DEQ   dropped by the AQM after it left the FIFO
 *
 * so arrivals = rows, loss = drop rows / rows and the delay of the queue is
 * the sojourn of the served (SERVED, MARKED) rows only.
 *
 * File: an aqmllm_evlog_hdr, then rows, then (written on close) the flow
 * table and an aqmllm_evlog_tail.  A log whose writer died has no tail;
 * its whole rows still read.  Little-endian, as written by the host.
 */
#ifndef AQMLLM_EVLOG_H
#define AQMLLM_EVLOG_H

#ifndef AQMLLM_CDEF
#include <stdint.h>
#include <stdio.h>
#endif

#define AQMLLM_EVLOG_MAGIC	0x56455141u	/* "AQEV" */
#define AQMLLM_EVLOG_TAIL_MAGIC	0x54455141u	/* "AQET" */
#define AQMLLM_EVLOG_VERSION	1

#define AQMLLM_EV_SERVED	0
#define AQMLLM_EV_MARKED	1
#define AQMLLM_EV_DROP_TAIL	2
#define AQMLLM_EV_DROP_ENQ	3
#define AQMLLM_EV_DROP_DEQ	4
#define AQMLLM_EV_COUNT		5

#define AQMLLM_EVLOG_NO_FLOW	0xffffffffu	/* not IPv4 TCP/UDP */

struct aqmllm_evlog_hdr {
	uint32_t magic;		/* AQMLLM_EVLOG_MAGIC */
	uint16_t version;	/* AQMLLM_EVLOG_VERSION */
	uint16_t row_size;	/* sizeof(struct aqmllm_evrow) */
	uint16_t flow_size;	/* sizeof(struct aqmllm_evflow) */
	uint16_t hdr_size;	/* sizeof(struct aqmllm_evlog_hdr) */
	uint32_t reserved;
	uint64_t t0_ns;		/* the writer's clock at row time 0 */
};

struct aqmllm_evrow {
	uint64_t t_ns;		/* outcome time, since t0_ns */
	uint64_t sojourn_ns;	/* time in the queue; 0 for enqueue drops */
	uint32_t bytes;		/* IP packet length */
	uint32_t flow;		/* index into the flow table, or _NO_FLOW */
	uint8_t event;		/* AQMLLM_EV_* */
	uint8_t cls;		/* arrival class: 1 L (ECT(1) or CE), 0 C */
	uint8_t ecn;		/* AQMLLM_ECN_* codepoint on arrival */
	uint8_t src;		/* decision source (AQM_SRC_* of the core), 0 unknown */
	uint32_t pad;
};

/* A transport flow: the 5-tuple in network byte order as on the wire. */
struct aqmllm_evflow {
	uint32_t saddr;
	uint32_t daddr;
	uint16_t sport;
	uint16_t dport;
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP */
	uint8_t pad[3];
};

struct aqmllm_evlog_tail {
	uint64_t rows;
	uint64_t flows;
	uint32_t magic;		/* AQMLLM_EVLOG_TAIL_MAGIC */
	uint32_t pad;
};

#ifndef AQMLLM_CDEF
/* The writer: rows stream to the file; flows are numbered as first seen. */
struct aqmllm_evlog {
	FILE *f;
	uint64_t t0_ns;
	uint64_t rows;
	struct aqmllm_evflow *flows;
	uint32_t nflows, cap;
	uint32_t *slots;	/* open addressing: flow index + 1, 0 empty */
	uint32_t nslots;
	int error;		/* a write or allocation failed */
};
#endif

/* Every function returns 0 or -1 (errno set); the row functions are no-ops
 * on a log that was never opened. */
int	aqmllm_evlog_open(struct aqmllm_evlog *log, const char *path, uint64_t t0_ns);
int	aqmllm_evlog_close(struct aqmllm_evlog *log);
/* The flow index of a 5-tuple, numbered in order of first appearance. */
uint32_t aqmllm_evlog_flow(struct aqmllm_evlog *log, const struct aqmllm_evflow *key);
/* The 5-tuple of an IPv4 packet; -1 when it is not IPv4 TCP/UDP. */
int	aqmllm_evlog_key(const uint8_t *ip, size_t len, struct aqmllm_evflow *key);
/* The class a codepoint arrives in: 1 (L) for ECT(1) and CE, else 0. */
uint8_t	aqmllm_evlog_class(uint8_t ecn);
/* One outcome row; now_ns and enq_ns on the writer's clock. */
int	aqmllm_evlog_row(struct aqmllm_evlog *log, uint64_t now_ns, uint64_t enq_ns,
	    uint32_t bytes, uint32_t flow, uint8_t event, uint8_t ecn, uint8_t src);
/* One outcome row of a raw IPv4 packet (its flow and length from the header). */
int	aqmllm_evlog_packet(struct aqmllm_evlog *log, uint64_t now_ns, uint64_t enq_ns,
	    const uint8_t *ip, size_t len, uint8_t event, uint8_t ecn, uint8_t src);

#endif /* AQMLLM_EVLOG_H */
