/*
 * The student's inference path: see student_fast.h.
 *
 * Features are computed in double and stored as float, the MLP runs in
 * float; per record, so a batch of eight costs what eight records cost,
 * with no fixed overhead to amortise.
 */
#include "student_fast.h"

#include <math.h>
#include <string.h>

static double
class_target(const struct aqmllm_record *r)
{
	return (r->cls == AQMLLM_CLASS_L ? AQS_TARGET_L_NS : AQS_TARGET_C_NS);
}

static void
record_scalars(const struct aqmllm_record *r, float *out)
{
	double target = class_target(r);

	out[0] = (float)log1p(r->sojourn_ns / target);
	out[1] = (float)log1p(r->est_wait_ns / target);
	out[2] = (float)(log1p((double)r->qlen_pkts) / 8.0);
	out[3] = (float)(log1p((double)r->qlen_bytes) / 16.0);
	out[4] = (float)(log1p((double)r->other_qlen_pkts) / 8.0);
	out[5] = (float)(r->fb_prob / 4294967296.0);
	out[6] = r->cls == AQMLLM_CLASS_L;
	out[7] = r->ecn == AQMLLM_ECN_NOT_ECT;
	out[8] = r->ecn == AQMLLM_ECN_ECT1;
	out[9] = r->ecn == AQMLLM_ECN_ECT0;
	out[10] = r->ecn == AQMLLM_ECN_CE;
	out[11] = (float)(r->pkt_len / 1500.0);
	out[12] = (float)(log1p((double)r->recent_drops) / 5.0);
	out[13] = (float)(log1p((double)r->recent_marks) / 5.0);
	out[14] = (r->flags & AQMLLM_RF_FB_DROP) != 0;
	out[15] = (r->flags & AQMLLM_RF_FB_MARK) != 0;
	out[16] = (r->flags & AQMLLM_RF_OVERLOAD) != 0;
	out[17] = (float)(log1p((double)r->rate_kbps) / 20.0);
}

void
aqs_scalar_features(const struct aqmllm_record *recs, size_t n, float *scalars)
{
	size_t i;

	for (i = 0; i < n; i++)
		record_scalars(&recs[i], scalars + i * AQS_NSCALARS);
}

static void
one_summary(const float *s, float *out)
{
	int c, t;

	for (c = 0; c < AQS_NCHANNELS; c++) {
		const float *ch = s + c * AQS_SERIES_LEN;
		double all = 0, early = 0;

		for (t = 0; t < AQS_SERIES_LEN; t++) {
			all += ch[t];
			if (t < AQS_SERIES_LEN / 2)
				early += ch[t];
		}
		out[c] = (float)(all / AQS_SERIES_LEN);
		out[AQS_NCHANNELS + c] = ch[AQS_SERIES_LEN - 1];
		out[2 * AQS_NCHANNELS + c] = (float)(ch[AQS_SERIES_LEN - 1] -
		    early / (AQS_SERIES_LEN / 2));
	}
}

void
aqs_series_summary(const float *series, size_t n, float *summary)
{
	size_t i;

	for (i = 0; i < n; i++)
		one_summary(series + i * AQS_NCHANNELS * AQS_SERIES_LEN,
		    summary + i * AQS_NSUMMARY);
}

static int
queues_in_range(const struct aqmllm_record *recs, size_t n, size_t nqueues)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (recs[i].queue_id >= nqueues)
			return (0);
	return (1);
}

static void
accumulate(double *acc, uint32_t queue_id, const float *s)
{
	double *a = acc + (size_t)queue_id * 4;

	a[0] += s[0];
	a[1] += s[2];
	a[2] += (double)s[12] + s[13];
	a[3] += 1;
}

/* Each queue present once: shift its series, append the batch's means. */
static void
append_snapshots(const struct aqmllm_record *recs, size_t n, float *series,
    double *acc)
{
	size_t i;
	int c;

	for (i = 0; i < n; i++) {
		double *a = acc + (size_t)recs[i].queue_id * 4;
		float *q = series + (size_t)recs[i].queue_id * AQS_NCHANNELS *
		    AQS_SERIES_LEN;

		if (a[3] == 0)
			continue;
		for (c = 0; c < AQS_NCHANNELS; c++) {
			float *ch = q + c * AQS_SERIES_LEN;

			memmove(ch, ch + 1, (AQS_SERIES_LEN - 1) * sizeof(*ch));
			ch[AQS_SERIES_LEN - 1] = (float)(a[c] / a[3]);
		}
		a[0] = a[1] = a[2] = a[3] = 0;
	}
}

