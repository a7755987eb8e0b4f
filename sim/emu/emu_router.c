/*
 * emu-router: the Linux stand-in for a dummynet pipe with the llm AQM.
 *
 * Moves real IP packets between two TUN devices (side A: the senders,
 * side B: the receivers).  Packets from A to B wait in one aqm_queue of
 * the portable core (two FIFOs, L and C) behind a link of the configured
 * rate, then in a delay line; packets from B to A (the ACKs) only cross a
 * delay line.  Decisions come from the core: the daemon's verdicts through
 * the shared-memory ring when one is attached and alive, else the fallback
 * AQM.  A mark sets CE in the IP header (IPv4 checksum updated).
 *
 *   emu-router --tun-a NAME --tun-b NAME --rate BPS [--delay-us US]
 *       [--host-delay IPV4=US]... [--limit PKTS] [--fallback NAME]
 *       [--ring PATH [--ring-entries N] [--verdict-timeout-us US]
 *       [--batch N] [--export packets|intervals|both] [--interval-us US]]
 *       [--pool N] [--log FILE] [--stats FILE] [--seed N]
 *       [--rt-priority 0-99]
 *   emu-router --selftest
 *   emu-router --evlog-replay SCRIPT --log FILE
 *
 * Delays are one way; a host delay applies to packets to (A->B) and from
 * (B->A) that address, as a per-flow RTT does in dummynet with one pipe per
 * flow.  Control: SIGUSR1 writes the statistics (JSON) to --stats; lines
 * on stdin: "rate BPS", "stats", "quit".  SIGTERM/SIGINT and "quit" exit
 * cleanly, writing the statistics.  Every time is CLOCK_MONOTONIC in ns.
 *
 * The per-packet log (--log) is the event log of the ns-3 harness, written
 * by the same writer (sim/evlog/aqmllm_evlog.h): one outcome row per packet,
 * times in ns since t0_ns.
 *
 * This file: options, set-up, the event loop and the control lines; the
 * rest is in emu.h's files.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"

struct emu E;

/* What the command line sets besides E. */
struct opts {
	const char *tun_a, *tun_b, *log_path;
	const char *replay;			/* --evlog-replay SCRIPT */
	uint64_t vtimeout_ns, seed;
	uint32_t limit, entries, batch, fb, pool;
	uint32_t export_mode, interval_us;	/* the ring's export, 0: defaults */
	int rt_prio;
};

static volatile sig_atomic_t want_stats, want_quit;

static void
on_usr1(int sig)
{
	(void)sig;
	want_stats = 1;
}

static void
on_term(int sig)
{
	(void)sig;
	want_quit = 1;
}

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "emu-router: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static int
tun_open(const char *name, char *out)
{
	struct ifreq ifr;
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		die("cannot open /dev/net/tun: %s (TUN support and root are "
		    "needed)", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) != 0)
		die("cannot create TUN device: %s", strerror(errno));
	snprintf(out, IFNAMSIZ, "%s", ifr.ifr_name);
	return (fd);
}

static uint64_t
parse_u64(const char *what, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo ||
	    v > hi) {
		fprintf(stderr, "emu-router: %s: '%s' is not an integer in "
		    "[%llu, %llu]\n", what, s, (unsigned long long)lo,
		    (unsigned long long)hi);
		exit(2);
	}
	return ((uint64_t)v);
}

static void
add_host(const char *arg)
{
	char buf[64], *eq;
	struct in_addr a;

	snprintf(buf, sizeof(buf), "%s", arg);
	eq = strchr(buf, '=');
	if (eq == NULL)
		die("--host-delay '%s': expected IPV4=US", arg);
	*eq = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		die("--host-delay: '%s' is not an IPv4 address", buf);
	if (E.nhosts == MAX_HOSTS)
		die("--host-delay: more than %s hosts", "64");
	E.hosts[E.nhosts].addr = a.s_addr;
	E.hosts[E.nhosts].delay_ns = parse_u64("--host-delay", eq + 1, 0,
	    10000000) * 1000;
	E.nhosts++;
}

static void
usage(void)
{
	uint32_t id;

	fprintf(stderr, "usage: emu-router --tun-a NAME --tun-b NAME --rate BPS "
	    "[--delay-us US] [--host-delay IPV4=US]... [--limit PKTS]\n"
	    "    [--fallback NAME] [--ring PATH] [--ring-entries N]"
	    " [--verdict-timeout-us US]\n    [--batch N] [--export packets|intervals|both]"
	    " [--interval-us US]\n    [--pool N] [--log FILE]"
	    " [--stats FILE] [--seed N]\n    [--rt-priority 0-99]\n       emu-router --selftest\n"
	    "       emu-router --evlog-replay SCRIPT --log FILE\n"
	    "fallbacks:");
	for (id = 0; aqm_alg_by_id(id) != NULL; id++)
		fprintf(stderr, " %s", aqm_alg_by_id(id)->name);
	fputc('\n', stderr);
	exit(2);
}

