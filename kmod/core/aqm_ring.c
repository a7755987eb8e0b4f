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

static uint32_t
pow2_at_least(uint64_t n)
{
	uint64_t v = AQMLLM_MIN_ENTRIES;

	while (v < n && v < AQMLLM_MAX_ENTRIES)
		v <<= 1;
	return ((uint32_t)v);
}

uint32_t
aqm_ivl_entries_for(uint32_t nqueues)
{
	return (pow2_at_least((uint64_t)nqueues * 32));
}

/* The geometry with its default filled in, or 0 if it is invalid. */
static int
geom_resolve(const struct aqm_geom *g, struct aqm_geom *out)
{
	if (g == NULL || g->nqueues == 0 || g->nqueues > 65536)
		return (0);
	*out = *g;
	if (out->ivl_entries == 0)
		out->ivl_entries = aqm_ivl_entries_for(g->nqueues);
	return (entries_ok(out->rec_entries) && entries_ok(out->vd_entries) &&
	    entries_ok(out->ivl_entries));
}

size_t
aqm_region_size(const struct aqm_geom *g)
{
	struct aqm_geom v;
	uint64_t sz;

	if (!geom_resolve(g, &v))
		return (0);
	sz = AQMLLM_HDR_SIZE + (uint64_t)v.rec_entries * AQMLLM_REC_SIZE +
	    (uint64_t)v.vd_entries * AQMLLM_VERDICT_SIZE +
	    (uint64_t)v.ivl_entries * AQMLLM_IVL_SIZE;
	sz = (sz + AQM_PAGE - 1) & ~(uint64_t)(AQM_PAGE - 1);
	return ((size_t)sz);
}

/* Each table's offset in the private block; all are 8-byte multiples. */
struct priv_layout {
	size_t vt, pol, res, ivq, end;
};

static void
priv_layout(const struct aqm_geom *v, struct priv_layout *l)
{
	l->vt = 0;
	l->pol = l->vt + (size_t)v->rec_entries * sizeof(struct aqm_vt_entry);
	l->res = l->pol + (size_t)v->nqueues * sizeof(struct aqm_policy);
	l->ivq = l->res + (size_t)v->nqueues * sizeof(struct aqm_res_slot);
	l->end = l->ivq + (((size_t)v->ivl_entries * sizeof(uint32_t) + 7) &
	    ~(size_t)7);
}

size_t
aqm_ring_private_size(const struct aqm_geom *g)
{
	struct aqm_geom v;
	struct priv_layout l;

	if (!geom_resolve(g, &v))
		return (0);
	priv_layout(&v, &l);
	return (l.end);
}

