/*
 * Shared-memory ring file for Linux producers.  The file is the region;
 * the verdict table and policies stay private to the producer, exactly as
 * in the kernel.  There is no open/close tracking on a plain file, so the
 * ring counts as attached and liveness rests on the daemon's state word
 * and heartbeat echo.  The file appears complete (made under a temporary
 * name, then renamed); a daemon notices a restart by the new inode.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
	struct aqm_geom g = { rec_entries, vd_entries, 0, nqueues };

	return (aqm_shm_create_geom(s, path, &g));
}

int
aqm_shm_create_geom(struct aqm_shm *s, const char *path,
    const struct aqm_geom *g)
{
	char tmp[4096];
	size_t priv_size;
	int error;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->size = aqm_region_size(g);
	priv_size = aqm_ring_private_size(g);
	if (s->size == 0 || priv_size == 0 || path == NULL)
		return (-EINVAL);
	/*
	 * Build the region under a private name and rename it into place, so
	 * a daemon never maps a half-made ring, and a restart gives the path
	 * a new file while a daemon still maps the old one (no SIGBUS).
	 */
	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return (-ENAMETOOLONG);
	s->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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
	s->priv = calloc(1, priv_size);
	if (s->priv == NULL) {
		error = -ENOMEM;
		goto fail;
	}
	error = aqm_ring_init(&s->ring, s->region, s->size, g, s->priv,
	    priv_size);
	if (error != 0)
		goto fail;
	aqm_ring_set_attached(&s->ring, 1);
	if (rename(tmp, path) != 0) {
		error = -errno;
		goto fail;
	}
	return (0);
fail:
	unlink(tmp);
	aqm_shm_destroy(s, NULL, 0);
	return (error);
}

void
aqm_shm_destroy(struct aqm_shm *s, const char *path, int unlink_file)
{
	struct stat mine, there;
	int ours = 0;

	/* Remove the name only while it is still ours (not a newer ring's). */
	if (unlink_file && path != NULL && s->fd >= 0 &&
	    fstat(s->fd, &mine) == 0 && stat(path, &there) == 0)
		ours = mine.st_dev == there.st_dev && mine.st_ino == there.st_ino;
	if (s->region != NULL)
		munmap(s->region, s->size);
	if (s->fd >= 0)
		close(s->fd);
	free(s->priv);
	s->region = NULL;
	s->priv = NULL;
	s->fd = -1;
	if (ours)
		unlink(path);
}
