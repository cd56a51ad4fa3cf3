/* Upstream HTTP/1.1 client with keep-alive pools. Contract: net/upstream.h;
 * notes: docs/upstream.md.
 *
 * Objects and their lifetimes
 *   pool  one per (loop, origin). Freed when smg_upstream_pool_free was called
 *         AND every libuv handle it owns is closed (refs counts open handles and
 *         the pending getaddrinfo).
 *   conn  a TCP connection: tcp + timer handles, freed in the last close
 *         callback. Its timer is the connect timeout (RESOLVING/CONNECTING), the
 *         idle timeout (IDLE) or the "resume" kick (ACTIVE).
 *   req   one request: a timer handle (deadlines, then deferred on_done) and the
 *         serialized head in the same allocation. Freed in the timer's close
 *         callback, after on_done.
 *
 * Every state change goes through conn_set_state / req_set_state, which keep
 * the counters and lists right and can trace.
 *
 * Re-entrancy rule: user callbacks run only from loop callbacks. on_head and
 * on_body run inside http_parser_execute; they may abort/pause/resume their
 * own request (flags only, acted on when the parser returns), send, abort
 * other requests, even free the pool (which then closes handles but frees
 * nothing until the loop runs the close callbacks). */
#include "net/upstream.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/log.h"
#include "core/time.h"
#include "net/upstream_resp.h"

#define READ_BUF_SIZE 16384u
#define FREE_BUFS_MAX 16u
#define TCP_KEEPALIVE_S 30u

#define CONTAINER_OF(p, T, m) ((T *)(void *)((char *)(p)-offsetof(T, m)))

/* ---- intrusive doubly linked lists ---------------------------------------------------------- */

typedef struct link_s {
    struct link_s *prev, *next;
} link_t;

static void list_init(link_t *h) {
    h->prev = h->next = h;
}
static bool list_empty(const link_t *h) {
    return h->next == h;
}
static void list_insert_after(link_t *at, link_t *n) {
    n->prev = at;
    n->next = at->next;
    at->next->prev = n;
    at->next = n;
}
static void list_push_front(link_t *h, link_t *n) {
    list_insert_after(h, n);
}
static void list_push_back(link_t *h, link_t *n) {
    list_insert_after(h->prev, n);
}
static void list_remove(link_t *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* ---- types ---------------------------------------------------------------------------------- */

typedef enum {
    CONN_RESOLVING,  /* waiting for the pool's getaddrinfo */
    CONN_CONNECTING, /* uv_tcp_connect in progress */
    CONN_ACTIVE,     /* serving conn->req */
    CONN_IDLE,       /* in pool->idle, reading only to notice EOF */
    CONN_CLOSING,    /* uv_close called; freed in the close callbacks */
} conn_state_t;

static const char *const conn_state_names[] = {"resolving", "connecting", "active", "idle",
                                               "closing"};

typedef struct conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    uv_write_t write_req;
    smg_upstream_pool_t *pool;
    smg_upstream_req_t *req; /* bound request (CONNECTING: waiting for us; ACTIVE: served) */
    link_t link;             /* pool->conns until CLOSING */
    link_t idle_link;        /* pool->idle while IDLE */
    conn_state_t state;
    uint8_t open_handles;
    bool reading;
    bool writing; /* uv_write in flight */
    bool broken;  /* a write failed: never reuse */
    bool in_feed; /* conn_process is parsing rbuf */
    uint32_t nserved;
    uint64_t connect_start_ns;
    uint64_t connect_ns;
    /* Read buffer being parsed, or kept while the request is paused with
     * unparsed bytes. Taken from / returned to the pool's free list. */
    char *rbuf;
    size_t rpos, rlen;
    smg__upresp_t resp;
} conn_t;

typedef enum {
    REQ_NEW,
    REQ_QUEUED,     /* in pool->queue, waiting for max_connections */
    REQ_CONNECTING, /* bound to a connection being opened */
    REQ_ACTIVE,     /* written / being answered on req->conn */
    REQ_FINISHING,  /* result set, on_done scheduled on the timer */
    REQ_DONE,       /* on_done called; memory freed on timer close */
} req_state_t;

static const char *const req_state_names[] = {"new",    "queued",    "connecting",
                                              "active", "finishing", "done"};

struct smg_upstream_req_s {
    smg_upstream_pool_t *pool;
    conn_t *conn;
    link_t link;       /* pool->reqs until on_done */
    link_t queue_link; /* pool->queue while QUEUED */
    uv_timer_t timer;
    req_state_t state;
    smg_upstream_cbs_t cbs;
    void *ud;
    uint64_t t_start_ns, t_head_ns, t_connect_ns;
    uint64_t deadline_total_ms, deadline_fb_ms; /* loop time; 0 = none */
    uint32_t fb_timeout_ms;
    bool head_request;
    bool paused;
    bool in_cb;      /* inside on_head/on_body of this request */
    bool got_byte;   /* a response byte arrived on the current attempt */
    bool has_stop;   /* abort or pool close requested from inside a callback */
    bool close_mark; /* pool_free: to be completed */
    bool resent;
    bool reused;
    smg_upstream_error_t stop_error;
    int stop_status;
    const char *stop_msg;
    smg_upstream_result_t res;
    char msg[192];
    uv_buf_t iov[2];
    unsigned niov;
    char head[]; /* serialized request head */
};

struct smg_upstream_pool_s {
    uv_loop_t *loop;
    smg_upstream_pool_config_t cfg;
    char *host;     /* without brackets, NUL-terminated */
    char *host_hdr; /* Host header value */
    size_t host_hdr_len;
    char port_str[8];
    struct sockaddr_storage addr;
    bool addr_valid;
    bool addr_literal;
    bool gai_active;
    bool closing;
    uint64_t addr_expires_ms;
    uv_getaddrinfo_t gai;
    uint32_t refs; /* open handles + pending getaddrinfo */
    link_t conns;  /* every connection not CLOSING */
    link_t idle;   /* IDLE connections, most recently used first */
    link_t reqs;   /* every request until on_done */
    link_t queue;  /* QUEUED requests, FIFO */
    uint32_t nconns, nidle, nqueued, ninflight;
    smg_upstream_pool_stats_t st;
    char *free_bufs[FREE_BUFS_MAX];
    uint32_t nfree_bufs;
};

/* ---- forward declarations ------------------------------------------------------------------- */

