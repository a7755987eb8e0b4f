/*
 * emu-router's packet path: the buffer pool, the forward direction through
 * the core's queue and the link of the configured rate, the delay lines of
 * both directions, and the TUN reads and writes at their ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu.h"

static void
pl_push(struct plist *l, struct pbuf *b)
{
	b->next = NULL;
	if (l->tail != NULL)
		l->tail->next = b;
	else
		l->head = b;
	l->tail = b;
	l->n++;
}

static struct pbuf *
pl_pop(struct plist *l)
{
	struct pbuf *b = l->head;

	if (b == NULL)
		return (NULL);
	l->head = b->next;
	if (l->head == NULL)
		l->tail = NULL;
	l->n--;
	return (b);
}

static struct pbuf *
pbuf_get(void)
{
	struct pbuf *b = E.free_list;

	if (b == NULL)
		return (NULL);
	E.free_list = b->next;
	if (++E.in_use > E.max_in_use)
		E.max_in_use = E.in_use;
	return (b);
}

static void
pbuf_put(struct pbuf *b)
{
	b->next = E.free_list;
	E.free_list = b;
	E.in_use--;
}

int
pool_init(uint32_t n)
{
	uint32_t i;

	E.pool_size = n;
	E.pool = calloc(n, sizeof(*E.pool));
	if (E.pool == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		E.pool[i].next = E.free_list;
		E.free_list = &E.pool[i];
	}
	return (0);
}

static uint32_t
host_index(uint32_t addr)
{
	uint32_t i;

	for (i = 0; i < E.nhosts; i++)
		if (E.hosts[i].addr == addr)
			return (i + 1);
	return (0);
}

static uint64_t
host_delay(uint32_t idx)
{
	return (idx == 0 ? E.delay_ns : E.hosts[idx - 1].delay_ns);
}

static void
arrive(struct pbuf *b, int dir, uint64_t now)
{
	struct aqm_pkt p;
	uint32_t addr, hash;
	uint8_t ecn;
	int act;

	if (parse(b->data, b->len, dir, &ecn, &hash, &addr) != 0) {
		E.bad_pkts++;
		if (dir == DIR_FWD)
			E.lost_fwd++;
		pbuf_put(b);
		return;
	}
	if (dir == DIR_REV) {
		uint32_t hi = host_index(addr);

		b->release_ns = now + host_delay(hi);
		pl_push(&E.line[DIR_REV][hi], b);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.len = b->len;
	p.ecn = ecn;
	p.flow_hash = hash;
	p.item = b;
	act = aqm_enqueue(&E.q, E.ring, &p, now);
	if (act != AQMLLM_ACT_PASS) {
		if (p.src == AQM_SRC_LIMIT)
			E.tail_drops++;
		else
			E.aqm_drops++;
		log_event(now, 0, b, p.ecn, p.src, p.src == AQM_SRC_LIMIT ?
		    AQMLLM_EV_DROP_TAIL : AQMLLM_EV_DROP_ENQ);
		pbuf_put(b);
		return;
	}
	/* The link was idle: service starts now, not at an old link_free. */
	if (queued(0) + queued(1) == 1 && E.link_free_ns < now)
		E.link_free_ns = now;
}

/* Serve the bottleneck: every packet whose turn on the link has come. */
void
serve(uint64_t now)
{
	struct aqm_pkt p;
	struct pbuf *b;
	uint64_t start, tx_ns;
	uint32_t addr, hash, hi;
	uint8_t ecn;
	int cls, act;

	while (E.link_free_ns <= now) {
		cls = aqm_select(&E.q, now);
		if (cls < 0)
			break;
		act = aqm_dequeue(&E.q, E.ring, cls, now, &p);
		b = p.item;
		if (act == AQMLLM_ACT_DROP) {
			E.aqm_drops++;
			log_event(now, p.enq_ns, b, p.ecn, p.src, AQMLLM_EV_DROP_DEQ);
			pbuf_put(b);
			continue;
		}
		if (act == AQMLLM_ACT_MARK) {
			set_ce(b->data, b->len);
			E.marks++;
			log_event(now, p.enq_ns, b, p.ecn, p.src, AQMLLM_EV_MARKED);
		} else
			log_event(now, p.enq_ns, b, p.ecn, p.src, AQMLLM_EV_SERVED);
		/* Keep the link's credit after a late wakeup, within limits. */
		start = now - E.link_free_ns <= LATE_SLACK_NS ? E.link_free_ns :
		    now;
		if (start > E.link_free_ns && E.backlogged)
			note_gap(now, start - E.link_free_ns);
		tx_ns = (uint64_t)b->len * 8 * 1000000000ULL / E.rate_bps;
		E.link_free_ns = start + tx_ns;
		(void)parse(b->data, b->len, DIR_FWD, &ecn, &hash, &addr);
		hi = host_index(addr);
		b->release_ns = E.link_free_ns + host_delay(hi);
		pl_push(&E.line[DIR_FWD][hi], b);
	}
	E.backlogged = queued(0) + queued(1) > 0;
	if (E.ring != NULL)
		(void)aqm_ring_take_wakeup(E.ring);
}

/* Deliver what left the delay lines; returns the next release time. */
uint64_t
release(uint64_t now)
{
	struct pbuf *b;
	uint64_t next = UINT64_MAX;
	uint32_t d, h;
	ssize_t n;

	for (d = 0; d < 2; d++) {
		for (h = 0; h <= E.nhosts; h++) {
			struct plist *l = &E.line[d][h];

			while ((b = l->head) != NULL && b->release_ns <= now) {
				pl_pop(l);
				/* A forward packet goes out on B, a reverse one on A. */
				n = write(E.fd[d == DIR_FWD ? 1 : 0], b->data,
				    b->len);
				if (n == (ssize_t)b->len) {
					E.tx[d]++;
					E.tx_bytes[d] += b->len;
				} else {
					E.write_errors++;
					if (d == DIR_FWD)
						E.lost_fwd++;
				}
				pbuf_put(b);
			}
			if (b != NULL && b->release_ns < next)
				next = b->release_ns;
		}
	}
	return (next);
}

void
rx(int side, uint64_t now)
{
	struct pbuf *b;
	ssize_t n;
	int i;

	for (i = 0; i < READ_BURST; i++) {
		b = pbuf_get();
		if (b == NULL) {
			/* No buffer: read it to keep the TUN queue moving, drop it. */
			static uint8_t sink[PKT_MAX];

			n = read(E.fd[side], sink, sizeof(sink));
			if (n <= 0)
				return;
			E.rx[side]++;
			E.pool_drops++;
			if (side == 0)
				E.lost_fwd++;
			continue;
		}
		n = read(E.fd[side], b->data, sizeof(b->data));
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				E.read_errors++;
			pbuf_put(b);
			return;
		}
		b->len = (uint32_t)n;
		E.rx[side]++;
		E.rx_bytes[side] += (uint64_t)n;
		/* Side A sends forward (through the AQM), side B reverse. */
		arrive(b, side == 0 ? DIR_FWD : DIR_REV, now);
	}
}