int
aqm_ring_init(struct aqm_ring *r, void *region, size_t region_size,
    const struct aqm_geom *g, void *priv, size_t priv_size)
{
	struct aqmllm_region_hdr *h;
	struct priv_layout l;
	struct aqm_geom v;
	size_t need;

	need = aqm_region_size(g);
	if (r == NULL || region == NULL || priv == NULL || need == 0 ||
	    ((uintptr_t)priv & 7) != 0)
		return (AQM_EINVAL);
	(void)geom_resolve(g, &v);
	priv_layout(&v, &l);
	if (region_size < need || priv_size < l.end)
		return (AQM_ENOSPC);

	__builtin_memset(r, 0, sizeof(*r));
	__builtin_memset(region, 0, need);
	__builtin_memset(priv, 0, l.end);

	h = region;
	h->magic = AQMLLM_MAGIC;
	h->abi_version = AQMLLM_ABI_VERSION;
	h->hdr_size = AQMLLM_HDR_SIZE;
	h->rec_size = AQMLLM_REC_SIZE;
	h->rec_entries = v.rec_entries;
	h->vd_size = AQMLLM_VERDICT_SIZE;
	h->vd_entries = v.vd_entries;
	h->rec_offset = AQMLLM_HDR_SIZE;
	h->vd_offset = AQMLLM_HDR_SIZE + (uint64_t)v.rec_entries *
	    AQMLLM_REC_SIZE;
	h->ivl_size = AQMLLM_IVL_SIZE;
	h->ivl_entries = v.ivl_entries;
	h->ivl_offset = h->vd_offset + (uint64_t)v.vd_entries *
	    AQMLLM_VERDICT_SIZE;
	h->region_size = need;
	h->nqueues = v.nqueues;
	h->batch_size = AQM_DEFAULT_BATCH;
	h->verdict_timeout_ns = (uint32_t)AQM_DEFAULT_TIMEOUT_NS;
	h->export_mode = AQMLLM_EXPORT_BOTH;
	h->interval_ns = 0;

	r->hdr = h;
	r->recs = (struct aqmllm_record *)((char *)region + h->rec_offset);
	r->vds = (struct aqmllm_verdict *)((char *)region + h->vd_offset);
	r->ivls = (struct aqmllm_interval *)((char *)region + h->ivl_offset);
	r->vt = (struct aqm_vt_entry *)((char *)priv + l.vt);
	r->pol = (struct aqm_policy *)((char *)priv + l.pol);
	r->res = (struct aqm_res_slot *)((char *)priv + l.res);
	r->ivl_queue = (uint32_t *)((char *)priv + l.ivq);
	r->rec_entries = v.rec_entries;
	r->rec_mask = v.rec_entries - 1;
	r->vd_entries = v.vd_entries;
	r->vd_mask = v.vd_entries - 1;
	r->ivl_entries = v.ivl_entries;
	r->ivl_mask = v.ivl_entries - 1;
	r->nqueues = v.nqueues;
	r->batch_size = AQM_DEFAULT_BATCH;
	r->export_mode = AQMLLM_EXPORT_BOTH;
	r->interval_ns = 0;
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

int
aqm_ring_set_export(struct aqm_ring *r, uint32_t mode, uint64_t interval_ns)
{
	if (mode < AQMLLM_EXPORT_PACKETS || mode > AQMLLM_EXPORT_BOTH ||
	    (interval_ns != 0 && (interval_ns < AQMLLM_IVL_MIN_NS ||
	    interval_ns > AQMLLM_IVL_MAX_NS)))
		return (AQM_EINVAL);
	r->export_mode = mode;
	r->interval_ns = interval_ns;
	STORE_RLX(&r->hdr->export_mode, mode);
	STORE_RLX(&r->hdr->interval_ns, (uint32_t)interval_ns);
	return (0);
}

void
aqm_ring_set_attached(struct aqm_ring *r, int attached)
{
	struct aqm_res_slot *s;
	uint32_t q;

	r->attached = attached != 0;
	r->live_checked = 0;	/* re-read the daemon line at once */
	if (!r->attached) {
		/* A departed daemon's policies and residuals must not outlive it. */
		for (q = 0; q < r->nqueues; q++) {
			r->pol[q].expiry_ns = 0;
			s = &r->res[q];
			if (s->expiry_ns != 0) {
				__builtin_memset(&s->res, 0, sizeof(s->res));
				s->expiry_ns = 0;
				s->gen++;
			}
		}
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

/* Wake on empty -> non-empty, then once per batch (records of both rings). */
static void
note_wakeup(struct aqm_ring *r, uint64_t used, uint64_t seq)
{
	if (used == 0 || seq - r->last_wake_prod >= r->batch_size) {
		if (!r->wake_pending)
			r->cnt[AQMLLM_CNT_WAKEUPS]++;
		r->wake_pending = 1;
		r->last_wake_prod = seq;
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
	note_wakeup(r, used, seq);
	*seq_out = seq;
	return (1);
}

int
aqm_ring_produce_interval(struct aqm_ring *r, const struct aqmllm_interval *iv,
    uint64_t now_ns)
{
	struct aqmllm_interval *slot;
	uint64_t cons, used, seq;
	uint32_t idx;

	publish_clock(r, now_ns);
	used = r->ivl_prod - r->ivl_cons_cached;
	if (used >= r->ivl_entries) {
		cons = LOAD_ACQ(&r->hdr->ivl_cons);
		used = r->ivl_prod - cons;
		if (used <= r->ivl_entries)
			r->ivl_cons_cached = cons;
	}
	if (used > r->ivl_entries) {
		/* ivl_cons ahead of ivl_prod or too far behind: garbage */
		r->cnt[AQMLLM_CNT_REJ_INDEX]++;
		r->cnt[AQMLLM_CNT_IVL_OVERFLOWS]++;
		return (0);
	}
	if (used == r->ivl_entries) {
		r->cnt[AQMLLM_CNT_IVL_OVERFLOWS]++;
		return (0);
	}
	seq = r->ivl_prod + 1;
	idx = (uint32_t)(r->ivl_prod & r->ivl_mask);
	slot = &r->ivls[idx];
	*slot = *iv;
	slot->seq = seq;
	r->ivl_queue[seq & r->ivl_mask] = iv->queue_id;
	r->ivl_prod = seq;
	STORE_REL(&r->hdr->ivl_prod, seq);
	r->cnt[AQMLLM_CNT_IVL_RECORDS]++;
	/* The daemon waits on either ring: one wakeup on empty -> non-empty. */
	if (used == 0) {
		if (!r->wake_pending)
			r->cnt[AQMLLM_CNT_WAKEUPS]++;
		r->wake_pending = 1;
	}
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

/* Clamp one knob to [lo, hi], counting a clamp in cnt[which]. */
static int16_t
clamp_knob(struct aqm_ring *r, int32_t v, int32_t lo, int32_t hi, int which)
{
	if (v < lo || v > hi) {
		r->cnt[which]++;
		return ((int16_t)(v < lo ? lo : hi));
	}
	return ((int16_t)v);
}

/*
 * VK_RESIDUAL: validate (seq, queue, fields), clamp every knob and the
 * expiry, store it for the queue.  The queue applies it at its next call.
 */
static void
apply_residual(struct aqm_ring *r, const struct aqmllm_verdict *v,
    uint64_t now_ns)
{
	struct aqm_res_slot *s;
	struct aqm_residual res;
	uint64_t expiry;
	int32_t step;

	if (v->action != 0 || v->flags != 0) {
		r->cnt[AQMLLM_CNT_RES_REJ_FIELD]++;
		return;
	}
	/* Only interval seqs still inside the ring's window exist. */
	if (v->seq == 0 || v->seq > r->ivl_prod ||
	    r->ivl_prod - v->seq >= r->ivl_entries) {
		r->cnt[AQMLLM_CNT_RES_REJ_SEQ]++;
		return;
	}
	if (v->queue_id >= r->nqueues ||
	    r->ivl_queue[v->seq & r->ivl_mask] != v->queue_id) {
		r->cnt[AQMLLM_CNT_RES_REJ_QUEUE]++;
		return;
	}
	s = &r->res[v->queue_id];
	if (v->seq <= s->last_seq) {
		r->cnt[AQMLLM_CNT_RES_REJ_STALE]++;
		return;
	}
	res.log2_mult[AQMLLM_CLASS_C] = clamp_knob(r,
	    v->res_log2_mult[AQMLLM_CLASS_C], AQMLLM_RES_MULT_MIN,
	    AQMLLM_RES_MULT_MAX, AQMLLM_CNT_RES_CLAMP_MULT_C);
	res.log2_mult[AQMLLM_CLASS_L] = clamp_knob(r,
	    v->res_log2_mult[AQMLLM_CLASS_L], AQMLLM_RES_MULT_MIN,
	    AQMLLM_RES_MULT_MAX, AQMLLM_CNT_RES_CLAMP_MULT_L);
	res.log2_target = clamp_knob(r, v->res_log2_target,
	    AQMLLM_RES_TARGET_MIN, AQMLLM_RES_TARGET_MAX,
	    AQMLLM_CNT_RES_CLAMP_TARGET);
	step = v->res_step_us;
	if (step != 0 && (step < AQMLLM_RES_STEP_MIN_US ||
	    step > AQMLLM_RES_STEP_MAX_US)) {
		r->cnt[AQMLLM_CNT_RES_CLAMP_STEP]++;
		step = step < AQMLLM_RES_STEP_MIN_US ? AQMLLM_RES_STEP_MIN_US :
		    AQMLLM_RES_STEP_MAX_US;
	}
	res.step_us = (uint16_t)step;
	expiry = v->expiry_ns;
	if (expiry > now_ns && expiry - now_ns > AQMLLM_RES_MAX_TTL_NS) {
		r->cnt[AQMLLM_CNT_RES_CLAMP_EXPIRY]++;
		expiry = now_ns + AQMLLM_RES_MAX_TTL_NS;
	}
	if (expiry <= now_ns)	/* withdrawn: the bare fallback again */
		__builtin_memset(&res, 0, sizeof(res));
	s->res = res;
	s->expiry_ns = expiry <= now_ns ? 0 : expiry;
	s->last_seq = v->seq;
	s->gen++;
	r->cnt[AQMLLM_CNT_RES_ACCEPTED]++;
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
		if (v.kind == AQMLLM_VK_RESIDUAL) {
			apply_residual(r, &v, now_ns);
			continue;
		}
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