static void conn_close(conn_t *c);
static void conn_process(conn_t *c);
static void conn_start_request(conn_t *c, smg_upstream_req_t *req);
static void conn_update_reading(conn_t *c);
static void pool_dispatch(smg_upstream_pool_t *pool);
static void pool_resolve(smg_upstream_pool_t *pool);
static void req_arm_timer(smg_upstream_req_t *req);
static const smg__upresp_cbs_t resp_cbs;

/* ---- small helpers -------------------------------------------------------------------------- */

const char *smg_upstream_error_name(smg_upstream_error_t e) {
    switch (e) {
#define SMG__UP_NAME(name, str)                                                                    \
    case SMG_UP_##name:                                                                            \
        return str;
        SMG_UPSTREAM_ERROR_TABLE(SMG__UP_NAME)
#undef SMG__UP_NAME
    }
    return "unknown";
}

static size_t u64_dec(char *out, uint64_t v) {
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

static char *buf_get(smg_upstream_pool_t *pool) {
    if (pool->nfree_bufs) return pool->free_bufs[--pool->nfree_bufs];
    return malloc(READ_BUF_SIZE);
}

static void buf_put(smg_upstream_pool_t *pool, char *b) {
    if (!b) return;
    if (!pool->closing && pool->nfree_bufs < FREE_BUFS_MAX)
        pool->free_bufs[pool->nfree_bufs++] = b;
    else
        free(b);
}

static void pool_destroy(smg_upstream_pool_t *pool) {
    for (uint32_t i = 0; i < pool->nfree_bufs; i++)
        free(pool->free_bufs[i]);
    free(pool->host);
    free(pool->host_hdr);
    free(pool);
}

static void pool_unref(smg_upstream_pool_t *pool) {
    SMG_BUG_ON(pool->refs == 0);
    if (--pool->refs == 0 && pool->closing) pool_destroy(pool);
}

static bool pool_can_open(const smg_upstream_pool_t *pool) {
    return pool->cfg.max_connections == 0 || pool->nconns < pool->cfg.max_connections;
}

/* ---- state transitions ---------------------------------------------------------------------- */

static void req_set_state(smg_upstream_req_t *req, req_state_t ns) {
    smg_upstream_pool_t *pool = req->pool;
    req_state_t os = req->state;
    if (os == ns) return;
    if (os == REQ_QUEUED) {
        list_remove(&req->queue_link);
        pool->nqueued--;
    } else if (os == REQ_CONNECTING || os == REQ_ACTIVE) {
        pool->ninflight--;
    }
    if (ns == REQ_QUEUED) {
        list_push_back(&pool->queue, &req->queue_link);
        pool->nqueued++;
    } else if (ns == REQ_CONNECTING || ns == REQ_ACTIVE) {
        pool->ninflight++;
    }
    req->state = ns;
    SMG_LOG(SMG_LOG_TRACE, "upstream %s:%u req %p: %s -> %s", pool->host, pool->cfg.port,
            (void *)req, req_state_names[os], req_state_names[ns]);
}

static void conn_set_state(conn_t *c, conn_state_t ns) {
    smg_upstream_pool_t *pool = c->pool;
    conn_state_t os = c->state;
    if (os == ns) return;
    SMG_BUG_ON(os == CONN_CLOSING);
    /* An idle connection does not keep the loop alive (as Node's agent
     * unrefs its free sockets): uv_run may return with only idle ones. */
    if (os == CONN_IDLE) {
        list_remove(&c->idle_link);
        pool->nidle--;
        uv_ref((uv_handle_t *)&c->tcp);
        uv_ref((uv_handle_t *)&c->timer);
    }
    if (ns == CONN_IDLE) {
        list_push_front(&pool->idle, &c->idle_link);
        pool->nidle++;
        uv_unref((uv_handle_t *)&c->tcp);
        uv_unref((uv_handle_t *)&c->timer);
    } else if (ns == CONN_CLOSING) {
        list_remove(&c->link);
        pool->nconns--;
    }
    c->state = ns;
    SMG_LOG(SMG_LOG_TRACE, "upstream %s:%u conn %p: %s -> %s", pool->host, pool->cfg.port,
            (void *)c, conn_state_names[os], conn_state_names[ns]);
}

/* ---- request completion --------------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static void req_set_result(smg_upstream_req_t *req,
                                                                 smg_upstream_error_t err,
                                                                 int status, const char *fmt, ...) {
    req->res.error = err;
    req->res.status = status;
    if (err == SMG_UP_OK) { /* every successful request: no printf */
        memcpy(req->msg, "ok", 3);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->msg, sizeof req->msg, fmt, ap);
    va_end(ap);
    if (err != SMG_UP_OK)
        SMG_DEBUG("upstream %s:%u: %s: %s", req->pool->host, req->pool->cfg.port,
                  smg_upstream_error_name(err), req->msg);
}

static void req_close_cb(uv_handle_t *h) {
    smg_upstream_req_t *req = h->data;
    smg_upstream_pool_t *pool = req->pool;
    free(req);
    pool_unref(pool);
}

/* Deliver on_done now and release the request. The request must be detached
 * from any connection. Must run from a loop callback (or pool_free). */
static void req_complete(smg_upstream_req_t *req) {
    SMG_BUG_ON(req->conn != NULL);
    SMG_BUG_ON(req->state == REQ_DONE);
    req_set_state(req, REQ_DONE);
    uv_timer_stop(&req->timer);
    list_remove(&req->link);
    uint64_t now = smg_now_ns();
    smg_upstream_result_t *res = &req->res;
    res->total_ns = now - req->t_start_ns;
    res->head_ns = req->t_head_ns ? req->t_head_ns - req->t_start_ns : 0;
    res->connect_ns = req->t_connect_ns;
    res->reused = req->reused;
    res->resent = req->resent;
    res->message = req->msg;
    req->cbs.on_done(req, res, req->ud);
    uv_close((uv_handle_t *)&req->timer, req_close_cb);
}

static void req_deliver_cb(uv_timer_t *t) {
    req_complete(t->data);
}

/* Record a failure and deliver on_done on the next loop turn. For use where
 * a user callback must not run (API calls, dispatch). The request must be
 * detached from any connection. */
#define req_fail_later(req, err, status, ...)                                                      \
    do {                                                                                           \
        req_set_result((req), (err), (status), __VA_ARGS__);                                       \
        req_schedule_done(req);                                                                    \
    } while (0)

