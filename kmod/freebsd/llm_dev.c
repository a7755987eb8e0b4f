/*
 * /dev/aqmllm: the shared region, its lock, and the daemon's handle on it.
 *
 * The region is an OBJT_PHYS VM object of wired pages, mapped into the
 * kernel with pmap_qenter and into the daemon through d_mmap_single, so it
 * outlives any mapping the daemon still holds.  The daemon attaches with
 * an ioctl; its last close (cdevpriv destructor, run on process death too)
 * detaches it, which sends every queue to its fallback at once.  Wakeups
 * are raised from the packet path at most once per batch.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/conf.h>
#include <sys/event.h>
#include <sys/fcntl.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/mman.h>
#include <sys/mutex.h>
#include <sys/poll.h>
#include <sys/proc.h>
#include <sys/rwlock.h>
#include <sys/selinfo.h>
#include <sys/time.h>

#include <vm/vm.h>
#include <vm/pmap.h>
#include <vm/vm_extern.h>
#include <vm/vm_kern.h>
#include <vm/vm_map.h>
#include <vm/vm_object.h>
#include <vm/vm_page.h>
#include <vm/vm_pager.h>
#include <vm/vm_param.h>

#include "aqmllm_dev.h"
#include "llm_glue.h"
#include "llm_var.h"

static MALLOC_DEFINE(M_AQMLLM, "aqmllm", "aqmllm ring tables");

static struct llm_softc {
	struct mtx	mtx;		/* ring, tables, owner, opens, knlist */
	struct aqm_ring	ring;
	vm_object_t	obj;
	vm_offset_t	kva;
	size_t		size;
	int		npages;
	void		*priv;		/* the ring's private tables */
	uint8_t		qid_used[LLM_NQUEUES_DEFAULT];
	uint32_t	queues;
	struct selinfo	sel;
	struct cdev	*dev;
	void		*owner;		/* the attached daemon's cdevpriv */
	uint64_t	wakeups;
	int		opens;		/* descriptors open on the device */
	int		closing;	/* unloading: no new opens */
	int		ready;		/* changed under mtx */
} llm_sc;

/*
 * The lock outlives the ring: sysctl handlers and the packet path may test
 * `ready' under it until the kernel has removed the module's sysctls, which
 * happens after MOD_UNLOAD and before the SYSUNINITs.
 */
MTX_SYSINIT(llm_ring_mtx, &llm_sc.mtx, "aqmllm ring", MTX_DEF);

static d_open_t		llm_open;
static d_ioctl_t	llm_ioctl;
static d_poll_t		llm_poll;
static d_kqfilter_t	llm_kqfilter;
static d_mmap_single_t	llm_mmap_single;

static struct cdevsw llm_cdevsw = {
	.d_version =	D_VERSION,
	.d_name =	AQMLLM_DEV_NAME,
	.d_open =	llm_open,
	.d_ioctl =	llm_ioctl,
	.d_poll =	llm_poll,
	.d_kqfilter =	llm_kqfilter,
	.d_mmap_single = llm_mmap_single,
};

static int	llm_kq_event(struct knote *kn, long hint);
static void	llm_kq_detach(struct knote *kn);

static struct filterops llm_kq_ops = {
	.f_isfd =	1,
	.f_detach =	llm_kq_detach,
	.f_event =	llm_kq_event,
};

uint64_t
llm_now_ns(void)
{
	return (sbttons(sbinuptime()));
}

