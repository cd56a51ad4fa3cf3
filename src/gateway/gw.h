/* Gateway internals shared by the files of src/gateway/. Not a public API. */
#ifndef SMG_GATEWAY_GW_H
#define SMG_GATEWAY_GW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/errors.h"
#include "fleet/health.h"
#include "fleet/registry.h"
#include "net/http_server.h"
#include "net/loop.h"
#include "net/upstream.h"

/* What the request path needs from the configuration, in ready-to-use form. */
typedef struct smg_gw_settings_s {
    const char *host;
    int port;
    const char *prometheus_host;
    int prometheus_port;
    int threads;
    uint64_t request_timeout_ms;
    uint64_t max_payload;
    uint64_t grace_ms;
    int max_retries; /* extra attempts on another worker before any byte reached the client */
    const char *api_key;
    const char *admin_api_key;
    char **request_id_headers;
    size_t nrequest_id_headers;
    smg_health_config_t health;
    const char *policy;
} smg_gw_settings_t;

typedef enum {
    SMG_ROUTE_PROXY = 1,   /* forwarded to a worker */
    SMG_ROUTE_LOCAL = 2,   /* answered by the gateway */
    SMG_ROUTE_ADMIN = 3,   /* admin API, admin key */
} smg_route_kind_t;

struct smg_gw_s;
typedef void (*smg_route_fn)(struct smg_gw_s *gw, smg_http_req_t *req, smg_str_t tail);

typedef struct smg_route_s {
    const char *method;
    const char *path;   /* exact, or a prefix ending in '/' when `prefix` */
    bool prefix;
    smg_route_kind_t kind;
    smg_api_flavor_t flavor;
    const char *id_prefix; /* generated request ids: "chatcmpl-", "msg_", ... */
    bool needs_json;       /* POST body must be JSON */
    smg_route_fn fn;       /* local/admin handler; NULL for proxy routes */
} smg_route_t;

typedef struct smg_gw_s {
    smg_gw_settings_t cfg;
    smg_fleet_t *fleet;
    smg_health_t *health;
    smg_http_server_t *server;
    smg_http_server_t *metrics_server;
    smg_loop_t *loops; /* cfg.threads data loops */
    int nloops;
    smg_loop_t control;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    uint64_t drain_deadline_ms;
    _Atomic bool draining;
    uint64_t started_wall_s;
    int exit_code;
    struct smg_gw_tok_s *toks; /* --tokenizer-path: local /v1/tokenize, /v1/detokenize */
    size_t ntoks;
} smg_gw_t;

/* The upstream pool of worker w on the calling loop thread, created on first
 * use; NULL when the worker is being removed or on allocation failure. */
smg_upstream_pool_t *smg_gw_pool(smg_gw_t *gw, smg_worker_t *w, smg_loop_t *loop);
/* Remove a worker from the registry: drains (no new traffic, waits for its
 * in-flight requests up to the grace period), then closes its pools on every
 * loop. Control thread. */
void smg_gw_remove_worker(smg_gw_t *gw, smg_worker_t *w);

/* Route lookup: the route for (method, path), or NULL with *status 404/405
 * (and *allow set to the allowed methods for 405). */
const smg_route_t *smg_gw_route(smg_str_t method, smg_str_t path, smg_str_t *tail, int *status,
                                const char **allow);

/* Send an error response in the route's flavor and release the request. */
void smg_gw_error(smg_http_req_t *req, smg_api_flavor_t flavor, int status, const char *code,
                  const char *param, const char *reqid, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Send a JSON body with status and the request id header; releases. */
void smg_gw_json(smg_http_req_t *req, int status, const char *reqid, smg_str_t body);

/* Proxy a request to a worker (the full request path). `reqid` is copied. */
void smg_gw_proxy(smg_gw_t *gw, smg_http_req_t *req, const smg_route_t *route, const char *reqid);

/* Free the calling loop thread's proxy scratch memory (loop stop hook). */
void smg_gw_proxy_thread_exit(void);

/* Local routes */
void smg_gw_models(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail);
void smg_gw_liveness(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail);
void smg_gw_readiness(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail);
void smg_gw_workers_post(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail);
void smg_gw_workers_list(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail);
void smg_gw_worker_get(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail);
void smg_gw_worker_delete(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail);
void smg_gw_get_loads(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail);

/* One access-log line for a finished request. */
typedef struct smg_access_s {
    const char *reqid;
    smg_str_t method, path, model;
    const char *worker; /* url or "-" */
    int status;
    uint64_t bytes_in, bytes_out;
    uint64_t dur_ns, ttfb_ns;
    int attempts;
    const char *error; /* upstream error class or NULL */
} smg_access_t;
void smg_gw_access_log(const smg_access_t *a);

/* Request ids: take the first configured header with a sane value, else make
 * `prefix` + 24 random alphanumerics. out must hold 160 bytes. */
void smg_gw_request_id(const smg_gw_t *gw, const smg_http_req_t *req, const char *prefix,
                       char *out);
/* Constant-time bearer check; true when no key is configured. */
bool smg_gw_auth_ok(const smg_http_req_t *req, const char *key);

#endif
