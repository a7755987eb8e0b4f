/*
 * The producer side of the shared ring: region layout, record
 * production, and validation of everything the daemon writes.
 *
 * Nothing read from the region is trusted: indices are compared with
 * the producer's private copies, each verdict slot is read once into a
 * local copy (no double fetch) and validated field by field, and every
 * rejection is counted.  The geometry is kept privately and never read
 * back from shared memory.
 */
#include "aqm_core.h"

#define	AQM_PAGE		4096U
#define	AQM_DEFAULT_TIMEOUT_NS	(10 * AQM_NS_PER_MS)
#define	AQM_DEFAULT_POLICY_NS	(10 * AQM_NS_PER_S)
#define	AQM_DEFAULT_BUDGET	256U
#define	AQM_DEFAULT_BATCH	64U
#define	AQM_CLOCK_PUBLISH_NS	(100 * AQM_NS_PER_US)
#define	AQM_LIVENESS_NS		(50 * AQM_NS_PER_US)
#define	AQM_PREFETCH_AHEAD	4

#define	LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define	LOAD_RLX(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#define	STORE_REL(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define	STORE_RLX(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)

static int
is_pow2(uint32_t x)
{
	return (x != 0 && (x & (x - 1)) == 0);
}

static int
entries_ok(uint32_t n)
{
	return (is_pow2(n) && n >= AQMLLM_MIN_ENTRIES &&
	    n <= AQMLLM_MAX_ENTRIES);
}

size_t
aqm_region_size(uint32_t rec_entries, uint32_t vd_entries)
{
	uint64_t sz;

	if (!entries_ok(rec_entries) || !entries_ok(vd_entries))
		return (0);
	sz = AQMLLM_HDR_SIZE + (uint64_t)rec_entries * AQMLLM_REC_SIZE +
	    (uint64_t)vd_entries * AQMLLM_VERDICT_SIZE;
	sz = (sz + AQM_PAGE - 1) & ~(uint64_t)(AQM_PAGE - 1);
	return ((size_t)sz);
}

int
aqm_ring_init(struct aqm_ring *r, void *region, size_t region_size,
    uint32_t rec_entries, uint32_t vd_entries, uint32_t nqueues,
    struct aqm_vt_entry *vt, struct aqm_policy *pol)
{
	struct aqmllm_region_hdr *h;
	size_t need;

	need = aqm_region_size(rec_entries, vd_entries);
	if (r == NULL || region == NULL || vt == NULL || pol == NULL ||
	    need == 0 || nqueues == 0 || nqueues > 65536)
		return (AQM_EINVAL);
	if (region_size < need)
		return (AQM_ENOSPC);

	__builtin_memset(r, 0, sizeof(*r));
	__builtin_memset(region, 0, need);
	__builtin_memset(vt, 0, (size_t)rec_entries * sizeof(*vt));
	__builtin_memset(pol, 0, (size_t)nqueues * sizeof(*pol));

	h = region;
	h->magic = AQMLLM_MAGIC;
	h->abi_version = AQMLLM_ABI_VERSION;
	h->hdr_size = AQMLLM_HDR_SIZE;
	h->rec_size = AQMLLM_REC_SIZE;
	h->rec_entries = rec_entries;
	h->vd_size = AQMLLM_VERDICT_SIZE;
	h->vd_entries = vd_entries;
	h->rec_offset = AQMLLM_HDR_SIZE;
	h->vd_offset = AQMLLM_HDR_SIZE + (uint64_t)rec_entries *
	    AQMLLM_REC_SIZE;
	h->region_size = need;
	h->nqueues = nqueues;
	h->batch_size = AQM_DEFAULT_BATCH;
	h->verdict_timeout_ns = (uint32_t)AQM_DEFAULT_TIMEOUT_NS;

	r->hdr = h;
	r->recs = (struct aqmllm_record *)((char *)region + h->rec_offset);
	r->vds = (struct aqmllm_verdict *)((char *)region + h->vd_offset);
	r->vt = vt;
	r->pol = pol;
	r->rec_entries = rec_entries;
	r->rec_mask = rec_entries - 1;
	r->vd_entries = vd_entries;
	r->vd_mask = vd_entries - 1;
	r->nqueues = nqueues;
	r->batch_size = AQM_DEFAULT_BATCH;
	r->verdict_timeout_ns = AQM_DEFAULT_TIMEOUT_NS;
	r->max_policy_ns = AQM_DEFAULT_POLICY_NS;
	r->drain_budget = AQM_DEFAULT_BUDGET;
	return (0);
}

/* The glue changes tunables through here so the header mirror follows. */
int
aqm_ring_configure(struct aqm_ring *r, uint32_t batch_size,
    uint64_t verdict_timeout_ns)
{
	if (batch_size == 0 || batch_size > r->rec_entries ||
	    verdict_timeout_ns == 0 || verdict_timeout_ns > 0xffffffffULL)
		return (AQM_EINVAL);
	r->batch_size = batch_size;
	r->verdict_timeout_ns = verdict_timeout_ns;
	r->hdr->batch_size = batch_size;
	r->hdr->verdict_timeout_ns = (uint32_t)verdict_timeout_ns;
	return (0);
}

