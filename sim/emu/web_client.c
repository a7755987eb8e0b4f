/*
 * aqmllm-web-client: the emulator's web traffic, finite TCP transfers from a
 * schedule.
 *
 *   aqmllm-web-client --schedule FILE [--t0-ns NS] [--deadline-s S]
 *       [--out FILE] [--max-open N] [--rt-priority 0-99]
 *
 * Schedule: one transfer per line, "ID START_S SIZE_BYTES DST_IPV4 PORT CC"
 * ('#' starts a comment).  At t0 + START_S (CLOCK_MONOTONIC; --t0-ns, else
 * the client's start) a transfer opens a connection with congestion
 * control CC (TCP_CONGESTION) and TCP_NODELAY (as ns-3's default
 * TcpNoDelay), writes SIZE_BYTES (the first 12 are the header of
 * web_wire.h), shuts its side down, and closes when the server has closed
 * its own: a clean close both ways.  Its ECN is the route's (the harness
 * puts the ecn feature on routes to ECN receivers); what was negotiated is
 * read back with TCP_INFO.
 *
 * One JSON line per transfer, when it ends:
 *   {"id", "dst", "cc", "size", "sched_ns", "connect_ns", "estab_ns",
 *    "written_ns", "closed_ns", "bytes_written", "ecn", "retrans",
 *    "rtt_us", "error"}
 * connect_ns is taken just before connect(): the start of the flow
 * completion time (its end is the server's last_ns).  A transfer not done
 * by t0 + --deadline-s is closed and reported with an error.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gen_common.h"
#include "web_wire.h"

#define	PROG	"aqmllm-web-client"
#define	MAX_EV	256
#define	CC_LEN	16

enum { T_WAIT, T_CONNECTING, T_WRITING, T_DRAINING, T_DONE };

struct xfer {
	uint32_t id;
	uint32_t size;
	uint64_t sched_ns;
	struct sockaddr_in dst;
	char cc[CC_LEN];
	int fd, state;
	uint64_t connect_ns, estab_ns, written_ns, closed_ns, sent;
	int ecn;
	uint32_t retrans, rtt_us;
	const char *error;
};

static struct xfer *X;
static size_t nx;
static FILE *out;
static volatile sig_atomic_t want_quit;

static void
on_term(int sig)
{
	(void)sig;
	want_quit = 1;
}

static int
by_start(const void *a, const void *b)
{
	const struct xfer *x = a, *y = b;

	return (x->sched_ns < y->sched_ns ? -1 : x->sched_ns > y->sched_ns);
}

static void
load_schedule(const char *path, uint64_t t0)
{
	char line[512], ip[64], cc[64];
	unsigned long long id, size, port;
	double start;
	size_t cap = 0, lineno = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, PROG ": cannot read --schedule %s: %s\n", path,
		    strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *hash = strchr(line, '#'), extra[2];
		struct xfer *x;

		lineno++;
		if (hash != NULL)
			*hash = '\0';
		if (strspn(line, " \t\r\n") == strlen(line))
			continue;
		if (sscanf(line, "%llu %lf %llu %63s %llu %63s %1s", &id, &start,
		    &size, ip, &port, cc, extra) != 6 || !(start >= 0) ||
		    start > 86400 || size == 0 || size > 0xffffffffULL ||
		    port == 0 || port > 65535 || id > 0xffffffffULL ||
		    strlen(cc) >= CC_LEN) {
			fprintf(stderr, PROG ": %s:%zu: expected 'ID START_S "
			    "SIZE_BYTES DST_IPV4 PORT CC' (size 1..2^32-1)\n",
			    path, lineno);
			exit(2);
		}
		if (nx == cap) {
			cap = cap ? cap * 2 : 1024;
			X = realloc(X, cap * sizeof(*X));
			if (X == NULL) {
				fprintf(stderr, PROG ": out of memory\n");
				exit(1);
			}
		}
		x = &X[nx];
		memset(x, 0, sizeof(*x));
		x->dst.sin_family = AF_INET;
		if (inet_pton(AF_INET, ip, &x->dst.sin_addr) != 1) {
			fprintf(stderr, PROG ": %s:%zu: '%s' is not an IPv4 "
			    "address\n", path, lineno, ip);
			exit(2);
		}
		x->dst.sin_port = htons((uint16_t)port);
		x->id = (uint32_t)id;
		/* the header travels inside the transfer: never shorter */
		x->size = size < WEB_HDR ? WEB_HDR : (uint32_t)size;
		x->sched_ns = t0 + (uint64_t)(start * 1e9);
		snprintf(x->cc, sizeof(x->cc), "%s", cc);
		x->fd = -1;
		x->error = "";
		nx++;
	}
	fclose(f);
	qsort(X, nx, sizeof(*X), by_start);
}

