/*
 * agent: TCP/UDP/SCTP echo server and probe for the sctp-e2e suite.
 *
 * SCTP runs on usrsctp over raw IP sockets, because the nodes this agent is
 * made for have no kernel SCTP (or must not load it).  A usrsctp stack sees
 * every SCTP packet of its network namespace, and two stacks in one
 * namespace both answer and break each other's associations.  So exactly one
 * process per namespace, the `serve` daemon, owns the stack; `probe
 * --protocol sctp` asks that daemon over a unix socket to make the
 * association on its behalf.
 *
 *   agent serve [--tcp P,..] [--udp P,..] [--sctp P,..] [--name N] [--control PATH]
 *   agent probe --protocol tcp|udp|sctp --host H --port P [--source-port N]
 *               [--streams N] [--size B] [--timeout-ms N] [--message T] [--control PATH]
 *   agent version
 *
 * Control protocol (one request per unix stream connection):
 *   request:  "SCTP <numeric-addr> <port> <source-port|0> <streams> <timeout-ms> <msg-len>\n" <msg bytes>
 *   response: "<result> <ms> <reply-len> <detail-len>\n" <reply bytes> <detail bytes>
 * where result is connected|refused|timeout|error and reply is at most the
 * first 200 bytes of the reply on stream 0.
 */
#define _GNU_SOURCE
#define SCTP_DEBUG 1 /* only to get the prototype of usrsctp_sysctl_set_sctp_debug_on */

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <usrsctp.h>

#ifndef AGENT_VERSION
#define AGENT_VERSION "0.4.1"
#endif

#define MAX_MSG (1024 * 1024)     /* largest message served or probed */
#define MAX_STREAMS 64            /* --streams upper bound, and outbound streams offered */
#define MAX_PORTS 32              /* per protocol */
#define REPLY_PREVIEW 200         /* bytes of the reply shown in the probe's JSON */
#define SCTP_CHUNK 65536          /* usrsctp_recvv read size; messages are reassembled */
#define SCTP_BUFSPACE (4 * 1024 * 1024)
#define DEFAULT_CONTROL "/run/sctp-agent.sock"
#define THREAD_STACK (512 * 1024)

/* ---------------------------------------------------------------- utils */

static char g_name[256];
static char g_control[sizeof(((struct sockaddr_un *)0)->sun_path)];
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line per event, flushed at once: the suite reads pod logs as evidence. */
static void logev(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&g_log_mu);
	printf("%s.%03ldZ ", stamp, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&g_log_mu);
}

static void addr_str(const struct sockaddr *sa, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(out, n, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(out, n, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(out, n, "?");
	}
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int parse_ports(const char *s, int *ports)
{
	char buf[512], *save = NULL, *tok;
	int n = 0;
	long v;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_PORTS || !parse_long(tok, 1, 65535, &v))
			return -1;
		ports[n++] = (int)v;
	}
	return n;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool ends_with(const char *s, size_t slen, const char *suffix, size_t sufflen)
{
	return slen >= sufflen && memcmp(s + slen - sufflen, suffix, sufflen) == 0;
}

/* "NAME <msg>": every server reply, whatever the protocol. */
static char *make_reply(const char *msg, size_t len, size_t *outlen)
{
	size_t nl = strlen(g_name);
	char *out = malloc(nl + 1 + len);

	if (out == NULL)
		return NULL;
	memcpy(out, g_name, nl);
	out[nl] = ' ';
	memcpy(out + nl + 1, msg, len);
	*outlen = nl + 1 + len;
	return out;
}

static bool spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc == 0;
}

/* Options are "--key value" or "--key=value"; every option takes a value. */
struct opt {
	const char *name;
	const char *value;
};

static bool parse_opts(int argc, char **argv, struct opt *opts, size_t nopts)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq, *val;
		size_t klen;
		size_t j;

		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "agent: unexpected argument '%s'\n", a);
			return false;
		}
		a += 2;
		eq = strchr(a, '=');
		klen = eq ? (size_t)(eq - a) : strlen(a);
		for (j = 0; j < nopts; j++)
			if (strlen(opts[j].name) == klen && strncmp(opts[j].name, a, klen) == 0)
				break;
		if (j == nopts) {
			fprintf(stderr, "agent: unknown option '--%.*s'\n", (int)klen, a);
			return false;
		}
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "agent: option '--%s' needs a value\n", opts[j].name);
			return false;
		}
		opts[j].value = val;
	}
	return true;
}

static const char *opt_get(struct opt *opts, size_t nopts, const char *name)
{
	for (size_t j = 0; j < nopts; j++)
		if (strcmp(opts[j].name, name) == 0)
			return opts[j].value;
	return NULL;
}

/* ------------------------------------------------------------ TCP serve */

struct tcp_conn {
	int fd;
	int port;
	struct sockaddr_storage peer;
};

static void tcp_answer(struct tcp_conn *c, const char *peer, const char *msg, size_t len)
{
	size_t outlen;
	char *out = make_reply(msg, len, &outlen);

	if (out == NULL)
		return;
	logev("tcp/%d message from %s bytes=%zu", c->port, peer, len);
	if (!write_all(c->fd, out, outlen))
		logev("tcp/%d reply to %s failed: %s", c->port, peer, strerror(errno));
	free(out);
}

static void *tcp_conn_thread(void *arg)
{
	struct tcp_conn *c = arg;
	const size_t cap = MAX_MSG + 1; /* a full-size message plus its newline */
	char peer[80];
	char *buf = malloc(cap);
	size_t len = 0;

	addr_str((struct sockaddr *)&c->peer, peer, sizeof(peer));
	logev("tcp/%d connection from %s", c->port, peer);
	while (buf != NULL) {
		ssize_t n = read(c->fd, buf + len, cap - len);
		size_t scan = len, start = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (len > 0) /* the last message may lack its newline */
				tcp_answer(c, peer, buf, len);
			break;
		}
		len += (size_t)n;
		for (size_t i = scan; i < len; i++) {
			if (buf[i] == '\n') {
				tcp_answer(c, peer, buf + start, i + 1 - start);
				start = i + 1;
			}
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len == cap) { /* no newline within the limit: answer rather than stall */
			tcp_answer(c, peer, buf, len);
			len = 0;
		}
	}
	logev("tcp/%d connection from %s closed", c->port, peer);
	close(c->fd);
	free(buf);
	free(c);
	return NULL;
}

struct listener {
	int fd;
	int port;
};

