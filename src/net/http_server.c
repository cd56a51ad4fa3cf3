/* HTTP/1.1 server: listeners, connection lifecycle, timeouts, responses.
 * Parsing lives in http_server_parse.c. See net/http_server.h for the
 * contract and docs/http-server.md for the prose. */
#include "net/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/log.h"
#include "core/time.h"
#include "net/http_server_int.h"

static void conn_process(smg__http_conn_t *c);
static void conn_close(smg__http_conn_t *c);
static void conn_leave(smg__http_conn_t *c);

/* ------------------------------------------------------------------------ */
/* Config, errors                                                           */

void smg_http_server_config_default(smg_http_server_config_t *cfg) {
    *cfg = (smg_http_server_config_t){
        .host = "0.0.0.0",
        .port = 30000,
        .backlog = 511,
        .max_header_bytes = 64 * 1024,
        .max_headers = 100,
        .max_body_bytes = 512ull * 1024 * 1024,
        .header_timeout_ms = 10000,
        .body_timeout_ms = 60000,
        .idle_timeout_ms = 60000,
        .max_connections = 65536,
        .write_high_watermark = 256 * 1024,
    };
}

int smg_http_error_json(smg_buf_t *out, smg_str_t msg, const char *type, int code) {
    int rc = smg_buf_append_c(out, "{\"error\":{\"message\":\"");
    if (!rc)
        rc = smg_buf_append_json_escaped(out, msg);
    if (!rc)
        rc = smg_buf_appendf(out, "\",\"type\":\"%s\",\"param\":null,\"code\":%d}}", type, code);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Small formatting helpers (hot path: no printf)                           */

static size_t fmt_u64(char *out, unsigned long long v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static size_t fmt_hex(char *out, size_t v) {
    static const char digits[] = "0123456789abcdef";
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* ------------------------------------------------------------------------ */
/* State, timers, buffers                                                   */

static const char *state_name(smg__conn_state_t s) {
    static const char *names[] = {"idle", "head", "body", "handler", "closing"};
    return names[s];
}

static void conn_set_state(smg__http_conn_t *c, smg__conn_state_t s) {
    if (smg_log_enabled(SMG_LOG_TRACE))
        smg__log(SMG_LOG_TRACE, NULL, "http conn %p: %s -> %s", (void *)c, state_name(c->state),
                 state_name(s));
    c->state = s;
}

static void timer_cb(uv_timer_t *t);

static void conn_timer(smg__http_conn_t *c, uint32_t ms) {
    if (c->closing)
        return;
    if (ms == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static char *pool_get(smg__http_listener_t *l, size_t cap) {
    if (l && l->npool)
        return l->pool[--l->npool];
    return malloc(cap);
}

static void pool_put(smg__http_listener_t *l, char *b) {
    if (l && l->npool < SMG__HTTP_POOL_MAX)
        l->pool[l->npool++] = b;
    else
        free(b);
}

static void conn_release_rbuf(smg__http_conn_t *c) {
    if (c->rbuf && c->rlen == 0) {
        pool_put(c->lst, c->rbuf);
        smg__http_conn_set_rbuf(c, NULL);
    }
}

char *smg__http_body_block_get(smg__http_conn_t *c) {
    smg__http_listener_t *l = c->lst;
    if (l && l->nbody_pool)
        return l->body_pool[--l->nbody_pool];
    return malloc(SMG__HTTP_BODY_BLOCK);
}

void smg__http_body_release(smg__http_conn_t *c) {
    smg_buf_t *b = &c->req.body;
    smg__http_listener_t *l = c->lst;
    if (b->ptr && b->cap == SMG__HTTP_BODY_BLOCK && l && l->nbody_pool < SMG__HTTP_BODY_POOL_MAX) {
        l->body_pool[l->nbody_pool++] = b->ptr;
        b->ptr = NULL;
        b->cap = b->len = 0;
    } else {
        size_t max = b->max;
        smg_buf_free(b);
        b->max = max;
    }
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */

typedef struct {
    uv_write_t req;
    smg__http_conn_t *conn;
    size_t len;
    char data[];
} wreq_t;

static void fire_abort(smg__http_conn_t *c) {
    if (c->state != SMG__CONN_HANDLER || c->aborted)
        return;
    c->aborted = true;
    c->drain_cb = NULL;
    smg_http_req_cb cb = c->abort_cb;
    c->abort_cb = NULL;
    if (cb) {
        c->depth++;
        cb(&c->req, c->abort_arg);
        c->depth--;
    }
}

static void maybe_fire_drain(smg__http_conn_t *c) {
    if (c->drain_cb && !c->aborted && c->pending < c->srv->cfg.write_high_watermark / 2) {
        c->above_wm = false;
        smg_http_req_cb cb = c->drain_cb;
        c->drain_cb = NULL;
        c->depth++;
        cb(&c->req, c->drain_arg);
        c->depth--;
    }
}

static void write_cb(uv_write_t *w, int status) {
    wreq_t *wr = (wreq_t *)w;
    smg__http_conn_t *c = wr->conn;
    c->pending -= wr->len;
    free(wr);
    c->depth++;
    if (status < 0 && !c->closing) {
        SMG_DEBUG("http: write to %s failed: %s", c->peer, uv_strerror(status));
        fire_abort(c);
        conn_close(c);
    } else if (!c->closing) {
        maybe_fire_drain(c);
    }
    conn_leave(c);
}

/* Write the iovec: at once when nothing is queued, the rest copied into one
 * uv_write. Returns SMG_OK, SMG_ECLOSED (client gone: the connection is
 * being closed) or SMG_ENOMEM. */
static int conn_write(smg__http_conn_t *c, uv_buf_t *bufs, unsigned nbufs) {
    if (c->closing || c->aborted)
        return SMG_ECLOSED;
    size_t total = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (total == 0)
        return SMG_OK;
    size_t done = 0;
    if (c->pending == 0) {
        int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
        if (r >= 0) {
            done = (size_t)r;
        } else if (r != UV_EAGAIN) {
            SMG_DEBUG("http: write to %s failed: %s", c->peer, uv_strerror(r));
            c->depth++;
            fire_abort(c);
            conn_close(c);
            c->depth--;
            return SMG_ECLOSED;
        }
        if (done == total)
            return SMG_OK;
    }
    size_t left = total - done;
    wreq_t *wr = malloc(sizeof *wr + left);
    if (!wr)
        return SMG_ENOMEM;
    wr->conn = c;
    wr->len = left;
    size_t off = 0, skip = done;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t n = bufs[i].len;
        if (skip >= n) {
            skip -= n;
            continue;
        }
        memcpy(wr->data + off, bufs[i].base + skip, n - skip);
        off += n - skip;
        skip = 0;
    }
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)left);
    int r = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (r) {
        free(wr);
        c->depth++;
        fire_abort(c);
        conn_close(c);
        c->depth--;
        return SMG_ECLOSED;
    }
    c->pending += left;
    if (c->pending > c->srv->cfg.write_high_watermark)
        c->above_wm = true;
    return SMG_OK;
}

/* Build the status line and headers into the listener's head buffer (valid
 * until the next build on this loop: conn_write copies what it cannot send). content_length < 0:
 * streamed (chunked or close-delimited per c->resp_chunked). */
static int build_head(smg__http_conn_t *c, int status, const smg_http_header_t *h, size_t nh,
                      long long content_length) {
    smg_buf_t *b = &c->lst->hbuf;
    smg_buf_reset(b);
    size_t need = 192; /* status line, framing and Connection lines */
    for (size_t i = 0; i < nh; i++) {
        /* CR or LF in a header would let a caller inject headers or a body */
        if (memchr(h[i].name.ptr, '\r', h[i].name.len) || memchr(h[i].name.ptr, '\n', h[i].name.len) ||
            (h[i].value.len && (memchr(h[i].value.ptr, '\r', h[i].value.len) ||
                                memchr(h[i].value.ptr, '\n', h[i].value.len)))) {
            SMG_WARN("http: response header with CR/LF refused");
            return SMG_EINVAL;
        }
        need += h[i].name.len + h[i].value.len + 4;
    }
    if (smg_buf_reserve(b, need) != SMG_OK)
        return SMG_ENOMEM;
    char *p = b->ptr;
    if (status < 100 || status > 999)
        status = 500;
    memcpy(p, c->req.http_minor == 0 && c->req.http_major == 1 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
    p += 9;
    p += fmt_u64(p, (unsigned)status);
    *p++ = ' ';
    const char *reason = smg_http_reason(status);
    size_t rl = strlen(reason);
    /* need was sized for fixed parts up to 128 bytes; reasons are short */
    memcpy(p, reason, rl);
    p += rl;
    *p++ = '\r';
    *p++ = '\n';
    for (size_t i = 0; i < nh; i++) {
        memcpy(p, h[i].name.ptr, h[i].name.len);
        p += h[i].name.len;
        *p++ = ':';
        *p++ = ' ';
        if (h[i].value.len)
            memcpy(p, h[i].value.ptr, h[i].value.len);
        p += h[i].value.len;
        *p++ = '\r';
        *p++ = '\n';
    }
    if (content_length >= 0) {
        memcpy(p, "Content-Length: ", 16);
        p += 16;
        p += fmt_u64(p, (unsigned long long)content_length);
        *p++ = '\r';
        *p++ = '\n';
    } else if (c->resp_chunked) {
        memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
        p += 28;
    }
    if (c->resp_close) {
        memcpy(p, "Connection: close\r\n\r\n", 21);
        p += 21;
    } else {
        memcpy(p, "Connection: keep-alive\r\n\r\n", 26);
        p += 26;
    }
    b->len = (size_t)(p - b->ptr);
    SMG_BUG_ON(b->len >= b->cap);
    return SMG_OK;
}

/* ------------------------------------------------------------------------ */
/* Closing and freeing                                                      */

static void conn_free(smg__http_conn_t *c) {
    if (c->lst) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->lst->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    if (c->rbuf)
        pool_put(c->lst, c->rbuf);
    smg__http_body_release(c);
    smg__http_conn_parse_free(c);
    free(c);
}

/* The end of every entry point: free the connection once its handles are
 * closed, the handler released its request and no callback of ours is on
 * the stack. */
static void conn_leave(smg__http_conn_t *c) {
    if (--c->depth > 0)
        return;
    if (c->closing && c->closes_pending == 0 && c->state != SMG__CONN_HANDLER)
        conn_free(c);
}

static void close_cb(uv_handle_t *h) {
    smg__http_conn_t *c = h->data;
    c->depth++;
    c->closes_pending--;
    conn_leave(c);
}

static void conn_close(smg__http_conn_t *c) {
    if (c->closing)
        return;
    c->closing = true;
    atomic_fetch_sub_explicit(&c->srv->connections, 1, memory_order_relaxed);
    c->closes_pending = 2;
    uv_close((uv_handle_t *)&c->tcp, close_cb);
    uv_close((uv_handle_t *)&c->timer, close_cb);
}

static void shutdown_cb(uv_shutdown_t *s, int status) {
    smg__http_conn_t *c = s->data;
    c->depth++;
    if (status < 0 && !c->closing)
        conn_close(c);
    conn_leave(c);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void conn_read_start(smg__http_conn_t *c) {
    if (!c->reading && !c->closing) {
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0)
            c->reading = true;
    }
}

static void conn_read_stop(smg__http_conn_t *c) {
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* After the last response: send FIN once queued writes are out, keep reading
 * (and dropping) what the client still sends, close on EOF or after the
 * linger time. */
static void conn_close_graceful(smg__http_conn_t *c) {
    if (c->closing || c->state == SMG__CONN_CLOSING)
        return;
    conn_set_state(c, SMG__CONN_CLOSING);
    c->rlen = c->rpos = 0;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
        conn_close(c);
        return;
    }
    conn_read_start(c);
    conn_timer(c, SMG__HTTP_LINGER_MS);
}

/* Answer an error the server detects itself, then close. */
static void conn_send_error(smg__http_conn_t *c, int status, const char *msg) {
    SMG_DEBUG("http: %d for %s: %s", status, c->peer, msg);
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = c->srv->cfg.error_body
                 ? c->srv->cfg.error_body(&b, c->req.path.ptr ? c->req.path : SMG_STR(""), status,
                                          msg, c->srv->ctx)
                 : smg_http_error_json(&b, smg_str_c(msg), "invalid_request_error", status);
    smg_str_t bs = rc == SMG_OK ? smg_buf_str(&b) : SMG_STR("{}");
    c->resp_close = true;
    c->resp_chunked = false;
    /* An error answer is always HTTP/1.1 framed with Content-Length. */
    c->req.http_major = 1;
    c->req.http_minor = 1;
    static const smg_http_header_t ct = {SMG_STR("Content-Type"), SMG_STR("application/json")};
    if (build_head(c, status, &ct, 1, (long long)bs.len) == SMG_OK) {
        uv_buf_t iov[2] = {uv_buf_init(c->lst->hbuf.ptr, (unsigned)c->lst->hbuf.len),
                           uv_buf_init((char *)bs.ptr, (unsigned)bs.len)};
        if (conn_write(c, iov, 2) != SMG_OK) {
            smg_buf_free(&b);
            conn_close(c);
            return;
        }
    }
    smg_buf_free(&b);
    conn_close_graceful(c);
}

/* ------------------------------------------------------------------------ */
/* Request flow                                                             */

static void conn_dispatch(smg__http_conn_t *c) {
    conn_set_state(c, SMG__CONN_HANDLER);
    conn_timer(c, 0);
    c->resp = SMG__RESP_NONE;
    c->aborted = false;
    c->abort_cb = c->drain_cb = NULL;
    atomic_fetch_add_explicit(&c->srv->active, 1, memory_order_relaxed);
    c->srv->handler(&c->req, c->srv->ctx);
}

/* Parse what is buffered and act on it; loops over pipelined requests that
 * the handler answers synchronously. Called with depth > 0. */
static void conn_process(smg__http_conn_t *c) {
    c->in_process = true;
    while (!c->closing &&
           (c->state == SMG__CONN_HEAD || c->state == SMG__CONN_BODY)) {
        c->need_process = false;
        smg__parse_result_t r = smg__http_parse(c);
        if (r == SMG__PARSE_ERROR) {
            conn_send_error(c, c->err_status, c->err_msg ? c->err_msg : "bad request");
            break;
        }
        if (r == SMG__PARSE_MORE) {
            if (c->head_done) {
                if (c->state == SMG__CONN_HEAD)
                    conn_set_state(c, SMG__CONN_BODY);
                conn_timer(c, c->srv->cfg.body_timeout_ms);
                if (c->expect_continue && !c->continue_sent) {
                    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                    uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
                    c->continue_sent = true;
                    (void)conn_write(c, &b, 1);
                }
            }
            if (c->rlen == c->srv->rcap) /* cannot happen: the head cap is below rcap */
                conn_send_error(c, 431, "request head too large");
            break;
        }
        conn_dispatch(c);
        if (!c->need_process)
            break;
    }
    c->in_process = false;
}

/* The handler released the request: keep the connection for the next one,
 * or close it. */
static void conn_finish(smg__http_conn_t *c) {
    atomic_fetch_sub_explicit(&c->srv->active, 1, memory_order_relaxed);
    c->abort_cb = c->drain_cb = NULL;
    c->resp = SMG__RESP_NONE;
    if (c->closing) {
        conn_set_state(c, SMG__CONN_IDLE);
        return;
    }
    if (c->resp_close) {
        conn_set_state(c, SMG__CONN_IDLE);
        conn_close_graceful(c);
        return;
    }
    smg__http_next_request(c);
    if (c->rlen == 0) {
        conn_set_state(c, SMG__CONN_IDLE);
        conn_release_rbuf(c);
        smg__http_body_release(c);
        conn_timer(c, c->srv->cfg.idle_timeout_ms);
        conn_read_start(c);
        return;
    }
    conn_set_state(c, SMG__CONN_HEAD);
    c->req.start_ns = smg_now_ns();
    conn_timer(c, c->srv->cfg.header_timeout_ms);
    conn_read_start(c);
    if (c->in_process) {
        c->need_process = true; /* the conn_process loop up the stack goes on */
    } else {
        conn_process(c);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    smg__http_conn_t *c = h->data;
    (void)suggested;
    if (!c->rbuf) {
        smg__http_conn_set_rbuf(c, pool_get(c->lst, c->srv->rblock));
        c->rlen = c->rpos = 0;
        if (!c->rbuf) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
    }
    *buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(c->srv->rcap - c->rlen));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    smg__http_conn_t *c = s->data;
    (void)buf;
    c->depth++;
    if (nread < 0) {
        if (nread != UV_EOF)
            SMG_DEBUG("http: read from %s: %s", c->peer, uv_strerror((int)nread));
        conn_read_stop(c);
        fire_abort(c);
        conn_close(c);
    } else if (nread > 0 && !c->closing) {
        c->rlen += (size_t)nread;
        switch (c->state) {
        case SMG__CONN_CLOSING:
            c->rlen = c->rpos = 0;
            break;
        case SMG__CONN_IDLE:
            conn_set_state(c, SMG__CONN_HEAD);
            c->req.start_ns = smg_now_ns();
            conn_timer(c, c->srv->cfg.header_timeout_ms);
            conn_process(c);
            break;
        case SMG__CONN_HEAD:
        case SMG__CONN_BODY:
            conn_process(c);
            break;
        case SMG__CONN_HANDLER:
            /* Pipelined bytes: kept for later; stop reading once the buffer
             * is full (backpressure). */
            if (c->rlen == c->srv->rcap)
                conn_read_stop(c);
            break;
        }
    } else if (nread == 0 && c->state == SMG__CONN_IDLE) {
        conn_release_rbuf(c);
    }
    if (!c->closing && c->rbuf && c->state == SMG__CONN_IDLE && c->rlen == 0)
        conn_release_rbuf(c);
    conn_leave(c);
}

static void timer_cb(uv_timer_t *t) {
    smg__http_conn_t *c = t->data;
    c->depth++;
    switch (c->state) {
    case SMG__CONN_IDLE:
        conn_close(c);
        break;
    case SMG__CONN_HEAD:
        conn_send_error(c, 408, "timed out waiting for the request head");
        break;
    case SMG__CONN_BODY:
        conn_send_error(c, 408, "timed out waiting for the request body");
        break;
    case SMG__CONN_HANDLER:
        maybe_fire_drain(c); /* a drain callback set while nothing was pending */
        break;
    case SMG__CONN_CLOSING:
        conn_close(c);
        break;
    }
    conn_leave(c);
}

/* ------------------------------------------------------------------------ */
/* Accepting                                                                */

static void on_connection(uv_stream_t *server, int status) {
    smg__http_listener_t *l = server->data;
    smg_http_server_t *srv = l->srv;
    if (status < 0) {
        SMG_WARN("http: accept failed: %s", uv_strerror(status));
        return;
    }
    smg__http_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        SMG_ERROR("http: out of memory accepting a connection");
        return; /* the socket stays in the backlog; retried on the next event */
    }
    smg__http_conn_parse_init(c, srv);
    c->lst = l;
    c->req.loop = l->loop;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    c->depth = 1;
    size_t n = atomic_fetch_add_explicit(&srv->connections, 1, memory_order_relaxed) + 1;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        conn_leave(c);
        return;
    }
    if (n > srv->cfg.max_connections || atomic_load(&srv->draining)) {
        SMG_DEBUG("http: connection refused (%zu open, cap %zu)", n - 1,
                  srv->cfg.max_connections);
        conn_close(c);
        conn_leave(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, c->peer, sizeof c->peer);
            c->req.peer_port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, c->peer, sizeof c->peer);
            c->req.peer_port = ntohs(a->sin6_port);
        }
    }
    conn_set_state(c, SMG__CONN_IDLE);
    /* A new connection must send its head within the header timeout. */
    conn_timer(c, srv->cfg.header_timeout_ms);
    conn_read_start(c);
    conn_leave(c);
}

