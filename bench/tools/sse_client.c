/* sse_client: closed-loop SSE load client for the proxy benchmark.
 *
 *   sse_client --port P [--host 127.0.0.1] [--path /v1/chat/completions] --body FILE
 *              [--connections 16] [--duration 5] [--warmup 0.5] [--itl-ms 0] [--expect-chunks 0]
 *
 * Each of --connections keep-alive connections POSTs FILE, reads the (chunked or not) SSE response
 * with http-parser, timestamps every `data:` line as it is parsed and sends the next request when
 * the response ends. Over the measurement window (after --warmup seconds, for --duration seconds)
 * it counts chunks (`data:` lines other than `data: [DONE]`) and records for chunk k of a response
 *     delay_k = t(arrival of chunk k) - t(request sent) - k * itl
 * i.e. how late each chunk is against the nominal schedule of a backend that sends one chunk every
 * --itl-ms. The backend's own timing is the same through every proxy, so the difference of this
 * delay between a proxy and the direct run is the latency the proxy adds per chunk. With
 * --ref-port R, --ref-connections more connections (default: as many) run the same loop against R
 * (the backend itself) at the same time, and their figures are printed under "ref": the difference
 * is then measured under the same machine noise, which a separate direct run cannot guarantee.
 *
 * A response counts as bad (bad_responses) when it is a 200 without any `data:` chunk, has a line
 * over the cap, or (with --expect-chunks) a different number of chunks; as a status error when it
 * is not a 200; connection and parse failures count as errors and the connection is reopened.
 * Prints one JSON object on stdout. Exit 0 when it ran (errors are counted in the JSON), 2 on bad
 * flags, 1 when it could not run at all. Bounded: a line longer than 64 KiB counts as a bad
 * response and is not buffered. */
#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bench_util.h"

enum { LINE_CAP = 65536, READ_BUF = 65536, MAX_CONNS = 4096 };

/* One destination and its results: the target (--port) and, optionally, the reference
 * (--ref-port) measured at the same time so that both see the same machine noise. */
typedef struct {
    struct sockaddr_in addr;
    char *req;
    size_t req_len;
    uint64_t responses, chunks, bytes, errors, bad_responses, status_errors;
    bench_hist_t delay, first;
} side_t;

typedef struct conn_s {
    side_t *side;
    int fd;
    bool sending;
    bool in_message;
    bool complete;
    bool bad;
    size_t sent;
    uint64_t t_send;
    uint64_t chunk_idx;
    http_parser parser;
    size_t line_len;
    bool line_overflow;
    char line[LINE_CAP];
} conn_t;

static struct {
    uint64_t itl_ns;
    uint64_t expect_chunks;
    uint64_t win_start, win_end;
    int ep;
    http_parser_settings settings;
    side_t side[2];
} g;

static bool in_window(uint64_t t) {
    return t >= g.win_start && t < g.win_end;
}

static void on_line(conn_t *c, const char *s, size_t n) {
    if (n < 5 || memcmp(s, "data:", 5) != 0) return;
    s += 5;
    n -= 5;
    if (n > 0 && *s == ' ') {
        s++;
        n--;
    }
    if (n == 6 && memcmp(s, "[DONE]", 6) == 0) return;
    uint64_t t = bench_now_ns();
    uint64_t k = c->chunk_idx++;
    if (!in_window(t)) return;
    c->side->chunks++;
    uint64_t due = c->t_send + k * g.itl_ns;
    uint64_t d_us = t > due ? (t - due) / 1000 : 0;
    bench_hist_add(&c->side->delay, d_us);
    if (k == 0) bench_hist_add(&c->side->first, d_us);
}

static int on_body(http_parser *p, const char *at, size_t len) {
    conn_t *c = p->data;
    if (in_window(bench_now_ns())) c->side->bytes += len;
    for (size_t i = 0; i < len; i++) {
        char ch = at[i];
        if (ch == '\n') {
            size_t n = c->line_len;
            if (n > 0 && c->line[n - 1] == '\r') n--;
            if (c->line_overflow)
                c->bad = true;
            else
                on_line(c, c->line, n);
            c->line_len = 0;
            c->line_overflow = false;
        } else if (c->line_len < LINE_CAP) {
            c->line[c->line_len++] = ch;
        } else {
            c->line_overflow = true;
        }
    }
    return 0;
}

static int on_message_begin(http_parser *p) {
    conn_t *c = p->data;
    c->in_message = true;
    return 0;
}

