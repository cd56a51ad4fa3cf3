/* The proxy request path (DESIGN.md §1): parse the body just enough to find
 * the model, pick a worker among the routable members of the model's group,
 * forward the request unchanged, relay the answer chunk by chunk with
 * backpressure, retry on another worker when the upstream failed before any
 * byte reached the client, and account for the request once at the end. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_scan.h"
#include "core/log.h"
#include "core/time.h"
#include "gateway/gw.h"
#include "gateway/observe.h"
#include "metrics/smg_metrics.h"

/* Upstream bodies up to this size with a Content-Length are relayed with a
 * Content-Length (buffered); larger or unsized ones, and every SSE stream,
 * are relayed chunk by chunk. */
#define SMG_PROXY_BUFFER_MAX (4u << 20)
#define SMG_PROXY_MAX_EXCLUDED 8
#define SMG_PROXY_MAX_UP_HEADERS 24
#define SMG_PROXY_MAX_RESP_HEADERS 48
/* Relayed response headers up to this many bytes are kept inside proxy_t
 * (no allocation); larger sets go to hdr_store. */
#define SMG_PROXY_INLINE_HDR_BYTES 1024
/* Upstream targets (base path + URL) up to this size are built on the stack. */
#define SMG_PROXY_INLINE_PATH 512

typedef enum { RESP_NONE, RESP_BUFFERED, RESP_STREAMING } resp_mode_t;

typedef struct proxy_s {
    smg_gw_t *gw;
    smg_http_req_t *req;
    const smg_route_t *route;
    smg_str_t model;
    smg_buf_t model_buf;
    bool client_stream;
    smg_worker_t *worker;
    smg_policy_t *policy; /* the group's policy, told how the request ended */
    bool ok;
    smg_worker_t *excluded[SMG_PROXY_MAX_EXCLUDED];
    int nexcluded;
    int attempts;
    smg_upstream_req_t *up;
    size_t nup;
    smg_buf_t path;
    int up_status;
    resp_mode_t mode;
    bool sse;
    bool client_gone;
    bool paused;
    smg_buf_t body;    /* RESP_BUFFERED: the whole body; RESP_STREAMING: bytes of one read */
    smg_buf_t hdr_store;
    size_t nresp;
    uint64_t t_first_byte;
    uint64_t bytes_out;
    const char *error_class;
    size_t reqid_len;
    /* Not zeroed at creation (about 3 KB): each is written before it is read. */
    char reqid[160];
    smg_http_header_t up_hdrs[SMG_PROXY_MAX_UP_HEADERS];  /* [0, nup) */
    smg_http_header_t resp_hdrs[SMG_PROXY_MAX_RESP_HEADERS]; /* [0, nresp) */
    char auth[300];
    char errmsg[320];
    char hdr_inline[SMG_PROXY_INLINE_HDR_BYTES];
} proxy_t;

static inline smg_str_t reqid_str(const proxy_t *p) {
    return smg_str(p->reqid, p->reqid_len);
}

/* Case-insensitive name comparison that rejects on length first (most
 * header names differ in length from the one looked for). */
static inline bool name_is(smg_str_t name, smg_str_t want) {
    return name.len == want.len && smg_str_eq_nocase(name, want);
}

static void proxy_free(proxy_t *p) {
    if (p->policy) {
        if (p->policy->ops->on_done && p->worker) {
            smg_policy_ctx_t ctx = {.model = p->model};
            p->policy->ops->on_done(p->policy, p->worker, &ctx, p->ok);
        }
        smg_policy_unref(p->policy);
    }
    if (p->worker) {
        atomic_fetch_sub_explicit(&p->worker->in_flight, 1, memory_order_relaxed);
        smg_worker_unref(p->worker);
    }
    for (int i = 0; i < p->nexcluded; i++)
        smg_worker_unref(p->excluded[i]);
    smg_buf_free(&p->model_buf);
    smg_buf_free(&p->path);
    smg_buf_free(&p->body);
    smg_buf_free(&p->hdr_store);
    free(p);
}

