/* HTTP/1.1 server on libuv + http-parser, one listener per loop thread on a
 * shared port (SO_REUSEPORT). docs/http-server.md has the limits and the
 * lifecycle in prose.
 *
 * Threads: the server object is shared by all loops. Everything about a
 * request (handler call, responses, callbacks) happens on the loop thread
 * that accepted its connection. Functions marked thread-safe may be called
 * from any thread.
 *
 * Request lifetime (the rule handlers must follow):
 *   - the handler is called once per request, after the whole body arrived;
 *     requests on one connection are answered strictly in order;
 *   - the handler must eventually call exactly one of smg_http_respond or
 *     smg_http_stream_end for every request, also after an abort callback
 *     (then the call only releases the request). After that call the req
 *     pointer is invalid;
 *   - the server never frees a request the handler still holds: a vanished
 *     client calls the abort callback and waits for that release.
 *
 * The server answers by itself, with an OpenAI-shaped JSON error body and
 * `Connection: close`: 400 malformed request or Content-Length together with
 * Transfer-Encoding, 431 head over max_header_bytes or more than max_headers,
 * 413 body over max_body_bytes (declared or while de-chunking), 408 request
 * head (or body gap) timeout, 417 unknown Expect, 501 a Transfer-Encoding other
 * than chunked. `Expect: 100-continue` gets `100 Continue` before the body is
 * read. */
#ifndef SMG_NET_HTTP_SERVER_H
#define SMG_NET_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "net/http_server-t.h"
#include "net/loop.h"

typedef struct smg_http_server_s smg_http_server_t;

typedef struct smg_http_server_config_s {
    const char *host;            /* "0.0.0.0"; IPv4, IPv6 literal or a name */
    int port;                    /* 30000; 0 picks a free port (see smg_http_server_port) */
    int backlog;                 /* 511 */
    size_t max_header_bytes;     /* 64 KiB: request line + headers; also capped at
                                  * http-parser's own 80 KiB limit */
    size_t max_headers;          /* 100 */
    uint64_t max_body_bytes;     /* 512 MiB (--max-payload-size) */
    uint32_t header_timeout_ms;  /* 10 s: the whole head, from its first byte (or accept) */
    uint32_t body_timeout_ms;    /* 60 s: longest gap between body reads */
    uint32_t idle_timeout_ms;    /* 60 s: keep-alive connection with no request */
    size_t max_connections;      /* 65536, process-wide; over it: accept and close */
    size_t write_high_watermark; /* 256 KiB queued per connection: see smg_http_on_drain */
    /* Body of the errors the server answers by itself (400, 408, 413, 417,
     * 431, 501), given the request path when it was parsed (else empty) and
     * the handler's ctx. NULL: OpenAI shape (smg_http_error_json). Returns
     * SMG_OK or an error (then "{}" is sent). Runs on the loop thread. */
    int (*error_body)(smg_buf_t *out, smg_str_t path, int status, const char *msg, void *ctx);
} smg_http_server_config_t;

typedef void (*smg_http_handler_cb)(smg_http_req_t *req, void *ctx);
typedef void (*smg_http_req_cb)(smg_http_req_t *req, void *arg);

void smg_http_server_config_default(smg_http_server_config_t *cfg);

/* Create a server (no socket yet). cfg is copied (host too). NULL on ENOMEM
 * or an invalid config (zero limits), with a log line. */
smg_http_server_t *smg_http_server_new(const smg_http_server_config_t *cfg,
                                       smg_http_handler_cb handler, void *ctx);
/* Add a listener on `loop`: binds cfg host/port with SO_REUSEPORT (the first
 * call resolves port 0 to a real port, later calls bind that one). Call once
 * per loop, on its thread or before it runs. Registers a stop hook on the
 * loop that closes the listener and every connection of that loop.
 * SMG_EIO with a log line when the address cannot be bound. */