static void
control(char *line, uint64_t now)
{
	char *nl = strchr(line, '\n');

	if (nl != NULL)
		*nl = '\0';
	if (strncmp(line, "rate ", 5) == 0) {
		E.rate_bps = parse_u64("rate", line + 5, 1000, 100000000000ULL);
		E.q.par.link_rate_bps = E.rate_bps;
		E.rate_changes++;
	} else if (strcmp(line, "stats") == 0)
		want_stats = 1;
	else if (strcmp(line, "quit") == 0)
		want_quit = 1;
	else if (line[0] != '\0')
		fprintf(stderr, "emu-router: unknown command '%s' (rate BPS, "
		    "stats, quit)\n", line);
	(void)now;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "tun-a", required_argument, NULL, 'a' },
		{ "tun-b", required_argument, NULL, 'b' },
		{ "rate", required_argument, NULL, 'r' },
		{ "delay-us", required_argument, NULL, 'd' },
		{ "host-delay", required_argument, NULL, 'H' },
		{ "limit", required_argument, NULL, 'l' },
		{ "fallback", required_argument, NULL, 'f' },
		{ "ring", required_argument, NULL, 'R' },
		{ "ring-entries", required_argument, NULL, 'e' },
		{ "verdict-timeout-us", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'B' },
		{ "export", required_argument, NULL, 'x' },
		{ "interval-us", required_argument, NULL, 'i' },
		{ "pool", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'L' },
		{ "stats", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' },
		{ "rt-priority", required_argument, NULL, 'P' },
		{ "selftest", no_argument, NULL, 'T' },
		{ "evlog-replay", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->limit = 1000;
	o->entries = 4096;
	o->fb = AQMLLM_FB_DUALPI2;
	o->pool = 16384;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': o->tun_a = optarg; break;
		case 'b': o->tun_b = optarg; break;
		case 'r':
			E.rate_bps = parse_u64("--rate", optarg, 1000,
			    100000000000ULL);
			break;
		case 'd':
			E.delay_ns = parse_u64("--delay-us", optarg, 0,
			    10000000) * 1000;
			break;
		case 'H': add_host(optarg); break;
		case 'l':
			o->limit = (uint32_t)parse_u64("--limit", optarg, 2,
			    1 << 20);
			break;
		case 'R': E.ring_path = optarg; break;
		case 'e':
			o->entries = (uint32_t)parse_u64("--ring-entries", optarg,
			    AQMLLM_MIN_ENTRIES, AQMLLM_MAX_ENTRIES);
			break;
		case 't':
			o->vtimeout_ns = parse_u64("--verdict-timeout-us", optarg,
			    1, 4000000) * 1000;
			break;
		case 'B':
			o->batch = (uint32_t)parse_u64("--batch", optarg, 1,
			    AQMLLM_MAX_ENTRIES);
			break;
		case 'p':
			o->pool = (uint32_t)parse_u64("--pool", optarg, 64,
			    1 << 20);
			break;
		case 'x':
			o->export_mode = strcmp(optarg, "packets") == 0 ?
			    AQMLLM_EXPORT_PACKETS : strcmp(optarg, "intervals") == 0 ?
			    AQMLLM_EXPORT_INTERVALS : strcmp(optarg, "both") == 0 ?
			    AQMLLM_EXPORT_BOTH : 0;
			if (o->export_mode == 0)
				die("--export '%s': packets, intervals or both",
				    optarg);
			break;
		case 'i':
			o->interval_us = (uint32_t)parse_u64("--interval-us",
			    optarg, AQMLLM_IVL_MIN_NS / 1000, AQMLLM_IVL_MAX_NS / 1000);
			break;
		case 'L': o->log_path = optarg; break;
		case 'S': E.stats_path = optarg; break;
		case 's':
			o->seed = parse_u64("--seed", optarg, 0, UINT64_MAX);
			break;
		case 'T': exit(ip_selftest());
		case 'X': o->replay = optarg; break;
		case 'P':
			o->rt_prio = (int)parse_u64("--rt-priority", optarg, 0, 99);
			break;
		case 'f':
			if (aqm_alg_by_name(optarg) == NULL) {
				fprintf(stderr, "emu-router: unknown --fallback "
				    "'%s'\n", optarg);
				usage();
			}
			o->fb = aqm_alg_by_name(optarg)->id;
			break;
		default:
			usage();
		}
	}
	if (o->replay != NULL)
		return;
	if (o->tun_a == NULL || o->tun_b == NULL || E.rate_bps == 0 ||
	    optind != argc)
		usage();
	if (o->pool < o->limit + 64)
		die("--pool must exceed --limit by 64 buffers at least%s", "");
}