static void
report(struct xfer *x)
{
	fprintf(out, "{\"id\": %u, \"dst\": \"%s:%u\", \"cc\": \"%s\", "
	    "\"size\": %u, \"sched_ns\": %llu, \"connect_ns\": %llu, "
	    "\"estab_ns\": %llu, \"written_ns\": %llu, \"closed_ns\": %llu, "
	    "\"bytes_written\": %llu, \"ecn\": %d, \"retrans\": %u, "
	    "\"rtt_us\": %u, \"error\": \"%s\"}\n", x->id,
	    inet_ntoa(x->dst.sin_addr), ntohs(x->dst.sin_port), x->cc, x->size,
	    (unsigned long long)x->sched_ns, (unsigned long long)x->connect_ns,
	    (unsigned long long)x->estab_ns, (unsigned long long)x->written_ns,
	    (unsigned long long)x->closed_ns, (unsigned long long)x->sent,
	    x->ecn, x->retrans, x->rtt_us, x->error);
}

static void
tcp_info(struct xfer *x)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(x->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
		x->ecn = (ti.tcpi_options & TCPI_OPT_ECN) != 0;
		x->retrans = ti.tcpi_total_retrans;
		x->rtt_us = ti.tcpi_rtt;
	}
}

static void
end(struct xfer *x, int ep, const char *error)
{
	if (x->fd >= 0) {
		if (x->state != T_CONNECTING)
			tcp_info(x);
		epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
		close(x->fd);
		x->fd = -1;
	}
	x->error = error;
	x->state = T_DONE;
	report(x);
}

static void
start(struct xfer *x, int ep, uint64_t now)
{
	struct epoll_event ev;
	int one = 1;

	x->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		x->connect_ns = now;
		end(x, ep, "no socket (descriptors exhausted?)");
		return;
	}
	if (setsockopt(x->fd, IPPROTO_TCP, TCP_CONGESTION, x->cc,
	    (socklen_t)strlen(x->cc)) != 0) {
		x->connect_ns = now;
		end(x, ep, "this kernel lacks the congestion control");
		return;
	}
	(void)setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	x->state = T_CONNECTING;
	x->connect_ns = gen_now_ns();
	if (connect(x->fd, (struct sockaddr *)&x->dst, sizeof(x->dst)) != 0 &&
	    errno != EINPROGRESS) {
		end(x, ep, "connect failed");
		return;
	}
	ev.events = EPOLLOUT;
	ev.data.ptr = x;
	epoll_ctl(ep, EPOLL_CTL_ADD, x->fd, &ev);
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
writable(struct xfer *x, int ep, uint64_t now)
{
	static uint8_t zeros[1 << 16];
	uint8_t hdr[WEB_HDR];
	struct epoll_event ev;
	int err = 0;
	socklen_t len = sizeof(err);
	ssize_t w;

	if (x->state == T_CONNECTING) {
		if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0) {
			end(x, ep, "connection refused or unreachable");
			return;
		}
		x->estab_ns = now;
		x->state = T_WRITING;
	}
	while (x->sent < x->size) {
		size_t k = x->size - x->sent;

		if (x->sent < WEB_HDR) {
			/* header and data in one write: with TCP_NODELAY a
			 * header of its own would be a segment of its own and
			 * could push the last one out of the initial window */
			struct iovec iov[2];

			put32(hdr, WEB_MAGIC);
			put32(hdr + 4, x->id);
			put32(hdr + 8, x->size);
			iov[0].iov_base = hdr + x->sent;
			iov[0].iov_len = WEB_HDR - x->sent;
			k -= iov[0].iov_len;
			iov[1].iov_base = zeros;
			iov[1].iov_len = k < sizeof(zeros) ? k : sizeof(zeros);
			w = writev(x->fd, iov, 2);
		} else
			w = write(x->fd, zeros, k < sizeof(zeros) ? k :
			    sizeof(zeros));
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			end(x, ep, "write failed (reset)");
			return;
		}
		x->sent += (uint64_t)w;
	}
	x->written_ns = gen_now_ns();
	shutdown(x->fd, SHUT_WR);
	x->state = T_DRAINING;
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = x;
	epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
}