/* Log and count the request; must run before the request is released (the
 * log reads views into it). */
static void account(proxy_t *p, int status, bool edge) {
    uint64_t now = smg_now_ns();
    smg_access_t a = {
        .reqid = p->reqid,
        .method = p->req->method,
        .path = p->req->path,
        .model = p->model,
        .worker = p->worker ? p->worker->url : NULL,
        .status = status,
        .bytes_in = p->req->body.len,
        .bytes_out = p->bytes_out,
        .dur_ns = now - p->req->start_ns,
        .ttfb_ns = p->t_first_byte ? p->t_first_byte - p->req->start_ns : 0,
        .attempts = p->attempts,
        .error = p->error_class,
    };
    smg_gw_access_log(&a);
    smg_gw_observe(p->gw, p->route, &a, p->client_stream);
    if (edge)
        smg_gw_observe_http(p->req->method, p->route, status,
                            smg_str_c(p->error_class ? p->error_class : ""), p->req->start_ns);
}

static void fail_request(proxy_t *p, int status, const char *code, const char *msg) {
    account(p, p->client_gone ? 499 : status, false);
    smg_gw_error(p->req, p->route->flavor, status, code, NULL, p->reqid, "%s", msg);
    proxy_free(p);
}

static bool is_excluded(const proxy_t *p, const smg_worker_t *w) {
    for (int i = 0; i < p->nexcluded; i++)
        if (p->excluded[i] == w)
            return true;
    return false;
}

/* Per-thread scratch array of routable candidates (grown, never shrunk;
 * freed by smg_gw_proxy_thread_exit). */
static _Thread_local smg_worker_t **cands;
static _Thread_local size_t capc;

void smg_gw_proxy_thread_exit(void) {
    free(cands);
    cands = NULL;
    capc = 0;
}

/* Pick a worker; on failure fills status/code/msg. */
static smg_worker_t *pick(proxy_t *p, int *status, const char **code, const char **msg) {
    const smg_fleet_snap_t *s = smg_fleet_snapshot(p->gw->fleet);
    const smg_model_group_t *g = smg_fleet_group(s, p->model);
    if (!g) {
        *status = 404;
        *code = "model_not_found";
        snprintf(p->errmsg, sizeof p->errmsg,
                 "The model `%.*s` does not exist or no worker serves it",
                 (int)(p->model.len > 256 ? 256 : p->model.len), p->model.ptr);
        *msg = p->errmsg;
        return NULL;
    }
    if (capc < g->n) {
        smg_worker_t **nc = realloc(cands, g->n * sizeof *nc);
        if (!nc) {
            *status = 503;
            *code = "overloaded";
            *msg = "out of memory";
            return NULL;
        }
        cands = nc;
        capc = g->n;
    }
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++) {
        smg_worker_t *w = g->workers[i];
        if (smg_worker_routable(w) && !is_excluded(p, w))
            cands[n++] = w;
    }
    smg_policy_ctx_t ctx = {
        .model = p->model,
        .route = p->req->path,
        .body = smg_buf_str(&p->req->body),
        .headers = p->req->headers,
        .nheaders = p->req->nheaders,
    };
    int idx = smg_policy_select(g->policy, cands, n, &ctx);
    if (idx < 0) {
        *status = 503;
        *code = "no_healthy_worker";
        *msg = p->nexcluded ? "no other healthy worker to retry on"
                            : "no healthy worker is available for this model";
        return NULL;
    }
    smg_worker_t *w = cands[idx];
    if (p->policy != g->policy) {
        smg_policy_unref(p->policy);
        p->policy = g->policy;
        smg_policy_ref(p->policy);
    }
    smg_worker_ref(w);
    atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->selected, 1, memory_order_relaxed);
    smg_metrics_worker_selected(p->model, smg_str_c(g->policy->ops->name), smg_str_c(w->url));
    return w;
}

