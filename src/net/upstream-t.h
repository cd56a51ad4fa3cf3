/* Types of the upstream HTTP/1.1 client (net/upstream.h has the functions).
 *
 * A pool is bound to one libuv loop and one origin (host, port). Everything
 * here is used on that loop's thread only; nothing is locked. */
#ifndef SMG_NET_UPSTREAM_T_H
#define SMG_NET_UPSTREAM_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"
#include "net/http.h"

typedef struct smg_upstream_pool_s smg_upstream_pool_t;
typedef struct smg_upstream_req_s smg_upstream_req_t;

/* Defaults applied when a config field is 0 (max_connections excepted). */
#define SMG_UPSTREAM_DEFAULT_MAX_IDLE 64u
#define SMG_UPSTREAM_DEFAULT_IDLE_TIMEOUT_MS 50000u
#define SMG_UPSTREAM_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define SMG_UPSTREAM_DEFAULT_MAX_HEAD_BYTES 65536u
#define SMG_UPSTREAM_DEFAULT_MAX_QUEUED 1024u
#define SMG_UPSTREAM_DEFAULT_DNS_TTL_MS 30000u
/* Hard cap on the number of header lines in one response head. */
#define SMG_UPSTREAM_MAX_HEADERS 256u
/* Hard cap on the serialized request head (request line + headers). */
#define SMG_UPSTREAM_MAX_REQUEST_HEAD (1u << 20)

typedef struct {
    /* IPv4 literal, IPv6 literal (with or without brackets) or a DNS name.
     * Copied by smg_upstream_pool_new. A name is resolved with
     * uv_getaddrinfo on first use and cached for dns_ttl_ms; the first
     * address returned is used. */
    const char *host;
    uint16_t port;
    /* Value of the Host header sent upstream; NULL means "host[:port]"
     * (port omitted when 80). Copied. */
    const char *host_header;
    uint32_t max_idle;                /* idle keep-alive connections kept */
    uint32_t idle_timeout_ms;         /* an idle connection is closed after this */
    uint32_t connect_timeout_ms;      /* DNS + TCP connect */
    uint32_t max_response_head_bytes; /* status line + headers of one response */
    uint32_t max_connections;         /* 0 = unlimited; above it requests wait FIFO */
    uint32_t max_queued;              /* bound of that FIFO; beyond: SMG_UP_QUEUE_FULL */
    uint32_t dns_ttl_ms;              /* cache lifetime of a resolved name */
} smg_upstream_pool_config_t;

/* One request. Every view is borrowed: the head is serialized inside
 * smg_upstream_send (so method, target and headers may be freed when it
 * returns), but body.ptr must stay valid until on_done. */
typedef struct {
    smg_str_t method; /* token, e.g. SMG_STR("POST") */
    smg_str_t target; /* path + query, e.g. "/v1/chat/completions"; empty = "/" */
    /* Extra headers. Host, Content-Length, Connection and the other
     * hop-by-hop headers (and any header named by a Connection header) are
     * skipped: the client writes Host, Content-Length and
     * "Connection: keep-alive" itself. */
    const smg_http_header_t *headers;
    size_t nheaders;
    smg_str_t body;                 /* sent with Content-Length; not copied */
    uint32_t timeout_ms;            /* total, from send to on_done; 0 = none */
    uint32_t first_byte_timeout_ms; /* from request written to first response byte; 0 = none */
} smg_upstream_request_t;

/* Failure classes: what a caller needs to decide retry / status code. */
#define SMG_UPSTREAM_ERROR_TABLE(X)                                                                \
    X(OK, "ok")                                                                                    \
    X(CONNECT_FAILED, "connect_failed")       /* refused/unreachable/DNS: nothing sent */          \
    X(CONNECT_TIMEOUT, "connect_timeout")     /* no connection in time: nothing sent */            \
    X(TIMEOUT, "timeout")                     /* total or first-byte timeout after sending */      \
    X(RESET_BEFORE_HEAD, "reset_before_head") /* broke after send, before any byte */              \
    X(BROKEN_BODY, "broken_body")             /* died mid-body: truncated framing or reset */      \
    X(PROTOCOL, "protocol")                   /* malformed response, head too large, 101 */        \
    X(ABORTED, "aborted")                     /* smg_upstream_abort or pool freed */               \
    X(QUEUE_FULL, "queue_full")               /* max_connections reached and FIFO full */          \
    X(INVALID_REQUEST, "invalid_request")     /* caller passed a bad method/target/header */

typedef enum {
#define SMG__UP_ENUM(name, str) SMG_UP_##name,
    SMG_UPSTREAM_ERROR_TABLE(SMG__UP_ENUM)
#undef SMG__UP_ENUM
} smg_upstream_error_t;

typedef struct {
    int status;                 /* SMG_OK or a negative smg_status_t */
    smg_upstream_error_t error; /* SMG_UP_OK iff status == SMG_OK */
    int http_status;            /* final response status; 0 if no head arrived */
    bool head_received;         /* on_head was called (something may have reached the client) */
    bool reused;                /* the request ran on a kept-alive connection */
    bool resent;                /* sent a second time after a reused connection broke */
    const char *message;        /* human text; valid only during on_done */
    uint64_t bytes_received;    /* raw bytes read for this request (head + framing + body) */
    uint64_t body_bytes;        /* dechunked body bytes passed to on_body */
    uint64_t connect_ns;        /* time to connect (0 when reused) */
    uint64_t head_ns;           /* send -> response head parsed (0 if none) */
    uint64_t total_ns;          /* send -> on_done */
} smg_upstream_result_t;

/* Callbacks run on the pool's loop thread. `h` and `p` are views valid only
 * during the call. on_head/on_body may call smg_upstream_pause, _resume and
 * _abort on their own request, and anything on other requests or pools. */
typedef void (*smg_upstream_head_cb)(smg_upstream_req_t *req, int status,
                                     const smg_http_header_t *h, size_t n, void *ud);
typedef void (*smg_upstream_body_cb)(smg_upstream_req_t *req, const char *p, size_t n, void *ud);
/* Called exactly once and last; req is invalid when it returns. */
typedef void (*smg_upstream_done_cb)(smg_upstream_req_t *req, const smg_upstream_result_t *res,
                                     void *ud);

/* After the on_body calls made from one read of the socket, when the response
 * goes on (not when it ended there: on_done follows instead). Lets a relay
 * gather the pieces of one read and pass them on at once. Same rules as
 * on_body (may pause, resume or abort its own request). */
typedef void (*smg_upstream_batch_cb)(smg_upstream_req_t *req, void *ud);

typedef struct {
    smg_upstream_head_cb on_head;       /* may be NULL */
    smg_upstream_body_cb on_body;       /* may be NULL */
    smg_upstream_done_cb on_done;       /* required */
    smg_upstream_batch_cb on_batch_end; /* may be NULL */
} smg_upstream_cbs_t;

typedef struct {
    uint32_t open_connections; /* connecting, active or idle */
    uint32_t idle_connections;
    uint32_t in_flight;      /* requests bound to a connection (connecting or active) */
    uint32_t queued;         /* requests waiting for max_connections */
    uint64_t total_requests; /* smg_upstream_send calls */
    uint64_t connect_errors; /* failed or timed-out connects (DNS included) */
    uint64_t reused;         /* requests sent on a kept-alive connection */
    uint64_t resends;        /* transparent resends after a reused connection broke */
} smg_upstream_pool_stats_t;

#endif