static void req_schedule_done(smg_upstream_req_t *req) {
    SMG_BUG_ON(req->conn != NULL);
    req_set_state(req, REQ_FINISHING);
    uv_timer_start(&req->timer, req_deliver_cb, 0, 0);
}

/* Take the request off its queue or connection. An active connection is
 * closed (the response is unfinished); a connecting one goes on and will
 * serve the queue or go idle. */
static void req_detach(smg_upstream_req_t *req) {
    conn_t *c = req->conn;
    if (!c) return;
    c->req = NULL;
    req->conn = NULL;
    if (req->state == REQ_ACTIVE) conn_close(c);
}

/* ---- timers --------------------------------------------------------------------------------- */

static void req_timeout_cb(uv_timer_t *t) {
    smg_upstream_req_t *req = t->data;
    smg_upstream_pool_t *pool = req->pool;
    uint64_t now = uv_now(pool->loop);
    bool total = req->deadline_total_ms && now >= req->deadline_total_ms;
    bool fb = !total && req->deadline_fb_ms && now >= req->deadline_fb_ms;
    if (!total && !fb) {
        req_arm_timer(req);
        return;
    }
    bool sent = req->state == REQ_ACTIVE;
    req_detach(req);
    if (!sent)
        req_set_result(req, SMG_UP_CONNECT_TIMEOUT, SMG_ETIMEDOUT,
                       "no connection to %s:%u within the %s timeout", pool->host, pool->cfg.port,
                       total ? "total" : "first-byte");
    else if (total)
        req_set_result(req, SMG_UP_TIMEOUT, SMG_ETIMEDOUT, "%s:%u: total timeout", pool->host,
                       pool->cfg.port);
    else
        req_set_result(req, SMG_UP_TIMEOUT, SMG_ETIMEDOUT, "%s:%u: no response byte within %u ms",
                       pool->host, pool->cfg.port, req->fb_timeout_ms);
    pool_dispatch(pool);
    req_complete(req);
}

static void req_arm_timer(smg_upstream_req_t *req) {
    if (req->state == REQ_FINISHING || req->state == REQ_DONE) return;
    uint64_t d = req->deadline_total_ms;
    if (req->deadline_fb_ms && (!d || req->deadline_fb_ms < d)) d = req->deadline_fb_ms;
    if (!d) {
        uv_timer_stop(&req->timer);
        return;
    }
    uint64_t now = uv_now(req->pool->loop);
    uv_timer_start(&req->timer, req_timeout_cb, d > now ? d - now : 0, 0);
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_drop_rbuf(conn_t *c) {
    if (c->rbuf && !c->in_feed) {
        buf_put(c->pool, c->rbuf);
        c->rbuf = NULL;
        c->rpos = c->rlen = 0;
    }
}

static void conn_close_cb(uv_handle_t *h) {
    conn_t *c = h->data;
    smg_upstream_pool_t *pool = c->pool;
    if (--c->open_handles == 0) {
        if (c->rbuf) buf_put(pool, c->rbuf);
        smg__upresp_free(&c->resp);
        free(c);
    }
    pool_unref(pool);
}

/* Close the connection. A bound request stays bound (the caller detaches
 * it); the read buffer is released unless it is being parsed right now. */
static void conn_close(conn_t *c) {
    if (c->state == CONN_CLOSING) return;
    conn_set_state(c, CONN_CLOSING);
    conn_drop_rbuf(c);
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
    uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}

/* A connection that attempted to connect failed: fail its request (later)
 * and close it. The caller runs pool_dispatch afterwards. */
static void conn_connect_failed(conn_t *c, smg_upstream_error_t err, int uverr) {
    smg_upstream_pool_t *pool = c->pool;
    pool->st.connect_errors++;
    smg_upstream_req_t *req = c->req;
    if (req) {
        c->req = NULL;
        req->conn = NULL;
        if (err == SMG_UP_CONNECT_TIMEOUT)
            req_fail_later(req, err, SMG_ETIMEDOUT, "connect to %s:%u timed out", pool->host,
                           pool->cfg.port);
        else
            req_fail_later(req, err, SMG_EIO, "connect to %s:%u: %s", pool->host, pool->cfg.port,
                           uv_strerror(uverr));
    }
    conn_close(c);
}

static void connect_timeout_cb(uv_timer_t *t) {
    conn_t *c = t->data;
    smg_upstream_pool_t *pool = c->pool;
    if (c->state != CONN_RESOLVING && c->state != CONN_CONNECTING) return;
    conn_connect_failed(c, SMG_UP_CONNECT_TIMEOUT, UV_ETIMEDOUT);
    pool_dispatch(pool);
}

static void idle_timeout_cb(uv_timer_t *t) {
    conn_t *c = t->data;
    if (c->state == CONN_IDLE) conn_close(c);
}

/* Resume kick: parse the bytes kept while paused, then read again. */
static void kick_cb(uv_timer_t *t) {
    conn_t *c = t->data;
    if (c->state != CONN_ACTIVE) return;
    if (c->rbuf && c->req && !c->req->paused) conn_process(c);
    if (c->state == CONN_ACTIVE) conn_update_reading(c);
}

/* Connection is free: serve the queue, go idle, or close. */
static void conn_release(conn_t *c, bool reuse) {
    smg_upstream_pool_t *pool = c->pool;
    SMG_ASSERT(c->req == NULL);
    if (reuse && c->state != CONN_CLOSING && !pool->closing &&
        (pool->nidle < pool->cfg.max_idle || !list_empty(&pool->queue))) {
        conn_set_state(c, CONN_IDLE);
        uv_timer_start(&c->timer, idle_timeout_cb, pool->cfg.idle_timeout_ms, 0);
        conn_update_reading(c);
    } else {
        conn_close(c);
    }
    pool_dispatch(pool);
}

static void connect_cb(uv_connect_t *cr, int status) {
    conn_t *c = CONTAINER_OF(cr, conn_t, connect_req);
    smg_upstream_pool_t *pool = c->pool;
    if (c->state != CONN_CONNECTING) return; /* closing: status is UV_ECANCELED */
    if (status < 0) {
        conn_connect_failed(c, SMG_UP_CONNECT_FAILED, status);
        pool_dispatch(pool);
        return;
    }
    uv_timer_stop(&c->timer);
    c->connect_ns = smg_now_ns() - c->connect_start_ns;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, TCP_KEEPALIVE_S);
    smg_upstream_req_t *req = c->req;
    if (req) {
        req->t_connect_ns = c->connect_ns;
        conn_start_request(c, req);
    } else {
        conn_release(c, true);
    }
}