static void *tcp_accept_thread(void *arg)
{
	struct listener *l = arg;

	for (;;) {
		struct tcp_conn *c = calloc(1, sizeof(*c));
		socklen_t sl = sizeof(c->peer);

		if (c == NULL) {
			sleep(1);
			continue;
		}
		c->port = l->port;
		c->fd = accept4(l->fd, (struct sockaddr *)&c->peer, &sl, SOCK_CLOEXEC);
		if (c->fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				logev("tcp/%d accept: %s", l->port, strerror(errno));
			free(c);
			continue;
		}
		if (!spawn(tcp_conn_thread, c)) {
			close(c->fd);
			free(c);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ UDP serve */

static void *udp_thread(void *arg)
{
	struct listener *l = arg;
	char *buf = malloc(65536);

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t sl = sizeof(peer);
		char ps[80];
		size_t outlen;
		char *out;
		ssize_t n = recvfrom(l->fd, buf, 65536, 0, (struct sockaddr *)&peer, &sl);

		if (n < 0) {
			if (errno != EINTR)
				logev("udp/%d recvfrom: %s", l->port, strerror(errno));
			continue;
		}
		addr_str((struct sockaddr *)&peer, ps, sizeof(ps));
		logev("udp/%d message from %s bytes=%zd", l->port, ps, n);
		out = make_reply(buf, (size_t)n, &outlen);
		if (out == NULL)
			continue;
		if (sendto(l->fd, out, outlen, 0, (struct sockaddr *)&peer, sl) < 0)
			logev("udp/%d reply to %s failed: %s", l->port, ps, strerror(errno));
		free(out);
	}
	return NULL;
}

static int inet_listen(int type, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------ usrsctp */

/*
 * Probe threads wait for their socket's events on one process-wide condition
 * variable.  A per-probe one would need its lifetime tied to usrsctp's upcall,
 * which may still be running on a usrsctp thread while the probe closes its
 * socket; a global one is never freed, and a spurious wake-up only costs a
 * re-check of usrsctp_get_events.
 */
static pthread_mutex_t g_wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake_cv;
static uint64_t g_wake_seq;

static void wake_upcall(struct socket *so, void *arg, int flags)
{
	(void)so;
	(void)arg;
	(void)flags;
	pthread_mutex_lock(&g_wake_mu);
	g_wake_seq++;
	pthread_cond_broadcast(&g_wake_cv);
	pthread_mutex_unlock(&g_wake_mu);
}

static uint64_t wake_seq(void)
{
	uint64_t s;

	pthread_mutex_lock(&g_wake_mu);
	s = g_wake_seq;
	pthread_mutex_unlock(&g_wake_mu);
	return s;
}

/* Wait until an upcall happened after `seen`, the deadline, or 50 ms (a safety net). */
static void wake_wait(uint64_t seen, int64_t deadline)
{
	int64_t until = mono_ms() + 50;
	struct timespec ts;

	if (until > deadline)
		until = deadline;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	{
		int64_t wait_ms = until - mono_ms();
		if (wait_ms <= 0)
			return;
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&g_wake_mu);
	while (g_wake_seq == seen) {
		if (pthread_cond_timedwait(&g_wake_cv, &g_wake_mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&g_wake_mu);
}

static void sctp_setopt_int(struct socket *so, int opt, int v)
{
	if (usrsctp_setsockopt(so, IPPROTO_SCTP, opt, &v, sizeof(v)) < 0)
		logev("sctp setsockopt %d: %s", opt, strerror(errno));
}

/*
 * usrsctp does not learn a path's MTU from the kernel: over raw IP it sends
 * packets of up to 1500 bytes whatever the interface allows, and a packet
 * bigger than the link's MTU never leaves (an overlay's pod interface has
 * 1450: VXLAN takes 50). Kernel SCTP sizes its packets by the route's MTU;
 * the agent does the nearest thing: the smallest MTU of this namespace's
 * interfaces (a pod has one), set on each association once it is up (an
 * endpoint default only applies where usrsctp found no route MTU, and it
 * always finds its own 1500). 0 when there is nothing to read: usrsctp's
 * own size stays.
 */
static uint32_t g_link_mtu;

static uint32_t lowest_link_mtu(void)
{
	struct ifaddrs *ifs, *i;
	uint32_t lowest = 0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || getifaddrs(&ifs) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	for (i = ifs; i != NULL; i = i->ifa_next) {
		struct ifreq ifr;

		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
		    !(i->ifa_flags & IFF_UP))
			continue;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->ifa_name);
		if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu >= 576 && (lowest == 0 || (uint32_t)ifr.ifr_mtu < lowest))
			lowest = (uint32_t)ifr.ifr_mtu;
	}
	freeifaddrs(ifs);
	close(fd);
	return lowest;
}

static void sctp_set_link_mtu(struct socket *so, sctp_assoc_t assoc)
{
	struct sctp_paddrparams pp;

	if (g_link_mtu == 0)
		return;
	memset(&pp, 0, sizeof(pp));
	pp.spp_assoc_id = assoc;
	/* Every path of the association: the wildcard address (its family must be set). */
	pp.spp_address.ss_family = AF_INET;
	pp.spp_flags = SPP_PMTUD_DISABLE;
	/*
	 * usrsctp adds the IPv4 and SCTP common headers (20 + 12) to the value
	 * given here (sctp_usrreq.c: net->mtu = spp_pathmtu + ovh), so the
	 * link's MTU less those is what makes its packets fit the link.
	 */
	pp.spp_pathmtu = g_link_mtu - 32;
	if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp)) < 0)
		logev("sctp setsockopt PEER_ADDR_PARAMS (path MTU %u): %s", g_link_mtu, strerror(errno));
}

/*
 * Refuse to add a userspace stack where another SCTP stack already answers
 * packets in this namespace.  The env var exists only so tests can fake a
 * kernel with SCTP.
 */
static void refuse_second_stack(void)
{
	const char *proc = getenv("SCTP_AGENT_PROC_NET_SCTP");
	const char *raw[] = { "/proc/net/raw", "/proc/net/raw6" };
	int fd;

	if (proc == NULL || *proc == '\0')
		proc = "/proc/net/sctp";
	if (access(proc, F_OK) == 0) {
		fprintf(stderr, "agent: kernel SCTP is active in this network namespace (%s exists); "
			"two SCTP stacks in one namespace both answer every packet and break associations, "
			"so this usrsctp agent will not start: use the agnhost agent on such nodes\n", proc);
		exit(3);
	}
	/* A raw socket for protocol 132 is what another usrsctp process holds. */
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		FILE *f = fopen(raw[i], "r");
		char line[512];

		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned int proto;
			if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x", &proto) == 1 && proto == IPPROTO_SCTP) {
				fprintf(stderr, "agent: another userspace SCTP stack already runs in this network "
					"namespace (a raw socket for protocol 132 is listed in %s); two SCTP stacks in "
					"one namespace both answer every packet and break associations: run one agent "
					"per namespace\n", raw[i]);
				exit(3);
			}
		}
		fclose(f);
	}
	/* usrsctp_init does not report a failed raw socket; it would just never hear anything. */
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_SCTP);
	if (fd < 0) {
		fprintf(stderr, "agent: cannot open a raw IP socket for SCTP (%s): the agent needs CAP_NET_RAW\n",
			strerror(errno));
		exit(1);
	}
	close(fd);
}

/*
 * usrsctp leaves its raw sockets at the kernel's default buffer size, which
 * a 1 MiB message or a burst of concurrent probes overflows: the kernel then
 * drops packets and SCTP has to retransmit.  The library does not expose the
 * sockets, so find them among our descriptors.
 */
static void grow_raw_buffers(void)
{
	const int size = SCTP_BUFSPACE;

	for (int fd = 0; fd < 256; fd++) {
		int type = 0, proto = 0;
		socklen_t l1 = sizeof(type), l2 = sizeof(proto);

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) < 0 || type != SOCK_RAW ||
		    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l2) < 0 || proto != IPPROTO_SCTP)
			continue;
		/* FORCE needs CAP_NET_ADMIN; without it the plain option is capped by rmem_max/wmem_max. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	}
}

static void sctp_stack_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g_wake_cv, &ca);

	/* Port 0: no UDP encapsulation, SCTP straight over raw IP like kernel SCTP. */
	usrsctp_init(0, NULL, NULL);
	grow_raw_buffers();
	g_link_mtu = lowest_link_mtu();
	usrsctp_sysctl_set_sctp_debug_on(SCTP_DEBUG_NONE);
	/* Answer INIT to a closed port with ABORT, as Linux does, so probes see "refused". */
	usrsctp_sysctl_set_sctp_blackhole(0);
	/* Large enough that a 1 MiB message fits a non-blocking send in one go. */
	usrsctp_sysctl_set_sctp_sendspace(SCTP_BUFSPACE);
	usrsctp_sysctl_set_sctp_recvspace(SCTP_BUFSPACE);
	usrsctp_sysctl_set_sctp_nr_outgoing_streams_default(MAX_STREAMS);
	/*
	 * RFC defaults wait 3 s before resending a lost INIT, i.e. never within a
	 * default probe; retrying after 0.5 s and then each second keeps a single
	 * lost packet from turning into a "timeout".
	 */
	usrsctp_sysctl_set_sctp_rto_initial_default(500);
	usrsctp_sysctl_set_sctp_init_rto_max_default(1000);
}