/*
 * Write the event log of a scripted sequence of outcomes through the same
 * log_event() the packet path calls (a test compares it with ns-3's writer).
 * SCRIPT lines: now_ns enq_ns event src ip-packet-in-hex.
 */
static int
evlog_replay(const char *script, const char *log_path)
{
	static struct pbuf b;
	char hex[2 * PKT_MAX + 1];
	unsigned long long now, enq;
	unsigned ev, src, byte;
	uint32_t hash, addr, i;
	uint8_t ecn;
	FILE *f;

	if (log_path == NULL)
		die("--evlog-replay needs --log%s", "");
	if ((f = fopen(script, "r")) == NULL)
		die("cannot open %s", script);
	if (aqmllm_evlog_open(&E.evlog, log_path, 0) != 0)
		die("cannot open --log: %s", strerror(errno));
	while (fscanf(f, "%llu %llu %u %u %4096s", &now, &enq, &ev, &src,
	    hex) == 5) {
		b.len = (uint32_t)strlen(hex) / 2;
		for (i = 0; i < b.len && sscanf(hex + 2 * i, "%2x", &byte) == 1;
		    i++)
			b.data[i] = (uint8_t)byte;
		if (ev >= AQMLLM_EV_COUNT || parse(b.data, b.len, DIR_FWD, &ecn,
		    &hash, &addr) != 0)
			die("bad line in the replay script %s", script);
		log_event(now, enq, &b, ecn, (uint8_t)src, (int)ev);
	}
	fclose(f);
	return (aqmllm_evlog_close(&E.evlog) != 0);
}

/* The core's queue and its FIFO storage, the ring, the buffers, the log. */
static void
setup_queue(const struct opts *o)
{
	struct aqm_params par;
	uint32_t cap = aqm_fifo_cap(o->limit);
	int cls, error;

	aqm_params_defaults(&par, o->fb);
	par.limit_pkts = o->limit;
	par.link_rate_bps = E.rate_bps;
	E.t0_ns = aqm_shm_now_ns();
	if (aqm_queue_init(&E.q, 0, &par, o->seed, E.t0_ns) != 0)
		die("invalid queue parameters%s", "");
	/* Fixed FIFO storage: the pool holds more buffers than the limit. */
	for (cls = 0; cls < 2; cls++) {
		E.slots[cls] = calloc(cap, sizeof(struct aqm_pkt));
		if (E.slots[cls] == NULL ||
		    aqm_queue_storage(&E.q, cls, E.slots[cls], cap, NULL) != 0)
			die("cannot allocate %s FIFO storage", "the");
	}
	if (E.ring_path != NULL) {
		error = aqm_shm_create(&E.shm, E.ring_path, o->entries,
		    o->entries, 1);
		if (error != 0) {
			fprintf(stderr, "emu-router: cannot create ring %s: %s\n",
			    E.ring_path, strerror(-error));
			exit(1);
		}
		E.ring = &E.shm.ring;
		if (aqm_ring_configure(E.ring, o->batch ? o->batch :
		    E.ring->batch_size, o->vtimeout_ns ? o->vtimeout_ns :
		    E.ring->verdict_timeout_ns) != 0)
			die("--batch must not exceed --ring-entries%s", "");
		if (aqm_ring_set_export(E.ring, o->export_mode ? o->export_mode :
		    AQMLLM_EXPORT_BOTH, (uint64_t)o->interval_us * 1000) != 0)
			die("--export/--interval-us refused by the ring%s", "");
	}
	if (pool_init(o->pool) != 0)
		die("cannot allocate %s packet buffers", "the");
	if (o->log_path != NULL &&
	    aqmllm_evlog_open(&E.evlog, o->log_path, E.t0_ns) != 0)
		die("cannot open --log: %s", strerror(errno));
}