static bool forward_request_header(smg_str_t name) {
    static const smg_str_t allow[] = {
        SMG_STR("content-type"),      SMG_STR("accept"),
        SMG_STR("authorization"),     SMG_STR("x-correlation-id"),
        SMG_STR("traceparent"),       SMG_STR("tracestate"),
        SMG_STR("baggage"),           SMG_STR("user-agent"),
        SMG_STR("x-smg-routing-key"), SMG_STR("anthropic-version"),
        SMG_STR("anthropic-beta"),    SMG_STR("openai-organization"),
        SMG_STR("openai-project"),
    };
    for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++)
        if (name_is(name, allow[i]))
            return true;
    return name.len > 13 && smg_str_eq_nocase(smg_str(name.ptr, 13), SMG_STR("x-request-id-"));
}

/* Response headers relayed to the client: not hop-by-hop (RFC 9110 §7.6.1),
 * and not those the gateway sets itself. */
static bool forward_response_header(smg_str_t name) {
    switch (name.len) {
    case 2:
        return !smg_str_eq_nocase(name, SMG_STR("te"));
    case 4:
        return !smg_str_eq_nocase(name, SMG_STR("date"));
    case 6:
        return !smg_str_eq_nocase(name, SMG_STR("server"));
    case 7:
    case 10:
    case 14:
    case 16:
    case 17:
        return !smg_http_is_hop_by_hop(name);
    case 12:
        return !smg_str_eq_nocase(name, SMG_STR("x-request-id"));
    default:
        return true;
    }
}

static void up_head_cb(smg_upstream_req_t *u, int status, const smg_http_header_t *h, size_t n,
                       void *ud);
static void up_body_cb(smg_upstream_req_t *u, const char *data, size_t n, void *ud);
static void up_done_cb(smg_upstream_req_t *u, const smg_upstream_result_t *res, void *ud);
static void up_batch_cb(smg_upstream_req_t *u, void *ud);
static const smg_upstream_cbs_t up_cbs = {up_head_cb, up_body_cb, up_done_cb, up_batch_cb};

/* Send the request to p->worker. Returns false when it could not even start
 * (the caller answers). */
static bool send_upstream(proxy_t *p) {
    smg_worker_t *w = p->worker;
    smg_upstream_pool_t *pool = smg_gw_pool(p->gw, w, p->req->loop);
    if (!pool)
        return false;
    p->nup = 0;
    bool have_auth = false;
    if (w->api_key) {
        snprintf(p->auth, sizeof p->auth, "Bearer %s", w->api_key);
        p->up_hdrs[p->nup++] = (smg_http_header_t){SMG_STR("Authorization"), smg_str_c(p->auth)};
        have_auth = true;
    }
    p->up_hdrs[p->nup++] = (smg_http_header_t){SMG_STR("x-request-id"), reqid_str(p)};
    for (size_t i = 0; i < p->req->nheaders && p->nup < SMG_PROXY_MAX_UP_HEADERS; i++) {
        const smg_http_header_t *h = &p->req->headers[i];
        if (!forward_request_header(h->name))
            continue;
        if (have_auth && name_is(h->name, SMG_STR("authorization")))
            continue;
        p->up_hdrs[p->nup++] = *h;
    }
    /* the target is copied into the request head by smg_upstream_send */
    char path_inline[SMG_PROXY_INLINE_PATH];
    smg_str_t base = smg_str_c(w->base_path), url = p->req->url, target;
    if (base.len + url.len <= sizeof path_inline) {
        memcpy(path_inline, base.ptr, base.len);
        memcpy(path_inline + base.len, url.ptr, url.len);
        target = smg_str(path_inline, base.len + url.len);
    } else {
        smg_buf_reset(&p->path);
        if (smg_buf_append_str(&p->path, base) != SMG_OK ||
            smg_buf_append_str(&p->path, url) != SMG_OK)
            return false;
        target = smg_buf_str(&p->path);
    }
    smg_upstream_request_t r = {
        .method = p->req->method,
        .target = target,
        .headers = p->up_hdrs,
        .nheaders = p->nup,
        .body = smg_buf_str(&p->req->body),
        .timeout_ms = (uint32_t)p->gw->cfg.request_timeout_ms,
    };
    p->attempts++;
    if (p->attempts > 1)
        smg_metrics_worker_retry(smg_str_c(w->url));
    p->up = smg_upstream_send(pool, &r, &up_cbs, p);
    return p->up != NULL;
}