int
llm_ring_create(void)
{
	struct llm_softc *sc = &llm_sc;
	uint32_t entries = llm_tun.ring_entries;
	/* The interval ring: ~0.5 s of records of every queue. */
	struct aqm_geom g = { entries, entries, 0, LLM_NQUEUES_DEFAULT };
	size_t priv_size;
	vm_page_t m;
	int i, error;

	sc->size = aqm_region_size(&g);
	priv_size = aqm_ring_private_size(&g);
	if (sc->size == 0 || priv_size == 0) {
		printf("dn_aqm_llm: ring_entries %u is not a power of two in "
		    "[%u, %u]\n", entries, AQMLLM_MIN_ENTRIES,
		    AQMLLM_MAX_ENTRIES);
		return (EINVAL);
	}
	sc->npages = atop(round_page(sc->size));
	sc->obj = vm_pager_allocate(OBJT_PHYS, 0, ptoa(sc->npages),
	    VM_PROT_DEFAULT, 0, curthread->td_ucred);
	if (sc->obj == NULL)
		return (ENOMEM);
	sc->kva = kva_alloc(ptoa(sc->npages));
	if (sc->kva == 0) {
		vm_object_deallocate(sc->obj);
		sc->obj = NULL;
		return (ENOMEM);
	}
	VM_OBJECT_WLOCK(sc->obj);
	for (i = 0; i < sc->npages; i++) {
		m = vm_page_grab(sc->obj, i, VM_ALLOC_ZERO | VM_ALLOC_WIRED);
		vm_page_valid(m);
		vm_page_xunbusy(m);
		pmap_qenter(sc->kva + ptoa(i), &m, 1);
	}
	VM_OBJECT_WUNLOCK(sc->obj);

	sc->priv = malloc(priv_size, M_AQMLLM, M_WAITOK | M_ZERO);
	knlist_init_mtx(&sc->sel.si_note, &sc->mtx);
	error = aqm_ring_init(&sc->ring, (void *)sc->kva, sc->size, &g,
	    sc->priv, priv_size);
	if (error == 0)
		error = aqm_ring_configure(&sc->ring, llm_tun.batch_size,
		    (uint64_t)llm_tun.verdict_timeout_us * 1000);
	if (error == 0)
		error = aqm_ring_set_export(&sc->ring, llm_tun.export_mode,
		    (uint64_t)llm_tun.interval_us * 1000);
	if (error != 0) {
		llm_ring_destroy();
		return (EINVAL);
	}
	sc->ring.hdr->fb_id = llm_tun.fallback;
	mtx_lock(&sc->mtx);
	sc->ready = 1;
	mtx_unlock(&sc->mtx);
	return (0);
}

void
llm_ring_destroy(void)
{
	struct llm_softc *sc = &llm_sc;
	vm_page_t m;
	int i;

	mtx_lock(&sc->mtx);
	sc->ready = 0;
	mtx_unlock(&sc->mtx);
	if (sc->kva != 0) {
		pmap_qremove(sc->kva, sc->npages);
		kva_free(sc->kva, ptoa(sc->npages));
		sc->kva = 0;
	}
	if (sc->obj != NULL) {
		VM_OBJECT_WLOCK(sc->obj);
		for (i = 0; i < sc->npages; i++) {
			m = vm_page_lookup(sc->obj, i);
			if (m != NULL)
				vm_page_unwire_noq(m);
		}
		VM_OBJECT_WUNLOCK(sc->obj);
		/* Pages live on while a daemon still maps the object. */
		vm_object_deallocate(sc->obj);
		sc->obj = NULL;
	}
	if (sc->sel.si_note.kl_lockarg != NULL) {
		knlist_clear(&sc->sel.si_note, 0);
		seldrain(&sc->sel);
		knlist_destroy(&sc->sel.si_note);
		sc->sel.si_note.kl_lockarg = NULL;
	}
	free(sc->priv, M_AQMLLM);
	sc->priv = NULL;
}

struct aqm_ring *
llm_ring_lock(void)
{
	mtx_lock(&llm_sc.mtx);
	if (!llm_sc.ready) {
		mtx_unlock(&llm_sc.mtx);
		return (NULL);
	}
	return (&llm_sc.ring);
}

void
llm_ring_unlock(struct aqm_ring *r)
{
	if (r != NULL)
		mtx_unlock(&llm_sc.mtx);
}

