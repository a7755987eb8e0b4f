/*
 * aqmllm-web-server: the receiving end of the emulator's web transfers.
 *
 *   aqmllm-web-server --port N [--bind IPV4] [--out FILE] [--rt-priority 0-99]
 *
 * Accepts connections, reads each until the client's FIN, then closes its
 * side (a clean close both ways), and writes one JSON line per connection:
 *
 *   {"id": 7, "peer": "10.77.1.1:40312", "accept_ns": ..., "first_ns": ...,
 *    "last_ns": ..., "bytes": 15000, "declared": 15000, "error": ""}
 *
 * last_ns is when the application read the transfer's last byte
 * (CLOCK_MONOTONIC, the clock the client stamps its connect() with): the
 * end of the flow completion time.  A transfer whose header is not ours,
 * or which ends short of its declared size, says so in "error".  First
 * line on stdout: {"ready": true, ...}.  SIGTERM ends it cleanly.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen_common.h"
#include "web_wire.h"

#define	PROG	"aqmllm-web-server"
#define	MAX_EV	256

struct conn {
	int fd;
	struct sockaddr_in peer;
	uint64_t accept_ns, first_ns, last_ns, bytes;
	uint8_t hdr[WEB_HDR];
	struct conn *next_free;
};

static volatile sig_atomic_t want_quit;
static FILE *out;
static uint64_t n_conns, n_errors;

static void
on_term(int sig)
{
	(void)sig;
	want_quit = 1;
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3]);
}

static void
finish(struct conn *c, const char *why)
{
	char peer[32];
	uint32_t id = 0, declared = 0;
	const char *err = why;

	if (c->bytes >= WEB_HDR) {
		if (get32(c->hdr) != WEB_MAGIC)
			err = "not a web transfer (bad header)";
		else {
			id = get32(c->hdr + 4);
			declared = get32(c->hdr + 8);
			if (err[0] == '\0' && c->bytes != declared)
				err = "received size differs from the declared one";
		}
	} else if (err[0] == '\0')
		err = "closed before the header";
	snprintf(peer, sizeof(peer), "%s:%u", inet_ntoa(c->peer.sin_addr),
	    ntohs(c->peer.sin_port));
	fprintf(out, "{\"id\": %u, \"peer\": \"%s\", \"accept_ns\": %llu, "
	    "\"first_ns\": %llu, \"last_ns\": %llu, \"bytes\": %llu, "
	    "\"declared\": %u, \"error\": \"%s\"}\n", id, peer,
	    (unsigned long long)c->accept_ns, (unsigned long long)c->first_ns,
	    (unsigned long long)c->last_ns, (unsigned long long)c->bytes,
	    declared, err);
	fflush(out);
	n_conns++;
	if (err[0] != '\0')
		n_errors++;
	close(c->fd);
	free(c);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },
		{ "rt-priority", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct epoll_event ev, evs[MAX_EV];
	static uint8_t buf[1 << 16];
	uint64_t port = 0, now;
	int ch, lfd, ep, one = 1, prio = 0, n, i;
	struct sigaction sa;

	out = stdout;
	addr.sin_addr.s_addr = htonl(INADDR_ANY);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			if (inet_pton(AF_INET, optarg, &addr.sin_addr) != 1) {
				fprintf(stderr, PROG ": --bind '%s' is not an IPv4 "
				    "address\n", optarg);
				exit(2);
			}
			break;
		case 'p': port = gen_parse_u64(PROG, "--port", optarg, 1, 65535);
			break;
		case 'o':
			if ((out = fopen(optarg, "w")) == NULL) {
				fprintf(stderr, PROG ": cannot write --out %s: %s\n",
				    optarg, strerror(errno));
				exit(2);
			}
			break;
		case 'P': prio = (int)gen_parse_u64(PROG, "--rt-priority", optarg,
			    0, 99);
			break;
		default:
			fprintf(stderr, "usage: " PROG " --port N [--bind IPV4] "
			    "[--out FILE] [--rt-priority 0-99]\n");
			exit(2);
		}
	}
	if (port == 0 || optind != argc) {
		fprintf(stderr, PROG ": --port is required\n");
		exit(2);
	}
	addr.sin_port = htons((uint16_t)port);
	gen_raise_nofile();
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) != 0 || bind(lfd, (struct sockaddr *)&addr,
	    sizeof(addr)) != 0 || listen(lfd, 4096) != 0) {
		fprintf(stderr, PROG ": cannot listen on port %llu: %s\n",
		    (unsigned long long)port, strerror(errno));
		return (1);
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;	/* NULL: the listening socket */
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	gen_realtime(PROG, prio);
	printf("{\"ready\": true, \"port\": %llu}\n", (unsigned long long)port);
	fflush(stdout);

	while (!want_quit) {
		n = epoll_wait(ep, evs, MAX_EV, 200);
		now = gen_now_ns();
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c == NULL) {
				for (;;) {
					struct sockaddr_in peer;
					socklen_t plen = sizeof(peer);
					int fd = accept4(lfd, (struct sockaddr *)&peer,
					    &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

					if (fd < 0)
						break;
					c = calloc(1, sizeof(*c));
					if (c == NULL) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->peer = peer;
					c->accept_ns = now;
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(c->fd, buf, sizeof(buf));

				if (r > 0) {
					now = gen_now_ns();
					if (c->bytes < WEB_HDR) {
						size_t k = WEB_HDR - c->bytes;

						if ((size_t)r < k)
							k = (size_t)r;
						memcpy(c->hdr + c->bytes, buf, k);
					}
					if (c->first_ns == 0)
						c->first_ns = now;
					c->last_ns = now;
					c->bytes += (uint64_t)r;
					continue;
				}
				if (r == 0)
					finish(c, "");
				else if (errno != EAGAIN && errno != EINTR)
					finish(c, "connection reset");
				break;
			}
		}
	}
	fprintf(stderr, PROG ": %llu connections, %llu with errors\n",
	    (unsigned long long)n_conns, (unsigned long long)n_errors);
	if (out != stdout)
		fclose(out);
	return (0);
}