/* The TUN devices, signals, scheduling; then the ready line. */
static void
setup_process(const struct opts *o)
{
	struct sigaction sa;

	E.fd[0] = tun_open(o->tun_a, E.name[0]);
	E.fd[1] = tun_open(o->tun_b, E.name[1]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * dummynet runs in the kernel, where no user process preempts it: with
	 * --rt-priority the router gets SCHED_FIFO, so traffic generators and
	 * the daemon sharing its cores do not run ahead of it.
	 */
	if (o->rt_prio > 0) {
		struct sched_param sp = { .sched_priority = o->rt_prio };

		if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
			fprintf(stderr, "emu-router: --rt-priority %d refused "
			    "(%s); running at normal priority\n", o->rt_prio,
			    strerror(errno));
	}
	/* Short sleeps must be short: 1 us timer slack. */
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

	printf("{\"ready\": true, \"tun_a\": \"%s\", \"tun_b\": \"%s\", "
	    "\"t0_ns\": %llu, \"pid\": %d}\n", E.name[0], E.name[1],
	    (unsigned long long)E.t0_ns, (int)getpid());
	fflush(stdout);
}

/* Complete lines on stdin are commands; returns 0 once stdin is closed. */
static int
read_control(uint64_t now)
{
	static char cmd[256];
	static size_t cmdlen;
	ssize_t n = read(0, cmd + cmdlen, sizeof(cmd) - 1 - cmdlen);
	char *nl;

	if (n == 0)
		return (0);
	if (n < 0)
		return (1);
	cmdlen += (size_t)n;
	cmd[cmdlen] = '\0';
	while ((nl = strchr(cmd, '\n')) != NULL) {
		*nl = '\0';
		control(cmd, now);
		memmove(cmd, nl + 1, cmdlen - (size_t)(nl + 1 - cmd) + 1);
		cmdlen -= (size_t)(nl + 1 - cmd);
	}
	if (cmdlen == sizeof(cmd) - 1)
		cmdlen = 0;	/* an absurd line */
	return (1);
}

/* SIGUSR1 or "stats": the file, timed (a slow write shows in the soak). */
static void
stats_now(void)
{
	uint64_t t;

	/* A fresh clock: the request may be newer than the loop's now. */
	want_stats = 0;
	t = aqm_shm_now_ns();
	write_stats(t);
	t = aqm_shm_now_ns() - t;
	if (t > E.max_stats_ns)
		E.max_stats_ns = t;
}

/*
 * The event loop: read both TUNs, serve the link, release the delay lines,
 * then sleep until the next release, the link's next slot or the tick.
 */
static void
run(void)
{
	uint64_t now, next, wake, t_top = 0, t_poll = 0, t_back = 0;
	struct pollfd pfd[3];
	struct timespec ts;
	int stdin_open = 1;

	while (!want_quit) {
		now = aqm_shm_now_ns();
		/* Where the time went since the last iteration's top. */
		if (t_back != 0)
			E.work_ns = (t_poll - t_top) + (now - t_back);
		t_top = now;
		rx(0, now);
		rx(1, now);
		serve(now);
		next = release(now);
		if (now - E.last_tick_ns >= TICK_NS) {
			E.last_tick_ns = now;
			note_alive(now);
			if (E.ring != NULL)
				aqm_ring_export_counters(E.ring, now);
		}
		if (want_stats)
			stats_now();
		wake = E.last_tick_ns + TICK_NS;
		if (next < wake)
			wake = next;
		if (queued(0) + queued(1) > 0 && E.link_free_ns < wake)
			wake = E.link_free_ns;
		pfd[0].fd = E.fd[0];
		pfd[1].fd = E.fd[1];
		pfd[2].fd = stdin_open ? 0 : -1;
		pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
		now = aqm_shm_now_ns();
		t_poll = now;
		if (wake > now) {
			ts.tv_sec = (time_t)((wake - now) / 1000000000ULL);
			ts.tv_nsec = (long)((wake - now) % 1000000000ULL);
			if (ppoll(pfd, 3, &ts, NULL) < 0 && errno != EINTR)
				die("ppoll: %s", strerror(errno));
			t_back = aqm_shm_now_ns();
			E.oversleep_ns = t_back > wake ? t_back - wake : 0;
		} else {
			pfd[2].revents = 0;
			t_back = now;
			E.oversleep_ns = 0;
		}
		if (stdin_open && (pfd[2].revents & (POLLIN | POLLHUP)))
			stdin_open = read_control(now);
	}
}

int
main(int argc, char **argv)
{
	struct opts o;

	parse_args(argc, argv, &o);
	if (o.replay != NULL)
		return (evlog_replay(o.replay, o.log_path));
	setup_queue(&o);
	setup_process(&o);
	run();
	write_stats(aqm_shm_now_ns());
	if (aqmllm_evlog_close(&E.evlog) != 0)
		fprintf(stderr, "emu-router: the event log is incomplete: %s\n",
		    strerror(errno));
	if (E.ring != NULL)
		aqm_shm_destroy(&E.shm, E.ring_path, 1);
	close(E.fd[0]);
	close(E.fd[1]);
	free(E.pool);
	free(E.slots[0]);
	free(E.slots[1]);
	return (0);
}
