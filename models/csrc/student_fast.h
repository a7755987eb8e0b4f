/*
 * The student's inference path in C: features, per-queue history and the
 * MLP, for a batch of ring records in one call.
 *
 * This is the only implementation of the feature schema (models/features.py
 * documents it and calls these functions for training and inference alike),
 * so the daemon's numbers and the training pools' numbers cannot drift.  A
 * numpy version cost ~90 us per call of eight records in Python overhead
 * alone; this one costs a few microseconds.
 *
 * Layouts (row-major, float32):
 *   scalars  n x AQS_NSCALARS
 *   series   nqueues x AQS_NCHANNELS x AQS_SERIES_LEN   (oldest first)
 *   summary  n x AQS_NSUMMARY
 *   layer k  W: n_in x n_out, b: n_out; ReLU between layers, none after
 */
#ifndef AQMLLM_STUDENT_FAST_H
#define AQMLLM_STUDENT_FAST_H

#include "aqmllm_ring.h"

#ifndef AQMLLM_CDEF
#include <stddef.h>
#include <stdint.h>
#endif

#define AQS_SCHEMA_VERSION	1
#define AQS_NSCALARS		18
#define AQS_NCHANNELS		3
#define AQS_SERIES_LEN		16
#define AQS_NSUMMARY		9	/* mean, last, trend of each channel */
#define AQS_INPUT_DIM		27
#define AQS_NACTIONS		3	/* pass, drop, mark */
#define AQS_MAX_WIDTH		256	/* widest layer the fast path takes */
#define AQS_MAX_LAYERS		8
#define AQS_TARGET_L_NS		1000000
#define AQS_TARGET_C_NS		15000000

#define AQS_OK			0
#define AQS_EBADNET		(-1)	/* layer shapes do not chain or too wide */
#define AQS_ENONFINITE		(-2)	/* the model produced NaN or Inf */
#define AQS_EQUEUE		(-3)	/* a queue id outside the history */

struct aqs_layer {
	const float *w;
	const float *b;
	uint32_t n_in;
	uint32_t n_out;
};

/* Features of each record alone. */
void aqs_scalar_features(const struct aqmllm_record *recs, size_t n,
    float *scalars);

/* Mean, last value and trend of each channel of n series. */
void aqs_series_summary(const float *series, size_t n, float *summary);

/*
 * Append one snapshot per queue present in the batch (the means of its
 * records' delay, backlog and signal features).  acc is caller scratch of
 * nqueues x 4 doubles, all zero on entry and left zero.  Every queue id
 * must be below nqueues: AQS_EQUEUE otherwise, with nothing changed.
 */
int aqs_history_update(const struct aqmllm_record *recs, size_t n,
    const float *scalars, float *series, size_t nqueues, double *acc);

/*
 * The whole decision: features against the history as it was before this
 * batch, the MLP, mark masked for Not-ECT packets, softmax, one draw per
 * record from uniforms[i] in [0, 1), then the history update.  actions get
 * AQMLLM_ACT_PASS/DROP/MARK; probs (n x 3) may be NULL.  On an error the
 * history is left as it was.
 */
int aqs_student_decide(const struct aqmllm_record *recs, size_t n,
    float *series, size_t nqueues, double *acc,
    const struct aqs_layer *layers, size_t nlayers,
    const float *uniforms, uint8_t *actions, float *probs);

#endif /* AQMLLM_STUDENT_FAST_H */
