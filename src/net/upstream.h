/* Upstream HTTP/1.1 client with keep-alive pools, for plain http:// engines.
 *
 * Lean by design (DESIGN.md §4): one pool per (loop thread, origin), one
 * uv_write per request (iovec of head + body), no allocation per header, read
 * buffers recycled by the pool, TCP_NODELAY, connection reuse. Responses are
 * streamed: on_body gets dechunked bytes as they arrive, never the whole body.
 *
 * Threading: every function here and every callback runs on the pool's loop
 * thread. No locks.
 *
 * Re-entrancy: on_done is never called from inside smg_upstream_send,
 * _abort, _pause or _resume; it comes from the loop (next turn at the
 * earliest), with one exception: smg_upstream_pool_free completes in-flight
 * requests synchronously. on_done of a request aborted inside its own
 * on_head/on_body runs after that callback has returned.
 *
 * Resend rule: when a request sent on a REUSED connection fails before any
 * response byte arrived (EOF, reset or write error: the server closed the
 * idle connection as we sent), it is sent once more on a fresh connection.
 * It is never resent after any response byte. See docs/upstream.md. */
#ifndef SMG_NET_UPSTREAM_H
#define SMG_NET_UPSTREAM_H

#include <uv.h>

#include "core/status.h"
#include "net/upstream-t.h"

/* Create a pool for cfg->host:cfg->port on `loop`. The config is copied;
 * zero fields take the defaults of upstream-t.h. Returns NULL when cfg is
 * invalid (no host, port 0) or on allocation failure. No connection is made
 * until the first request. */
smg_upstream_pool_t *smg_upstream_pool_new(uv_loop_t *loop, const smg_upstream_pool_config_t *cfg);

/* Close the pool: every request not yet completed gets on_done (status
 * SMG_ECLOSED, SMG_UP_ABORTED, or the outcome it already had) before this
 * returns, except a request whose on_head/on_body is running, which gets it
 * when that callback returns. Connections are closed; the memory is released
 * once libuv has closed every handle, so the loop must keep running (uv_run)
 * afterwards. The pool pointer is invalid on return. Requests sent on a
 * closing pool (from an on_done) fail with SMG_ECLOSED. */
void smg_upstream_pool_free(smg_upstream_pool_t *pool);

/* Start a request. Returns NULL only on allocation failure (then no callback
 * fires). Every other failure (queue full, invalid request, pool closing) is
 * reported through on_done on a later loop turn. cbs is copied; ud is passed
 * back to every callback. r->body must stay valid until on_done. */
smg_upstream_req_t *smg_upstream_send(smg_upstream_pool_t *pool, const smg_upstream_request_t *r,
                                      const smg_upstream_cbs_t *cbs, void *ud);

/* Stop reading this request's response (backpressure). Timeouts keep
 * running. Idempotent. */
void smg_upstream_pause(smg_upstream_req_t *req);
/* Restart reading. Buffered bytes are delivered on a later loop turn, not
 * from inside this call. Idempotent. */
void smg_upstream_resume(smg_upstream_req_t *req);
/* Cancel: on_done fires with SMG_UP_ABORTED (later, or right after the
 * running on_head/on_body returns). The connection is closed, never reused.
 * No-op once on_done has been scheduled. */
void smg_upstream_abort(smg_upstream_req_t *req);

/* Snapshot of the pool's counters. */
void smg_upstream_pool_stats(const smg_upstream_pool_t *pool, smg_upstream_pool_stats_t *st);

/* "connect_failed", "timeout", ...; "unknown" for other values. */
const char *smg_upstream_error_name(smg_upstream_error_t e);

#endif