/* Called with the ring locked, after a burst of enqueues or dequeues. */
void
llm_ring_kick(struct aqm_ring *r)
{
	struct llm_softc *sc = &llm_sc;

	mtx_assert(&sc->mtx, MA_OWNED);
	if (!aqm_ring_take_wakeup(r))
		return;
	sc->wakeups++;
	aqm_ring_export_counters(r, llm_now_ns());
	selwakeuppri(&sc->sel, PZERO + 1);
	KNOTE_LOCKED(&sc->sel.si_note, 0);
}

int
llm_ring_reconfigure(void)
{
	int error;

	mtx_lock(&llm_sc.mtx);
	if (!llm_sc.ready) {
		mtx_unlock(&llm_sc.mtx);
		return (0);
	}
	error = aqm_ring_configure(&llm_sc.ring, llm_tun.batch_size,
	    (uint64_t)llm_tun.verdict_timeout_us * 1000);
	if (error == 0)
		error = aqm_ring_set_export(&llm_sc.ring, llm_tun.export_mode,
		    (uint64_t)llm_tun.interval_us * 1000);
	llm_sc.ring.hdr->fb_id = llm_tun.fallback;
	mtx_unlock(&llm_sc.mtx);
	return (error != 0 ? EINVAL : 0);
}

int
llm_queue_id_alloc(uint32_t *id)
{
	uint32_t i;

	mtx_lock(&llm_sc.mtx);
	if (!llm_sc.ready) {
		mtx_unlock(&llm_sc.mtx);
		return (ENXIO);
	}
	for (i = 0; i < LLM_NQUEUES_DEFAULT; i++) {
		if (!llm_sc.qid_used[i]) {
			llm_sc.qid_used[i] = 1;
			llm_sc.queues++;
			/* A reused slot starts bare: no policy, no residual. */
			llm_sc.ring.pol[i].expiry_ns = 0;
			llm_sc.ring.res[i].expiry_ns = 0;
			memset(&llm_sc.ring.res[i].res, 0,
			    sizeof(llm_sc.ring.res[i].res));
			llm_sc.ring.res[i].gen++;
			mtx_unlock(&llm_sc.mtx);
			*id = i;
			return (0);
		}
	}
	mtx_unlock(&llm_sc.mtx);
	return (ENOSPC);
}

void
llm_queue_id_free(uint32_t id)
{
	if (id >= LLM_NQUEUES_DEFAULT)
		return;
	mtx_lock(&llm_sc.mtx);
	if (llm_sc.ready && llm_sc.qid_used[id]) {
		llm_sc.qid_used[id] = 0;
		llm_sc.queues--;
		llm_sc.ring.pol[id].expiry_ns = 0;
	}
	mtx_unlock(&llm_sc.mtx);
}

/* Last close of a descriptor: if it was the daemon's, fall back now. */
static void
llm_dtor(void *data)
{
	struct llm_softc *sc = &llm_sc;

	mtx_lock(&sc->mtx);
	if (sc->owner == data) {
		sc->owner = NULL;
		if (sc->ready)
			aqm_ring_set_attached(&sc->ring, 0);
	}
	sc->opens--;
	mtx_unlock(&sc->mtx);
	free(data, M_AQMLLM);
}

/*
 * Unloading: refused while a descriptor is open (its knotes and mappings
 * would outlive the module's code); otherwise no new open is accepted
 * until llm_dev_quiesce(0).
 */
int
llm_dev_quiesce(int on)
{
	struct llm_softc *sc = &llm_sc;
	int error = 0;

	mtx_lock(&sc->mtx);
	if (on && sc->opens > 0)
		error = EBUSY;
	else
		sc->closing = on;
	mtx_unlock(&sc->mtx);
	return (error);
}

static int
llm_open(struct cdev *dev __unused, int oflags __unused, int devtype __unused,
    struct thread *td __unused)
{
	struct llm_softc *sc = &llm_sc;
	void *token;
	int error;

