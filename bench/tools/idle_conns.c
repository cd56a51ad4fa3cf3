/* idle_conns: holds N idle keep-alive client connections open on a server, for the RSS benchmark.
 *
 *   idle_conns --port P [--host 127.0.0.1] [--connections 10000] [--body FILE | --no-request]
 *              [--path /v1/chat/completions] [--concurrency 500] [--hold 120]
 *
 * Opens --connections connections, at most --concurrency of them being set up at a time. With
 * --body, each sends one POST of FILE and reads the whole response (http-parser) before it counts
 * as idle; with --no-request a connection counts as idle once connected. When every connection is
 * idle or failed it prints `ready open=N failed=F` (stdout, flushed), then holds them until
 * SIGTERM/SIGINT or --hold seconds, watching for connections the server closes, and finally
 * prints `done open=N closed_by_peer=C failed=F`. The soft RLIMIT_NOFILE is raised to the hard
 * limit; if that is too low the excess connections fail (and are counted), never crash.
 * Exit 0 when it ran, 2 on bad flags, 1 when it could not run at all. */
#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bench_util.h"

enum { MAX_CONNS = 100000 };
enum conn_state { ST_FREE, ST_CONNECTING, ST_SENDING, ST_READING, ST_IDLE, ST_DEAD };

typedef struct {
    int fd;
    enum conn_state st;
    size_t sent;
    http_parser parser;
} conn_t;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    g_stop = sig;
}

static struct {
    struct sockaddr_in addr;
    char *req;
    size_t req_len;
    int ep;
    http_parser_settings settings;
    uint64_t open, failed, closed_by_peer, in_setup;
    bool ready_printed;
} g;

static int on_message_complete(http_parser *p) {
    conn_t *c = p->data;
    if (c->st == ST_READING && p->status_code >= 200 && p->status_code < 300)
        c->st = ST_IDLE;
    else
        c->st = ST_DEAD;
    return 0;
}

static void conn_fail(conn_t *c) {
    bool was_idle = c->st == ST_IDLE;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if (was_idle) {
        g.open--;
        g.closed_by_peer++;
    } else {
        g.in_setup--;
        g.failed++;
    }
    c->st = ST_DEAD;
}

static void conn_idle(conn_t *c) {
    c->st = ST_IDLE;
    g.in_setup--;
    g.open++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_start(conn_t *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    g.in_setup++;
    c->st = ST_CONNECTING;
    if (c->fd < 0) {
        conn_fail(c);
        return;
    }
    if (connect(c->fd, (struct sockaddr *)&g.addr, sizeof g.addr) != 0 && errno != EINPROGRESS) {
        conn_fail(c);
        return;
    }
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) conn_fail(c);
}

static void conn_writable(conn_t *c) {
    if (c->st == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            conn_fail(c);
            return;
        }
        if (g.req == NULL) {
            conn_idle(c);
            return;
        }
        c->st = ST_SENDING;
    }
    while (c->sent < g.req_len) {
        ssize_t n = send(c->fd, g.req + c->sent, g.req_len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) conn_fail(c);
            return;
        }
        c->sent += (size_t)n;
    }
    c->st = ST_READING;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_readable(conn_t *c, uint32_t events) {
    char buf[16384];
    if (c->st == ST_IDLE) { /* an idle connection became readable: closed or unexpected data */
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK);
        if (n == 0 || (n < 0 && errno != EAGAIN) || (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            conn_fail(c);
        return;
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) conn_fail(c);
            return;
        }
        size_t got = http_parser_execute(&c->parser, &g.settings, buf, (size_t)n);
        if (c->st == ST_IDLE) { /* counted by on_message_complete; now switch to watching */
            c->st = ST_READING;
            conn_idle(c);
            return;
        }
        if (n == 0 || got != (size_t)n || c->parser.http_errno != HPE_OK || c->st == ST_DEAD) {
            conn_fail(c);
            return;
        }
    }
}

