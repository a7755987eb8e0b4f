/*
 * libFuzzer target: /dev/aqmllm requests as the kernel decides them
 * (kmod/freebsd/llm_ctl.c).  The input opens descriptors with any access
 * and makes any request (known or not) with any argument bytes; a model
 * of the device's ownership checks what no sequence may achieve: a
 * read-only descriptor changing the owner, two owners, a map or detach
 * by anyone but the owner, an attach with a foreign ABI or flags.
 */
#include <string.h>

#include "llm_glue.h"
#include "fuzz_input.h"

#define	NFD	4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin f = { data, size, 0 };
	int rd[NFD], wr[NFD], open_[NFD], owner = -1, k;

	for (k = 0; k < NFD; k++) {
		open_[k] = 1;
		rd[k] = 1;
		wr[k] = k != 0;		/* fd 0 is aqmllmctl's, read-only */
	}
	while (fin_left(&f)) {
		uint8_t op = take_u8(&f);
		int fd = (op >> 4) % NFD, own, error, was = owner;
		unsigned nr;

		if ((op & 0x0f) == 0x0f) {	/* close; reopen with new access */
			if (owner == fd)
				owner = -1;	/* the cdevpriv destructor */
			open_[fd] = !open_[fd];
			rd[fd] = take_u8(&f) & 1;
			wr[fd] = take_u8(&f) & 1;
			continue;
		}
		if (!open_[fd])
			continue;
		nr = op & 0x08 ? take_u32(&f) : op & 0x07;
		own = owner < 0 ? LLM_OWNER_NONE :
		    owner == fd ? LLM_OWNER_SELF : LLM_OWNER_OTHER;
		error = llm_ioctl_access(nr, rd[fd], wr[fd]);
		if (nr < AQMLLM_IOC_INFO_NR || nr > AQMLLM_IOC_MAP_NR)
			FUZZ_ASSERT(error == ENOTTY);
		if (error == 0 && nr == AQMLLM_IOC_ATTACH_NR) {
			struct aqmllm_attach at;

			at.abi_version = take_u8(&f) & 1 ? take_u32(&f) :
			    AQMLLM_ABI_VERSION;
			at.flags = take_u8(&f) & 1 ? take_u32(&f) : 0;
			error = llm_attach_decide(&at, own);
			if (error == 0) {
				FUZZ_ASSERT(at.abi_version == AQMLLM_ABI_VERSION);
				FUZZ_ASSERT(at.flags == 0);
				FUZZ_ASSERT(own != LLM_OWNER_OTHER);
				owner = fd;
			}
		} else if (error == 0 && nr == AQMLLM_IOC_DETACH_NR) {
			error = llm_detach_decide(own);
			if (error == 0) {
				FUZZ_ASSERT(owner == fd);
				owner = -1;
			}
		} else if (error == 0 && nr == AQMLLM_IOC_MAP_NR) {
			error = llm_map_decide(own);
			FUZZ_ASSERT(error != 0 || owner == fd);
		}
		/* Ownership moves only through a writable descriptor. */
		if (owner != was)
			FUZZ_ASSERT(wr[fd] && rd[fd] && error == 0);
		if (!wr[fd] && nr != AQMLLM_IOC_INFO_NR &&
		    nr != AQMLLM_IOC_STATS_NR)
			FUZZ_ASSERT(error != 0);
	}
	return (0);
}