/* --------------------------------------------------------- SCTP serve */

/* A message being reassembled: partial delivery hands it out in pieces. */
struct pending {
	sctp_assoc_t assoc;
	uint16_t sid;
	bool overflow;
	char *buf;
	size_t len, cap;
	struct pending *next;
};

struct sctp_server {
	struct socket *so;
	int port;
	struct pending *pending;
};

static struct pending *pending_get(struct sctp_server *s, sctp_assoc_t assoc, uint16_t sid)
{
	struct pending *p;

	for (p = s->pending; p; p = p->next)
		if (p->assoc == assoc && p->sid == sid)
			return p;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->assoc = assoc;
	p->sid = sid;
	p->next = s->pending;
	s->pending = p;
	return p;
}

/* Drop reassembly state of an association (sid < 0: all its streams). */
static void pending_drop(struct sctp_server *s, sctp_assoc_t assoc, int sid)
{
	struct pending **pp = &s->pending;

	while (*pp) {
		struct pending *p = *pp;
		if (p->assoc == assoc && (sid < 0 || p->sid == sid)) {
			*pp = p->next;
			free(p->buf);
			free(p);
		} else {
			pp = &p->next;
		}
	}
}

static bool pending_append(struct pending *p, const char *data, size_t n)
{
	if (p->overflow || p->len + n > MAX_MSG) {
		p->overflow = true;
		return false;
	}
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : SCTP_CHUNK;
		char *nb;
		while (cap < p->len + n)
			cap *= 2;
		nb = realloc(p->buf, cap);
		if (nb == NULL) {
			p->overflow = true;
			return false;
		}
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
	return true;
}

static void sctp_server_notification(struct sctp_server *s, const union sctp_notification *n, size_t len)
{
	if (len < sizeof(n->sn_header))
		return;
	if (n->sn_header.sn_type == SCTP_ASSOC_CHANGE && len >= sizeof(n->sn_assoc_change)) {
		const struct sctp_assoc_change *ac = &n->sn_assoc_change;
		const char *what = "changed";
		switch (ac->sac_state) {
		case SCTP_COMM_UP: what = "up"; break;
		case SCTP_COMM_LOST: what = "lost"; break;
		case SCTP_RESTART: what = "restarted"; break;
		case SCTP_SHUTDOWN_COMP: what = "shut down"; break;
		case SCTP_CANT_STR_ASSOC: what = "could not start"; break;
		}
		logev("sctp/%d association %u %s (streams in=%u out=%u)", s->port, (unsigned)ac->sac_assoc_id,
		      what, ac->sac_inbound_streams, ac->sac_outbound_streams);
		if (ac->sac_state == SCTP_COMM_UP || ac->sac_state == SCTP_RESTART)
			sctp_set_link_mtu(s->so, ac->sac_assoc_id);
		else
			pending_drop(s, ac->sac_assoc_id, -1);
	} else if (n->sn_header.sn_type == SCTP_PARTIAL_DELIVERY_EVENT && len >= sizeof(n->sn_pdapi_event)) {
		const struct sctp_pdapi_event *pd = &n->sn_pdapi_event;
		logev("sctp/%d association %u partial delivery aborted on stream %u", s->port,
		      (unsigned)pd->pdapi_assoc_id, pd->pdapi_stream);
		pending_drop(s, pd->pdapi_assoc_id, (int)pd->pdapi_stream);
	}
}

static void sctp_server_reply(struct sctp_server *s, struct pending *p, const struct sctp_rcvinfo *ri,
			      const char *peer)
{
	struct sctp_sndinfo si;
	size_t outlen;
	char *out;

	logev("sctp/%d message from %s association %u stream %u bytes=%zu", s->port, peer,
	      (unsigned)p->assoc, p->sid, p->len);
	out = make_reply(p->buf ? p->buf : "", p->len, &outlen);
	if (out == NULL)
		return;
	memset(&si, 0, sizeof(si));
	si.snd_sid = p->sid;
	si.snd_flags = (ri->rcv_flags & SCTP_UNORDERED) ? SCTP_UNORDERED : 0;
	si.snd_ppid = ri->rcv_ppid;
	si.snd_assoc_id = p->assoc;
	if (usrsctp_sendv(s->so, out, outlen, NULL, 0, &si, sizeof(si), SCTP_SENDV_SNDINFO, 0) < 0)
		logev("sctp/%d reply to %s failed: %s", s->port, peer, strerror(errno));
	free(out);
}

static void *sctp_server_thread(void *arg)
{
	struct sctp_server *s = arg;
	char *chunk = malloc(SCTP_CHUNK);

	for (;;) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		struct sctp_rcvinfo ri;
		socklen_t infolen = sizeof(ri);
		unsigned int infotype = 0;
		int flags = 0;
		struct pending *p;
		char peer[80];
		ssize_t n;

		memset(&ri, 0, sizeof(ri));
		n = usrsctp_recvv(s->so, chunk, SCTP_CHUNK, (struct sockaddr *)&from, &fromlen, &ri, &infolen,
				  &infotype, &flags);
		if (n < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				logev("sctp/%d recv: %s", s->port, strerror(errno));
				usleep(100000);
			}
			continue;
		}
		if (flags & MSG_NOTIFICATION) {
			sctp_server_notification(s, (union sctp_notification *)chunk, (size_t)n);
			continue;
		}
		if (infotype != SCTP_RECVV_RCVINFO) {
			logev("sctp/%d message without receive info dropped", s->port);
			continue;
		}
		p = pending_get(s, ri.rcv_assoc_id, ri.rcv_sid);
		if (p == NULL)
			continue;
		pending_append(p, chunk, (size_t)n);
		if (!(flags & MSG_EOR))
			continue;
		addr_str((struct sockaddr *)&from, peer, sizeof(peer));
		if (p->overflow)
			logev("sctp/%d message from %s stream %u larger than %d bytes dropped", s->port, peer, p->sid,
			      MAX_MSG);
		else
			sctp_server_reply(s, p, &ri, peer);
		pending_drop(s, p->assoc, p->sid);
	}
	return NULL;
}

static struct socket *sctp_listen(int port)
{
	const uint16_t events[] = { SCTP_ASSOC_CHANGE, SCTP_PARTIAL_DELIVERY_EVENT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct socket *so;

	/* One-to-many: every association of the port arrives on this one socket. */
	so = usrsctp_socket(AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP, NULL, NULL, 0, NULL);
	if (so == NULL)
		return NULL;
	sctp_setopt_int(so, SCTP_NODELAY, 1);
	sctp_setopt_int(so, SCTP_RECVRCVINFO, 1);
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		struct sctp_event ev = { .se_assoc_id = SCTP_FUTURE_ASSOC, .se_type = events[i], .se_on = 1 };
		if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev)) < 0)
			logev("sctp/%d subscribe event %u: %s", port, events[i], strerror(errno));
	}
	if (usrsctp_bind(so, (struct sockaddr *)&sin, sizeof(sin)) < 0 || usrsctp_listen(so, 128) < 0) {
		int e = errno;
		usrsctp_close(so);
		errno = e;
		return NULL;
	}
	return so;
}