static int on_message_complete(http_parser *p) {
    conn_t *c = p->data;
    c->complete = true;
    c->in_message = false;
    if (p->status_code != 200)
        c->side->status_errors++;
    else if (c->bad || c->chunk_idx == 0 || (g.expect_chunks && c->chunk_idx != g.expect_chunks))
        c->side->bad_responses++;
    if (in_window(bench_now_ns())) c->side->responses++;
    return 0;
}

static void conn_begin_request(conn_t *c) {
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->sending = true;
    c->sent = 0;
    c->complete = false;
    c->in_message = false;
    c->bad = false;
    c->chunk_idx = 0;
    c->line_len = 0;
    c->line_overflow = false;
    c->t_send = bench_now_ns();
}

static int conn_open(conn_t *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&c->side->addr, sizeof c->side->addr) != 0 &&
        errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    conn_begin_request(c);
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    return epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_close(conn_t *c) {
    if (c->fd >= 0) {
        close(c->fd); /* also removes it from the epoll set */
        c->fd = -1;
    }
}

/* Error or peer close: count it (unless the response had ended), reconnect. */
static void conn_reset(conn_t *c, bool error) {
    if (error) c->side->errors++;
    conn_close(c);
    if (conn_open(c) != 0) c->side->errors++;
}

static void conn_write(conn_t *c) {
    while (c->sent < c->side->req_len) {
        ssize_t n = send(c->fd, c->side->req + c->sent, c->side->req_len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            conn_reset(c, true);
            return;
        }
        c->sent += (size_t)n;
    }
    c->sending = false;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_read(conn_t *c) {
    static char buf[READ_BUF];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            conn_reset(c, true);
            return;
        }
        size_t got = http_parser_execute(&c->parser, &g.settings, buf, (size_t)n);
        if (c->parser.http_errno != HPE_OK || got != (size_t)n) {
            conn_reset(c, true);
            return;
        }
        if (n == 0) { /* EOF: fine only right after a complete response */
            conn_reset(c, !c->complete);
            return;
        }
        if (c->complete) {
            bool keep = http_should_keep_alive(&c->parser);
            if (!keep) {
                conn_reset(c, false);
                return;
            }
            conn_begin_request(c);
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
            epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
            conn_write(c);
            return;
        }
    }
}

static int usage(void) {
    fprintf(stderr, "usage: sse_client --port P --body FILE [--host 127.0.0.1] [--path PATH]\n"
                    "       [--connections N] [--duration S] [--warmup S] [--itl-ms MS]\n"
                    "       [--expect-chunks N] [--ref-port R [--ref-connections N]]\n");
    return 2;
}

/* Prepares one side: address and the request bytes (headers + body). 0 or -1 with a message. */
static int side_init(side_t *sd, const char *host, uint64_t port, const char *path,
                     const char *body, size_t body_len) {
    if (bench_ipv4_addr(host, port, &sd->addr) != 0) return -1;
    sd->req = bench_post_request(host, port, path, "Accept: text/event-stream\r\n", body, body_len,
                                 &sd->req_len);
    return sd->req == NULL ? -1 : 0;
}