static void conn_connect(conn_t *c) {
    smg_upstream_pool_t *pool = c->pool;
    conn_set_state(c, CONN_CONNECTING);
    int rc =
        uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&pool->addr, connect_cb);
    if (rc < 0) conn_connect_failed(c, SMG_UP_CONNECT_FAILED, rc);
}

static bool pool_addr_usable(const smg_upstream_pool_t *pool) {
    return pool->addr_valid && (pool->addr_literal || uv_now(pool->loop) < pool->addr_expires_ms);
}

/* Open a connection bound to req (which waits for it). Ignores
 * max_connections: callers check pool_can_open unless they replace a
 * connection that just closed. */
static SMG_MUST_CHECK int conn_open(smg_upstream_pool_t *pool, smg_upstream_req_t *req) {
    conn_t *c = calloc(1, sizeof *c);
    if (!c) return SMG_ENOMEM;
    if (uv_tcp_init(pool->loop, &c->tcp) != 0) {
        free(c);
        return SMG_EIO;
    }
    uv_timer_init(pool->loop, &c->timer);
    smg__upresp_init(&c->resp, &resp_cbs, c, pool->cfg.max_response_head_bytes);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    pool->refs += 2;
    c->pool = pool;
    c->state = CONN_RESOLVING;
    list_push_back(&pool->conns, &c->link);
    list_init(&c->idle_link);
    pool->nconns++;
    c->req = req;
    req->conn = c;
    req_set_state(req, REQ_CONNECTING);
    c->connect_start_ns = smg_now_ns();
    uv_timer_start(&c->timer, connect_timeout_cb, pool->cfg.connect_timeout_ms, 0);
    if (pool_addr_usable(pool))
        conn_connect(c);
    else
        pool_resolve(pool);
    return SMG_OK;
}

/* The connection broke (EOF, reset, write error) after the request was
 * handed to it and before any response byte. A reused connection gets one
 * transparent resend on a fresh connection; otherwise the request fails.
 * The caller runs pool_dispatch afterwards. */
static void conn_broken_before_head(conn_t *c, int uverr) {
    smg_upstream_pool_t *pool = c->pool;
    smg_upstream_req_t *req = c->req;
    c->req = NULL;
    req->conn = NULL;
    conn_close(c);
    if (req->reused && !req->resent && !pool->closing) {
        req->resent = true;
        req->reused = false;
        req->deadline_fb_ms = 0;
        pool->st.resends++;
        SMG_DEBUG("upstream %s:%u: reused connection closed before responding (%s); resending "
                  "on a fresh connection",
                  pool->host, pool->cfg.port, uv_strerror(uverr));
        if (conn_open(pool, req) != SMG_OK)
            req_fail_later(req, SMG_UP_CONNECT_FAILED, SMG_ENOMEM,
                           "out of memory opening a connection to %s:%u", pool->host,
                           pool->cfg.port);
        else
            req_arm_timer(req);
        return;
    }
    req_fail_later(req, SMG_UP_RESET_BEFORE_HEAD, SMG_EIO,
                   "%s:%u closed the connection before responding (%s)", pool->host, pool->cfg.port,
                   uv_strerror(uverr));
}

/* Fail the active request (later) and close the connection. */
static void conn_fail_req(conn_t *c, smg_upstream_error_t err, int status, const char *msg) {
    smg_upstream_pool_t *pool = c->pool;
    smg_upstream_req_t *req = c->req;
    c->req = NULL;
    req->conn = NULL;
    conn_close(c);
    req_fail_later(req, err, status, "%s:%u: %s", pool->host, pool->cfg.port, msg);
    pool_dispatch(pool);
}

static void write_cb(uv_write_t *wr, int status) {
    conn_t *c = CONTAINER_OF(wr, conn_t, write_req);
    c->writing = false;
    if (c->state == CONN_CLOSING || status == 0) return;
    c->broken = true;
    smg_upstream_req_t *req = c->req;
    if (!req || c->state != CONN_ACTIVE) {
        conn_close(c);
        return;
    }
    if (!req->got_byte) {
        smg_upstream_pool_t *pool = c->pool;
        conn_broken_before_head(c, status);
        pool_dispatch(pool);
    }
    /* Otherwise the server answered before taking the whole request; the
     * read side finishes the response and the connection is not reused. */
}

static void conn_start_request(conn_t *c, smg_upstream_req_t *req) {
    smg_upstream_pool_t *pool = c->pool;
    c->req = req;
    req->conn = c;
    req->reused = c->nserved > 0;
    if (req->reused) pool->st.reused++;
    conn_set_state(c, CONN_ACTIVE);
    req_set_state(req, REQ_ACTIVE);
    uv_timer_stop(&c->timer);
    smg__upresp_reset(&c->resp, req->head_request);
    req->got_byte = false;
    /* Write at once when the socket takes it all (the usual case: the head
     * and a body within the socket buffer). Only the rest, if any, goes
     * through uv_write: a completed uv_write costs an extra loop turn and an
     * epoll_ctl (libuv re-arms the watcher when the write queue drains). */
    size_t total = 0;
    for (unsigned i = 0; i < req->niov; i++)
        total += req->iov[i].len;
    int rc = uv_try_write((uv_stream_t *)&c->tcp, req->iov, req->niov);
    if (rc < 0 && rc != UV_EAGAIN) {
        c->broken = true;
        conn_broken_before_head(c, rc);
        return;
    }
    size_t done = rc > 0 ? (size_t)rc : 0;
    if (done < total) {
        uv_buf_t rest[2];
        unsigned nrest = 0;
        for (unsigned i = 0; i < req->niov; i++) {
            size_t n = req->iov[i].len;
            if (done >= n) {
                done -= n;
                continue;
            }
            rest[nrest++] = uv_buf_init(req->iov[i].base + done, (unsigned)(n - done));
            done = 0;
        }
        rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, rest, nrest, write_cb);
        if (rc < 0) {
            c->broken = true;
            conn_broken_before_head(c, rc);
            return;
        }
        c->writing = true;
    }
    if (req->fb_timeout_ms) {
        req->deadline_fb_ms = uv_now(pool->loop) + req->fb_timeout_ms;
        req_arm_timer(req);
    }
    conn_update_reading(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    conn_t *c = h->data;
    char *b = buf_get(c->pool);
    *buf = uv_buf_init(b, b ? READ_BUF_SIZE : 0);
}