	token = malloc(sizeof(int), M_AQMLLM, M_WAITOK | M_ZERO);
	mtx_lock(&sc->mtx);
	if (!sc->ready || sc->closing) {
		mtx_unlock(&sc->mtx);
		free(token, M_AQMLLM);
		return (ENXIO);
	}
	sc->opens++;
	mtx_unlock(&sc->mtx);
	error = devfs_set_cdevpriv(token, llm_dtor);
	if (error != 0) {
		mtx_lock(&sc->mtx);
		sc->opens--;
		mtx_unlock(&sc->mtx);
		free(token, M_AQMLLM);
	}
	return (error);
}

/* The request number of a command this device knows; else -1. */
static int
llm_ioctl_nr(u_long cmd)
{
	switch (cmd) {
	case AQMLLM_IOC_INFO:
		return (AQMLLM_IOC_INFO_NR);
	case AQMLLM_IOC_ATTACH:
		return (AQMLLM_IOC_ATTACH_NR);
	case AQMLLM_IOC_DETACH:
		return (AQMLLM_IOC_DETACH_NR);
	case AQMLLM_IOC_STATS:
		return (AQMLLM_IOC_STATS_NR);
	case AQMLLM_IOC_MAP:
		return (AQMLLM_IOC_MAP_NR);
	default:
		return (-1);
	}
}

static int
llm_owner(const struct llm_softc *sc, const void *token)
{
	if (sc->owner == NULL)
		return (LLM_OWNER_NONE);
	return (sc->owner == token ? LLM_OWNER_SELF : LLM_OWNER_OTHER);
}

/*
 * Map the region into the calling daemon with its maximum protection
 * capped at read/write: mmap(2) of a device always allows PROT_EXEC
 * through a later mprotect(2), and d_mmap_single cannot narrow it.
 */
static int
llm_map(struct llm_softc *sc, void *token, struct aqmllm_map *m,
    struct thread *td)
{
	vm_object_t obj;
	vm_offset_t addr = 0;
	vm_size_t size;
	int error;

	mtx_lock(&sc->mtx);
	error = llm_map_decide(llm_owner(sc, token));
	if (error == 0 && (!sc->ready || sc->obj == NULL))
		error = ENXIO;
	if (error != 0) {
		mtx_unlock(&sc->mtx);
		return (error);
	}
	obj = sc->obj;
	size = ptoa(sc->npages);
	vm_object_reference(obj);
	mtx_unlock(&sc->mtx);
	error = vm_mmap_object(&td->td_proc->p_vmspace->vm_map, &addr, size,
	    VM_PROT_READ | VM_PROT_WRITE, VM_PROT_READ | VM_PROT_WRITE,
	    MAP_SHARED, obj, 0, FALSE, td);
	if (error != 0) {
		vm_object_deallocate(obj);
		return (error);
	}
	m->addr = addr;
	m->size = size;
	return (0);
}

/* What INFO and STATS report, under the device lock. */
static void
llm_dev_view(const struct llm_softc *sc, struct llm_dev_view *v)
{
	v->ring = &sc->ring;
	v->region_size = sc->size;
	v->fallback = llm_tun.fallback;
	v->verdict_timeout_us = llm_tun.verdict_timeout_us;
	v->attached = sc->owner != NULL;
	v->queues = sc->queues;
	v->wakeups = sc->wakeups;
}

static int
llm_ioctl(struct cdev *dev __unused, u_long cmd, caddr_t data, int fflag,
    struct thread *td)
{
	struct llm_softc *sc = &llm_sc;
	struct llm_dev_view view;
	void *token;
	int error, nr;

