/* sse_origin: a minimal OpenAI-shaped backend for the proxy benchmark. bench/run.sh uses it for the
 * SSE latency run, because its chunk schedule is exact (absolute timerfd deadlines, nanoseconds),
 * and for the SSE throughput run when build/smg-sim is not available.
 *
 *   sse_origin [--host 127.0.0.1] [--port 0] [--model bench] [--chunks 100] [--itl-ms 0]
 *              [--ttft-ms 0] [--response FILE]
 *
 * Prints `sse-origin listening on HOST:PORT` on stdout once it accepts connections.
 * Routes: GET /health, /health_generate, /readiness, /liveness -> 200; GET /v1/models -> OpenAI
 * list with --model; any POST whose body has "stream":true -> 200 text/event-stream, chunked,
 * --chunks `data: {chat.completion.chunk}` events one every --itl-ms (first after --ttft-ms, on a
 * fixed schedule from the request's arrival), then `data: [DONE]`; any other POST -> 200 with the
 * --response file (default a small chat.completion). Keep-alive and pipelining are honoured; one
 * thread, epoll, a timerfd for the schedule.
 * Limits: request line+headers are bounded by http-parser (80 KiB), bodies above 1 MiB get 413 and
 * a close, output is generated only while less than 256 KiB is waiting for a slow client. */
#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include "bench_util.h"

enum { IN_CAP = 65536, BODY_CAP = 1 << 20, OUT_SOFT_CAP = 256 * 1024, URL_CAP = 1024 };

typedef struct conn_s conn_t;
struct conn_s {
    int fd;
    http_parser parser;
    bool closing;    /* close once the output is flushed */
    bool busy;       /* a streamed response is being produced; parsing is paused */
    bool keep_alive; /* of the request being answered */
    bool body_over;  /* body exceeded BODY_CAP */
    uint64_t chunks_left;
    uint64_t chunk_no;
    uint64_t next_due;
    conn_t *prev, *next; /* list of busy connections */
    char url[URL_CAP];
    size_t url_len;
    char *body;
    size_t body_len;
    char *out;
    size_t out_len, out_cap, out_off;
    char in[IN_CAP];
    size_t in_len;
};

static struct {
    int ep, lfd, tfd;
    uint64_t chunks, itl_ns, ttft_ns;
    const char *model;
    char *response;
    size_t response_len;
    char models[512];
    size_t models_len;
    http_parser_settings settings;
    conn_t *busy_head;
} g;

/* Appends to the connection's output; the only allocation that grows with traffic, bounded by
 * OUT_SOFT_CAP plus one response because producers stop above the soft cap. */
static int out_append(conn_t *c, const void *p, size_t n) {
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        char *o = realloc(c->out, cap);
        if (o == NULL) return -1;
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

static void conn_events(conn_t *c) {
    uint32_t ev = 0;
    if (!c->busy && !c->closing) ev |= EPOLLIN;
    if (c->out_len > c->out_off) ev |= EPOLLOUT;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void busy_unlink(conn_t *c) {
    if (c->prev)
        c->prev->next = c->next;
    else if (g.busy_head == c)
        g.busy_head = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void conn_free(conn_t *c) {
    if (c->busy) busy_unlink(c);
    close(c->fd);
    free(c->out);
    free(c->body);
    free(c);
}

/* Writes what it can. Returns -1 when the connection is gone (and freed). */
static int conn_flush(conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            conn_free(c);
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->closing) {
            conn_free(c);
            return -1;
        }
    }
    return 0;
}

static void respond_simple(conn_t *c, int status, const char *reason, const char *type,
                           const char *body, size_t len) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                     reason, type, len, c->keep_alive ? "" : "Connection: close\r\n");
    if (out_append(c, head, (size_t)n) != 0 || out_append(c, body, len) != 0) c->closing = true;
    if (!c->keep_alive) c->closing = true;
}

static bool body_wants_stream(const conn_t *c) {
    static const char *pats[] = {"\"stream\":true", "\"stream\": true"};
    for (size_t i = 0; i < 2; i++)
        if (c->body && memmem(c->body, c->body_len, pats[i], strlen(pats[i]))) return true;
    return false;
}

/* Produces the due chunks of a streamed response. Returns -1 when the connection is gone. */
static int stream_pump(conn_t *c, uint64_t now) {
    while (c->busy && c->out_len - c->out_off < OUT_SOFT_CAP) {
        if (c->chunks_left == 0) {
            static const char done[] = "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
            if (out_append(c, done, sizeof done - 1) != 0) c->closing = true;
            c->busy = false;
            busy_unlink(c);
            if (!c->keep_alive) c->closing = true;
            break;
        }
        if (c->next_due > now) break;
        char ev[512];
        int n = snprintf(ev, sizeof ev,
                         "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\","
                         "\"created\":1700000000,\"model\":\"%s\",\"choices\":[{\"index\":0,"
                         "\"delta\":{\"content\":\"tok%llu \"},\"finish_reason\":null}]}\n\n",
                         g.model, (unsigned long long)c->chunk_no);
        char size[16];
        int sn = snprintf(size, sizeof size, "%x\r\n", (unsigned)n);
        if (out_append(c, size, (size_t)sn) != 0 || out_append(c, ev, (size_t)n) != 0 ||
            out_append(c, "\r\n", 2) != 0) {
            c->closing = true;
            break;
        }
        c->chunk_no++;
        c->chunks_left--;
        c->next_due += g.itl_ns;
        if (conn_flush(c) != 0) /* one write per event, like an engine emitting tokens */
            return -1;
    }
    return conn_flush(c);
}

