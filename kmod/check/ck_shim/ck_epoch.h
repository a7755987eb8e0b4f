/*
 * Compile-check shim, never built into the module: epoch types as opaque
 * storage, enough for the declarations in sys/epoch.h.
 */
#ifndef AQMLLM_CK_EPOCH_SHIM_H
#define	AQMLLM_CK_EPOCH_SHIM_H

typedef struct ck_epoch_entry {
	void *function;
	struct ck_epoch_entry *next;
} ck_epoch_entry_t;

typedef struct ck_epoch_section {
	unsigned int bucket;
} ck_epoch_section_t;

typedef struct ck_epoch_record {
	void *opaque[64];
} ck_epoch_record_t;

typedef struct ck_epoch {
	void *opaque[8];
} ck_epoch_t;

#endif /* !AQMLLM_CK_EPOCH_SHIM_H */
