/*
 * The Linux stand-in for the kernel's shared region: the same ring layout
 * in a shared-memory file (e.g. /dev/shm/aqmllm) that aqmllmd maps by path.
 * Used by the C producer, the emulator and the ns-3 queue disc.
 */
#ifndef AQM_SHM_H
#define AQM_SHM_H

#include "aqm_core.h"

struct aqm_shm {
	int fd;
	void *region;
	size_t size;
	void *priv;		/* the ring's private tables */
	struct aqm_ring ring;
};

/*
 * Create the file at path (atomically replacing an old one), map it and
 * lay out a ring of the given geometry.  Returns 0, or a negative
 * errno-style code.
 */
int	aqm_shm_create_geom(struct aqm_shm *s, const char *path,
	    const struct aqm_geom *g);
/* The same with the default interval ring (aqm_ivl_entries_for). */
int	aqm_shm_create(struct aqm_shm *s, const char *path, uint32_t rec_entries,
	    uint32_t vd_entries, uint32_t nqueues);
/*
 * Unmap and free; with unlink_file, also remove the file if path still
 * names this ring (a newer producer's ring is left alone).
 */
void	aqm_shm_destroy(struct aqm_shm *s, const char *path, int unlink_file);
/* Monotonic clock in nanoseconds (the producer clock on Linux). */
uint64_t aqm_shm_now_ns(void);

#endif /* AQM_SHM_H */