static int on_url(http_parser *p, const char *at, size_t len) {
    conn_t *c = p->data;
    if (c->url_len + len > URL_CAP - 1) return 1;
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    conn_t *c = p->data;
    if (c->body_len + len > BODY_CAP) {
        c->body_over = true;
        return 0;
    }
    char *b = realloc(c->body, c->body_len + len);
    if (b == NULL) return 1;
    c->body = b;
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static int on_message_begin(http_parser *p) {
    conn_t *c = p->data;
    c->url_len = 0;
    c->body_len = 0;
    c->body_over = false;
    return 0;
}

static bool url_is(const conn_t *c, const char *path) {
    size_t n = strlen(path);
    return c->url_len >= n && memcmp(c->url, path, n) == 0 && (c->url_len == n || c->url[n] == '?');
}

static int on_message_complete(http_parser *p) {
    conn_t *c = p->data;
    c->keep_alive = http_should_keep_alive(p);
    if (c->body_over) {
        c->keep_alive = false;
        static const char e[] = "{\"error\":{\"message\":\"body too large\"}}";
        respond_simple(c, 413, "Payload Too Large", "application/json", e, sizeof e - 1);
    } else if (p->method == HTTP_GET) {
        if (url_is(c, "/v1/models"))
            respond_simple(c, 200, "OK", "application/json", g.models, g.models_len);
        else if (url_is(c, "/health") || url_is(c, "/health_generate") || url_is(c, "/readiness") ||
                 url_is(c, "/liveness"))
            respond_simple(c, 200, "OK", "application/json", "{}", 2);
        else
            respond_simple(c, 404, "Not Found", "application/json", "{}", 2);
    } else if (p->method == HTTP_POST && body_wants_stream(c)) {
        static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
        if (out_append(c, h, sizeof h - 1) != 0) c->closing = true;
        c->busy = true;
        c->chunks_left = g.chunks;
        c->chunk_no = 0;
        c->next_due = bench_now_ns() + g.ttft_ns;
        c->next = g.busy_head;
        c->prev = NULL;
        if (g.busy_head) g.busy_head->prev = c;
        g.busy_head = c;
        http_parser_pause(p, 1); /* the rest of the input waits for the end of the stream */
    } else if (p->method == HTTP_POST) {
        respond_simple(c, 200, "OK", "application/json", g.response, g.response_len);
    } else {
        respond_simple(c, 405, "Method Not Allowed", "application/json", "{}", 2);
    }
    return 0;
}

/* Parses buffered input until it is used up or a stream pauses the parser. -1: conn gone. */
static int conn_feed(conn_t *c) {
again:
    while (c->in_len > 0 && !c->busy && !c->closing) {
        size_t n = http_parser_execute(&c->parser, &g.settings, c->in, c->in_len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
        } else if (e != HPE_OK) {
            c->keep_alive = false;
            respond_simple(c, 400, "Bad Request", "application/json", "{}", 2);
            c->in_len = 0;
            break;
        }
        memmove(c->in, c->in + n, c->in_len - n);
        c->in_len -= n;
    }
    if (c->busy) {
        if (stream_pump(c, bench_now_ns()) != 0) return -1;
        if (!c->busy && c->in_len > 0 && !c->closing)
            goto again; /* the stream ended at once (itl 0): answer what was pipelined */
    }
    if (conn_flush(c) != 0) return -1;
    conn_events(c);
    return 0;
}

static void conn_readable(conn_t *c) {
    if (c->busy || c->closing) return;
    ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_free(c);
        return;
    }
    if (n > 0) {
        c->in_len += (size_t)n;
        conn_feed(c);
    }
}

static void accept_all(void) {
    for (;;) {
        int fd = accept4(g.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        conn_t *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &e) != 0) conn_free(c);
    }
}