/* --------------------------------------------------------- SCTP probe */

struct result {
	const char *result; /* connected | refused | timeout | error */
	char reply[REPLY_PREVIEW + 1];
	size_t reply_len;
	char detail[512];
	long ms;
};

static void set_result(struct result *r, const char *result, const char *fmt, ...)
{
	va_list ap;

	r->result = result;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

static void set_reply(struct result *r, const char *buf, size_t len)
{
	r->reply_len = len < REPLY_PREVIEW ? len : REPLY_PREVIEW;
	memcpy(r->reply, buf, r->reply_len);
}

struct sctp_req {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int srcport;
	int streams;
	int timeout_ms;
	char *msg;
	size_t msglen;
};

/* usrsctp_recvv crashes on a NULL out-pointer, so always hand it all of them. */
static ssize_t sctp_recv_plain(struct socket *so, void *buf, size_t len, int *flags)
{
	struct sctp_rcvinfo ri;
	socklen_t infolen = sizeof(ri);
	unsigned int infotype = 0;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);

	*flags = 0;
	return usrsctp_recvv(so, buf, len, (struct sockaddr *)&from, &fromlen, &ri, &infolen, &infotype, flags);
}

static int sctp_so_error(struct socket *so)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (usrsctp_getsockopt(so, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return 0;
	return err;
}

static int sctp_state(struct socket *so)
{
	struct sctp_status st;
	socklen_t len = sizeof(st);

	memset(&st, 0, sizeof(st));
	if (usrsctp_getsockopt(so, IPPROTO_SCTP, SCTP_STATUS, &st, &len) < 0)
		return -1;
	return st.sstat_state;
}

static void sctp_fail_errno(struct result *r, int err, const char *what)
{
	if (err == ECONNREFUSED)
		set_result(r, "refused", "%s: ABORT received in answer to INIT (%s)", what, strerror(err));
	else if (err == ETIMEDOUT)
		set_result(r, "timeout", "%s: %s", what, strerror(err));
	else
		set_result(r, "error", "%s: %s", what, strerror(err));
}

/* Returns true once the association is established; fills r otherwise. */
static bool sctp_probe_connect(struct socket *so, const struct sctp_req *q, int64_t deadline, struct result *r)
{
	if (usrsctp_connect(so, (struct sockaddr *)&q->addr, q->addrlen) < 0 && errno != EINPROGRESS) {
		sctp_fail_errno(r, errno, "connect");
		return false;
	}
	for (;;) {
		uint64_t seen = wake_seq();
		int err = sctp_so_error(so);
		int state = sctp_state(so);

		if (err != 0) {
			sctp_fail_errno(r, err, "association");
			return false;
		}
		if (state == SCTP_ESTABLISHED) {
			/* One-to-one socket: its one association, whatever the id. */
			sctp_set_link_mtu(so, 0);
			return true;
		}
		if (state < 0 || state == SCTP_CLOSED) {
			/* The association is gone without a recorded error: ask recv why. */
			char b;
			int flags = 0;
			if (sctp_recv_plain(so, &b, 1, &flags) < 0 && errno != EWOULDBLOCK &&
			    errno != EAGAIN) {
				sctp_fail_errno(r, errno, "association");
				return false;
			}
		}
		if (mono_ms() >= deadline) {
			set_result(r, "timeout", "no INIT-ACK (or COOKIE-ACK) within %d ms", q->timeout_ms);
			return false;
		}
		wake_wait(seen, deadline);
	}
}

/* Send one message per stream and collect one complete reply per stream. */
static bool sctp_probe_exchange(struct socket *so, const struct sctp_req *q, int64_t deadline, struct result *r)
{
	char *chunk = malloc(SCTP_CHUNK);
	char *bufs[MAX_STREAMS] = { 0 };
	size_t lens[MAX_STREAMS] = { 0 }, caps[MAX_STREAMS] = { 0 };
	bool done[MAX_STREAMS] = { 0 };
	int sent = 0, received = 0;
	bool ok = false;

	if (chunk == NULL) {
		set_result(r, "error", "out of memory");
		return false;
	}
	while (received < q->streams) {
		uint64_t seen = wake_seq();
		bool progress = false;

		while (sent < q->streams) {
			struct sctp_sndinfo si = { .snd_sid = (uint16_t)sent };
			if (usrsctp_sendv(so, q->msg, q->msglen, NULL, 0, &si, sizeof(si), SCTP_SENDV_SNDINFO, 0) < 0) {
				if (errno == EWOULDBLOCK || errno == EAGAIN)
					break;
				sctp_fail_errno(r, errno, "send");
				goto out;
			}
			sent++;
			progress = true;
		}
		for (;;) {
			struct sctp_rcvinfo ri;
			socklen_t infolen = sizeof(ri);
			unsigned int infotype = 0;
			int flags = 0;
			ssize_t n;
			uint16_t sid;

			memset(&ri, 0, sizeof(ri));
			struct sockaddr_storage from;
			socklen_t fromlen = sizeof(from);
			n = usrsctp_recvv(so, chunk, SCTP_CHUNK, (struct sockaddr *)&from, &fromlen, &ri, &infolen,
					  &infotype, &flags);
			if (n < 0 && (errno == EWOULDBLOCK || errno == EAGAIN))
				break;
			if (n < 0) {
				sctp_fail_errno(r, errno, "receive");
				goto out;
			}
			if (n == 0) {
				set_result(r, "error", "association closed by the peer after %d of %d replies", received,
					   q->streams);
				goto out;
			}
			progress = true;
			if (flags & MSG_NOTIFICATION)
				continue;
			sid = ri.rcv_sid;
			if (sid >= q->streams || done[sid]) {
				set_result(r, "error", "unexpected reply on stream %u", sid);
				goto out;
			}
			if (lens[sid] + (size_t)n > MAX_MSG + sizeof(g_name) + 1) {
				set_result(r, "error", "reply on stream %u longer than expected", sid);
				goto out;
			}
			if (lens[sid] + (size_t)n > caps[sid]) {
				size_t cap = caps[sid] ? caps[sid] * 2 : SCTP_CHUNK;
				while (cap < lens[sid] + (size_t)n)
					cap *= 2;
				char *nb = realloc(bufs[sid], cap);
				if (nb == NULL) {
					set_result(r, "error", "out of memory");
					goto out;
				}
				bufs[sid] = nb;
				caps[sid] = cap;
			}
			memcpy(bufs[sid] + lens[sid], chunk, (size_t)n);
			lens[sid] += (size_t)n;
			if (!(flags & MSG_EOR))
				continue;
			done[sid] = true;
			received++;
			if (sid == 0)
				set_reply(r, bufs[0], lens[0]);
			if (!ends_with(bufs[sid], lens[sid], q->msg, q->msglen)) {
				if (sid != 0)
					set_reply(r, bufs[sid], lens[sid]);
				set_result(r, "error", "reply on stream %u does not end with the message sent", sid);
				goto out;
			}
		}
		if (received == q->streams)
			break;
		if (mono_ms() >= deadline) {
			set_result(r, "timeout", "association up but %d of %d replies within %d ms", received, q->streams,
				   q->timeout_ms);
			goto out;
		}
		if (!progress)
			wake_wait(seen, deadline);
	}
	ok = true;
out:
	for (int i = 0; i < MAX_STREAMS; i++)
		free(bufs[i]);
	free(chunk);
	return ok;
}

/* SHUTDOWN and wait for it to complete, so the ports are free for the next probe. */
static void sctp_probe_shutdown(struct socket *so)
{
	int64_t deadline = mono_ms() + 1000;
	char b[256];

	if (usrsctp_shutdown(so, SHUT_WR) < 0)
		return;
	while (mono_ms() < deadline) {
		uint64_t seen = wake_seq();
		int flags = 0;
		ssize_t n = sctp_recv_plain(so, b, sizeof(b), &flags);
		if (n == 0 || (n < 0 && errno != EWOULDBLOCK && errno != EAGAIN))
			return;
		if (n < 0)
			wake_wait(seen, deadline);
	}
}

/*
 * The address the kernel would send from to reach dst: a connected UDP
 * socket's local address (connect on UDP sends nothing).
 */
static bool route_source(const struct sockaddr_storage *dst, socklen_t dstlen, struct sockaddr_storage *src,
			 socklen_t *srclen)
{
	int fd = socket(dst->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (const struct sockaddr *)dst, dstlen) == 0 &&
	     getsockname(fd, (struct sockaddr *)src, srclen) == 0;
	close(fd);
	return ok;
}

static void sctp_probe(const struct sctp_req *q, struct result *r)
{
	struct sctp_initmsg im;
	struct socket *so;
	int64_t start = mono_ms(), deadline = start + q->timeout_ms;
	int af = q->addr.ss_family;
	bool ok = false;

	r->result = "error";
	so = usrsctp_socket(af, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
	if (so == NULL) {
		set_result(r, "error", "usrsctp_socket: %s", strerror(errno));
		return;
	}
	usrsctp_set_upcall(so, wake_upcall, NULL);
	usrsctp_set_non_blocking(so, 1);
	sctp_setopt_int(so, SCTP_NODELAY, 1);
	sctp_setopt_int(so, SCTP_RECVRCVINFO, 1);
	memset(&im, 0, sizeof(im));
	im.sinit_num_ostreams = (uint16_t)q->streams;
	im.sinit_max_instreams = MAX_STREAMS;
	if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof(im)) < 0)
		logev("sctp setsockopt INITMSG: %s", strerror(errno));

	/*
	 * Single-homed, as a pod is: bound to the one address the kernel would
	 * send from, the INIT lists no other address of this host. A client
	 * bound to every address lists them all, and the server then sends
	 * HEARTBEATs to those addresses directly: through kube-proxy's
	 * masquerade (which re-maps the source port) they arrive on a port this
	 * stack never used, it answers with ABORT (RFC 9260 8.4) and the server
	 * drops the association. That is SCTP multi-homing through NAT, not a
	 * property of the Service under test, so the probe leaves it out.
	 * Without a route, the wildcard as before: the probe then fails as the
	 * path does.
	 */
	{
		struct sockaddr_storage local;
		socklen_t ll = sizeof(local);
		bool routed = route_source(&q->addr, q->addrlen, &local, &ll);

		if (!routed) {
			memset(&local, 0, sizeof(local));
			local.ss_family = (sa_family_t)af;
			ll = af == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		}
		if (af == AF_INET6)
			((struct sockaddr_in6 *)&local)->sin6_port = htons((uint16_t)q->srcport);
		else
			((struct sockaddr_in *)&local)->sin_port = htons((uint16_t)q->srcport);
		/* A just-closed association may hold the port for a moment longer. */
		while (usrsctp_bind(so, (struct sockaddr *)&local, ll) < 0) {
			if (errno != EADDRINUSE || mono_ms() >= deadline) {
				set_result(r, "error", "bind source port %d: %s", q->srcport, strerror(errno));
				goto done;
			}
			usleep(10000);
		}
	}
	if (!sctp_probe_connect(so, q, deadline, r))
		goto done;
	if (!sctp_probe_exchange(so, q, deadline, r))
		goto done;
	r->ms = (long)(mono_ms() - start);
	set_result(r, "connected", "%s", "");
	ok = true;
	sctp_probe_shutdown(so);
done:
	if (!ok) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		/* Abort rather than linger: the association is already broken or unwanted. */
		usrsctp_setsockopt(so, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		r->ms = (long)(mono_ms() - start);
	}
	/*
	 * The upcall stays set through close. usrsctp's input and timer threads
	 * test so_upcall for NULL and then call it without the socket's lock,
	 * so clearing it here raced them into a call through NULL: the daemon
	 * died with SIGSEGV in sctp_common_input_processing (seen under load,
	 * with 18 probes at once). wake_upcall touches no socket, and usrsctp
	 * holds a reference on the socket while it calls it.
	 */
	usrsctp_close(so);
}

