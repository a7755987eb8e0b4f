/*
 * The flowset's packet loss and queue size, as dn_enqueue() applies them
 * before an AQM sees a packet.  dummynet calls a scheduler's enqueue
 * without dn_enqueue(), and dn_enqueue() itself cannot serve the llm
 * scheduler (it queues the mbuf on the queue's own list), so the rules
 * are restated here, once, for both of llm's forms.
 */
#include "llm_glue.h"

int
llm_plr_lost(const int32_t plr[4], int32_t *state, uint32_t (*rnd)(void *),
    void *ctx)
{
	int lost;

	if (plr[0] == 0 && plr[1] == 0)
		return (0);
	if (plr[1] == 0)		/* no bad state: a Bernoulli loss */
		return ((int32_t)rnd(ctx) < plr[0]);
	if (*state == LLM_PL_BAD) {
		if ((int32_t)rnd(ctx) < plr[3])
			*state = LLM_PL_GOOD;
		lost = (int32_t)rnd(ctx) < plr[2];
	} else {
		if ((int32_t)rnd(ctx) < plr[1])
			*state = LLM_PL_BAD;
		lost = (int32_t)rnd(ctx) < plr[0];
	}
	return (lost);
}

int
llm_qsize_full(int qsize, int in_bytes, uint32_t qlen_pkts,
    uint64_t qlen_bytes, uint32_t len)
{
	if (qsize <= 0)
		return (0);		/* dummynet always bounds it to >= 1 */
	if (in_bytes)
		return (qlen_bytes + len > (uint64_t)qsize);
	return (qlen_pkts >= (uint32_t)qsize);
}