void
aqm_ring_set_attached(struct aqm_ring *r, int attached)
{
	uint32_t q;

	r->attached = attached != 0;
	r->live_checked = 0;	/* re-read the daemon line at once */
	if (!r->attached) {
		/* A departed daemon's policies must not outlive it. */
		for (q = 0; q < r->nqueues; q++)
			r->pol[q].expiry_ns = 0;
	}
}

/*
 * The heartbeat echoes a producer clock value the daemon has seen: the
 * published clock or a record's time, never later than the producer's
 * own now.  A heartbeat ahead of now was not echoed but invented (a
 * hostile or broken daemon): it proves nothing, and taking it as fresh
 * would keep the daemon alive for as long as the lie runs ahead.
 */
static int
heartbeat_fresh(uint64_t hb, uint64_t now_ns, uint64_t timeout_ns)
{
	return (hb <= now_ns && now_ns - hb <= timeout_ns);
}

/*
 * The daemon line is read at most every AQM_LIVENESS_NS of producer time:
 * re-reading a line the daemon keeps writing would cost a cross-core
 * transfer per packet.
 */
static void
refresh_liveness(struct aqm_ring *r, uint64_t now_ns)
{
	uint32_t st;
	uint64_t hb;

	if (r->live_checked && now_ns >= r->live_checked_ns &&
	    now_ns - r->live_checked_ns < AQM_LIVENESS_NS)
		return;
	r->live_checked = 1;
	r->live_checked_ns = now_ns;
	st = LOAD_RLX(&r->hdr->daemon_state);
	hb = LOAD_RLX(&r->hdr->heartbeat_ns);
	r->wants_records = r->attached &&
	    (st == AQMLLM_DS_ATTACHED || st == AQMLLM_DS_POLICY_OFF);
	r->alive = r->attached && st == AQMLLM_DS_ATTACHED &&
	    heartbeat_fresh(hb, now_ns, r->verdict_timeout_ns);
	r->stale = r->attached && st == AQMLLM_DS_ATTACHED && !r->alive;
}

int
aqm_ring_daemon_alive(struct aqm_ring *r, uint64_t now_ns)
{
	refresh_liveness(r, now_ns);
	return (r->alive);
}

int
aqm_ring_records_wanted(struct aqm_ring *r, uint64_t now_ns)
{
	refresh_liveness(r, now_ns);
	return (r->wants_records);
}

/* The producer clock, for the daemon's heartbeat echo; at most every 100 us. */
static void
publish_clock(struct aqm_ring *r, uint64_t now_ns)
{
	if (now_ns - r->clock_published_ns >= AQM_CLOCK_PUBLISH_NS) {
		r->clock_published_ns = now_ns;
		STORE_RLX(&r->hdr->producer_clock_ns, now_ns);
	}
}

int
aqm_ring_produce(struct aqm_ring *r, const struct aqmllm_record *rec,
    uint64_t now_ns, uint64_t *seq_out)
{
	struct aqmllm_record *slot;
	struct aqm_vt_entry *e;
	uint64_t cons, used, seq;
	uint32_t idx;

	*seq_out = 0;
	publish_clock(r, now_ns);
	/* Re-read the daemon's index only when the cached one says full. */
	used = r->rec_prod - r->rec_cons_cached;
	if (used >= r->rec_entries) {
		cons = LOAD_ACQ(&r->hdr->rec_cons);
		used = r->rec_prod - cons;
		if (used <= r->rec_entries)
			r->rec_cons_cached = cons;
	}
	if (used > r->rec_entries) {
		/* rec_cons ahead of rec_prod or too far behind: garbage */
		r->cnt[AQMLLM_CNT_REJ_INDEX]++;
		r->cnt[AQMLLM_CNT_OVERFLOWS]++;
		return (0);
	}
	if (used == r->rec_entries) {
		r->cnt[AQMLLM_CNT_OVERFLOWS]++;
		return (0);
	}
	seq = r->rec_prod + 1;
	idx = (uint32_t)(r->rec_prod & r->rec_mask);
	slot = &r->recs[idx];
	/* Own the line of a later record early: it lives in the daemon's cache. */
	__builtin_prefetch(&r->recs[(idx + AQM_PREFETCH_AHEAD) & r->rec_mask], 1);
	*slot = *rec;
	slot->seq = seq;
	e = &r->vt[seq & r->rec_mask];
	e->seq = seq;
	e->state = AQM_VT_PENDING;
	e->action = AQMLLM_ACT_NONE;
	r->rec_prod = seq;
	STORE_REL(&r->hdr->rec_prod, seq);
	r->cnt[AQMLLM_CNT_RECORDS]++;
	/* Wake on empty -> non-empty, then once per batch. */
	if (used == 0 || seq - r->last_wake_prod >= r->batch_size) {
		if (!r->wake_pending)
			r->cnt[AQMLLM_CNT_WAKEUPS]++;
		r->wake_pending = 1;
		r->last_wake_prod = seq;
	}
	*seq_out = seq;
	return (1);
}

