/* Internals of the HTTP/1.1 server shared by http_server.c (sockets,
 * connection lifecycle, responses) and http_server_parse.c (request parsing,
 * runnable without sockets for the fuzzer). Not for other modules. */
#ifndef SMG_NET_HTTP_SERVER_INT_H
#define SMG_NET_HTTP_SERVER_INT_H

#include <http_parser.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "net/http_server.h"

/* Read buffer = max head + this much room for the body and pipelined bytes. */
#define SMG__HTTP_READ_SLACK (16 * 1024)
/* Recycled read buffers kept per listener. */
#define SMG__HTTP_POOL_MAX 64
/* How long a closing connection keeps draining input after its last
 * response (so the client reads it instead of getting a reset). */
#define SMG__HTTP_LINGER_MS 2000
/* Bodies up to this size keep their block for the next request. */
#define SMG__HTTP_BODY_KEEP (64 * 1024)
/* Request body blocks of this capacity are recycled through the listener
 * (bodies up to it take no allocation on a kept-alive connection). */
#define SMG__HTTP_BODY_BLOCK 4096
/* Recycled body blocks kept per listener. */
#define SMG__HTTP_BODY_POOL_MAX 64

typedef struct smg__http_conn_s smg__http_conn_t;
typedef struct smg__http_listener_s smg__http_listener_t;

/* Connection states; every change goes through conn_set_state (tracing). */
typedef enum {
    SMG__CONN_IDLE,    /* keep-alive, no byte of the next request yet */
    SMG__CONN_HEAD,    /* reading a request head (header timeout runs) */
    SMG__CONN_BODY,    /* reading a request body (body gap timeout runs) */
    SMG__CONN_HANDLER, /* request with the handler until respond/stream_end */
    SMG__CONN_CLOSING, /* last response queued: shutdown, linger, close */
} smg__conn_state_t;

typedef enum {
    SMG__RESP_NONE,
    SMG__RESP_STREAMING,
    SMG__RESP_ENDED,
} smg__resp_state_t;

typedef enum {
    SMG__PARSE_MORE,    /* every byte consumed, the request is not complete */
    SMG__PARSE_REQUEST, /* a whole request is in c->req (rpos is past it) */
    SMG__PARSE_ERROR,   /* c->err_status / c->err_msg say what to answer */
} smg__parse_result_t;

struct smg_http_server_s {
    smg_http_server_config_t cfg;
    char *host;
    smg_http_handler_cb handler;
    void *ctx;
    atomic_int port;
    atomic_size_t connections;
    atomic_size_t active;
    atomic_bool draining;
    pthread_mutex_t mu; /* guards `listeners` (start-up and drain calls only) */
    smg__http_listener_t *listeners;
    http_parser_settings settings;
    size_t rcap;    /* read buffer size */
    size_t hdr_off; /* header array offset in a read buffer block */
    size_t rblock;  /* read buffer block size: rcap + header array */
};

struct smg__http_listener_s {
    uv_tcp_t tcp;
    smg_http_server_t *srv;
    smg_loop_t *loop;
    smg__http_listener_t *next; /* in srv->listeners */
    bool listening;             /* tcp open and not closed */
    smg__http_conn_t *conns;    /* doubly linked, loop thread only */
    size_t npool;
    char *pool[SMG__HTTP_POOL_MAX];
    size_t nbody_pool;
    char *body_pool[SMG__HTTP_BODY_POOL_MAX];
    smg_buf_t hbuf; /* response head under construction (any connection of this loop) */
};

struct smg__http_conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    smg_http_server_t *srv;
    smg__http_listener_t *lst; /* NULL for a detached (fuzz) connection */
    smg__http_conn_t *prev, *next;
    smg__conn_state_t state;
    smg__resp_state_t resp;
    int depth;           /* nesting of our callbacks: free only at depth 0 */
    int closes_pending;  /* handle close callbacks still to come */
    bool closing;        /* uv_close issued */
    bool reading;
    bool aborted;        /* client gone while the handler held the request */
    bool resp_close;     /* close after the current response */
    bool resp_chunked;
    bool need_process;   /* pipelined bytes wait for the parser */
    bool in_process;     /* conn_process is on the stack */
    bool continue_sent;
    /* Read buffer: [0, rpos) parsed, [rpos, rlen) not yet parsed. The head of
     * the current request sits at offset 0 and stays put until release. The
     * block is srv->rblock bytes: rcap for the bytes, then the header array
     * (max_headers entries at srv->hdr_off), so an idle connection, which
     * holds no read buffer, holds no header array either. */
    char *rbuf;
    size_t rlen, rpos;
    size_t body_base; /* body bytes may be overwritten from here on */
    /* Parser and the request being parsed. */
    http_parser parser;
    smg_http_req_t req;
    smg_http_header_t *hdrs; /* inside rbuf's block; NULL with it */
    size_t nhdrs;
    int last_cb; /* 0 none, 1 header field, 2 header value */
    bool head_done, msg_done, expect_continue;
    int n_te;
    int err_status;
    const char *err_msg;
    /* Response side. */
    size_t pending; /* bytes queued in uv_write requests */
    bool above_wm;
    smg_http_req_cb abort_cb, drain_cb;
    void *abort_arg, *drain_arg;
    char peer[INET6_ADDRSTRLEN];
};

/* Parsing (http_server_parse.c). */
void smg__http_settings_init(http_parser_settings *s);
/* Prepare c for the next request: move unparsed bytes to offset 0, reset
 * the request fields and the parser. */
void smg__http_next_request(smg__http_conn_t *c);
/* Run the parser over [rpos, rlen). */
smg__parse_result_t smg__http_parse(smg__http_conn_t *c);
/* Set up / tear down the parsing state of a connection. init allocates the
 * read buffer lazily (rbuf NULL). */
void smg__http_conn_parse_init(smg__http_conn_t *c, smg_http_server_t *srv);
void smg__http_conn_parse_free(smg__http_conn_t *c);
/* A request body block of SMG__HTTP_BODY_BLOCK bytes, recycled through the
 * listener when there is one; NULL on ENOMEM. */
char *smg__http_body_block_get(smg__http_conn_t *c);
/* Drop the request body's block (recycled when it is a whole standard
 * block): an idle connection keeps no body memory. */
void smg__http_body_release(smg__http_conn_t *c);
/* Attach a read buffer block of srv->rblock bytes (NULL detaches): sets
 * rbuf and the header array inside it. */
static inline void smg__http_conn_set_rbuf(smg__http_conn_t *c, char *block) {
    c->rbuf = block;
    c->hdrs = block ? (smg_http_header_t *)(void *)(block + c->srv->hdr_off) : NULL;
}

#endif