static void
readable(struct xfer *x, int ep, uint64_t now)
{
	uint8_t buf[256];
	ssize_t r;

	for (;;) {
		r = read(x->fd, buf, sizeof(buf));
		if (r > 0)
			continue;	/* the server sends nothing; ignore */
		if (r == 0) {
			x->closed_ns = now;
			end(x, ep, "");
		} else if (errno != EAGAIN && errno != EINTR)
			end(x, ep, "reset before the server closed");
		return;
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "schedule", required_argument, NULL, 's' },
		{ "t0-ns", required_argument, NULL, 't' },
		{ "deadline-s", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' },
		{ "max-open", required_argument, NULL, 'm' },
		{ "rt-priority", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sched = NULL;
	uint64_t t0 = 0, now, deadline = 0, max_open = 4096, open_n = 0;
	double deadline_s = 0;
	size_t next = 0, done = 0, i;
	struct epoll_event evs[MAX_EV];
	struct sigaction sa;
	struct timespec ts;
	int ch, ep, n, k, prio = 0;

	out = stdout;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's': sched = optarg; break;
		case 't': t0 = gen_parse_u64(PROG, "--t0-ns", optarg, 1,
			    UINT64_MAX);
			break;
		case 'd': deadline_s = gen_parse_f64(PROG, "--deadline-s", optarg,
			    0.001, 86400);
			break;
		case 'o':
			if ((out = fopen(optarg, "w")) == NULL) {
				fprintf(stderr, PROG ": cannot write --out %s: %s\n",
				    optarg, strerror(errno));
				exit(2);
			}
			break;
		case 'm': max_open = gen_parse_u64(PROG, "--max-open", optarg, 1,
			    1 << 20);
			break;
		case 'P': prio = (int)gen_parse_u64(PROG, "--rt-priority", optarg,
			    0, 99);
			break;
		default:
			fprintf(stderr, "usage: " PROG " --schedule FILE [--t0-ns NS]"
			    " [--deadline-s S] [--out FILE] [--max-open N] "
			    "[--rt-priority 0-99]\n");
			exit(2);
		}
	}
	if (sched == NULL || optind != argc) {
		fprintf(stderr, PROG ": --schedule is required\n");
		exit(2);
	}
	if (t0 == 0)
		t0 = gen_now_ns();
	load_schedule(sched, t0);
	if (deadline_s > 0)
		deadline = t0 + (uint64_t)(deadline_s * 1e9);
	gen_raise_nofile();
	ep = epoll_create1(EPOLL_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	gen_realtime(PROG, prio);

	while (done < nx && !want_quit) {
		now = gen_now_ns();
		while (next < nx && X[next].sched_ns <= now && open_n < max_open) {
			start(&X[next], ep, now);
			if (X[next].state == T_DONE)
				done++;	/* failed at once, reported */
			else
				open_n++;
			next++;
		}
		if (deadline != 0 && now >= deadline)
			break;
		/* sleep until the next start (if a slot is free) or an event */
		ts.tv_sec = 0;
		ts.tv_nsec = 200 * 1000 * 1000;
		if (next < nx && open_n < max_open) {
			uint64_t d = X[next].sched_ns > now ? X[next].sched_ns - now :
			    0;

			if (d < 200 * 1000 * 1000ULL) {
				ts.tv_sec = 0;
				ts.tv_nsec = (long)d;
			}
		}
		n = epoll_pwait2(ep, evs, MAX_EV, &ts, NULL);
		now = gen_now_ns();
		for (k = 0; k < n; k++) {
			struct xfer *x = evs[k].data.ptr;

			if (x->state == T_CONNECTING || x->state == T_WRITING)
				writable(x, ep, now);
			else if (x->state == T_DRAINING)
				readable(x, ep, now);
			if (x->state == T_DONE) {
				open_n--;
				done++;
			}
		}
	}
	for (i = 0; i < nx; i++)
		if (X[i].state != T_DONE) {
			if (i >= next)
				X[i].connect_ns = 0;
			end(&X[i], ep, i < next ? "unfinished at the deadline" :
			    "not started by the deadline");
		}
	if (out != stdout)
		fclose(out);
	return (0);
}