int
aqm_ring_take_wakeup(struct aqm_ring *r)
{
	int w = r->wake_pending != 0;

	r->wake_pending = 0;
	return (w);
}

/* Read a verdict slot exactly once: the daemon may rewrite it meanwhile. */
static void
read_verdict(const struct aqmllm_verdict *src, struct aqmllm_verdict *v)
{
	const volatile struct aqmllm_verdict *s = src;

	v->seq = s->seq;
	v->kind = s->kind;
	v->action = s->action;
	v->flags = s->flags;
	v->queue_id = s->queue_id;
	v->drop_prob = s->drop_prob;
	v->mark_prob = s->mark_prob;
	v->expiry_ns = s->expiry_ns;
}

static void
apply_packet_verdict(struct aqm_ring *r, const struct aqmllm_verdict *v)
{
	struct aqm_vt_entry *e;

	if (v->action < AQMLLM_ACT_PASS || v->action > AQMLLM_ACT_MAX) {
		r->cnt[AQMLLM_CNT_REJ_ACTION]++;
		return;
	}
	/* Only sequence numbers still inside the record window exist. */
	if (v->seq == 0 || v->seq > r->rec_prod ||
	    r->rec_prod - v->seq >= r->rec_entries) {
		r->cnt[AQMLLM_CNT_REJ_SEQ]++;
		return;
	}
	e = &r->vt[v->seq & r->rec_mask];
	if (e->seq != v->seq) {
		r->cnt[AQMLLM_CNT_REJ_SEQ]++;
		return;
	}
	switch (e->state) {
	case AQM_VT_PENDING:
		e->action = v->action;
		e->state = AQM_VT_DECIDED;
		r->cnt[AQMLLM_CNT_VERDICTS_IN]++;
		break;
	case AQM_VT_DECIDED:
		r->cnt[AQMLLM_CNT_REJ_DUP]++;
		break;
	case AQM_VT_DEPARTED:
		r->cnt[AQMLLM_CNT_REJ_LATE]++;
		break;
	default:
		r->cnt[AQMLLM_CNT_REJ_SEQ]++;
		break;
	}
}

static void
apply_policy(struct aqm_ring *r, const struct aqmllm_verdict *v,
    uint64_t now_ns)
{
	struct aqm_policy *p;

	if (v->seq != 0 || v->action != 0 || v->queue_id >= r->nqueues ||
	    (v->expiry_ns > now_ns && v->expiry_ns - now_ns > r->max_policy_ns)) {
		r->cnt[AQMLLM_CNT_REJ_POLICY]++;
		return;
	}
	/* An expiry in the past cancels the queue's policy. */
	p = &r->pol[v->queue_id];
	p->drop_prob = v->drop_prob;
	p->mark_prob = v->mark_prob;
	p->expiry_ns = v->expiry_ns;
	r->cnt[AQMLLM_CNT_VERDICTS_IN]++;
}

void
aqm_ring_drain(struct aqm_ring *r, uint64_t now_ns)
{
	struct aqmllm_verdict v;
	uint64_t prod, avail, i;

	publish_clock(r, now_ns);
	prod = LOAD_ACQ(&r->hdr->vd_prod);
	avail = prod - r->vd_cons;
	if (avail == 0)
		return;
	if (avail > r->vd_entries) {
		/* vd_prod behind vd_cons or beyond the ring: resynchronise. */
		r->cnt[AQMLLM_CNT_REJ_INDEX]++;
		r->vd_cons = prod;
		STORE_REL(&r->hdr->vd_cons, prod);
		return;
	}
	if (avail > r->drain_budget)
		avail = r->drain_budget;
	for (i = 0; i < avail; i++) {
		__builtin_prefetch(&r->vds[(r->vd_cons + i + AQM_PREFETCH_AHEAD) &
		    r->vd_mask], 0);
		read_verdict(&r->vds[(r->vd_cons + i) & r->vd_mask], &v);
		if (v.flags != 0) {
			r->cnt[AQMLLM_CNT_REJ_KIND]++;
			continue;
		}
		switch (v.kind) {
		case AQMLLM_VK_PACKET:
			apply_packet_verdict(r, &v);
			break;
		case AQMLLM_VK_POLICY:
			apply_policy(r, &v, now_ns);
			break;
		default:
			r->cnt[AQMLLM_CNT_REJ_KIND]++;
			break;
		}
	}
	r->vd_cons += avail;
	STORE_REL(&r->hdr->vd_cons, r->vd_cons);
}

void
aqm_ring_export_counters(struct aqm_ring *r, uint64_t now_ns)
{
	uint32_t i;

	for (i = 0; i < AQMLLM_CNT_COUNT; i++)
		STORE_RLX(&r->hdr->counters[i], r->cnt[i]);
	STORE_RLX(&r->hdr->producer_clock_ns, now_ns);
}