/* ------------------------------------------------------ control socket */

static void *control_conn_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char line[512], target[80], host[INET6_ADDRSTRLEN + 1], head[128];
	struct sctp_req q;
	struct result r;
	size_t n = 0;
	long port, src, streams, tmo, len;

	memset(&q, 0, sizeof(q));
	memset(&r, 0, sizeof(r));
	while (n < sizeof(line) - 1) {
		if (read(fd, line + n, 1) != 1)
			goto out;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	{
		char sport[16], ssrc[16], sstreams[16], stmo[16], slen[16];
		if (sscanf(line, "SCTP %46s %15s %15s %15s %15s %15s", host, sport, ssrc, sstreams, stmo, slen) != 6 ||
		    !parse_long(sport, 1, 65535, &port) || !parse_long(ssrc, 0, 65535, &src) ||
		    !parse_long(sstreams, 1, MAX_STREAMS, &streams) || !parse_long(stmo, 1, 3600000, &tmo) ||
		    !parse_long(slen, 1, MAX_MSG, &len)) {
			set_result(&r, "error", "bad control request");
			goto answer;
		}
	}
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&q.addr;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		q.addrlen = sizeof(*a6);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			q.addrlen = 0;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&q.addr;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		q.addrlen = sizeof(*a4);
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			q.addrlen = 0;
	}
	q.srcport = (int)src;
	q.streams = (int)streams;
	q.timeout_ms = (int)tmo;
	q.msglen = (size_t)len;
	q.msg = malloc(q.msglen);
	if (q.msg == NULL || !read_all(fd, q.msg, q.msglen))
		goto out;
	if (q.addrlen == 0) {
		set_result(&r, "error", "bad address '%s' in control request", host);
		goto answer;
	}
	sctp_probe(&q, &r);
	addr_str((struct sockaddr *)&q.addr, target, sizeof(target));
	logev("probe sctp %s source-port=%d streams=%d bytes=%zu -> %s %ld ms%s%s", target, q.srcport, q.streams,
	      q.msglen, r.result, r.ms, r.detail[0] ? ": " : "", r.detail);
answer:
	n = (size_t)snprintf(head, sizeof(head), "%s %ld %zu %zu\n", r.result, r.ms, r.reply_len, strlen(r.detail));
	if (write_all(fd, head, n) && write_all(fd, r.reply, r.reply_len))
		write_all(fd, r.detail, strlen(r.detail));
out:
	free(q.msg);
	close(fd);
	return NULL;
}

static int control_listen(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof(sun.sun_path)];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "agent: control path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		for (char *p = dir + 1; *p; p++) { /* mkdir -p */
			if (*p == '/') {
				*p = '\0';
				mkdir(dir, 0755);
				*p = '/';
			}
		}
		mkdir(dir, 0755);
	}
	/* A live daemon on the path means its stack already owns this namespace. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		fprintf(stderr, "agent: another agent already serves %s; run one agent per network namespace\n", path);
		close(fd);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "agent: control socket %s: %s\n", path, strerror(errno));
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------ serve */

static void on_term(int sig)
{
	(void)sig;
	if (g_control[0])
		unlink(g_control);
	_exit(0);
}

