/*
 * Fixed-width integer types for the portable core, from the kernel or
 * from the C library.  Nothing else from the OS is used by the core.
 */
#ifndef AQM_TYPES_H
#define AQM_TYPES_H

#if defined(AQMLLM_CDEF)
/* cffi knows the fixed-width types already */
#elif defined(_KERNEL)
#include <sys/types.h>
#include <sys/_null.h>
#include <sys/stdint.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

#endif /* AQM_TYPES_H */