static void conn_read_error(conn_t *c, int err);

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    conn_t *c = s->data;
    smg_upstream_pool_t *pool = c->pool;
    if (nread == 0) {
        buf_put(pool, buf->base);
        return;
    }
    if (nread < 0) {
        buf_put(pool, buf->base);
        conn_read_error(c, (int)nread);
        return;
    }
    if (c->state != CONN_ACTIVE || !c->req) {
        /* Bytes on an idle connection: the server is out of step. */
        buf_put(pool, buf->base);
        conn_close(c);
        return;
    }
    c->req->res.bytes_received += (uint64_t)nread;
    c->rbuf = buf->base;
    c->rpos = 0;
    c->rlen = (size_t)nread;
    conn_process(c);
}

static void conn_update_reading(conn_t *c) {
    bool want = false;
    if (c->state == CONN_IDLE)
        want = true;
    else if (c->state == CONN_ACTIVE)
        want = !c->rbuf && !(c->req && c->req->paused);
    if (want && !c->reading) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        if (rc == 0) {
            c->reading = true;
        } else if (c->state == CONN_ACTIVE && c->req) {
            conn_fail_req(c, SMG_UP_RESET_BEFORE_HEAD, SMG_EIO, uv_strerror(rc));
        } else {
            conn_close(c);
        }
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* The response ended cleanly (clean: no stray bytes after it). */
static void conn_finish_ok(conn_t *c, bool clean) {
    smg_upstream_req_t *req = c->req;
    bool reuse = clean && c->resp.keep_alive && !c->writing && !c->broken &&
                 c->state == CONN_ACTIVE && !c->pool->closing;
    c->nserved++;
    c->req = NULL;
    req->conn = NULL;
    req_set_result(req, SMG_UP_OK, SMG_OK, "ok");
    conn_release(c, reuse);
    req_complete(req);
}

/* The request was aborted (or its pool closed) from inside its callback. */
static void conn_finish_stopped(conn_t *c) {
    smg_upstream_pool_t *pool = c->pool;
    smg_upstream_req_t *req = c->req;
    c->req = NULL;
    req->conn = NULL;
    conn_close(c);
    req_set_result(req, req->stop_error, req->stop_status, "%s", req->stop_msg);
    pool_dispatch(pool);
    req_complete(req);
}

/* on_batch_end of the active request, after a read that delivered body bytes.
 * True when the request was stopped from inside (it is finished here). */
static bool conn_batch_end(conn_t *c) {
    smg_upstream_req_t *req = c->req;
    if (!req->cbs.on_batch_end || c->resp.phase != SMG__UPRESP_BODY || req->has_stop)
        return false;
    req->in_cb = true;
    req->cbs.on_batch_end(req, req->ud);
    req->in_cb = false;
    if (!req->has_stop)
        return false;
    conn_drop_rbuf(c);
    conn_finish_stopped(c);
    return true;
}

static void conn_process(conn_t *c) {
    smg_upstream_req_t *req = c->req;
    if (!req->got_byte) {
        req->got_byte = true;
        if (req->deadline_fb_ms) {
            req->deadline_fb_ms = 0;
            req_arm_timer(req);
        }
    }
    size_t used = 0;
    uint64_t body_before = req->res.body_bytes;
    c->in_feed = true;
    int st = smg__upresp_feed(&c->resp, c->rbuf + c->rpos, c->rlen - c->rpos, &used);
    bool got_body = req->res.body_bytes != body_before;
    c->in_feed = false;
    c->rpos += used;
    /* User code ran: req may be stopped or paused, the pool may be closing
     * and c may be CLOSING (then req->has_stop is set). */
    if (c->state == CONN_CLOSING) conn_drop_rbuf(c);
    switch (st) {
    case SMG__UPRESP_AGAIN:
        conn_drop_rbuf(c);
        if (got_body && conn_batch_end(c))
            return;
        if (req->paused) conn_update_reading(c);
        return;
    case SMG__UPRESP_DONE: {
        bool clean = c->rpos == c->rlen;
        conn_drop_rbuf(c);
        conn_finish_ok(c, clean);
        return;
    }
    case SMG__UPRESP_STOPPED:
        if (req->has_stop) {
            conn_drop_rbuf(c);
            conn_finish_stopped(c);
            return;
        }
        if (c->rpos == c->rlen) conn_drop_rbuf(c);
        if (got_body && conn_batch_end(c))
            return;
        if (!req->paused && c->rbuf) uv_timer_start(&c->timer, kick_cb, 0, 0);
        conn_update_reading(c);
        return;
    default:
        conn_drop_rbuf(c);
        conn_fail_req(c, SMG_UP_PROTOCOL, c->resp.err_status,
                      c->resp.err ? c->resp.err : "malformed response");
        return;
    }
}

static void conn_read_error(conn_t *c, int err) {
    smg_upstream_pool_t *pool = c->pool;
    if (c->state != CONN_ACTIVE || !c->req) {
        /* Idle connection closed by the server (or reset): forget it. */
        conn_close(c);
        return;
    }
    smg_upstream_req_t *req = c->req;
    if (!req->got_byte) {
        conn_broken_before_head(c, err);
        pool_dispatch(pool);
        return;
    }
    int phase = c->resp.phase;
    if (err == UV_EOF) {
        if (smg__upresp_eof(&c->resp) == SMG__UPRESP_DONE) {
            conn_finish_ok(c, false);
            return;
        }
        conn_fail_req(c, phase == SMG__UPRESP_BODY ? SMG_UP_BROKEN_BODY : SMG_UP_PROTOCOL,
                      SMG_ECLOSED, c->resp.err ? c->resp.err : "connection closed");
        return;
    }
    conn_fail_req(c, phase == SMG__UPRESP_BODY ? SMG_UP_BROKEN_BODY : SMG_UP_PROTOCOL, SMG_EIO,
                  uv_strerror(err));
}

/* ---- parser callbacks ----------------------------------------------------------------------- */

static bool resp_on_head(smg__upresp_t *r, int status, const smg_http_header_t *h, size_t n) {
    conn_t *c = r->owner;
    smg_upstream_req_t *req = c->req;
    req->t_head_ns = smg_now_ns();
    req->res.head_received = true;
    req->res.http_status = status;
    if (req->cbs.on_head) {
        req->in_cb = true;
        req->cbs.on_head(req, status, h, n, req->ud);
        req->in_cb = false;
    }
    return req->has_stop || req->paused;
}

static bool resp_on_body(smg__upresp_t *r, const char *p, size_t n) {
    conn_t *c = r->owner;
    smg_upstream_req_t *req = c->req;
    req->res.body_bytes += n;
    if (req->cbs.on_body) {
        req->in_cb = true;
        req->cbs.on_body(req, p, n, req->ud);
        req->in_cb = false;
    }
    return req->has_stop || req->paused;
}

static const smg__upresp_cbs_t resp_cbs = {
    .on_head = resp_on_head,
    .on_body = resp_on_body,
};

/* ---- DNS ------------------------------------------------------------------------------------ */

static void pool_resolved(smg_upstream_pool_t *pool, int status) {
    if (pool->closing) return;
    link_t *l = pool->conns.next;
    while (l != &pool->conns) {
        conn_t *c = CONTAINER_OF(l, conn_t, link);
        l = l->next;
        if (c->state != CONN_RESOLVING) continue;
        if (status == 0)
            conn_connect(c);
        else
            conn_connect_failed(c, SMG_UP_CONNECT_FAILED, status);
    }
    pool_dispatch(pool);
}

static void gai_cb(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
    smg_upstream_pool_t *pool = g->data;
    pool->gai_active = false;
    if (status == 0 && res && res->ai_addrlen <= sizeof pool->addr) {
        memcpy(&pool->addr, res->ai_addr, res->ai_addrlen);
        pool->addr_valid = true;
        pool->addr_expires_ms = uv_now(pool->loop) + pool->cfg.dns_ttl_ms;
    } else if (status == 0) {
        status = UV_EAI_NONAME;
    }
    if (res) uv_freeaddrinfo(res);
    if (status != 0 && status != UV_EAI_CANCELED && pool->addr_valid) {
        /* Serve the stale address rather than fail every request while DNS
         * is down; try again after a short while. */
        SMG_WARN("upstream %s: resolve failed (%s); using the previous address", pool->host,
                 uv_strerror(status));
        pool->addr_expires_ms = uv_now(pool->loop) + 5000;
        status = 0;
    }
    pool_resolved(pool, status);
    pool_unref(pool);
}

static void pool_resolve(smg_upstream_pool_t *pool) {
    if (pool->gai_active) return;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    pool->gai.data = pool;
    int rc = uv_getaddrinfo(pool->loop, &pool->gai, gai_cb, pool->host, pool->port_str, &hints);
    if (rc < 0) {
        pool_resolved(pool, rc);
        return;
    }
    pool->gai_active = true;
    pool->refs++;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

/* Give queued requests to idle connections, or open connections for them
 * while max_connections allows. Runs no user callback. */
static void pool_dispatch(smg_upstream_pool_t *pool) {
    if (pool->closing) return;
    while (!list_empty(&pool->queue)) {
        smg_upstream_req_t *req = CONTAINER_OF(pool->queue.next, smg_upstream_req_t, queue_link);
        if (!list_empty(&pool->idle)) {
            conn_start_request(CONTAINER_OF(pool->idle.next, conn_t, idle_link), req);
        } else if (pool_can_open(pool)) {
            if (conn_open(pool, req) != SMG_OK)
                req_fail_later(req, SMG_UP_CONNECT_FAILED, SMG_ENOMEM,
                               "out of memory opening a connection to %s:%u", pool->host,
                               pool->cfg.port);
        } else {
            break;
        }
    }
}

/* ---- request head --------------------------------------------------------------------------- */

static bool is_tchar(unsigned char ch) {
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_token(smg_str_t s) {
    if (s.len == 0) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.ptr[i])) return false;
    return true;
}

/* Headers the client writes itself or must not forward (RFC 9110 §7.6.1). */
static bool skip_header(smg_str_t name) {
    switch (name.len) {
    case 2:
        return smg_str_eq_nocase(name, SMG_STR("te"));
    case 4:
        return smg_str_eq_nocase(name, SMG_STR("host"));
    case 7:
        return smg_str_eq_nocase(name, SMG_STR("trailer")) ||
               smg_str_eq_nocase(name, SMG_STR("upgrade"));
    case 10:
        return smg_str_eq_nocase(name, SMG_STR("connection")) ||
               smg_str_eq_nocase(name, SMG_STR("keep-alive"));
    case 14:
        return smg_str_eq_nocase(name, SMG_STR("content-length"));
    case 16:
        return smg_str_eq_nocase(name, SMG_STR("proxy-connection"));
    case 17:
        return smg_str_eq_nocase(name, SMG_STR("transfer-encoding"));
    default:
        return false;
    }
}

/* True when `name` is listed in a Connection header among h[0..n). */
static bool named_by_connection(const smg_http_header_t *h, size_t n, smg_str_t name) {
    for (size_t i = 0; i < n; i++) {
        if (!smg_str_eq_nocase(h[i].name, SMG_STR("connection"))) continue;
        smg_str_t v = h[i].value;
        size_t start = 0;
        for (size_t j = 0; j <= v.len; j++) {
            if (j == v.len || v.ptr[j] == ',') {
                smg_str_t tok = smg_str_trim(smg_str(v.ptr + start, j - start));
                if (smg_str_eq_nocase(tok, name)) return true;
                start = j + 1;
            }
        }
    }
    return false;
}

static bool has_connection_header(const smg_http_header_t *h, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (h[i].name.len == 10 && smg_str_eq_nocase(h[i].name, SMG_STR("connection"))) return true;
    return false;
}

static bool is_field_value(smg_str_t v) {
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.ptr[i];
        if (ch == '\r' || ch == '\n' || ch == '\0') return false;
    }
    return true;
}

