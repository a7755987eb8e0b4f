/*
 * The event-log writer shared by the ns-3 harness and the emulator's router
 * (format: aqmllm_evlog.h).  Plain C11 and stdio: it runs in user space only.
 */
#include "aqmllm_evlog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define	IPPROTO_TCP_	6
#define	IPPROTO_UDP_	17

static int
put(struct aqmllm_evlog *log, const void *p, size_t size)
{
	if (fwrite(p, size, 1, log->f) != 1) {
		log->error = 1;
		return (-1);
	}
	return (0);
}

int
aqmllm_evlog_open(struct aqmllm_evlog *log, const char *path, uint64_t t0_ns)
{
	struct aqmllm_evlog_hdr h;

	memset(log, 0, sizeof(*log));
	log->f = fopen(path, "wb");
	if (log->f == NULL)
		return (-1);
	setvbuf(log->f, NULL, _IOFBF, 1 << 20);
	log->t0_ns = t0_ns;
	memset(&h, 0, sizeof(h));
	h.magic = AQMLLM_EVLOG_MAGIC;
	h.version = AQMLLM_EVLOG_VERSION;
	h.row_size = sizeof(struct aqmllm_evrow);
	h.flow_size = sizeof(struct aqmllm_evflow);
	h.hdr_size = sizeof(struct aqmllm_evlog_hdr);
	h.t0_ns = t0_ns;
	return (put(log, &h, sizeof(h)));
}

int
aqmllm_evlog_close(struct aqmllm_evlog *log)
{
	struct aqmllm_evlog_tail t;
	int rc = 0;

	if (log->f == NULL)
		return (0);
	if (log->nflows > 0 &&
	    fwrite(log->flows, sizeof(log->flows[0]), log->nflows, log->f) != log->nflows)
		log->error = 1;
	memset(&t, 0, sizeof(t));
	t.rows = log->rows;
	t.flows = log->nflows;
	t.magic = AQMLLM_EVLOG_TAIL_MAGIC;
	(void)put(log, &t, sizeof(t));
	if (fclose(log->f) != 0)
		log->error = 1;
	if (log->error) {
		errno = errno ? errno : EIO;
		rc = -1;
	}
	free(log->flows);
	free(log->slots);
	memset(log, 0, sizeof(*log));
	return (rc);
}

static uint32_t
key_hash(const struct aqmllm_evflow *k)
{
	uint64_t h = ((uint64_t)k->saddr << 32 | k->daddr) * 0x9e3779b97f4a7c15ULL;

	h ^= ((uint64_t)k->sport << 24 | (uint64_t)k->dport << 8 | k->proto) *
	    0xc2b2ae3d27d4eb4fULL;
	return ((uint32_t)(h ^ h >> 29));
}

static int
same_key(const struct aqmllm_evflow *a, const struct aqmllm_evflow *b)
{
	return (a->saddr == b->saddr && a->daddr == b->daddr && a->sport == b->sport &&
	    a->dport == b->dport && a->proto == b->proto);
}

/* Rebuild the index with twice the slots (kept at most half full). */
static int
grow(struct aqmllm_evlog *log)
{
	uint32_t n = log->nslots ? log->nslots * 2 : 1024, i, j;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (slots == NULL)
		return (-1);
	for (i = 0; i < log->nflows; i++) {
		for (j = key_hash(&log->flows[i]) & (n - 1); slots[j] != 0; j = (j + 1) & (n - 1))
			;
		slots[j] = i + 1;
	}
	free(log->slots);
	log->slots = slots;
	log->nslots = n;
	return (0);
}

uint32_t
aqmllm_evlog_flow(struct aqmllm_evlog *log, const struct aqmllm_evflow *key)
{
	struct aqmllm_evflow k = *key, *flows;
	uint32_t j;

	memset(k.pad, 0, sizeof(k.pad));
	if (log->f == NULL)
		return (AQMLLM_EVLOG_NO_FLOW);
	if ((log->nflows + 1) * 2 > log->nslots && grow(log) != 0) {
		log->error = 1;
		return (AQMLLM_EVLOG_NO_FLOW);
	}
	for (j = key_hash(&k) & (log->nslots - 1); log->slots[j] != 0;
	    j = (j + 1) & (log->nslots - 1))
		if (same_key(&log->flows[log->slots[j] - 1], &k))
			return (log->slots[j] - 1);
	if (log->nflows == AQMLLM_EVLOG_NO_FLOW - 1)
		return (AQMLLM_EVLOG_NO_FLOW);
	if (log->nflows == log->cap) {
		uint32_t cap = log->cap ? log->cap * 2 : 256;

		flows = realloc(log->flows, (size_t)cap * sizeof(*flows));
		if (flows == NULL) {
			log->error = 1;
			return (AQMLLM_EVLOG_NO_FLOW);
		}
		log->flows = flows;
		log->cap = cap;
	}
	log->flows[log->nflows] = k;
	log->slots[j] = log->nflows + 1;
	return (log->nflows++);
}

int
aqmllm_evlog_key(const uint8_t *ip, size_t len, struct aqmllm_evflow *key)
{
	size_t ihl;

	memset(key, 0, sizeof(*key));
	if (len < 20 || (ip[0] >> 4) != 4)
		return (-1);
	ihl = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl < 20 || len < ihl + 4)
		return (-1);
	if (ip[9] != IPPROTO_TCP_ && ip[9] != IPPROTO_UDP_)
		return (-1);
	/* A later fragment carries no ports. */
	if (((ip[6] & 0x1f) << 8 | ip[7]) != 0)
		return (-1);
	key->proto = ip[9];
	memcpy(&key->saddr, ip + 12, 4);
	memcpy(&key->daddr, ip + 16, 4);
	memcpy(&key->sport, ip + ihl, 2);
	memcpy(&key->dport, ip + ihl + 2, 2);
	return (0);
}

uint8_t
aqmllm_evlog_class(uint8_t ecn)
{
	/* ECT(1) is 01 and CE 11 (RFC 3168 codepoints): the low bit. */
	return (ecn & 1);
}

int
aqmllm_evlog_row(struct aqmllm_evlog *log, uint64_t now_ns, uint64_t enq_ns, uint32_t bytes,
    uint32_t flow, uint8_t event, uint8_t ecn, uint8_t src)
{
	struct aqmllm_evrow r;

	if (log->f == NULL)
		return (0);
	memset(&r, 0, sizeof(r));
	r.t_ns = now_ns > log->t0_ns ? now_ns - log->t0_ns : 0;
	r.sojourn_ns = (event == AQMLLM_EV_DROP_TAIL || event == AQMLLM_EV_DROP_ENQ ||
	    now_ns < enq_ns) ? 0 : now_ns - enq_ns;
	r.bytes = bytes;
	r.flow = flow;
	r.event = event;
	r.cls = aqmllm_evlog_class(ecn);
	r.ecn = ecn & 3;
	r.src = src;
	if (put(log, &r, sizeof(r)) != 0)
		return (-1);
	log->rows++;
	return (0);
}

int
aqmllm_evlog_packet(struct aqmllm_evlog *log, uint64_t now_ns, uint64_t enq_ns,
    const uint8_t *ip, size_t len, uint8_t event, uint8_t ecn, uint8_t src)
{
	struct aqmllm_evflow key;
	uint32_t flow = AQMLLM_EVLOG_NO_FLOW;

	if (log->f == NULL)
		return (0);
	if (aqmllm_evlog_key(ip, len, &key) == 0)
		flow = aqmllm_evlog_flow(log, &key);
	return (aqmllm_evlog_row(log, now_ns, enq_ns, (uint32_t)len, flow, event, ecn, src));
}