static void set_name(const char *name)
{
	const char *pod = getenv("POD_NAME");

	if (name && *name)
		snprintf(g_name, sizeof(g_name), "%s", name);
	else if (pod && *pod)
		snprintf(g_name, sizeof(g_name), "%s", pod);
	else if (gethostname(g_name, sizeof(g_name) - 1) != 0 || g_name[0] == '\0')
		snprintf(g_name, sizeof(g_name), "agent");
}

static const char SERVE_USAGE[] =
	"usage: agent serve [--tcp P[,P...]] [--udp P[,P...]] [--sctp P[,P...]] [--name NAME] [--control PATH]\n";

static int cmd_serve(int argc, char **argv)
{
	struct opt o[] = { { "tcp", NULL }, { "udp", NULL }, { "sctp", NULL }, { "name", NULL }, { "control", NULL } };
	const size_t no = sizeof(o) / sizeof(o[0]);
	int tcp[MAX_PORTS], udp[MAX_PORTS], sctp[MAX_PORTS];
	int ntcp = 0, nudp = 0, nsctp = 0, cfd = -1;
	bool use_sctp;
	struct sigaction sa;

	if (!parse_opts(argc, argv, o, no)) {
		fputs(SERVE_USAGE, stderr);
		return 2;
	}
	if ((opt_get(o, no, "tcp") && (ntcp = parse_ports(opt_get(o, no, "tcp"), tcp)) < 0) ||
	    (opt_get(o, no, "udp") && (nudp = parse_ports(opt_get(o, no, "udp"), udp)) < 0) ||
	    (opt_get(o, no, "sctp") && (nsctp = parse_ports(opt_get(o, no, "sctp"), sctp)) < 0)) {
		fprintf(stderr, "agent: ports must be a comma-separated list of 1..65535 (at most %d)\n", MAX_PORTS);
		fputs(SERVE_USAGE, stderr);
		return 2;
	}
	set_name(opt_get(o, no, "name"));
	/*
	 * The stack (and the control socket that fronts it) only when SCTP is
	 * wanted, so a TCP/UDP-only agent can run next to kernel SCTP.  A bare
	 * `agent serve` is the SCTP probe daemon.
	 */
	use_sctp = nsctp > 0 || opt_get(o, no, "control") != NULL || (ntcp == 0 && nudp == 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* As PID 1 of a container, SIGTERM does nothing without a handler. */
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* Before anything is bound or logged: a refused agent must leave no trace. */
	if (use_sctp)
		refuse_second_stack();
	for (int i = 0; i < ntcp; i++) {
		struct listener *l = calloc(1, sizeof(*l));
		l->port = tcp[i];
		l->fd = inet_listen(SOCK_STREAM, tcp[i]);
		if (l->fd < 0) {
			fprintf(stderr, "agent: tcp port %d: %s\n", tcp[i], strerror(errno));
			return 1;
		}
		spawn(tcp_accept_thread, l);
		logev("listening tcp/%d", tcp[i]);
	}
	for (int i = 0; i < nudp; i++) {
		struct listener *l = calloc(1, sizeof(*l));
		l->port = udp[i];
		l->fd = inet_listen(SOCK_DGRAM, udp[i]);
		if (l->fd < 0) {
			fprintf(stderr, "agent: udp port %d: %s\n", udp[i], strerror(errno));
			return 1;
		}
		spawn(udp_thread, l);
		logev("listening udp/%d", udp[i]);
	}
	if (use_sctp) {
		const char *cp = opt_get(o, no, "control");
		snprintf(g_control, sizeof(g_control), "%s", cp && *cp ? cp : DEFAULT_CONTROL);
		sctp_stack_init();
		for (int i = 0; i < nsctp; i++) {
			struct sctp_server *s = calloc(1, sizeof(*s));
			s->port = sctp[i];
			s->so = sctp_listen(sctp[i]);
			if (s->so == NULL) {
				fprintf(stderr, "agent: sctp port %d: %s\n", sctp[i], strerror(errno));
				return 1;
			}
			spawn(sctp_server_thread, s);
			logev("listening sctp/%d", sctp[i]);
		}
		cfd = control_listen(g_control);
		if (cfd < 0) {
			g_control[0] = '\0';
			return 1;
		}
		logev("control socket %s", g_control);
	}
	logev("ready name=%s version=%s", g_name, AGENT_VERSION);
	if (cfd < 0) {
		for (;;)
			pause();
	}
	for (;;) {
		int c = accept4(cfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				logev("control accept: %s", strerror(errno));
			continue;
		}
		if (!spawn(control_conn_thread, (void *)(intptr_t)c))
			close(c);
	}
}

/* ------------------------------------------------------------ probe */

static void json_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\r')
			fputs("\\r", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20 || c >= 0x7f) /* bytes, not UTF-8: keep the line valid JSON */
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static int print_result(const char *proto, const char *target, const struct result *r)
{
	printf("{\"protocol\":");
	json_str(proto, strlen(proto));
	printf(",\"target\":");
	json_str(target, strlen(target));
	printf(",\"result\":");
	json_str(r->result, strlen(r->result));
	printf(",\"reply\":");
	json_str(r->reply, r->reply_len);
	printf(",\"ms\":%ld,\"detail\":", r->ms);
	json_str(r->detail, strlen(r->detail));
	printf("}\n");
	fflush(stdout);
	return strcmp(r->result, "connected") == 0 ? 0 : 1;
}

/*
 * A static glibc getaddrinfo needs the NSS modules of its own glibc at run
 * time, which a scratch or busybox image does not have: then /etc/hosts is
 * read directly.
 */
static bool hosts_lookup(const char *name, struct sockaddr_storage *ss)
{
	FILE *f = fopen("/etc/hosts", "r");
	char line[1024];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *save = NULL, *addr, *tok;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		addr = strtok_r(line, " \t\r\n", &save);
		if (addr == NULL)
			continue;
		while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
			if (strcasecmp(tok, name) != 0)
				continue;
			if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
				ss->ss_family = AF_INET;
				found = true;
			} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
				ss->ss_family = AF_INET6;
				found = true;
			}
			break;
		}
	}
	fclose(f);
	return found;
}

static bool resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errn)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	struct addrinfo hints, *res = NULL;
	char h[256];
	int rc;

	snprintf(h, sizeof(h), "%s", host);
	if (h[0] == '[' && h[strlen(h) - 1] == ']') { /* [v6] as in a target string */
		h[strlen(h) - 1] = '\0';
		memmove(h, h + 1, strlen(h));
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
		ss->ss_family = AF_INET;
	} else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
	} else {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		rc = getaddrinfo(h, NULL, &hints, &res);
		if (rc == 0) {
			const struct addrinfo *pick = res;
			for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
				if (ai->ai_family == AF_INET) { /* prefer IPv4, like the rest of the suite */
					pick = ai;
					break;
				}
			}
			memcpy(ss, pick->ai_addr, pick->ai_addrlen);
			freeaddrinfo(res);
		} else if (!hosts_lookup(h, ss)) {
			snprintf(err, errn, "cannot resolve '%s': %s (and not in /etc/hosts)", h, gai_strerror(rc));
			return false;
		}
	}
	if (ss->ss_family == AF_INET) {
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
	} else {
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
	}
	return true;
}

static int64_t remaining(int64_t deadline)
{
	int64_t left = deadline - mono_ms();
	return left > 0 ? left : 0;
}