static bool needs_content_length(const smg_upstream_request_t *r) {
    return r->body.len > 0 || smg_str_eq(r->method, SMG_STR("POST")) ||
           smg_str_eq(r->method, SMG_STR("PUT")) || smg_str_eq(r->method, SMG_STR("PATCH"));
}

/* Size of the serialized head, or 0 with *why set when the request is invalid. */
static size_t head_size(const smg_upstream_pool_t *pool, const smg_upstream_request_t *r,
                        bool conn_hdr, const char **why) {
    if (!is_token(r->method) || r->method.len > 32) {
        *why = "bad method";
        return 0;
    }
    for (size_t i = 0; i < r->target.len; i++) {
        unsigned char ch = (unsigned char)r->target.ptr[i];
        if (ch <= 0x20 || ch == 0x7f) {
            *why = "bad request target";
            return 0;
        }
    }
    if (r->nheaders && !r->headers) {
        *why = "headers missing";
        return 0;
    }
    if (r->body.len && !r->body.ptr) {
        *why = "body missing";
        return 0;
    }
    if (r->body.len > UINT32_MAX) {
        *why = "body larger than 4 GiB";
        return 0;
    }
    size_t n = r->method.len + 1 + (r->target.len ? r->target.len : 1) + 11;
    n += 6 + pool->host_hdr_len + 2;
    for (size_t i = 0; i < r->nheaders; i++) {
        const smg_http_header_t *h = &r->headers[i];
        if (skip_header(h->name)) continue;
        if (!is_token(h->name) || !is_field_value(h->value)) {
            *why = "bad header";
            return 0;
        }
        if (conn_hdr && named_by_connection(r->headers, r->nheaders, h->name)) continue;
        n += h->name.len + 2 + h->value.len + 2;
        if (n > SMG_UPSTREAM_MAX_REQUEST_HEAD) {
            *why = "request head too large";
            return 0;
        }
    }
    if (needs_content_length(r)) n += 16 + 20 + 2;
    n += 24 + 2;
    return n;
}