/* ------------------------------------------------------------------------ */
/* Server object, listeners                                                 */

smg_http_server_t *smg_http_server_new(const smg_http_server_config_t *cfg,
                                       smg_http_handler_cb handler, void *ctx) {
    if (!cfg->max_header_bytes || !cfg->max_headers || !cfg->max_connections ||
        !cfg->write_high_watermark || !handler) {
        SMG_ERROR("http server: invalid configuration (zero limit or no handler)");
        return NULL;
    }
    smg_http_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->cfg = *cfg;
    srv->host = strdup(cfg->host ? cfg->host : "0.0.0.0");
    if (!srv->host) {
        free(srv);
        return NULL;
    }
    srv->cfg.host = srv->host;
    if (srv->cfg.backlog <= 0)
        srv->cfg.backlog = 511;
    srv->handler = handler;
    srv->ctx = ctx;
    atomic_init(&srv->port, cfg->port);
    atomic_init(&srv->connections, 0);
    atomic_init(&srv->active, 0);
    atomic_init(&srv->draining, false);
    pthread_mutex_init(&srv->mu, NULL);
    smg__http_settings_init(&srv->settings);
    srv->rcap = srv->cfg.max_header_bytes + SMG__HTTP_READ_SLACK;
    srv->hdr_off = (srv->rcap + 15) & ~(size_t)15;
    srv->rblock = srv->hdr_off + srv->cfg.max_headers * sizeof(smg_http_header_t);
    return srv;
}

