/*
 * Shared-memory ring file for Linux producers.  The file is the region;
 * the verdict table and policies stay private to the producer, exactly as
 * in the kernel.  There is no open/close tracking on a plain file, so the
 * ring counts as attached and liveness rests on the daemon's state word
 * and heartbeat echo.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "aqm_shm.h"

uint64_t
aqm_shm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

int
aqm_shm_create(struct aqm_shm *s, const char *path, uint32_t rec_entries,
    uint32_t vd_entries, uint32_t nqueues)
{
	int error;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->size = aqm_region_size(rec_entries, vd_entries);
	if (s->size == 0 || nqueues == 0 || path == NULL)
		return (-EINVAL);
	s->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return (-errno);
	if (ftruncate(s->fd, (off_t)s->size) != 0) {
		error = -errno;
		goto fail;
	}
	s->region = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    s->fd, 0);
	if (s->region == MAP_FAILED) {
		s->region = NULL;
		error = -errno;
		goto fail;
	}
	s->vt = calloc(rec_entries, sizeof(*s->vt));
	s->pol = calloc(nqueues, sizeof(*s->pol));
	if (s->vt == NULL || s->pol == NULL) {
		error = -ENOMEM;
		goto fail;
	}
	error = aqm_ring_init(&s->ring, s->region, s->size, rec_entries,
	    vd_entries, nqueues, s->vt, s->pol);
	if (error != 0)
		goto fail;
	aqm_ring_set_attached(&s->ring, 1);
	return (0);
fail:
	aqm_shm_destroy(s, NULL, 0);
	return (error);
}

void
aqm_shm_destroy(struct aqm_shm *s, const char *path, int unlink_file)
{
	if (s->region != NULL)
		munmap(s->region, s->size);
	if (s->fd >= 0)
		close(s->fd);
	free(s->vt);
	free(s->pol);
	s->region = NULL;
	s->vt = NULL;
	s->pol = NULL;
	s->fd = -1;
	if (unlink_file && path != NULL)
		unlink(path);
}