#define PUT(p, s, n)                                                                               \
    do {                                                                                           \
        memcpy((p), (s), (n));                                                                     \
        (p) += (n);                                                                                \
    } while (0)
#define PUT_LIT(p, lit) PUT(p, lit, sizeof(lit) - 1)

static size_t head_write(const smg_upstream_pool_t *pool, const smg_upstream_request_t *r,
                         bool conn_hdr, char *out) {
    char *p = out;
    PUT(p, r->method.ptr, r->method.len);
    *p++ = ' ';
    if (r->target.len)
        PUT(p, r->target.ptr, r->target.len);
    else
        *p++ = '/';
    PUT_LIT(p, " HTTP/1.1\r\nHost: ");
    PUT(p, pool->host_hdr, pool->host_hdr_len);
    PUT_LIT(p, "\r\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        const smg_http_header_t *h = &r->headers[i];
        if (skip_header(h->name)) continue;
        if (conn_hdr && named_by_connection(r->headers, r->nheaders, h->name)) continue;
        PUT(p, h->name.ptr, h->name.len);
        PUT_LIT(p, ": ");
        if (h->value.len) PUT(p, h->value.ptr, h->value.len);
        PUT_LIT(p, "\r\n");
    }
    if (needs_content_length(r)) {
        PUT_LIT(p, "Content-Length: ");
        p += u64_dec(p, r->body.len);
        PUT_LIT(p, "\r\n");
    }
    PUT_LIT(p, "Connection: keep-alive\r\n\r\n");
    return (size_t)(p - out);
}

/* ---- public API ----------------------------------------------------------------------------- */

smg_upstream_req_t *smg_upstream_send(smg_upstream_pool_t *pool, const smg_upstream_request_t *r,
                                      const smg_upstream_cbs_t *cbs, void *ud) {
    SMG_BUG_ON(!pool || !r || !cbs || !cbs->on_done);
    const char *why = NULL;
    bool conn_hdr = r->nheaders && r->headers && has_connection_header(r->headers, r->nheaders);
    size_t need = head_size(pool, r, conn_hdr, &why);
    smg_upstream_req_t *req = malloc(sizeof *req + need);
    if (!req) return NULL;
    memset(req, 0, sizeof *req);
    req->pool = pool;
    req->cbs = *cbs;
    req->ud = ud;
    req->state = REQ_NEW;
    req->t_start_ns = smg_now_ns();
    uv_timer_init(pool->loop, &req->timer);
    req->timer.data = req;
    pool->refs++;
    list_push_back(&pool->reqs, &req->link);
    list_init(&req->queue_link);
    pool->st.total_requests++;

    if (need == 0) {
        req_fail_later(req, SMG_UP_INVALID_REQUEST, SMG_EINVAL, "invalid request: %s", why);
        return req;
    }
    if (pool->closing) {
        req_fail_later(req, SMG_UP_ABORTED, SMG_ECLOSED, "upstream pool %s:%u is closed",
                       pool->host, pool->cfg.port);
        return req;
    }
    size_t hl = head_write(pool, r, conn_hdr, req->head);
    SMG_BUG_ON(hl > need);
    req->iov[0] = uv_buf_init(req->head, (unsigned)hl);
    req->niov = 1;
    if (r->body.len)
        req->iov[req->niov++] = uv_buf_init((char *)r->body.ptr, (unsigned)r->body.len);
    req->head_request = smg_str_eq(r->method, SMG_STR("HEAD"));
    req->fb_timeout_ms = r->first_byte_timeout_ms;
    if (r->timeout_ms) req->deadline_total_ms = uv_now(pool->loop) + r->timeout_ms;
    req_arm_timer(req);

    if (!list_empty(&pool->idle)) {
        conn_start_request(CONTAINER_OF(pool->idle.next, conn_t, idle_link), req);
    } else if (pool_can_open(pool)) {
        if (conn_open(pool, req) != SMG_OK)
            req_fail_later(req, SMG_UP_CONNECT_FAILED, SMG_ENOMEM,
                           "out of memory opening a connection to %s:%u", pool->host,
                           pool->cfg.port);
    } else if (pool->nqueued < pool->cfg.max_queued) {
        req_set_state(req, REQ_QUEUED);
    } else {
        req_fail_later(req, SMG_UP_QUEUE_FULL, SMG_ELIMIT,
                       "%s:%u: %u connections busy and %u requests queued", pool->host,
                       pool->cfg.port, pool->nconns, pool->nqueued);
    }
    return req;
}

void smg_upstream_abort(smg_upstream_req_t *req) {
    if (!req || req->state == REQ_FINISHING || req->state == REQ_DONE || req->has_stop) return;
    if (req->in_cb) {
        req->has_stop = true;
        req->stop_error = SMG_UP_ABORTED;
        req->stop_status = SMG_ECLOSED;
        req->stop_msg = "aborted by caller";
        return;
    }
    smg_upstream_pool_t *pool = req->pool;
    req_detach(req);
    req_fail_later(req, SMG_UP_ABORTED, SMG_ECLOSED, "aborted by caller");
    pool_dispatch(pool);
}