	error = devfs_get_cdevpriv(&token);
	if (error != 0)
		return (error);
	nr = llm_ioctl_nr(cmd);
	error = llm_ioctl_access(nr < 0 ? ~0U : (unsigned)nr,
	    (fflag & FREAD) != 0, (fflag & FWRITE) != 0);
	if (error != 0)
		return (error);
	if (cmd == AQMLLM_IOC_MAP)
		return (llm_map(sc, token, (struct aqmllm_map *)data, td));
	mtx_lock(&sc->mtx);
	switch (cmd) {
	case AQMLLM_IOC_INFO:
		llm_dev_view(sc, &view);
		llm_info_fill((struct aqmllm_info *)data, &view);
		break;
	case AQMLLM_IOC_ATTACH:
		error = llm_attach_decide((struct aqmllm_attach *)data,
		    llm_owner(sc, token));
		if (error == 0) {
			sc->owner = token;
			aqm_ring_set_attached(&sc->ring, 1);
		}
		break;
	case AQMLLM_IOC_DETACH:
		error = llm_detach_decide(llm_owner(sc, token));
		if (error == 0) {
			sc->owner = NULL;
			aqm_ring_set_attached(&sc->ring, 0);
		}
		break;
	case AQMLLM_IOC_STATS:
		llm_dev_view(sc, &view);
		llm_stats_fill((struct aqmllm_stats *)data, &view);
		break;
	}
	mtx_unlock(&sc->mtx);
	return (error);
}

/*
 * Records or interval records waiting?  The consumer indices are the
 * daemon's, so only compared, never used.
 */
static int
llm_pending(struct llm_softc *sc)
{
	return (sc->ring.rec_prod !=
	    atomic_load_acq_64(&sc->ring.hdr->rec_cons) ||
	    sc->ring.ivl_prod != atomic_load_acq_64(&sc->ring.hdr->ivl_cons));
}

static int
llm_poll(struct cdev *dev __unused, int events, struct thread *td)
{
	struct llm_softc *sc = &llm_sc;
	int revents = 0;

	if ((events & (POLLIN | POLLRDNORM)) == 0)
		return (0);
	mtx_lock(&sc->mtx);
	if (llm_pending(sc))
		revents = events & (POLLIN | POLLRDNORM);
	else
		selrecord(td, &sc->sel);
	mtx_unlock(&sc->mtx);
	return (revents);
}

static int
llm_kqfilter(struct cdev *dev __unused, struct knote *kn)
{
	if (kn->kn_filter != EVFILT_READ)
		return (EINVAL);
	kn->kn_fop = &llm_kq_ops;
	kn->kn_hook = &llm_sc;
	knlist_add(&llm_sc.sel.si_note, kn, 0);
	return (0);
}

static int
llm_kq_event(struct knote *kn, long hint __unused)
{
	struct llm_softc *sc = kn->kn_hook;

	kn->kn_data = (intptr_t)(sc->ring.rec_prod -
	    atomic_load_acq_64(&sc->ring.hdr->rec_cons));
	return (llm_pending(sc));
}

static void
llm_kq_detach(struct knote *kn)
{
	struct llm_softc *sc = kn->kn_hook;

	knlist_remove(&sc->sel.si_note, kn, 0);
}

/*
 * mmap(2) is refused: its maximum protection always includes execute
 * (devfs sets it, and this hook cannot narrow it), so the daemon maps
 * the region through AQMLLM_IOC_MAP instead.  Not ENODEV, which would
 * fall back to the device pager.
 */
static int
llm_mmap_single(struct cdev *dev __unused, vm_ooffset_t *offset __unused,
    vm_size_t size __unused, struct vm_object **object __unused,
    int nprot __unused)
{
	return (EACCES);
}

int
llm_dev_create(void)
{
	struct make_dev_args args;

	make_dev_args_init(&args);
	args.mda_devsw = &llm_cdevsw;
	args.mda_uid = UID_ROOT;
	args.mda_gid = GID_WHEEL;
	args.mda_mode = 0600;
	args.mda_flags = MAKEDEV_CHECKNAME | MAKEDEV_WAITOK;
	return (make_dev_s(&args, &llm_sc.dev, AQMLLM_DEV_NAME));
}

void
llm_dev_destroy(void)
{
	if (llm_sc.dev != NULL) {
		destroy_dev(llm_sc.dev);
		llm_sc.dev = NULL;
	}
}