/* Select and send; answers the client itself on failure. */
static void dispatch(proxy_t *p) {
    int status = 503;
    const char *code = NULL, *msg = NULL;
    smg_worker_t *w = pick(p, &status, &code, &msg);
    if (!w) {
        fail_request(p, status, code, msg);
        return;
    }
    p->worker = w;
    if (!send_upstream(p)) {
        fail_request(p, 503, "overloaded", "could not start the upstream request");
        return;
    }
}

static void client_abort_cb(smg_http_req_t *req, void *arg) {
    proxy_t *p = arg;
    p->client_gone = true;
    smg_upstream_req_t *u = p->up;
    if (u)
        smg_upstream_abort(u); /* up_done_cb finishes the request */
}

static void client_drain_cb(smg_http_req_t *req, void *arg) {
    proxy_t *p = arg;
    if (p->paused && p->up) {
        p->paused = false;
        smg_upstream_resume(p->up);
    }
}

static void up_head_cb(smg_upstream_req_t *u, int status, const smg_http_header_t *h, size_t n,
                       void *ud) {
    proxy_t *p = ud;
    p->up_status = status;
    p->t_first_byte = smg_now_ns();
    smg_metrics_upstream_response(status, SMG_STR(""));
    /* one pass: find the framing headers and size those we relay; then copy
     * them (the views in h die with this callback) into one place */
    smg_str_t ctype = SMG_STR_NULL, clen = SMG_STR_NULL;
    size_t relay[SMG_PROXY_MAX_RESP_HEADERS - 1]; /* indexes into h */
    size_t k = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        smg_str_t name = h[i].name;
        if (!ctype.ptr && name_is(name, SMG_STR("content-type")))
            ctype = h[i].value;
        else if (!clen.ptr && name_is(name, SMG_STR("content-length")))
            clen = h[i].value;
        if (k < sizeof relay / sizeof relay[0] && forward_response_header(name)) {
            relay[k++] = i;
            bytes += name.len + h[i].value.len;
        }
    }
    char *store = p->hdr_inline;
    if (bytes > sizeof p->hdr_inline) {
        smg_buf_reset(&p->hdr_store);
        if (smg_buf_reserve(&p->hdr_store, bytes) != SMG_OK) {
            smg_upstream_abort(u); /* the client gets a 502 */
            return;
        }
        store = p->hdr_store.ptr;
    }
    p->nresp = 0;
    for (size_t j = 0; j < k; j++) {
        smg_str_t name = h[relay[j]].name, value = h[relay[j]].value;
        memcpy(store, name.ptr, name.len);
        if (value.len)
            memcpy(store + name.len, value.ptr, value.len);
        p->resp_hdrs[p->nresp++] = (smg_http_header_t){smg_str(store, name.len),
                                                       smg_str(store + name.len, value.len)};
        store += name.len + value.len;
    }
    p->sse = ctype.ptr && smg_str_find(ctype, SMG_STR("text/event-stream")) != (size_t)-1;
    unsigned long long len = 0;
    bool sized = clen.ptr && smg_str_to_u64(smg_str_trim(clen), ~0ull, &len);
    p->resp_hdrs[p->nresp++] = (smg_http_header_t){SMG_STR("x-request-id"), reqid_str(p)};
    if (!p->sse && sized && len <= SMG_PROXY_BUFFER_MAX) {
        p->mode = RESP_BUFFERED;
        smg_buf_init(&p->body, SMG_PROXY_BUFFER_MAX);
        if (len && smg_buf_reserve(&p->body, (size_t)len) != SMG_OK)
            smg_upstream_abort(u);
        return;
    }
    p->mode = RESP_STREAMING;
    /* holds the bytes of one read at most (the upstream reads 16 KB at a time) */
    smg_buf_init(&p->body, 1u << 20);
    if (smg_http_stream_start(p->req, status, p->resp_hdrs, p->nresp) != SMG_OK)
        smg_upstream_abort(u);
}

