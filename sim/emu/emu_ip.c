/*
 * IP headers for emu-router: what the core needs from a packet (ECN
 * codepoint, flow hash, the host on side B) and CE marking, with the IPv4
 * header checksum updated incrementally; a self-test of the latter.
 */
#include <string.h>

#include "emu.h"

static uint16_t
csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ((uint16_t)s);
}

/* Full IPv4 header checksum (the self-test's reference). */
static uint16_t
ip4_csum(const uint8_t *h, size_t hlen)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i < hlen; i += 2)
		if (i != 10)
			s += (uint32_t)(h[i] << 8 | h[i + 1]);
	return ((uint16_t)~csum_fold(s));
}

/* Set CE; for IPv4 update the checksum incrementally (RFC 1624, eqn. 3). */
void
set_ce(uint8_t *p, uint32_t len)
{
	uint16_t oldw, neww, hc;
	uint32_t s;

	if (len >= 20 && (p[0] >> 4) == 4) {
		oldw = (uint16_t)(p[0] << 8 | p[1]);
		p[1] |= AQMLLM_ECN_CE;
		neww = (uint16_t)(p[0] << 8 | p[1]);
		hc = (uint16_t)(p[10] << 8 | p[11]);
		s = (uint16_t)~hc + (uint32_t)(uint16_t)~oldw + neww;
		hc = (uint16_t)~csum_fold(s);
		p[10] = (uint8_t)(hc >> 8);
		p[11] = (uint8_t)hc;
	} else if (len >= 40 && (p[0] >> 4) == 6)
		p[1] |= AQMLLM_ECN_CE << 4;
}

static uint32_t
mix32(uint32_t h, uint32_t v)
{
	h ^= v;
	h *= 0x9e3779b1U;
	return (h ^ (h >> 15));
}

/*
 * Parse what the core needs: ECN codepoint, flow hash, and the address
 * on side B (destination forward, source reverse) for the host delay.
 * Returns -1 for anything that is not a well-formed IP packet.
 */
int
parse(const uint8_t *p, uint32_t len, int dir, uint8_t *ecn, uint32_t *hash,
    uint32_t *baddr)
{
	uint32_t h = 0x811c9dc5U, ihl, proto, i;
	uint32_t src, dst;

	*baddr = 0;
	if (len >= 20 && (p[0] >> 4) == 4) {
		ihl = (uint32_t)(p[0] & 0x0f) * 4;
		if (ihl < 20 || ihl > len || ((uint32_t)p[2] << 8 | p[3]) != len)
			return (-1);
		*ecn = p[1] & 3;
		memcpy(&src, p + 12, 4);
		memcpy(&dst, p + 16, 4);
		proto = p[9];
		h = mix32(mix32(mix32(h, src), dst), proto);
		if ((proto == 6 || proto == 17) && len >= ihl + 4)
			h = mix32(h, (uint32_t)p[ihl] << 24 | (uint32_t)p[ihl + 1]
			    << 16 | (uint32_t)p[ihl + 2] << 8 | p[ihl + 3]);
		*baddr = dir == DIR_FWD ? dst : src;
	} else if (len >= 40 && (p[0] >> 4) == 6) {
		if (((uint32_t)p[4] << 8 | p[5]) + 40 != len)
			return (-1);
		*ecn = (p[1] >> 4) & 3;
		for (i = 8; i < 40; i += 4)
			h = mix32(h, (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
			    (uint32_t)p[i + 2] << 8 | p[i + 3]);
		h = mix32(h, p[6]);
	} else
		return (-1);
	*hash = h;
	return (0);
}

/* Incremental CE checksums against full recomputation on random headers. */
int
ip_selftest(void)
{
	uint8_t h[60], v6[40];
	uint32_t i, ihl, fails = 0, s = 12345;
	uint16_t c;

	for (i = 0; i < 200000; i++) {
		uint32_t k;

		ihl = 20 + 4 * (i % 11);
		for (k = 0; k < ihl; k++) {
			s = s * 1103515245 + 12345;
			h[k] = (uint8_t)(s >> 16);
		}
		h[0] = (uint8_t)(0x40 | ihl / 4);
		c = ip4_csum(h, ihl);
		h[10] = (uint8_t)(c >> 8);
		h[11] = (uint8_t)c;
		set_ce(h, ihl);
		if ((h[1] & 3) != 3 || ip4_csum(h, ihl) !=
		    (uint16_t)(h[10] << 8 | h[11]))
			fails++;
	}
	memset(v6, 0, sizeof(v6));
	v6[0] = 0x60;
	v6[1] = 0x1f;	/* traffic class 0x01: ECT(1), low nibble of flow */
	set_ce(v6, sizeof(v6));
	if (((v6[1] >> 4) & 3) != 3 || (v6[1] & 0x0f) != 0x0f || v6[0] != 0x60)
		fails++;
	printf("selftest: %u checks failed\n", fails);
	return (fails != 0);
}