/* Runs every due stream and arms the timer for the earliest future chunk. */
static void run_timers(void) {
    uint64_t now = bench_now_ns(), earliest = 0;
    conn_t *c = g.busy_head;
    while (c) {
        conn_t *next = c->next;
        bool was_busy = c->busy;
        if (c->out_len == c->out_off && c->next_due <= now) {
            if (stream_pump(c, now) != 0) {
                c = next;
                continue;
            }
            if (was_busy && !c->busy) { /* stream ended: answer what was pipelined */
                if (conn_feed(c) != 0) {
                    c = next;
                    continue;
                }
            } else {
                conn_events(c);
            }
        }
        if (c->busy && c->out_len == c->out_off && (earliest == 0 || c->next_due < earliest))
            earliest = c->next_due;
        c = next;
    }
    struct itimerspec its = {0};
    if (earliest) {
        its.it_value.tv_sec = (time_t)(earliest / 1000000000ull);
        its.it_value.tv_nsec = (long)(earliest % 1000000000ull);
    }
    timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *resp_path = NULL;
    uint64_t port = 0;
    double itl_ms = 0, ttft_ms = 0;
    g.model = "bench";
    g.chunks = 100;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(f, "--host") == 0 && v)
            host = v;
        else if (strcmp(f, "--model") == 0 && v && strlen(v) < 128 && !strpbrk(v, "\"\\"))
            g.model = v;
        else if (strcmp(f, "--response") == 0 && v)
            resp_path = v;
        else if (strcmp(f, "--port") == 0)
            rc = bench_parse_u64(f, v, 0, 65535, &port);
        else if (strcmp(f, "--chunks") == 0)
            rc = bench_parse_u64(f, v, 0, 1000000, &g.chunks);
        else if (strcmp(f, "--itl-ms") == 0)
            rc = bench_parse_double(f, v, 0, 60000, &itl_ms);
        else if (strcmp(f, "--ttft-ms") == 0)
            rc = bench_parse_double(f, v, 0, 60000, &ttft_ms);
        else {
            fprintf(stderr, "usage: sse_origin [--host H] [--port P] [--model M] [--chunks N] "
                            "[--itl-ms MS] [--ttft-ms MS] [--response FILE]\n");
            return 2;
        }
        if (rc != 0) return 2;
        i++;
    }
    g.itl_ns = (uint64_t)(itl_ms * 1e6);
    g.ttft_ns = (uint64_t)(ttft_ms * 1e6);
    if (resp_path) {
        g.response = bench_read_file(resp_path, 1 << 20, &g.response_len);
        if (g.response == NULL) return 1;
    } else {
        static char def[512];
        int n = snprintf(def, sizeof def,
                         "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":"
                         "1700000000,\"model\":\"%s\",\"choices\":[{\"index\":0,\"message\":{"
                         "\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
                         "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,"
                         "\"total_tokens\":2}}",
                         g.model);
        g.response = def;
        g.response_len = (size_t)n;
    }
    int mn = snprintf(g.models, sizeof g.models,
                      "{\"object\":\"list\",\"data\":[{\"id\":\"%s\",\"object\":\"model\","
                      "\"created\":1700000000,\"owned_by\":\"sse-origin\"}]}",
                      g.model);
    g.models_len = (size_t)mn;
    g.settings.on_url = on_url;
    g.settings.on_body = on_body;
    g.settings.on_message_begin = on_message_begin;
    g.settings.on_message_complete = on_message_complete;
    signal(SIGPIPE, SIG_IGN);
    bench_raise_nofile();

    struct sockaddr_in a;
    if (bench_ipv4_addr(host, port, &a) != 0) return 2;
    g.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(g.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t alen = sizeof a;
    if (g.lfd < 0 || bind(g.lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(g.lfd, 4096) != 0 || getsockname(g.lfd, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "sse_origin: listen on %s:%u: %s\n", host, (unsigned)port, strerror(errno));
        return 1;
    }
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (g.ep < 0 || g.tfd < 0) return 1;
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = &g.lfd};
    struct epoll_event te = {.events = EPOLLIN, .data.ptr = &g.tfd};
    epoll_ctl(g.ep, EPOLL_CTL_ADD, g.lfd, &le);
    epoll_ctl(g.ep, EPOLL_CTL_ADD, g.tfd, &te);
    printf("sse-origin listening on %s:%u\n", host, (unsigned)ntohs(a.sin_port));
    fflush(stdout);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(g.ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) return 1;
        bool timers = false;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &g.lfd) {
                accept_all();
            } else if (p == &g.tfd) {
                uint64_t x;
                while (read(g.tfd, &x, sizeof x) > 0) {
                }
                timers = true;
            } else {
                conn_t *c = p;
                uint32_t e = evs[i].events;
                if (e & (EPOLLERR | EPOLLHUP)) {
                    conn_free(c);
                    continue;
                }
                if (e & EPOLLOUT) {
                    bool was_busy = c->busy;
                    if ((c->busy ? stream_pump(c, bench_now_ns()) : conn_flush(c)) != 0) continue;
                    if (was_busy && !c->busy) {
                        if (conn_feed(c) != 0) continue;
                    } else {
                        conn_events(c);
                    }
                    timers = true;
                }
                if (e & EPOLLIN) conn_readable(c);
                timers = true;
            }
        }
        if (timers) run_timers();
    }
}