int
aqs_history_update(const struct aqmllm_record *recs, size_t n,
    const float *scalars, float *series, size_t nqueues, double *acc)
{
	size_t i;

	if (!queues_in_range(recs, n, nqueues))
		return (AQS_EQUEUE);
	for (i = 0; i < n; i++)
		accumulate(acc, recs[i].queue_id, scalars + i * AQS_NSCALARS);
	append_snapshots(recs, n, series, acc);
	return (AQS_OK);
}

static int
net_is_valid(const struct aqs_layer *layers, size_t nlayers)
{
	size_t k;

	if (nlayers == 0 || nlayers > AQS_MAX_LAYERS ||
	    layers[0].n_in != AQS_INPUT_DIM ||
	    layers[nlayers - 1].n_out != AQS_NACTIONS)
		return (0);
	for (k = 0; k < nlayers; k++) {
		if (layers[k].n_out == 0 || layers[k].n_out > AQS_MAX_WIDTH ||
		    layers[k].w == NULL || layers[k].b == NULL)
			return (0);
		if (k > 0 && layers[k].n_in != layers[k - 1].n_out)
			return (0);
	}
	return (1);
}

/* out = in @ W + b, then ReLU unless it is the last layer. */
static void
dense(const struct aqs_layer *l, const float *in, float *out, int relu)
{
	uint32_t i, j;

	memcpy(out, l->b, l->n_out * sizeof(*out));
	for (i = 0; i < l->n_in; i++) {
		const float xi = in[i];
		const float *row = l->w + (size_t)i * l->n_out;

		if (xi == 0)
			continue;
		for (j = 0; j < l->n_out; j++)
			out[j] += xi * row[j];
	}
	if (relu)
		for (j = 0; j < l->n_out; j++)
			out[j] = out[j] > 0 ? out[j] : 0;
}

/* Logits -> probabilities; mark impossible on a Not-ECT packet. */
static int
softmax3(const float *logits, int can_mark, float *p)
{
	float m, z;
	int k, nk = can_mark ? 3 : 2;

	for (k = 0; k < 3; k++)
		if (!isfinite(logits[k]))
			return (AQS_ENONFINITE);
	m = logits[0];
	for (k = 1; k < nk; k++)
		m = logits[k] > m ? logits[k] : m;
	z = 0;
	for (k = 0; k < nk; k++) {
		p[k] = expf(logits[k] - m);
		z += p[k];
	}
	for (k = 0; k < nk; k++)
		p[k] /= z;
	if (!can_mark)
		p[2] = 0;
	return (AQS_OK);
}

static uint8_t
draw(const float *p, float u)
{
	if (u < p[0])
		return (AQMLLM_ACT_PASS);
	if (u < p[0] + p[1] || p[2] == 0)
		return (AQMLLM_ACT_DROP);
	return (AQMLLM_ACT_MARK);
}

int
aqs_student_decide(const struct aqmllm_record *recs, size_t n,
    float *series, size_t nqueues, double *acc,
    const struct aqs_layer *layers, size_t nlayers,
    const float *uniforms, uint8_t *actions, float *probs)
{
	float x[AQS_INPUT_DIM], buf[2][AQS_MAX_WIDTH], p[3];
	size_t i, j, k;
	int rc;

	if (!net_is_valid(layers, nlayers))
		return (AQS_EBADNET);
	if (!queues_in_range(recs, n, nqueues))
		return (AQS_EQUEUE);
	for (i = 0; i < n; i++) {
		const float *in = x;
		float *out = buf[0];

		/* The summary reads the series before this batch's snapshot. */
		record_scalars(&recs[i], x);
		one_summary(series + (size_t)recs[i].queue_id *
		    AQS_NCHANNELS * AQS_SERIES_LEN, x + AQS_NSCALARS);
		accumulate(acc, recs[i].queue_id, x);
		for (k = 0; k < nlayers; k++) {
			out = buf[k & 1];
			dense(&layers[k], in, out, k + 1 < nlayers);
			in = out;
		}
		rc = softmax3(out, recs[i].ecn != AQMLLM_ECN_NOT_ECT, p);
		if (rc != AQS_OK) {
			for (j = 0; j <= i; j++)
				memset(acc + (size_t)recs[j].queue_id * 4, 0,
				    4 * sizeof(*acc));
			return (rc);
		}
		actions[i] = draw(p, uniforms[i]);
		if (probs != NULL)
			memcpy(probs + i * 3, p, sizeof(p));
	}
	append_snapshots(recs, n, series, acc);
	return (AQS_OK);
}