const smg_http_server_config_t *smg_http_server_config(const smg_http_server_t *srv) {
    return &srv->cfg;
}

int smg_http_server_port(const smg_http_server_t *srv) {
    return atomic_load(&((smg_http_server_t *)srv)->port);
}

size_t smg_http_server_active_requests(const smg_http_server_t *srv) {
    return atomic_load(&((smg_http_server_t *)srv)->active);
}

size_t smg_http_server_connections(const smg_http_server_t *srv) {
    return atomic_load(&((smg_http_server_t *)srv)->connections);
}

/* Create, bind and listen a non-blocking SO_REUSEPORT socket. */
/* Another process that also set SO_REUSEPORT (a second smg on the same port,
 * say) would silently share the port with us. Before the first listener of a
 * server binds a fixed port, a plain bind (SO_REUSEADDR only) checks that
 * nobody holds it; EADDRINUSE then fails the start as it should. */
static bool port_taken(const struct addrinfo *ai) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool taken = bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EADDRINUSE;
    close(fd);
    return taken;
}

static int open_socket(const char *host, int port, int backlog, bool first, int *out_fd,
                       int *out_port) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    portstr[fmt_u64(portstr, (unsigned)port)] = '\0';
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        SMG_ERROR("http: cannot resolve listen host '%s': %s", host, gai_strerror(gai));
        return SMG_EIO;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (first && port != 0 && port_taken(ai)) {
            err = EADDRINUSE;
            continue;
        }
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        SMG_ERROR("http: cannot listen on %s:%d: %s", host, port, strerror(err));
        return SMG_EIO;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *out_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out_fd = fd;
    return SMG_OK;
}