static bool bind_source(int fd, int af, int srcport, struct result *r)
{
	struct sockaddr_storage local;
	socklen_t ll;
	int one = 1;

	if (srcport <= 0)
		return true;
	memset(&local, 0, sizeof(local));
	local.ss_family = (sa_family_t)af;
	if (af == AF_INET) {
		((struct sockaddr_in *)&local)->sin_port = htons((uint16_t)srcport);
		ll = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&local)->sin6_port = htons((uint16_t)srcport);
		ll = sizeof(struct sockaddr_in6);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&local, ll) < 0) {
		set_result(r, "error", "bind source port %d: %s", srcport, strerror(errno));
		return false;
	}
	return true;
}

static void net_fail(struct result *r, int err, const char *what)
{
	if (err == ECONNREFUSED)
		set_result(r, "refused", "%s: %s", what, strerror(err));
	else
		set_result(r, "error", "%s: %s", what, strerror(err));
}

static void probe_tcp(const struct sockaddr_storage *ss, socklen_t sl, int srcport, const char *msg, size_t mlen,
		      int timeout_ms, struct result *r)
{
	int64_t start = mono_ms(), deadline = start + timeout_ms;
	size_t cap = MAX_MSG + sizeof(g_name) + 2, len = 0, sent = 0;
	char *out = malloc(mlen + 1), *buf = malloc(cap);
	struct pollfd pfd;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || out == NULL || buf == NULL) {
		set_result(r, "error", "socket: %s", strerror(errno));
		goto done;
	}
	if (!bind_source(fd, ss->ss_family, srcport, r))
		goto done;
	memcpy(out, msg, mlen);
	out[mlen] = '\n';
	pfd.fd = fd;
	if (connect(fd, (const struct sockaddr *)ss, sl) < 0 && errno != EINPROGRESS) {
		net_fail(r, errno, "connect");
		goto done;
	}
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, (int)remaining(deadline)) == 0) {
		set_result(r, "timeout", "no answer to SYN within %d ms", timeout_ms);
		goto done;
	}
	{
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			net_fail(r, err, "connect");
			goto done;
		}
	}
	for (;;) {
		ssize_t n;

		pfd.events = sent < mlen + 1 ? POLLIN | POLLOUT : POLLIN;
		if (poll(&pfd, 1, (int)remaining(deadline)) == 0) {
			set_reply(r, buf, len);
			set_result(r, "timeout", "connected but no complete reply within %d ms", timeout_ms);
			goto done;
		}
		if (sent < mlen + 1 && (pfd.revents & POLLOUT)) {
			n = send(fd, out + sent, mlen + 1 - sent, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				net_fail(r, errno, "send");
				goto done;
			}
			if (n > 0)
				sent += (size_t)n;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, buf + len, cap - len, 0);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				net_fail(r, errno, "receive");
				goto done;
			}
			if (n == 0 || (n > 0 && memchr(buf + len, '\n', (size_t)n))) {
				if (n > 0)
					len += (size_t)n;
				break;
			}
			if (n > 0)
				len += (size_t)n;
			if (len == cap) {
				set_result(r, "error", "reply longer than %zu bytes without a newline", cap);
				goto done;
			}
		}
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	set_reply(r, buf, len);
	if (!ends_with(buf, len, msg, mlen)) {
		set_result(r, "error", len ? "reply does not end with the message sent" : "connection closed without a reply");
		goto done;
	}
	set_result(r, "connected", "%s", "");
done:
	r->ms = (long)(mono_ms() - start);
	if (fd >= 0 && srcport > 0) {
		/*
		 * Closing first would leave this fixed 4-tuple in TIME_WAIT and make
		 * the next probe from the same source port fail: reset instead.
		 */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (fd >= 0)
		close(fd);
	free(out);
	free(buf);
}

static void probe_udp(const struct sockaddr_storage *ss, socklen_t sl, int srcport, const char *msg, size_t mlen,
		      int timeout_ms, struct result *r)
{
	int64_t start = mono_ms(), deadline = start + timeout_ms;
	char *buf = malloc(65536);
	struct pollfd pfd;
	ssize_t n;
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || buf == NULL) {
		set_result(r, "error", "socket: %s", strerror(errno));
		goto done;
	}
	if (!bind_source(fd, ss->ss_family, srcport, r))
		goto done;
	/* Connected, so an ICMP port unreachable comes back as ECONNREFUSED. */
	if (connect(fd, (const struct sockaddr *)ss, sl) < 0) {
		net_fail(r, errno, "connect");
		goto done;
	}
	if (send(fd, msg, mlen, 0) < 0) {
		net_fail(r, errno, "send");
		goto done;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, (int)remaining(deadline)) == 0) {
			set_result(r, "timeout", "no reply within %d ms", timeout_ms);
			goto done;
		}
		n = recv(fd, buf, 65536, 0);
		if (n >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			net_fail(r, errno, "receive");
			goto done;
		}
	}
	set_reply(r, buf, (size_t)n);
	if (!ends_with(buf, (size_t)n, msg, mlen)) {
		set_result(r, "error", "reply does not end with the message sent");
		goto done;
	}
	set_result(r, "connected", "%s", "");
done:
	r->ms = (long)(mono_ms() - start);
	if (fd >= 0)
		close(fd);
	free(buf);
}

/* SCTP probes go through the daemon: only it may own this namespace's stack. */
static void probe_sctp(const struct sockaddr_storage *ss, int port, int srcport, int streams, const char *msg,
		       size_t mlen, int timeout_ms, const char *control, struct result *r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t start = mono_ms();
	char ip[INET6_ADDRSTRLEN], head[256];
	size_t n = 0, hl;
	long ms;
	size_t rlen, dlen;
	char res[16];
	struct pollfd pfd;
	int fd = -1;

	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof(ip));
	if (strlen(control) >= sizeof(sun.sun_path)) {
		set_result(r, "error", "control path too long: %s", control);
		goto done;
	}
	strcpy(sun.sun_path, control);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		set_result(r, "error",
			   "no agent daemon on control socket %s (%s): SCTP probes run inside `agent serve`; start "
			   "`agent serve` in this network namespace first",
			   control, strerror(errno));
		goto done;
	}
	hl = (size_t)snprintf(head, sizeof(head), "SCTP %s %d %d %d %d %zu\n", ip, port, srcport, streams, timeout_ms,
			      mlen);
	if (!write_all(fd, head, hl) || !write_all(fd, msg, mlen)) {
		set_result(r, "error", "control socket %s: write: %s", control, strerror(errno));
		goto done;
	}
	/* The daemon enforces the probe deadline; this one only guards against a hung daemon. */
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (n < sizeof(head) - 1) {
		if (poll(&pfd, 1, timeout_ms + 5000) <= 0 || read(fd, head + n, 1) != 1) {
			set_result(r, "error", "agent daemon on %s did not answer", control);
			goto done;
		}
		if (head[n] == '\n')
			break;
		n++;
	}
	head[n] = '\0';
	if (sscanf(head, "%15s %ld %zu %zu", res, &ms, &rlen, &dlen) != 4 || rlen > REPLY_PREVIEW ||
	    dlen >= sizeof(r->detail) || !read_all(fd, r->reply, rlen) || !read_all(fd, r->detail, dlen)) {
		set_result(r, "error", "bad answer from the agent daemon on %s", control);
		goto done;
	}
	r->reply_len = rlen;
	r->detail[dlen] = '\0';
	r->result = strcmp(res, "connected") == 0 ? "connected" :
		    strcmp(res, "refused") == 0 ? "refused" :
		    strcmp(res, "timeout") == 0 ? "timeout" : "error";
	r->ms = ms;
	close(fd);
	return;
done:
	r->ms = (long)(mono_ms() - start);
	if (fd >= 0)
		close(fd);
}

