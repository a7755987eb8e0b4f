/*
 * aqmllm-prague-recv: the receiver of aqmllm-prague-send.  Counts unique
 * packets and bytes and those that arrived CE-marked (the ECN field read
 * with IP_RECVTOS), and acknowledges every --ack-every packets, or
 * --ack-delay-us after the first unacknowledged one, with the cumulative
 * counts and a bitmap of the packets below the largest (prague_wire.h).
 *
 *   aqmllm-prague-recv --bind IPV4 --port N [--ack-every N]
 *       [--ack-delay-us US] [--idle-timeout-s S] [--drop P]
 *       [--reorder P --reorder-depth N] [--seed N] [--rt-priority 0-99]
 *
 * --drop and --reorder impair the arriving stream for tests of the sender
 * (a packet dropped with probability P, or held back until N later packets
 * have arrived).  One-way delay (sender's send time to arrival; both
 * CLOCK_MONOTONIC of the one host) is kept as a histogram.
 *
 * It exits on the sender's FIN, SIGTERM, or --idle-timeout-s without
 * packets, printing one JSON summary line.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen_common.h"
#include "prague_wire.h"

#define	PROG		"aqmllm-prague-recv"
#define	WIN		8192		/* packet numbers remembered */
#define	OWD_BIN_NS	10000ULL	/* 10 us bins */
#define	OWD_BINS	200000		/* up to 2 s */
#define	MAX_HELD	256

struct held {
	uint64_t seq, send_ns;
	uint32_t len;
	uint8_t ecn;
	uint32_t left;		/* arrivals still to wait for */
};

static struct {
	int fd;
	struct sockaddr_in peer;
	int have_peer;
	uint32_t flow_id;
	uint8_t seen[WIN / 8];
	uint64_t largest, largest_arrival_ns, largest_send_ns;
	int have_any;
	uint64_t rx_pkts, rx_bytes, ce_pkts, ce_bytes, not_l4s;
	uint64_t by_ecn[4], dup, too_old, reordered, bad, strays;
	uint64_t imp_drops, imp_reorders, acks;
	uint64_t first_ns, last_ns;
	uint32_t pending;
	uint64_t ack_due_ns;
	uint32_t owd[OWD_BINS + 1];
	uint64_t owd_n, owd_max_ns;
	struct held held[MAX_HELD];
	uint32_t nheld;
	uint64_t rng;
} R;

static volatile sig_atomic_t want_quit;

static void
on_term(int sig)
{
	(void)sig;
	want_quit = 1;
}