static void listener_close(smg__http_listener_t *l) {
    if (l->listening) {
        l->listening = false;
        uv_close((uv_handle_t *)&l->tcp, NULL);
    }
}

static void listener_close_task(void *arg) {
    listener_close(arg);
}

static void close_idle_task(void *arg) {
    smg__http_listener_t *l = arg;
    smg__http_conn_t *c = l->conns;
    while (c) {
        smg__http_conn_t *next = c->next; /* conn_close frees nothing now */
        if (!c->closing && c->state == SMG__CONN_IDLE)
            conn_close(c);
        c = next;
    }
}

/* Loop stop hook: close the listener and every connection of this loop. */
static void listener_stop_hook(void *arg) {
    smg__http_listener_t *l = arg;
    listener_close(l);
    for (smg__http_conn_t *c = l->conns; c; c = c->next) {
        if (c->closing)
            continue;
        c->depth++;
        fire_abort(c);
        conn_close(c);
        c->depth--; /* the close callbacks free it (or the handler's release) */
    }
}

int smg_http_server_listen(smg_http_server_t *srv, smg_loop_t *loop) {
    smg__http_listener_t *l = calloc(1, sizeof *l);
    if (!l)
        return SMG_ENOMEM;
    l->srv = srv;
    smg_buf_init(&l->hbuf, 0);
    l->loop = loop;
    pthread_mutex_lock(&srv->mu);
    int port = atomic_load(&srv->port), real = port, fd = -1;
    int rc = open_socket(srv->host, port, srv->cfg.backlog, srv->listeners == NULL, &fd, &real);
    if (rc == SMG_OK) {
        atomic_store(&srv->port, real);
        l->next = srv->listeners;
        srv->listeners = l;
    }
    pthread_mutex_unlock(&srv->mu);
    if (rc != SMG_OK) {
        free(l);
        return rc;
    }
    uv_tcp_init(smg_loop_uv(loop), &l->tcp);
    l->tcp.data = l;
    int r = uv_tcp_open(&l->tcp, fd);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&l->tcp, srv->cfg.backlog, on_connection);
    l->listening = true;
    if (r != 0) {
        SMG_ERROR("http: listen on %s:%d: %s", srv->host, real, uv_strerror(r));
        listener_close(l);
        return SMG_EIO;
    }
    if (smg_loop_on_stop(loop, listener_stop_hook, l) != SMG_OK) {
        SMG_ERROR("http: too many stop hooks on loop %d", smg_loop_index(loop));
        listener_close(l);
        return SMG_ELIMIT;
    }
    SMG_DEBUG("http: loop %d listening on %s:%d", smg_loop_index(loop), srv->host, real);
    return SMG_OK;
}

