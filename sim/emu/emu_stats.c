/*
 * emu-router's statistics and diagnostics: the per-packet event log (the
 * ns-3 harness's format and writer, sim/evlog/aqmllm_evlog.h), the JSON
 * statistics file, daemon liveness transitions and the link's service
 * gaps that the soak explains.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "emu.h"

/* One outcome row of a forward packet (AQMLLM_EV_*); enq_ns 0: never queued. */
void
log_event(uint64_t now, uint64_t enq_ns, const struct pbuf *b, uint8_t ecn,
    uint8_t src, int ev)
{
	(void)aqmllm_evlog_packet(&E.evlog, now, enq_ns, b->data, b->len,
	    (uint8_t)ev, ecn, src);
}

static long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return (kb);
}

void
write_stats(uint64_t now)
{
	char tmp[4096];
	FILE *f;
	uint64_t held = 0;
	struct aqm_residual res;
	uint32_t i;

	if (E.stats_path == NULL)
		return;
	for (i = 0; i <= E.nhosts; i++)
		held += E.line[DIR_FWD][i].n;
	if (E.evlog.f != NULL)
		fflush(E.evlog.f);
	snprintf(tmp, sizeof(tmp), "%s.tmp", E.stats_path);
	if ((f = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "emu-router: cannot write %s: %s\n", tmp,
		    strerror(errno));
		return;
	}
	if (E.ring != NULL)
		aqm_ring_export_counters(E.ring, now);
	fprintf(f, "{\"t0_ns\": %llu, \"now_ns\": %llu, \"pid\": %d, "
	    "\"rss_kb\": %ld,\n", (unsigned long long)E.t0_ns,
	    (unsigned long long)now, (int)getpid(), rss_kb());
	fprintf(f, " \"rate_bps\": %llu, \"delay_ns\": %llu, \"limit_pkts\": %u, "
	    "\"fallback\": %u,\n", (unsigned long long)E.rate_bps,
	    (unsigned long long)E.delay_ns, E.q.par.limit_pkts, E.q.par.fb_id);
	fprintf(f, " \"rx_fwd\": %llu, \"rx_rev\": %llu, \"tx_fwd\": %llu, "
	    "\"tx_rev\": %llu, \"rx_fwd_bytes\": %llu, \"tx_fwd_bytes\": %llu,\n",
	    (unsigned long long)E.rx[0], (unsigned long long)E.rx[1],
	    (unsigned long long)E.tx[0], (unsigned long long)E.tx[1],
	    (unsigned long long)E.rx_bytes[0], (unsigned long long)E.tx_bytes[0]);
	fprintf(f, " \"aqm_drops\": %llu, \"tail_drops\": %llu, \"marks\": %llu, "
	    "\"pool_drops\": %llu, \"bad_pkts\": %llu, \"write_errors\": %llu, "
	    "\"read_errors\": %llu, \"rate_changes\": %llu,\n",
	    (unsigned long long)E.aqm_drops, (unsigned long long)E.tail_drops,
	    (unsigned long long)E.marks, (unsigned long long)E.pool_drops,
	    (unsigned long long)E.bad_pkts, (unsigned long long)E.write_errors,
	    (unsigned long long)E.read_errors,
	    (unsigned long long)E.rate_changes);
	fprintf(f, " \"queued\": [%u, %u], \"in_delay_lines\": %u, "
	    "\"pool_size\": %u, \"pool_in_use\": %u, \"pool_max_in_use\": %u, "
	    "\"max_service_gap_ns\": %llu,\n", queued(0), queued(1),
	    E.in_use - queued(0) - queued(1), E.pool_size, E.in_use,
	    E.max_in_use, (unsigned long long)E.max_gap_ns);
	/* Every forward packet is sent, dropped by a decision, held or lost. */
	fprintf(f, " \"in_line_fwd\": %llu, \"lost_fwd\": %llu, "
	    "\"fwd_unaccounted\": %lld,\n", (unsigned long long)held,
	    (unsigned long long)E.lost_fwd, (long long)(E.rx[0] - E.tx[0] -
	    E.aqm_drops - E.tail_drops - E.lost_fwd - queued(0) - queued(1) -
	    held));
	fprintf(f, " \"by_src\": {");
	for (i = 0; i < AQM_SRC_COUNT; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", aqm_src_name(i),
		    (unsigned long long)E.q.by_src[i]);
	fprintf(f, "},\n \"ring\": %s, \"ring_counters\": [",
	    E.ring != NULL ? "true" : "false");
	for (i = 0; E.ring != NULL && i < AQMLLM_CNT_COUNT; i++)
		fprintf(f, "%s%llu", i ? ", " : "",
		    (unsigned long long)E.ring->cnt[i]);
	aqm_queue_residual(&E.q, &res);
	fprintf(f, "],\n \"residual\": {\"log2_mult_c\": %d, \"log2_mult_l\": %d, "
	    "\"step_us\": %u, \"log2_target\": %d},", res.log2_mult[0],
	    res.log2_mult[1], res.step_us, res.log2_target);
	fprintf(f, "\n \"daemon_alive\": %d, \"alive_transitions\": [",
	    E.alive);
	for (i = 0; i < E.ntrans; i++)
		fprintf(f, "%s[%llu, %d]", i ? ", " : "",
		    (unsigned long long)E.trans[i].t_ns, E.trans[i].alive);
	fprintf(f, "],\n \"max_stats_write_ns\": %llu, \"service_gaps_total\": "
	    "%llu, \"service_gaps\": [", (unsigned long long)E.max_stats_ns,
	    (unsigned long long)E.gaps_total);
	for (i = 0; i < E.ngaps; i++)
		fprintf(f, "%s[%llu, %llu, %llu, %llu]", i ? ", " : "",
		    (unsigned long long)E.gaps[i].t_ns,
		    (unsigned long long)E.gaps[i].gap_ns,
		    (unsigned long long)E.gaps[i].oversleep_ns,
		    (unsigned long long)E.gaps[i].work_ns);
	fprintf(f, "]}\n");
	if (fclose(f) != 0 || rename(tmp, E.stats_path) != 0)
		fprintf(stderr, "emu-router: cannot write %s: %s\n",
		    E.stats_path, strerror(errno));
}

