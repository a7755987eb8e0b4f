/*
 * The web transfer's in-band header: the first WEB_HDR bytes of every
 * transfer's payload (they count towards its size), so the server can name
 * the transfer it received and check it got all of it.  Big-endian.
 */
#ifndef AQMLLM_WEB_WIRE_H
#define AQMLLM_WEB_WIRE_H

#include <stdint.h>

#define	WEB_MAGIC	0x41515742U	/* "AQWB" */
#define	WEB_HDR		12		/* magic, transfer id, size */

#endif /* AQMLLM_WEB_WIRE_H */