static void post_all(smg_http_server_t *srv, void (*fn)(void *)) {
    pthread_mutex_lock(&srv->mu);
    for (smg__http_listener_t *l = srv->listeners; l; l = l->next)
        if (smg_loop_post(l->loop, fn, l) != SMG_OK) /* a stopped loop closed it already */
            SMG_DEBUG("http: loop %d no longer takes posts", smg_loop_index(l->loop));
    pthread_mutex_unlock(&srv->mu);
}

void smg_http_server_stop_accepting(smg_http_server_t *srv) {
    post_all(srv, listener_close_task);
}

void smg_http_server_close_idle(smg_http_server_t *srv) {
    atomic_store(&srv->draining, true);
    post_all(srv, close_idle_task);
}

void smg_http_server_free(smg_http_server_t *srv) {
    if (!srv)
        return;
    smg__http_listener_t *l = srv->listeners;
    while (l) {
        smg__http_listener_t *next = l->next;
        if (l->conns) /* a handler never released its request: leak, do not crash */
            SMG_WARN("http: server freed while loop %d still has connections",
                     smg_loop_index(l->loop));
        for (size_t i = 0; i < l->npool; i++)
            free(l->pool[i]);
        for (size_t i = 0; i < l->nbody_pool; i++)
            free(l->body_pool[i]);
        smg_buf_free(&l->hbuf);
        free(l);
        l = next;
    }
    pthread_mutex_destroy(&srv->mu);
    free(srv->host);
    free(srv);
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                */

static bool is_head_request(const smg_http_req_t *req) {
    return req->method_id == HTTP_HEAD;
}

static void resp_decide_close(smg__http_conn_t *c) {
    c->resp_close = !c->req.keep_alive || atomic_load_explicit(&c->srv->draining,
                                                               memory_order_relaxed);
}

/* Release the request: the end of every respond/stream_end path. */
static void req_release(smg__http_conn_t *c) {
    c->depth++;
    conn_finish(c);
    conn_leave(c);
}

int smg_http_respond(smg_http_req_t *req, int status, const smg_http_header_t *h, size_t nh,
                     smg_str_t body) {
    smg__http_conn_t *c = req->conn;
    SMG_BUG_ON(c->state != SMG__CONN_HANDLER);
    if (c->resp == SMG__RESP_STREAMING) {
        /* Misuse: end the stream so the connection stays consistent. */
        (void)smg_http_stream_end(req);
        return SMG_EINVAL;
    }
    int rc = SMG_ECLOSED;
    if (body.len > UINT32_MAX) {
        status = 500; /* uv_buf_t lengths are 32-bit */
        body = SMG_STR("");
    }
    if (!c->aborted && !c->closing) {
        resp_decide_close(c);
        c->resp_chunked = false;
        bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
        rc = build_head(c, status, h, nh, no_body ? -1 : (long long)body.len);
        if (rc == SMG_OK) {
            uv_buf_t iov[2] = {uv_buf_init(c->lst->hbuf.ptr, (unsigned)c->lst->hbuf.len),
                               uv_buf_init((char *)body.ptr, (unsigned)body.len)};
            unsigned n = (no_body || is_head_request(req) || body.len == 0) ? 1 : 2;
            rc = conn_write(c, iov, n);
        }
        if (rc == SMG_ENOMEM || rc == SMG_EINVAL) {
            /* Nothing was sent: the client must not wait for an answer. */
            c->depth++;
            conn_close(c);
            c->depth--;
        }
    }
    c->resp = SMG__RESP_ENDED;
    req_release(c);
    return rc;
}

int smg_http_stream_start(smg_http_req_t *req, int status, const smg_http_header_t *h,
                          size_t nh) {
    smg__http_conn_t *c = req->conn;
    SMG_BUG_ON(c->state != SMG__CONN_HANDLER);
    if (c->resp != SMG__RESP_NONE)
        return SMG_EINVAL;
    if (c->aborted || c->closing)
        return SMG_ECLOSED;
    resp_decide_close(c);
    bool http11 = req->http_major > 1 || (req->http_major == 1 && req->http_minor >= 1);
    c->resp_chunked = http11 && !is_head_request(req);
    if (!http11)
        c->resp_close = true; /* close-delimited body */
    int rc = build_head(c, status, h, nh, -1);
    if (rc != SMG_OK)
        return rc;
    c->resp = SMG__RESP_STREAMING;
    uv_buf_t b = uv_buf_init(c->lst->hbuf.ptr, (unsigned)c->lst->hbuf.len);
    return conn_write(c, &b, 1);
}

int smg_http_stream_write(smg_http_req_t *req, smg_str_t data) {
    smg__http_conn_t *c = req->conn;
    if (c->resp != SMG__RESP_STREAMING)
        return SMG_EINVAL;
    if (c->aborted || c->closing)
        return SMG_ECLOSED;
    if (data.len == 0 || is_head_request(req))
        return SMG_OK;
    if (data.len > UINT32_MAX)
        return SMG_EINVAL;
    if (!c->resp_chunked) {
        uv_buf_t b = uv_buf_init((char *)data.ptr, (unsigned)data.len);
        return conn_write(c, &b, 1);
    }
    char size_line[24];
    size_t n = fmt_hex(size_line, data.len);
    size_line[n++] = '\r';
    size_line[n++] = '\n';
    uv_buf_t iov[3] = {uv_buf_init(size_line, (unsigned)n),
                       uv_buf_init((char *)data.ptr, (unsigned)data.len),
                       uv_buf_init((char *)"\r\n", 2)};
    return conn_write(c, iov, 3);
}

size_t smg_http_stream_pending(const smg_http_req_t *req) {
    return req->conn->pending;
}

void smg_http_on_drain(smg_http_req_t *req, smg_http_req_cb cb, void *arg) {
    smg__http_conn_t *c = req->conn;
    c->drain_cb = cb;
    c->drain_arg = arg;
    if (cb && c->pending == 0 && !c->closing && c->state == SMG__CONN_HANDLER)
        uv_timer_start(&c->timer, timer_cb, 0, 0); /* nothing will complete: fire soon */
}

void smg_http_on_abort(smg_http_req_t *req, smg_http_req_cb cb, void *arg) {
    smg__http_conn_t *c = req->conn;
    c->abort_cb = cb;
    c->abort_arg = arg;
}

bool smg_http_req_aborted(const smg_http_req_t *req) {
    return req->conn->aborted || req->conn->closing;
}

int smg_http_stream_end(smg_http_req_t *req) {
    smg__http_conn_t *c = req->conn;
    SMG_BUG_ON(c->state != SMG__CONN_HANDLER);
    int rc = SMG_OK;
    if (c->resp == SMG__RESP_STREAMING && !c->aborted && !c->closing) {
        if (c->resp_chunked) {
            uv_buf_t b = uv_buf_init((char *)"0\r\n\r\n", 5);
            rc = conn_write(c, &b, 1);
        }
    } else if (c->resp == SMG__RESP_NONE && !c->aborted && !c->closing) {
        /* Ended without a response: the client must not wait forever. */
        c->resp = SMG__RESP_ENDED;
        c->depth++;
        conn_close(c);
        c->depth--;
        rc = SMG_EINVAL;
    } else if (c->aborted || c->closing) {
        rc = SMG_ECLOSED;
    }
    c->resp = SMG__RESP_ENDED;
    req_release(c);
    return rc;
}

void smg_http_stream_abort(smg_http_req_t *req) {
    smg__http_conn_t *c = req->conn;
    SMG_BUG_ON(c->state != SMG__CONN_HANDLER);
    /* no terminating chunk: queued bytes are flushed, then the write side is
     * shut and the connection closed, so the client sees a cut-short body */
    c->resp = SMG__RESP_ENDED;
    c->resp_close = true;
    req_release(c);
}
