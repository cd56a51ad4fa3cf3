/* smg's metric families (docs/metrics.md) and typed helpers for the gateway. Names follow the
 * reference (reference/smg-core-inventory.md §6) where it has one; smg_gateway_* are ours.
 *
 * Every helper is hot-path safe (see metrics.h): no global lock, no allocation once a series
 * exists. Label values that come from clients (model) are bounded by the store's series cap;
 * `path`/`route` must be the matched route pattern ("/v1/chat/completions", or "unmatched"
 * for a 404), never the raw request URL. An empty worker means "no worker was picked". */
#ifndef SMG_METRICS_SMG_METRICS_H
#define SMG_METRICS_SMG_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics/metrics.h"

extern smg_metric_family_t smg_fam_http_requests_total;
extern smg_metric_family_t smg_fam_http_request_duration_seconds;
extern smg_metric_family_t smg_fam_http_responses_total;
extern smg_metric_family_t smg_fam_http_connections_active;
extern smg_metric_family_t smg_fam_router_requests_total;
extern smg_metric_family_t smg_fam_router_request_duration_seconds;
extern smg_metric_family_t smg_fam_router_request_errors_total;
extern smg_metric_family_t smg_fam_router_upstream_responses_total;
extern smg_metric_family_t smg_fam_router_ttft_seconds;
extern smg_metric_family_t smg_fam_worker_requests_active;
extern smg_metric_family_t smg_fam_worker_health;
extern smg_metric_family_t smg_fam_worker_health_checks_total;
extern smg_metric_family_t smg_fam_worker_selection_total;
extern smg_metric_family_t smg_fam_worker_errors_total;
extern smg_metric_family_t smg_fam_worker_retries_total;
extern smg_metric_family_t smg_fam_worker_pool_size;
extern smg_metric_family_t smg_fam_gateway_requests_total;
extern smg_metric_family_t smg_fam_gateway_request_duration_seconds;

/* Upper bounds (seconds) of the duration histograms and of the TTFT histogram. */
extern const double smg_metrics_duration_buckets[];
extern const size_t smg_metrics_duration_nbuckets;
extern const double smg_metrics_ttft_buckets[];
extern const size_t smg_metrics_ttft_nbuckets;

/* Register every family above. Idempotent and thread-safe; call once before serving.
 * Returns SMG_OK or the first registration error. */
SMG_MUST_CHECK int smg_metrics_init(void);

/* One HTTP exchange at the edge, once the response is complete: smg_http_requests_total,
 * smg_http_request_duration_seconds and smg_http_responses_total. error_code is the
 * X-SMG-Error-Code sent (empty for none). */
void smg_metrics_http_request(smg_str_t method, smg_str_t path, int status, smg_str_t error_code,
                              double seconds);

/* smg_http_connections_active += delta (+1 on accept, -1 on close, any thread). */
void smg_metrics_connections_add(int delta);

/* A routed request (chat, completions, ...) at its end. */
typedef struct {
    smg_str_t route;      /* matched route, e.g. "/v1/chat/completions" */
    smg_str_t model;      /* requested model as resolved; empty when unknown */
    smg_str_t worker;     /* worker URL that served the last attempt; empty when none */
    smg_str_t error_type; /* empty on success; e.g. "no_healthy_worker", "upstream_timeout" */
    int status;           /* HTTP status sent to the client */
    bool streaming;
    double seconds;      /* request start to last byte */
    double ttft_seconds; /* start to first token; < 0 when there was none */
} smg_metrics_request_t;

/* smg_router_requests_total, smg_router_request_duration_seconds, smg_router_ttft_seconds,
 * smg_router_request_errors_total (when status >= 400 or error_type is set; error_type
 * defaults to the status code), smg_gateway_requests_total and
 * smg_gateway_request_duration_seconds. */
void smg_metrics_request_done(const smg_metrics_request_t *r);

/* A response status received from a worker (smg_router_upstream_responses_total). */
void smg_metrics_upstream_response(int status_code, smg_str_t error_code);
/* A policy picked `worker` (smg_worker_selection_total). */
void smg_metrics_worker_selected(smg_str_t model, smg_str_t policy, smg_str_t worker);
/* A failed attempt on a worker (smg_worker_errors_total), e.g. "connect", "timeout", "5xx". */
void smg_metrics_worker_error(smg_str_t worker, smg_str_t error_type);
/* A retry sent to `worker` (smg_worker_retries_total). */
void smg_metrics_worker_retry(smg_str_t worker);
/* A health probe result (smg_worker_health_checks_total{result="success"|"failure"}). */
void smg_metrics_health_check(smg_str_t worker, bool ok);
/* Workers currently registered (smg_worker_pool_size). */
void smg_metrics_worker_pool_size(size_t n);

/* Where smg_worker_requests_active{worker} and smg_worker_health{worker} come from at scrape
 * time: each callback emits one series per worker (health: 1 healthy, 0 not). NULL leaves that
 * family empty. */
void smg_metrics_set_worker_collectors(smg_metric_collect_cb requests_active,
                                       smg_metric_collect_cb health, void *arg);

#endif