SMG_MUST_CHECK int smg_http_server_listen(smg_http_server_t *srv, smg_loop_t *loop);
/* The bound port (after the first successful listen), else cfg port. */
int smg_http_server_port(const smg_http_server_t *srv);
/* Thread-safe: close every listener (posted to each loop). Established
 * connections keep being served. */
void smg_http_server_stop_accepting(smg_http_server_t *srv);
/* Thread-safe: enter drain mode. Idle keep-alive connections are closed now;
 * a connection whose current response ends is closed instead of kept alive. */
void smg_http_server_close_idle(smg_http_server_t *srv);
/* Thread-safe gauges: requests handed to the handler and not yet released;
 * open client connections (all loops). */
size_t smg_http_server_active_requests(const smg_http_server_t *srv);
size_t smg_http_server_connections(const smg_http_server_t *srv);
const smg_http_server_config_t *smg_http_server_config(const smg_http_server_t *srv);
/* Free the server. Call after every loop it listened on has stopped (and been
 * joined); the loops' stop hooks have closed its sockets by then. */
void smg_http_server_free(smg_http_server_t *srv);

/* --- Responses: on the request's loop thread only ------------------------ */

/* Send a whole response: status line, the handler's headers as given,
 * Content-Length: body.len, Connection. Copies what it cannot write at once,
 * so body and headers may be freed on return. Releases the request (also on
 * error). SMG_ECLOSED when the client is gone (the request is released all
 * the same); SMG_EINVAL when a stream was started, or when a header name or
 * value holds CR/LF (nothing is sent and the connection is closed). */
int smg_http_respond(smg_http_req_t *req, int status, const smg_http_header_t *h, size_t nh,
                     smg_str_t body);
/* Send the status line and headers of a streamed body: Transfer-Encoding:
 * chunked for HTTP/1.1, close-delimited for HTTP/1.0. Does not release. */
int smg_http_stream_start(smg_http_req_t *req, int status, const smg_http_header_t *h,
                          size_t nh);
/* Queue one chunk (copied when the socket does not take it at once).
 * Empty data is a no-op. SMG_ECLOSED after the client went away, SMG_EINVAL
 * before stream_start. Memory stays bounded only if the caller honours the
 * watermark: see smg_http_on_drain. */
int smg_http_stream_write(smg_http_req_t *req, smg_str_t data);
/* Bytes queued for this connection and not yet taken by the socket. */
size_t smg_http_stream_pending(const smg_http_req_t *req);
/* Call cb once, on the loop thread, when pending bytes fall below half of
 * cfg.write_high_watermark. Meant to be set when smg_http_stream_pending()
 * went above the watermark (the caller pauses its producer meanwhile); if
 * nothing is pending when it is set, cb runs on the next loop iteration.
 * Replaces an earlier drain callback. Not called after an abort. */
void smg_http_on_drain(smg_http_req_t *req, smg_http_req_cb cb, void *arg);
/* End a streamed response (terminating chunk) and release the request.
 * After an abort (or if the response was never started) it only releases. */
int smg_http_stream_end(smg_http_req_t *req);
/* End a streamed response as broken (the producer failed mid-body): the
 * terminating chunk is NOT sent; what is queued is flushed, then the
 * connection is closed, so the client sees a truncated body rather than a
 * complete one. Releases the request, like smg_http_stream_end. */
void smg_http_stream_abort(smg_http_req_t *req);
/* Call cb once if the client connection closes or fails before the response
 * ended. The handler must still release the request afterwards. */
void smg_http_on_abort(smg_http_req_t *req, smg_http_req_cb cb, void *arg);
/* True once the client is gone (abort happened). */
bool smg_http_req_aborted(const smg_http_req_t *req);

/* Build an OpenAI-shaped error body into out:
 * {"error":{"message":msg,"type":type,"param":null,"code":code}}. */
SMG_MUST_CHECK int smg_http_error_json(smg_buf_t *out, smg_str_t msg, const char *type, int code);

#endif