void smg_upstream_pause(smg_upstream_req_t *req) {
    if (!req || req->paused || req->state == REQ_FINISHING || req->state == REQ_DONE) return;
    req->paused = true;
    if (!req->in_cb && req->state == REQ_ACTIVE) conn_update_reading(req->conn);
}

void smg_upstream_resume(smg_upstream_req_t *req) {
    if (!req || !req->paused || req->state == REQ_FINISHING || req->state == REQ_DONE) return;
    req->paused = false;
    if (req->in_cb || req->state != REQ_ACTIVE) return;
    conn_t *c = req->conn;
    if (c->rbuf)
        uv_timer_start(&c->timer, kick_cb, 0, 0);
    else
        conn_update_reading(c);
}

void smg_upstream_pool_stats(const smg_upstream_pool_t *pool, smg_upstream_pool_stats_t *st) {
    *st = pool->st;
    st->open_connections = pool->nconns;
    st->idle_connections = pool->nidle;
    st->in_flight = pool->ninflight;
    st->queued = pool->nqueued;
}

smg_upstream_pool_t *smg_upstream_pool_new(uv_loop_t *loop, const smg_upstream_pool_config_t *cfg) {
    if (!loop || !cfg || !cfg->host || !cfg->host[0] || cfg->port == 0) return NULL;
    smg_str_t host = smg_str_c(cfg->host);
    if (host.len >= 2 && host.ptr[0] == '[' && host.ptr[host.len - 1] == ']')
        host = smg_str(host.ptr + 1, host.len - 2);
    if (host.len == 0 || host.len > 255) return NULL;
    smg_upstream_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->loop = loop;
    pool->cfg = *cfg;
    pool->cfg.host = NULL;
    pool->cfg.host_header = NULL;
    smg_upstream_pool_config_t *c = &pool->cfg;
    if (!c->max_idle) c->max_idle = SMG_UPSTREAM_DEFAULT_MAX_IDLE;
    if (!c->idle_timeout_ms) c->idle_timeout_ms = SMG_UPSTREAM_DEFAULT_IDLE_TIMEOUT_MS;
    if (!c->connect_timeout_ms) c->connect_timeout_ms = SMG_UPSTREAM_DEFAULT_CONNECT_TIMEOUT_MS;
    if (!c->max_response_head_bytes)
        c->max_response_head_bytes = SMG_UPSTREAM_DEFAULT_MAX_HEAD_BYTES;
    if (!c->max_queued) c->max_queued = SMG_UPSTREAM_DEFAULT_MAX_QUEUED;
    if (!c->dns_ttl_ms) c->dns_ttl_ms = SMG_UPSTREAM_DEFAULT_DNS_TTL_MS;
    list_init(&pool->conns);
    list_init(&pool->idle);
    list_init(&pool->reqs);
    list_init(&pool->queue);
    pool->host = smg_str_dup(host);
    if (!pool->host) goto fail;
    size_t plen = u64_dec(pool->port_str, cfg->port);
    pool->port_str[plen] = '\0';

    bool v6 = false;
    if (uv_ip4_addr(pool->host, cfg->port, (struct sockaddr_in *)&pool->addr) == 0) {
        pool->addr_valid = pool->addr_literal = true;
    } else if (uv_ip6_addr(pool->host, cfg->port, (struct sockaddr_in6 *)&pool->addr) == 0) {
        pool->addr_valid = pool->addr_literal = true;
        v6 = true;
    }
    if (cfg->host_header) {
        pool->host_hdr = smg_str_dup(smg_str_c(cfg->host_header));
        if (!pool->host_hdr || !is_field_value(smg_str_c(pool->host_hdr))) goto fail;
        pool->host_hdr_len = strlen(pool->host_hdr);
    } else {
        char tmp[300];
        char *p = tmp;
        if (v6) *p++ = '[';
        PUT(p, host.ptr, host.len);
        if (v6) *p++ = ']';
        if (cfg->port != 80) {
            *p++ = ':';
            p += u64_dec(p, cfg->port);
        }
        pool->host_hdr_len = (size_t)(p - tmp);
        pool->host_hdr = smg_str_dup(smg_str(tmp, pool->host_hdr_len));
        if (!pool->host_hdr) goto fail;
    }
    return pool;
fail:
    pool_destroy(pool);
    return NULL;
}

void smg_upstream_pool_free(smg_upstream_pool_t *pool) {
    if (!pool || pool->closing) return;
    pool->closing = true;
    /* Mark the requests alive now; those sent from an on_done below fail
     * later on their own (the pool is closing). */
    for (link_t *l = pool->reqs.next; l != &pool->reqs; l = l->next) {
        smg_upstream_req_t *req = CONTAINER_OF(l, smg_upstream_req_t, link);
        if (req->in_cb) {
            if (!req->has_stop) {
                req->has_stop = true;
                req->stop_error = SMG_UP_ABORTED;
                req->stop_status = SMG_ECLOSED;
                req->stop_msg = "upstream pool closed";
            }
        } else {
            req->close_mark = true;
        }
    }
    for (;;) {
        smg_upstream_req_t *req = NULL;
        for (link_t *l = pool->reqs.next; l != &pool->reqs; l = l->next) {
            smg_upstream_req_t *r = CONTAINER_OF(l, smg_upstream_req_t, link);
            if (r->close_mark && !r->in_cb) {
                req = r;
                break;
            }
        }
        if (!req) break;
        req->close_mark = false;
        if (req->state != REQ_FINISHING) {
            req_detach(req);
            req_set_result(req, SMG_UP_ABORTED, SMG_ECLOSED, "upstream pool %s:%u closed",
                           pool->host, pool->cfg.port);
        }
        req_complete(req);
    }
    while (!list_empty(&pool->conns))
        conn_close(CONTAINER_OF(pool->conns.next, conn_t, link));
    if (pool->gai_active) uv_cancel((uv_req_t *)&pool->gai);
    for (uint32_t i = 0; i < pool->nfree_bufs; i++)
        free(pool->free_bufs[i]);
    pool->nfree_bufs = 0;
    if (pool->refs == 0) pool_destroy(pool);
}
