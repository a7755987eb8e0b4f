/*
 * The IP_DUMMYNET3 configuration message as FreeBSD 14's dummynet walks it
 * (do_config, config_fs, config_aqm in ip_dummynet.c, restated here in
 * our own words), up to the point where it hands llm its parameters:
 *
 *   - the first object's id must be DN_API_VERSION;
 *   - each object is a struct dn_id {u16 len; u8 type; u8 subtype; u32 id}
 *     of len >= 8 bytes, all of it inside the message (else EINVAL, stop);
 *   - DN_TEXT keeps a copy of itself as the argument of the next object;
 *   - DN_FS must be exactly a struct dn_fs (136 bytes); its qsize is
 *     bounded (packets: 1..slot_limit, default 50; bytes: 1500..byte_limit,
 *     default 16384); with an argument, dummynet copies sizeof(struct
 *     dn_extra_parms) (112) bytes of it, and an AQM named by it (case
 *     insensitive) is configured if the copy's own length is 112 or more
 *     and its subtype is DN_AQM_PARAMS.
 *
 * Layouts are the ones bridge/dnmsg.py builds and tests/kmod/test_dnmsg.py
 * checks against FreeBSD's header.
 */
#ifndef DNMSG_WALK_H
#define DNMSG_WALK_H

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "llm_glue.h"

#define	DN_API_VERSION	12500000
#define	DN_LINK		1
#define	DN_FS		2
#define	DN_SCH		3
#define	DN_TEXT		9
#define	DN_CMD_CONFIG	0x80
#define	DN_AQM_PARAMS	0x89
#define	DN_QSIZE_BYTES	0x0008
#define	DN_MAX_ID	0x10000
#define	DN_ID_SIZE	8
#define	DN_FS_SIZE	136
#define	DN_EP_SIZE	112
#define	DN_MSG_MAX	12000	/* ip_dn_ctl's limit on sopt_valsize */

/* Dummynet's defaults for its per-vnet sysctls. */
#define	DN_SLOT_LIMIT	100
#define	DN_BYTE_LIMIT	(1024 * 1024)

struct dn_llm_result {
	int	configs;	/* flowsets configured with llm */
	int	refused;	/* llm configurations refused */
	int	error;		/* the walk's own error (EINVAL), else 0 */
	struct aqm_params last;	/* parameters of the last llm config */
};

static inline uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return (v);
}

static inline int64_t
rd64s(const uint8_t *p)
{
	int64_t v;

	memcpy(&v, p, 8);
	return (v);
}

/* dummynet's ipdn_bound_var: below lo -> default, above hi -> hi. */
static inline int
dn_bound(int v, int dflt, int lo, int hi)
{
	if (dflt < lo)
		dflt = lo;
	if (dflt > hi)
		dflt = hi;
	return (v < lo ? dflt : v > hi ? hi : v);
}

static inline void
dn_llm_walk(const uint8_t *msg, size_t len, const struct aqm_params *defaults,
    struct dn_llm_result *res)
{
	uint8_t arg[DN_EP_SIZE];
	size_t off = 0, left = len;
	int have_arg = 0;

	memset(res, 0, sizeof(*res));
	if (len < DN_ID_SIZE || len > DN_MSG_MAX ||
	    rd32(msg + 4) != DN_API_VERSION) {
		res->error = EINVAL;
		return;
	}
	while (left >= DN_ID_SIZE) {
		const uint8_t *o = msg + off;
		uint16_t olen = (uint16_t)(o[0] | o[1] << 8);
		uint8_t type = o[2];

		if (olen < DN_ID_SIZE || left < olen) {
			res->error = EINVAL;
			return;
		}
		left -= olen;
		if (type == DN_TEXT) {
			/* dummynet copies 112 bytes whatever olen says */
			memset(arg, 0, sizeof(arg));
			memcpy(arg, o, olen < DN_EP_SIZE ? olen : DN_EP_SIZE);
			have_arg = 1;
		} else if (type == DN_FS) {
			struct llm_aqm_args a;
			struct aqm_params out;
			uint32_t flags, fs_nr;
			uint16_t eplen;
			char name[17];
			int qsize, error;

			if (olen != DN_FS_SIZE) {
				res->error = EINVAL;
				return;
			}
			fs_nr = rd32(o + 8);
			flags = rd32(o + 12);
			qsize = (int)rd32(o + 16);
			if (fs_nr == 0 || fs_nr >= 3 * DN_MAX_ID) {
				res->error = EINVAL;
				return;
			}
			qsize = flags & DN_QSIZE_BYTES ?
			    dn_bound(qsize, 16384, 1500, DN_BYTE_LIMIT) :
			    dn_bound(qsize, 50, 1, DN_SLOT_LIMIT);
			memcpy(name, arg + 8, 16);
			name[16] = '\0';
			eplen = (uint16_t)(arg[0] | arg[1] << 8);
			if (have_arg && name[0] != '\0' && eplen >= DN_EP_SIZE &&
			    strcasecmp(name, "llm") == 0 &&
			    arg[3] == DN_AQM_PARAMS) {
				memset(&a, 0, sizeof(a));
				a.ep_len = eplen;
				a.ep_min = DN_EP_SIZE;
				a.fallback = rd64s(arg + 32);
				a.qsize = qsize;
				a.qsize_bytes = (flags & DN_QSIZE_BYTES) != 0;
				error = llm_aqm_parse(&a, defaults, &out);
				if (error == 0) {
					res->configs++;
					res->last = out;
				} else
					res->refused++;
			}
		}
		/* DN_CMD_CONFIG, DN_LINK, DN_SCH, ...: not llm's business */
		off += olen;
	}
}

#endif /* DNMSG_WALK_H */