/* xorshift64*: reproducible impairments from --seed */
static double
uniform(void)
{
	R.rng ^= R.rng >> 12;
	R.rng ^= R.rng << 25;
	R.rng ^= R.rng >> 27;
	return ((double)((R.rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0);
}

static int
seen_get(uint64_t seq)
{
	return ((R.seen[(seq % WIN) / 8] >> (seq % 8)) & 1);
}

static void
seen_set(uint64_t seq, int v)
{
	uint8_t *b = &R.seen[(seq % WIN) / 8];

	if (v)
		*b |= (uint8_t)(1u << (seq % 8));
	else
		*b &= (uint8_t)~(1u << (seq % 8));
}

static void
send_ack(uint64_t now)
{
	struct pw_ack a;
	uint64_t i, seq;

	memset(&a, 0, sizeof(a));
	a.h.magic = htonl(PW_MAGIC);
	a.h.type = PW_ACK;
	a.h.flow_id = htonl(R.flow_id);
	a.largest = htobe64(R.largest);
	a.echo_send_ns = htobe64(R.largest_send_ns);
	a.ack_delay_ns = htobe64(now - R.largest_arrival_ns);
	a.rx_pkts = htobe64(R.rx_pkts);
	a.rx_bytes = htobe64(R.rx_bytes);
	a.ce_pkts = htobe64(R.ce_pkts);
	a.ce_bytes = htobe64(R.ce_bytes);
	a.not_l4s_pkts = htobe64(R.not_l4s);
	for (i = 0; i < PW_ACK_BITS && i < R.largest; i++) {
		seq = R.largest - 1 - i;
		if (seen_get(seq))
			a.bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	(void)sendto(R.fd, &a, sizeof(a), 0, (struct sockaddr *)&R.peer,
	    sizeof(R.peer));
	R.acks++;
	R.pending = 0;
	R.ack_due_ns = 0;
}

/* One data packet as the transport sees it (after any impairment). */
static void
deliver(uint64_t seq, uint64_t send_ns, uint32_t len, uint8_t ecn,
    uint64_t now)
{
	uint64_t s, owd;

	if (!R.have_any || seq > R.largest) {
		if (R.have_any) {
			if (seq - R.largest >= WIN)
				memset(R.seen, 0, sizeof(R.seen));
			else
				for (s = R.largest + 1; s < seq; s++)
					seen_set(s, 0);
		}
		R.largest = seq;
		R.largest_arrival_ns = now;
		R.largest_send_ns = send_ns;
		R.have_any = 1;
	} else if (R.largest - seq >= WIN) {
		R.too_old++;
		return;
	} else if (seen_get(seq)) {
		R.dup++;
		return;
	} else
		R.reordered++;
	seen_set(seq, 1);
	R.rx_pkts++;
	R.rx_bytes += len;
	R.by_ecn[ecn & 3]++;
	if ((ecn & 3) == 3) {
		R.ce_pkts++;
		R.ce_bytes += len;
	} else if ((ecn & 3) != 1)
		R.not_l4s++;
	if (R.first_ns == 0)
		R.first_ns = now;
	R.last_ns = now;
	owd = now > send_ns ? now - send_ns : 0;
	R.owd[owd / OWD_BIN_NS < OWD_BINS ? owd / OWD_BIN_NS : OWD_BINS]++;
	R.owd_n++;
	if (owd > R.owd_max_ns)
		R.owd_max_ns = owd;
}

static void
arrive(uint64_t seq, uint64_t send_ns, uint32_t len, uint8_t ecn, uint64_t now,
    double drop_p, double reorder_p, uint32_t depth, uint32_t ack_every,
    uint64_t ack_delay_ns)
{
	uint32_t i;

	if (drop_p > 0 && uniform() < drop_p) {
		R.imp_drops++;
		return;
	}
	if (reorder_p > 0 && R.nheld < MAX_HELD && uniform() < reorder_p) {
		R.held[R.nheld++] = (struct held){ seq, send_ns, len, ecn, depth };
		R.imp_reorders++;
		return;
	}
	deliver(seq, send_ns, len, ecn, now);
	for (i = 0; i < R.nheld;) {
		if (--R.held[i].left == 0) {
			deliver(R.held[i].seq, R.held[i].send_ns, R.held[i].len,
			    R.held[i].ecn, now);
			R.held[i] = R.held[--R.nheld];
		} else
			i++;
	}
	if (R.pending++ == 0)
		R.ack_due_ns = now + ack_delay_ns;
	if (R.pending >= ack_every)
		send_ack(now);
}

static double
owd_pct(double q)
{
	uint64_t want = (uint64_t)(q * (double)R.owd_n), acc = 0;
	uint32_t i;

	if (R.owd_n == 0)
		return (0);
	for (i = 0; i <= OWD_BINS; i++) {
		acc += R.owd[i];
		if (acc > want)
			return ((double)(i * OWD_BIN_NS + OWD_BIN_NS / 2) / 1e6);
	}
	return ((double)R.owd_max_ns / 1e6);
}

static void
summary(void)
{
	double secs = R.last_ns > R.first_ns ? (double)(R.last_ns - R.first_ns) /
	    1e9 : 0;

	printf("{\"summary\": true, \"rx_pkts\": %llu, \"rx_bytes\": %llu, "
	    "\"ce_pkts\": %llu, \"ce_bytes\": %llu, \"ce_fraction\": %.6f, "
	    "\"arrived\": {\"not-ect\": %llu, \"ect1\": %llu, \"ect0\": %llu, "
	    "\"ce\": %llu}, \"dup_pkts\": %llu, \"too_old_pkts\": %llu, "
	    "\"reordered_pkts\": %llu, \"impaired_drops\": %llu, "
	    "\"impaired_reorders\": %llu, \"acks\": %llu, \"bad_pkts\": %llu, "
	    "\"stray_pkts\": %llu, \"first_ns\": %llu, \"last_ns\": %llu, "
	    "\"goodput_mbps\": %.4f, \"owd_ms\": {\"n\": %llu, \"p50\": %.3f, "
	    "\"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}}\n",
	    (unsigned long long)R.rx_pkts, (unsigned long long)R.rx_bytes,
	    (unsigned long long)R.ce_pkts, (unsigned long long)R.ce_bytes,
	    R.rx_bytes ? (double)R.ce_bytes / (double)R.rx_bytes : 0.0,
	    (unsigned long long)R.by_ecn[0], (unsigned long long)R.by_ecn[1],
	    (unsigned long long)R.by_ecn[2], (unsigned long long)R.by_ecn[3],
	    (unsigned long long)R.dup, (unsigned long long)R.too_old,
	    (unsigned long long)R.reordered, (unsigned long long)R.imp_drops,
	    (unsigned long long)R.imp_reorders, (unsigned long long)R.acks,
	    (unsigned long long)R.bad, (unsigned long long)R.strays,
	    (unsigned long long)R.first_ns, (unsigned long long)R.last_ns,
	    secs > 0 ? (double)R.rx_bytes * 8 / secs / 1e6 : 0.0,
	    (unsigned long long)R.owd_n, owd_pct(0.5), owd_pct(0.9),
	    owd_pct(0.99), (double)R.owd_max_ns / 1e6);
}

static void
usage(void)
{
	fprintf(stderr, "usage: " PROG " --bind IPV4 --port N [--ack-every N] "
	    "[--ack-delay-us US]\n    [--idle-timeout-s S] [--drop P] "
	    "[--reorder P --reorder-depth N] [--seed N]\n    "
	    "[--rt-priority 0-99]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "ack-every", required_argument, NULL, 'a' },
		{ "ack-delay-us", required_argument, NULL, 'd' },
		{ "idle-timeout-s", required_argument, NULL, 'i' },
		{ "drop", required_argument, NULL, 'D' },
		{ "reorder", required_argument, NULL, 'r' },
		{ "reorder-depth", required_argument, NULL, 'R' },
		{ "seed", required_argument, NULL, 's' },
		{ "rt-priority", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in addr = { .sin_family = AF_INET };
	const char *bind_s = NULL;
	uint64_t port = 0, ack_delay_ns = 1000 * 1000ULL, idle_ns, now, wake;
	uint64_t last_rx_ns;
	uint32_t ack_every = 2, depth = 3;
	double drop_p = 0, reorder_p = 0, idle_s = 10;
	int ch, one = 1, prio = 0, fin = 0, rcvbuf = 4 << 20;
	struct sigaction sa;
	struct pollfd pfd;
	struct timespec ts;

	R.rng = 0x9e3779b97f4a7c15ULL;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'b': bind_s = optarg; break;
		case 'p': port = gen_parse_u64(PROG, "--port", optarg, 1, 65535);
			break;
		case 'a': ack_every = (uint32_t)gen_parse_u64(PROG, "--ack-every",
			    optarg, 1, 64);
			break;
		case 'd': ack_delay_ns = gen_parse_u64(PROG, "--ack-delay-us",
			    optarg, 1, 100000) * 1000;
			break;
		case 'i': idle_s = gen_parse_f64(PROG, "--idle-timeout-s", optarg,
			    0.1, 86400);
			break;
		case 'D': drop_p = gen_parse_f64(PROG, "--drop", optarg, 0, 0.5);
			break;
		case 'r': reorder_p = gen_parse_f64(PROG, "--reorder", optarg, 0,
			    0.5);
			break;
		case 'R': depth = (uint32_t)gen_parse_u64(PROG, "--reorder-depth",
			    optarg, 1, 1000);
			break;
		case 's': R.rng ^= gen_parse_u64(PROG, "--seed", optarg, 0,
			    UINT64_MAX) * 0xff51afd7ed558ccdULL;
			if (R.rng == 0)
				R.rng = 1;
			break;
		case 'P': prio = (int)gen_parse_u64(PROG, "--rt-priority", optarg,
			    0, 99);
			break;
		default: usage();
		}
	}
	if (bind_s == NULL || port == 0 || optind != argc)
		usage();
	if (inet_pton(AF_INET, bind_s, &addr.sin_addr) != 1) {
		fprintf(stderr, PROG ": --bind '%s' is not an IPv4 address\n",
		    bind_s);
		exit(2);
	}
	addr.sin_port = htons((uint16_t)port);
	idle_ns = (uint64_t)(idle_s * 1e9);
	R.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* a roomy socket buffer (root may exceed rmem_max): the receiver is
	 * not to be the bottleneck */
	if (R.fd >= 0 && setsockopt(R.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
	    sizeof(rcvbuf)) != 0)
		(void)setsockopt(R.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
	if (R.fd < 0 || setsockopt(R.fd, IPPROTO_IP, IP_RECVTOS, &one,
	    sizeof(one)) != 0 || bind(R.fd, (struct sockaddr *)&addr,
	    sizeof(addr)) != 0) {
		fprintf(stderr, PROG ": cannot listen on %s:%llu: %s\n", bind_s,
		    (unsigned long long)port, strerror(errno));
		return (1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	gen_realtime(PROG, prio);
	printf("{\"ready\": true, \"bind\": \"%s\", \"port\": %llu}\n", bind_s,
	    (unsigned long long)port);
	fflush(stdout);

	pfd.fd = R.fd;
	pfd.events = POLLIN;
	last_rx_ns = gen_now_ns();
	while (!want_quit && !fin) {
		uint8_t buf[2048];
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct sockaddr_in from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh;
		struct cmsghdr *cm;
		const struct pw_data *d = (const struct pw_data *)buf;
		ssize_t n;
		uint8_t ecn;

		now = gen_now_ns();
		for (;;) {
			memset(&mh, 0, sizeof(mh));
			mh.msg_name = &from;
			mh.msg_namelen = sizeof(from);
			mh.msg_iov = &iov;
			mh.msg_iovlen = 1;
			mh.msg_control = cbuf;
			mh.msg_controllen = sizeof(cbuf);
			n = recvmsg(R.fd, &mh, 0);
			if (n < 0)
				break;
			now = gen_now_ns();
			ecn = 0;
			for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
			    cm = CMSG_NXTHDR(&mh, cm))
				if (cm->cmsg_level == IPPROTO_IP &&
				    cm->cmsg_type == IP_TOS)
					ecn = *(uint8_t *)CMSG_DATA(cm) & 3;
			if (n < (ssize_t)sizeof(struct pw_hdr) ||
			    ntohl(d->h.magic) != PW_MAGIC) {
				R.bad++;
				continue;
			}
			if (!R.have_peer) {
				R.peer = from;
				R.flow_id = ntohl(d->h.flow_id);
				R.have_peer = 1;
			} else if (ntohl(d->h.flow_id) != R.flow_id ||
			    from.sin_addr.s_addr != R.peer.sin_addr.s_addr ||
			    from.sin_port != R.peer.sin_port) {
				R.strays++;
				continue;
			}
			if (d->h.type == PW_FIN && n == (ssize_t)sizeof(struct
			    pw_fin)) {
				fin = 1;
				break;
			}
			if (d->h.type != PW_DATA || n < (ssize_t)sizeof(*d)) {
				R.bad++;
				continue;
			}
			last_rx_ns = now;
			arrive(be64toh(d->seq), be64toh(d->send_ns), (uint32_t)n,
			    ecn, now, drop_p, reorder_p, depth, ack_every,
			    ack_delay_ns);
		}
		if (R.pending && now >= R.ack_due_ns)
			send_ack(now);
		if (now - last_rx_ns >= idle_ns)
			break;
		wake = last_rx_ns + idle_ns;
		if (R.pending && R.ack_due_ns < wake)
			wake = R.ack_due_ns;
		if (wake > now && !fin) {
			ts.tv_sec = (time_t)((wake - now) / 1000000000ULL);
			ts.tv_nsec = (long)((wake - now) % 1000000000ULL);
			(void)ppoll(&pfd, 1, &ts, NULL);
		}
	}
	if (R.pending)
		send_ack(gen_now_ns());
	summary();
	fflush(stdout);
	close(R.fd);
	return (0);
}