/* Body bytes: kept until the end of the socket read they came from (up_batch_cb) or of the
 * response (up_done_cb), then relayed in one write: an SSE backend often has dozens of events
 * in one read, and one write (one chunk, one writev) per event would cost a syscall each. */
static void up_body_cb(smg_upstream_req_t *u, const char *data, size_t n, void *ud) {
    proxy_t *p = ud;
    if (smg_buf_append(&p->body, data, n) != SMG_OK)
        smg_upstream_abort(u);
}

/* Relay what the current read brought (streaming mode). False when the client is gone. */
static bool relay_pending(proxy_t *p) {
    if (p->mode != RESP_STREAMING || p->body.len == 0)
        return true;
    int rc = smg_http_stream_write(p->req, smg_buf_str(&p->body));
    if (rc == SMG_OK)
        p->bytes_out += p->body.len;
    smg_buf_reset(&p->body);
    return rc == SMG_OK;
}

static void up_batch_cb(smg_upstream_req_t *u, void *ud) {
    proxy_t *p = ud;
    if (!relay_pending(p)) {
        smg_upstream_abort(u);
        return;
    }
    const smg_http_server_config_t *sc = smg_http_server_config(p->gw->server);
    if (!p->paused && smg_http_stream_pending(p->req) > sc->write_high_watermark) {
        p->paused = true;
        smg_upstream_pause(u);
        smg_http_on_drain(p->req, client_drain_cb, p);
    }
}

static bool retryable(smg_upstream_error_t e) {
    return e == SMG_UP_CONNECT_FAILED || e == SMG_UP_CONNECT_TIMEOUT ||
           e == SMG_UP_RESET_BEFORE_HEAD;
}

static void sse_error_event(proxy_t *p, int status, const char *msg) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = smg_buf_append_c(&b, p->route->flavor == SMG_API_ANTHROPIC ? "event: error\ndata: "
                                                                         : "data: ");
    rc = rc ? rc : smg_api_error_body(&b, p->route->flavor, status, "upstream_error", NULL, msg);
    rc = rc ? rc : smg_buf_append_c(&b, "\n\n");
    if (!rc && smg_http_stream_write(p->req, smg_buf_str(&b)) == SMG_OK)
        p->bytes_out += b.len;
    smg_buf_free(&b);
}

static void up_done_cb(smg_upstream_req_t *u, const smg_upstream_result_t *res, void *ud) {
    proxy_t *p = ud;
    p->up = NULL;
    smg_worker_t *w = p->worker;
    /* the last read's bytes (also before an error: they did arrive) */
    if (!p->client_gone && !smg_http_req_aborted(p->req))
        (void)relay_pending(p);
    if (res->status == SMG_OK) {
        p->ok = p->up_status < 500;
        atomic_fetch_add_explicit(&w->requests, 1, memory_order_relaxed);
        if (p->up_status >= 500)
            atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed);
        if (p->mode == RESP_BUFFERED) {
            p->bytes_out = p->body.len;
            account(p, p->up_status, true);
            (void)smg_http_respond(p->req, p->up_status, p->resp_hdrs, p->nresp,
                                   smg_buf_str(&p->body));
        } else {
            account(p, p->client_gone ? 499 : p->up_status, true);
            (void)smg_http_stream_end(p->req);
        }
        proxy_free(p);
        return;
    }
    smg_upstream_error_t cls = res->error;
    p->error_class = smg_upstream_error_name(cls);
    if (cls != SMG_UP_ABORTED) {
        atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed);
        smg_metrics_worker_error(smg_str_c(w->url), smg_str_c(p->error_class));
    }
    if (p->client_gone) {
        account(p, 499, true);
        (void)smg_http_stream_end(p->req);
        proxy_free(p);
        return;
    }
    if (p->mode == RESP_NONE && retryable(cls) && p->attempts <= p->gw->cfg.max_retries &&
        p->nexcluded < SMG_PROXY_MAX_EXCLUDED) {
        p->excluded[p->nexcluded++] = w; /* keeps the reference */
        atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
        p->worker = NULL;
        int st;
        const char *code, *msg;
        smg_worker_t *next = pick(p, &st, &code, &msg);
        if (next) {
            SMG_LOG_REQ(SMG_LOG_WARN, p->reqid,
                        "worker %s failed before answering (%s: %s); retrying on %s", w->url,
                        p->error_class, res->message ? res->message : "", next->url);
            p->worker = next;
            if (!send_upstream(p))
                fail_request(p, 503, "overloaded", "could not start the upstream request");
            return;
        }
        /* nowhere else to go: report the failure of the last worker tried */
        p->worker = w;
        smg_worker_ref(w);
        atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);
    }
    bool timeout = cls == SMG_UP_TIMEOUT || cls == SMG_UP_CONNECT_TIMEOUT;
    int status = timeout ? 504 : 502;
    char msg[300];
    snprintf(msg, sizeof msg, "upstream %s: %s", p->error_class,
             res->message ? res->message : "request failed");
    SMG_LOG_REQ(SMG_LOG_WARN, p->reqid, "worker %s: %s", w->url, msg);
    if (p->mode == RESP_STREAMING) {
        if (p->sse)
            sse_error_event(p, status, msg);
        account(p, p->up_status, true);
        /* a non-SSE body cut short must look cut short to the client */
        if (p->sse)
            (void)smg_http_stream_end(p->req);
        else
            smg_http_stream_abort(p->req);
        proxy_free(p);
        return;
    }
    fail_request(p, status, timeout ? "upstream_timeout" : "upstream_error", msg);
}