static const char PROBE_USAGE[] =
	"usage: agent probe --protocol tcp|udp|sctp --host ADDR_OR_NAME --port P [--source-port N] [--streams N]"
	" [--size BYTES] [--timeout-ms N] [--message TEXT] [--control PATH]\n";

static int probe_usage(const char *why)
{
	fprintf(stderr, "agent: %s\n%s", why, PROBE_USAGE);
	return 2;
}

static int cmd_probe(int argc, char **argv)
{
	struct opt o[] = { { "protocol", NULL }, { "host", NULL },    { "port", NULL },
			   { "source-port", NULL }, { "streams", NULL }, { "size", NULL },
			   { "timeout-ms", NULL },  { "message", NULL }, { "control", NULL } };
	const size_t no = sizeof(o) / sizeof(o[0]);
	const char *proto = NULL, *host, *control;
	long port, src = 0, streams = 1, size = 0, tmo = 3000;
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	struct result r;
	char target[300];
	char *msg;
	size_t mlen;
	int rc;

	if (!parse_opts(argc, argv, o, no)) {
		fputs(PROBE_USAGE, stderr);
		return 2;
	}
	proto = opt_get(o, no, "protocol");
	host = opt_get(o, no, "host");
	if (proto == NULL || (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp")))
		return probe_usage("--protocol must be tcp, udp or sctp");
	if (host == NULL || *host == '\0')
		return probe_usage("--host is required");
	if (!parse_long(opt_get(o, no, "port"), 1, 65535, &port))
		return probe_usage("--port must be 1..65535");
	if (opt_get(o, no, "source-port") && !parse_long(opt_get(o, no, "source-port"), 1, 65535, &src))
		return probe_usage("--source-port must be 1..65535");
	if (opt_get(o, no, "streams") && !parse_long(opt_get(o, no, "streams"), 1, MAX_STREAMS, &streams))
		return probe_usage("--streams must be 1..64");
	if (streams > 1 && strcmp(proto, "sctp") != 0)
		return probe_usage("--streams applies to sctp only");
	if (opt_get(o, no, "size") && !parse_long(opt_get(o, no, "size"), 1, MAX_MSG, &size))
		return probe_usage("--size must be 1..1048576");
	if (opt_get(o, no, "timeout-ms") && !parse_long(opt_get(o, no, "timeout-ms"), 1, 3600000, &tmo))
		return probe_usage("--timeout-ms must be 1..3600000");
	control = opt_get(o, no, "control");
	if (control == NULL || *control == '\0')
		control = DEFAULT_CONTROL;

	{
		const char *m = opt_get(o, no, "message");
		char def[64];
		size_t base;
		if (m == NULL) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			snprintf(def, sizeof(def), "probe-%ld-%lld%03ld", (long)getpid(), (long long)ts.tv_sec,
				 ts.tv_nsec / 1000000);
			m = def;
		}
		base = strlen(m);
		if (base == 0)
			return probe_usage("--message must not be empty");
		if (base > MAX_MSG)
			return probe_usage("--message longer than 1048576 bytes");
		if (strcmp(proto, "tcp") == 0 && strchr(m, '\n'))
			return probe_usage("a tcp --message cannot contain a newline: it ends the message");
		mlen = (size_t)size > base ? (size_t)size : base;
		msg = malloc(mlen + 1);
		if (msg == NULL)
			return 1;
		memcpy(msg, m, base);
		memset(msg + base, 'x', mlen - base);
		msg[mlen] = '\0';
	}

	memset(&r, 0, sizeof(r));
	r.result = "error";
	if (!resolve(host, (int)port, &ss, &sl, r.detail, sizeof(r.detail))) {
		snprintf(target, sizeof(target), "%s:%ld", host, port);
		rc = print_result(proto, target, &r);
		free(msg);
		return rc;
	}
	addr_str((struct sockaddr *)&ss, target, sizeof(target));
	if (strcmp(proto, "tcp") == 0)
		probe_tcp(&ss, sl, (int)src, msg, mlen, (int)tmo, &r);
	else if (strcmp(proto, "udp") == 0)
		probe_udp(&ss, sl, (int)src, msg, mlen, (int)tmo, &r);
	else
		probe_sctp(&ss, (int)port, (int)src, (int)streams, msg, mlen, (int)tmo, control, &r);
	rc = print_result(proto, target, &r);
	free(msg);
	return rc;
}

/*
 * probe-each: many probes from one process, for a pod that probes a whole row
 * of a NetworkPolicy matrix at once. As one `sh -c '(agent probe | sed) &'`
 * pipeline per target, a 9-pod round started some 500 processes on a 2-core
 * node, enough to delay answers past a cell's timeout: false "blocked" cells
 * with no policy anywhere. Here each probe is one fork of this process, and
 * the output keeps the pipeline's format, which the suite parses: each line
 * of probe i prefixed with "i ", then "i exit=N" with the probe's own status.
 */
#define MAX_EACH 256

static const char PROBE_EACH_USAGE[] =
	"usage: agent probe-each -- PROBE_OPTIONS [-- PROBE_OPTIONS]...  (at most 256 probes, run at once)\n";

static int cmd_probe_each(int argc, char **argv)
{
	int start[MAX_EACH], len[MAX_EACH], fds[MAX_EACH];
	pid_t pids[MAX_EACH];
	int n = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			if (n == MAX_EACH) {
				fprintf(stderr, "agent: more than %d probes\n%s", MAX_EACH, PROBE_EACH_USAGE);
				return 2;
			}
			start[n] = i + 1;
			len[n++] = 0;
		} else if (n == 0) {
			fprintf(stderr, "agent: probe options must follow --\n%s", PROBE_EACH_USAGE);
			return 2;
		} else {
			len[n - 1]++;
		}
	}
	if (n == 0) {
		fputs(PROBE_EACH_USAGE, stderr);
		return 2;
	}
	fflush(NULL); /* nothing buffered may be copied into the children */
	for (int i = 0; i < n; i++) {
		int p[2];
		if (pipe(p) < 0) {
			perror("agent: pipe");
			return 2;
		}
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("agent: fork");
			return 2;
		}
		if (pids[i] == 0) {
			close(p[0]);
			dup2(p[1], STDOUT_FILENO);
			dup2(p[1], STDERR_FILENO);
			close(p[1]);
			/* cmd_probe reads exactly len[i] arguments from start[i]. */
			int rc = cmd_probe(len[i], argv + start[i]);
			fflush(NULL);
			_exit(rc);
		}
		close(p[1]);
		fds[i] = p[0];
	}
	/* A probe's output is a line of at most a few KiB: no child ever blocks
	 * on a full pipe while the outputs are read in order. */
	for (int i = 0; i < n; i++) {
		FILE *f = fdopen(fds[i], "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t got;
		int st = 0;
		while (f && (got = getline(&line, &cap, f)) > 0) {
			printf("%d %s%s", i, line, line[got - 1] == '\n' ? "" : "\n");
		}
		free(line);
		if (f)
			fclose(f);
		else
			close(fds[i]);
		waitpid(pids[i], &st, 0);
		printf("%d exit=%d\n", i, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		fflush(stdout);
	}
	return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "probe") == 0)
		return cmd_probe(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "probe-each") == 0)
		return cmd_probe_each(argc - 2, argv + 2);
	if (argc >= 2 && (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0)) {
		printf("sctp-e2e agent %s (usrsctp, raw IP)\n", AGENT_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: agent serve|probe|probe-each|version [options]\n%s%s%s", SERVE_USAGE, PROBE_USAGE,
		PROBE_EACH_USAGE);
	return 2;
}