static int usage(void) {
    fprintf(stderr, "usage: idle_conns --port P [--host H] [--connections N] [--body FILE | "
                    "--no-request]\n       [--path PATH] [--concurrency N] [--hold S]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *path = "/v1/chat/completions", *body_path = NULL;
    uint64_t port = 0, nconns = 10000, conc = 500;
    double hold = 120;
    bool no_request = false;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(f, "--no-request") == 0) {
            no_request = true;
            continue;
        }
        if (strcmp(f, "--host") == 0 && v)
            host = v;
        else if (strcmp(f, "--path") == 0 && v)
            path = v;
        else if (strcmp(f, "--body") == 0 && v)
            body_path = v;
        else if (strcmp(f, "--port") == 0)
            rc = bench_parse_u64(f, v, 1, 65535, &port);
        else if (strcmp(f, "--connections") == 0)
            rc = bench_parse_u64(f, v, 1, MAX_CONNS, &nconns);
        else if (strcmp(f, "--concurrency") == 0)
            rc = bench_parse_u64(f, v, 1, MAX_CONNS, &conc);
        else if (strcmp(f, "--hold") == 0)
            rc = bench_parse_double(f, v, 0, 86400, &hold);
        else
            return usage();
        if (rc != 0) return 2;
        i++;
    }
    if (port == 0 || (body_path == NULL) == !no_request) return usage();
    if (bench_check_target(host, path) != 0) return 2;
    if (bench_ipv4_addr(host, port, &g.addr) != 0) return 2;
    if (body_path) {
        size_t blen = 0;
        char *body = bench_read_file(body_path, 1 << 20, &blen);
        if (body == NULL) return 1;
        g.req = bench_post_request(host, port, path, "", body, blen, &g.req_len);
        free(body);
        if (g.req == NULL) return 1;
    }
    g.settings.on_message_complete = on_message_complete;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    uint64_t limit = bench_raise_nofile();
    if (limit < nconns + 16)
        fprintf(stderr, "idle_conns: RLIMIT_NOFILE is %llu, some of %llu connections will fail\n",
                (unsigned long long)limit, (unsigned long long)nconns);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    conn_t *cs = calloc(nconns, sizeof *cs);
    if (g.ep < 0 || cs == NULL) return 1;
    for (uint64_t i = 0; i < nconns; i++)
        cs[i].fd = -1;

    uint64_t next = 0, deadline = 0;
    struct epoll_event evs[512];
    while (!g_stop) {
        while (next < nconns && g.in_setup < conc)
            conn_start(&cs[next++]);
        if (!g.ready_printed && next == nconns && g.in_setup == 0) {
            printf("ready open=%llu failed=%llu\n", (unsigned long long)g.open,
                   (unsigned long long)g.failed);
            fflush(stdout);
            g.ready_printed = true;
            deadline = bench_now_ns() + (uint64_t)(hold * 1e9);
        }
        int timeout = 1000;
        if (deadline) {
            uint64_t now = bench_now_ns();
            if (now >= deadline) break;
            uint64_t ms = (deadline - now) / 1000000 + 1;
            timeout = ms < 1000 ? (int)ms : 1000;
        }
        int n = epoll_wait(g.ep, evs, 512, timeout);
        if (n < 0 && errno != EINTR) return 1;
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            uint32_t e = evs[i].events;
            if (c->st == ST_CONNECTING || c->st == ST_SENDING) {
                if (e & (EPOLLERR | EPOLLHUP))
                    conn_fail(c);
                else if (e & EPOLLOUT)
                    conn_writable(c);
            } else if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                conn_readable(c, e);
            }
        }
    }
    printf("done open=%llu closed_by_peer=%llu failed=%llu\n", (unsigned long long)g.open,
           (unsigned long long)g.closed_by_peer, (unsigned long long)g.failed);
    fflush(stdout);
    for (uint64_t i = 0; i < nconns; i++)
        if (cs[i].fd >= 0) close(cs[i].fd);
    free(cs);
    free(g.req);
    close(g.ep);
    return 0;
}