static void side_print(const side_t *sd, uint64_t conns, double secs) {
    printf("\"connections\":%llu,\"responses\":%llu,\"chunks\":%llu,\"chunks_per_s\":%.1f,"
           "\"bytes\":%llu,\"errors\":%llu,\"status_errors\":%llu,\"bad_responses\":%llu,"
           "\"delay_us\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"mean\":%.1f,\"max\":%llu},"
           "\"first_chunk_us\":{\"p50\":%llu,\"p99\":%llu}",
           (unsigned long long)conns, (unsigned long long)sd->responses,
           (unsigned long long)sd->chunks, (double)sd->chunks / secs, (unsigned long long)sd->bytes,
           (unsigned long long)sd->errors, (unsigned long long)sd->status_errors,
           (unsigned long long)sd->bad_responses,
           (unsigned long long)bench_hist_quantile(&sd->delay, 0.50),
           (unsigned long long)bench_hist_quantile(&sd->delay, 0.90),
           (unsigned long long)bench_hist_quantile(&sd->delay, 0.99),
           sd->delay.count ? sd->delay.sum / (double)sd->delay.count : 0.0,
           (unsigned long long)sd->delay.max,
           (unsigned long long)bench_hist_quantile(&sd->first, 0.50),
           (unsigned long long)bench_hist_quantile(&sd->first, 0.99));
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *path = "/v1/chat/completions", *body_path = NULL;
    uint64_t port = 0, conns = 16, ref_port = 0, ref_conns = 0;
    double duration = 5, warmup = 0.5, itl_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(f, "--host") == 0 && v)
            host = v;
        else if (strcmp(f, "--path") == 0 && v)
            path = v;
        else if (strcmp(f, "--body") == 0 && v)
            body_path = v;
        else if (strcmp(f, "--port") == 0)
            rc = bench_parse_u64(f, v, 1, 65535, &port);
        else if (strcmp(f, "--ref-port") == 0)
            rc = bench_parse_u64(f, v, 1, 65535, &ref_port);
        else if (strcmp(f, "--connections") == 0)
            rc = bench_parse_u64(f, v, 1, MAX_CONNS, &conns);
        else if (strcmp(f, "--ref-connections") == 0)
            rc = bench_parse_u64(f, v, 1, MAX_CONNS, &ref_conns);
        else if (strcmp(f, "--expect-chunks") == 0)
            rc = bench_parse_u64(f, v, 0, 1000000, &g.expect_chunks);
        else if (strcmp(f, "--duration") == 0)
            rc = bench_parse_double(f, v, 0.1, 3600, &duration);
        else if (strcmp(f, "--warmup") == 0)
            rc = bench_parse_double(f, v, 0, 3600, &warmup);
        else if (strcmp(f, "--itl-ms") == 0)
            rc = bench_parse_double(f, v, 0, 60000, &itl_ms);
        else
            return usage();
        if (rc != 0) return 2;
        i++;
    }
    if (port == 0 || body_path == NULL) return usage();
    if (bench_check_target(host, path) != 0) return 2;
    if (ref_port == 0)
        ref_conns = 0;
    else if (ref_conns == 0)
        ref_conns = conns;
    if (conns + ref_conns > MAX_CONNS) {
        fprintf(stderr, "--connections + --ref-connections must not exceed %d\n", MAX_CONNS);
        return 2;
    }
    size_t body_len = 0;
    char *body = bench_read_file(body_path, 1 << 20, &body_len);
    if (body == NULL) return 1;
    if (side_init(&g.side[0], host, port, path, body, body_len) != 0 ||
        (ref_port && side_init(&g.side[1], host, ref_port, path, body, body_len) != 0))
        return 2;
    free(body);

    g.itl_ns = (uint64_t)(itl_ms * 1e6);
    g.settings.on_body = on_body;
    g.settings.on_message_begin = on_message_begin;
    g.settings.on_message_complete = on_message_complete;
    signal(SIGPIPE, SIG_IGN);
    bench_raise_nofile();
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.ep < 0) return 1;
    uint64_t total = conns + ref_conns;
    conn_t *cs = calloc(total, sizeof *cs);
    if (cs == NULL) return 1;
    uint64_t t0 = bench_now_ns();
    g.win_start = t0 + (uint64_t)(warmup * 1e9);
    g.win_end = g.win_start + (uint64_t)(duration * 1e9);
    /* Interleave the two sides so that they start together and share the machine alike. */
    for (uint64_t i = 0, a = 0, b = 0; i < total; i++) {
        bool ref = b < ref_conns && (a >= conns || (i & 1));
        cs[i].side = &g.side[ref ? 1 : 0];
        ref ? b++ : a++;
        cs[i].fd = -1;
        if (conn_open(&cs[i]) != 0) {
            fprintf(stderr, "sse_client: connect to %s:%u: %s\n", host,
                    (unsigned)(ref ? ref_port : port), strerror(errno));
            return 1;
        }
    }
    struct epoll_event evs[256];
    for (;;) {
        uint64_t now = bench_now_ns();
        if (now >= g.win_end) break;
        int timeout = (int)((g.win_end - now) / 1000000) + 1;
        int n = epoll_wait(g.ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR) return 1;
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            if (c->sending && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) conn_write(c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) conn_read(c);
        }
        if (g.side[0].errors + g.side[1].errors > 100000) {
            fprintf(stderr, "sse_client: too many errors, giving up\n");
            break;
        }
    }
    printf("{\"duration_s\":%.3f,\"itl_ms\":%.3f,", duration, itl_ms);
    side_print(&g.side[0], conns, duration);
    if (ref_port) {
        printf(",\"ref\":{\"port\":%u,", (unsigned)ref_port);
        side_print(&g.side[1], ref_conns, duration);
        printf("}");
    }
    printf("}\n");
    for (uint64_t i = 0; i < total; i++)
        conn_close(&cs[i]);
    free(cs);
    free(g.side[0].req);
    free(g.side[1].req);
    return 0;
}