/* Record daemon liveness changes as the packet path sees them. */
void
note_alive(uint64_t now)
{
	int a;

	if (E.ring == NULL)
		return;
	a = aqm_ring_daemon_alive(E.ring, now) != 0;
	if (a == E.alive)
		return;
	E.alive = a;
	if (E.ntrans == MAX_TRANS) {
		memmove(&E.trans[0], &E.trans[1],
		    (MAX_TRANS - 1) * sizeof(E.trans[0]));
		E.ntrans--;
	}
	E.trans[E.ntrans].t_ns = now;
	E.trans[E.ntrans].alive = a;
	E.ntrans++;
}

void
note_gap(uint64_t now, uint64_t gap)
{
	uint32_t i, slot;

	if (gap > E.max_gap_ns)
		E.max_gap_ns = gap;
	if (gap < GAP_REPORT_NS)
		return;
	E.gaps_total++;
	/* Keep the longest ones: the shortest kept makes room. */
	if (E.ngaps < MAX_GAPS)
		slot = E.ngaps++;
	else {
		slot = 0;
		for (i = 1; i < MAX_GAPS; i++)
			if (E.gaps[i].gap_ns < E.gaps[slot].gap_ns)
				slot = i;
		if (E.gaps[slot].gap_ns >= gap)
			return;
	}
	E.gaps[slot].t_ns = now;
	E.gaps[slot].gap_ns = gap;
	E.gaps[slot].oversleep_ns = E.oversleep_ns;
	E.gaps[slot].work_ns = E.work_ns;
}
