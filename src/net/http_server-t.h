/* The request object handed to an smg_http_handler_cb (net/http_server.h).
 * Public fields may be read (and `user`, `body` modified) by the handler on
 * the request's loop thread. Views (method, url, path, query, headers) point
 * into the connection's read buffer and stay valid until the request is
 * released by smg_http_respond or smg_http_stream_end. */
#ifndef SMG_NET_HTTP_SERVER_T_H
#define SMG_NET_HTTP_SERVER_T_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"
#include "net/http.h"
#include "net/loop-t.h"

struct smg__http_conn_s;

typedef struct smg_http_req_s {
    smg_str_t method;  /* "GET", "POST", ... (static storage) */
    int method_id;     /* enum http_method of <http_parser.h> (HTTP_GET, ...) */
    smg_str_t url;     /* request target as sent ("/v1/models?x=1") */
    smg_str_t path;    /* target without query and fragment ("/v1/models") */
    smg_str_t query;   /* after '?', without it; empty when absent */
    int http_major;
    int http_minor;
    bool keep_alive;   /* the client allows another request on this connection */
    const smg_http_header_t *headers; /* in arrival order, values OWS-trimmed */
    size_t nheaders;
    /* The whole body, de-chunked, at most cfg.max_body_bytes. The handler may
     * take the block with smg_buf_detach; the server frees what is left. */
    smg_buf_t body;
    void *user;        /* free for the handler */
    smg_loop_t *loop;  /* the loop thread this request lives on */
    const char *peer;  /* client IP as text (NUL-terminated), "" if unknown */
    int peer_port;
    uint64_t start_ns; /* smg_now_ns() when the first byte of the head arrived */
    struct smg__http_conn_s *conn; /* private to the server */
} smg_http_req_t;

#endif