void smg_gw_proxy(smg_gw_t *gw, smg_http_req_t *req, const smg_route_t *route, const char *reqid) {
    proxy_t *p = malloc(sizeof *p);
    if (!p) {
        smg_gw_error(req, route->flavor, 503, "overloaded", NULL, reqid, "out of memory");
        return;
    }
    memset(p, 0, offsetof(proxy_t, reqid));
    p->gw = gw;
    p->req = req;
    p->route = route;
    p->reqid_len = strnlen(reqid, sizeof p->reqid - 1);
    memcpy(p->reqid, reqid, p->reqid_len);
    p->reqid[p->reqid_len] = '\0';
    smg_buf_init(&p->model_buf, 4096);
    smg_buf_init(&p->path, 1u << 20);
    smg_buf_init(&p->hdr_store, 1u << 20);
    smg_buf_init(&p->body, SMG_PROXY_BUFFER_MAX);
    if (route->needs_json) {
        static const char *const want[] = {"model", "stream"};
        smg_json_field_t f[2];
        smg_json_scan_info_t info;
        smg_str_t body = smg_buf_str(&req->body);
        if (smg_json_scan_top(body, want, 2, f, &info) != SMG_OK) {
            char msg[200];
            snprintf(msg, sizeof msg, "invalid JSON body: %s at byte %zu", info.error,
                     info.error_offset);
            fail_request(p, 400, "invalid_json", msg);
            return;
        }
        if (info.root != SMG_JSON_OBJECT) {
            fail_request(p, 400, "invalid_request", "request body must be a JSON object");
            return;
        }
        if (f[0].type == SMG_JSON_STRING) {
            smg_str_t raw = f[0].raw;
            if (smg_json_string_is_plain(raw)) {
                p->model = smg_str(raw.ptr + 1, raw.len - 2);
            } else if (smg_json_unescape(raw, &p->model_buf) == SMG_OK) {
                p->model = smg_buf_str(&p->model_buf);
            } else {
                fail_request(p, 400, "invalid_request", "model name is too long");
                return;
            }
        } else if (f[0].type != SMG_JSON_ABSENT && f[0].type != SMG_JSON_NULL) {
            fail_request(p, 400, "invalid_request", "'model' must be a string");
            return;
        }
        p->client_stream = f[1].type == SMG_JSON_TRUE;
    }
    smg_http_on_abort(req, client_abort_cb, p);
    dispatch(p);
}
