/* smg's metric families: declarations and typed helpers (see smg_metrics.h, docs/metrics.md). */
#include "metrics/smg_metrics.h"

#include <pthread.h>
#include <stdio.h>

#include "core/assert.h"

const double smg_metrics_duration_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,  0.5,   1,    2.5,   5,    10,
                                               30,    60,    120,  300,   600,  1800};
const size_t smg_metrics_duration_nbuckets = SMG_ARRAY_LEN(smg_metrics_duration_buckets);
const double smg_metrics_ttft_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                           2,    5,     10,   20,  30,   60};
const size_t smg_metrics_ttft_nbuckets = SMG_ARRAY_LEN(smg_metrics_ttft_buckets);

#define LABELS(...) ((const char *const[]){__VA_ARGS__})
#define NLABELS(...) (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
#define FAM(var, type_, help_, ...)                                                                \
    smg_metric_family_t smg_fam_##var = {.name = "smg_" #var,                                      \
                                         .help = help_,                                            \
                                         .type = type_,                                            \
                                         .labels = LABELS(__VA_ARGS__),                            \
                                         .nlabels = NLABELS(__VA_ARGS__)}
#define HIST(var, help_, buckets_, ...)                                                            \
    smg_metric_family_t smg_fam_##var = {.name = "smg_" #var,                                      \
                                         .help = help_,                                            \
                                         .type = SMG_METRIC_HISTOGRAM,                             \
                                         .labels = LABELS(__VA_ARGS__),                            \
                                         .nlabels = NLABELS(__VA_ARGS__),                          \
                                         .buckets = buckets_,                                      \
                                         .nbuckets = SMG_ARRAY_LEN(buckets_)}

FAM(http_requests_total, SMG_METRIC_COUNTER, "HTTP requests received, by method and route.",
    "method", "path");
HIST(http_request_duration_seconds, "Time from request start to the last response byte.",
     smg_metrics_duration_buckets, "method", "path");
FAM(http_responses_total, SMG_METRIC_COUNTER,
    "HTTP responses sent, by route, status code and X-SMG-Error-Code.", "path", "status_code",
    "error_code");
smg_metric_family_t smg_fam_http_connections_active = {
    .name = "smg_http_connections_active",
    .help = "Client connections currently open.",
    .type = SMG_METRIC_GAUGE};
FAM(router_requests_total, SMG_METRIC_COUNTER, "Routed requests, by model, endpoint and streaming.",
    "model", "endpoint", "streaming");
HIST(router_request_duration_seconds, "Duration of routed requests, by model and endpoint.",
     smg_metrics_duration_buckets, "model", "endpoint");
FAM(router_request_errors_total, SMG_METRIC_COUNTER,
    "Routed requests that ended in an error, by model, endpoint and error type.", "model",
    "endpoint", "error_type");
FAM(router_upstream_responses_total, SMG_METRIC_COUNTER,
    "Responses received from workers, by status code and error code.", "status_code",
    "error_code");
HIST(router_ttft_seconds, "Time to first token of streamed and non-streamed generations.",
     smg_metrics_ttft_buckets, "model");
FAM(worker_requests_active, SMG_METRIC_GAUGE, "Requests in flight on each worker.", "worker");
FAM(worker_health, SMG_METRIC_GAUGE, "Worker health: 1 healthy, 0 unhealthy.", "worker");
FAM(worker_health_checks_total, SMG_METRIC_COUNTER,
    "Health probes, by worker and result (success or failure).", "worker", "result");
FAM(worker_selection_total, SMG_METRIC_COUNTER,
    "Workers picked by the routing policy, by model, policy and worker.", "model", "policy",
    "worker");
FAM(worker_errors_total, SMG_METRIC_COUNTER, "Failed attempts on a worker, by error type.",
    "worker", "error_type");
FAM(worker_retries_total, SMG_METRIC_COUNTER, "Retries sent to a worker.", "worker");
smg_metric_family_t smg_fam_worker_pool_size = {.name = "smg_worker_pool_size",
                                                .help = "Workers currently registered.",
                                                .type = SMG_METRIC_GAUGE};
FAM(gateway_requests_total, SMG_METRIC_COUNTER,
    "Routed requests by route, model, worker and status code (smg's own).", "route", "model",
    "worker", "status");
HIST(gateway_request_duration_seconds,
     "Duration of routed requests by route, model, worker and status code (smg's own).",
     smg_metrics_duration_buckets, "route", "model", "worker", "status");

static smg_metric_family_t *const all[] = {
    &smg_fam_http_requests_total,
    &smg_fam_http_request_duration_seconds,
    &smg_fam_http_responses_total,
    &smg_fam_http_connections_active,
    &smg_fam_router_requests_total,
    &smg_fam_router_request_duration_seconds,
    &smg_fam_router_request_errors_total,
    &smg_fam_router_upstream_responses_total,
    &smg_fam_router_ttft_seconds,
    &smg_fam_worker_requests_active,
    &smg_fam_worker_health,
    &smg_fam_worker_health_checks_total,
    &smg_fam_worker_selection_total,
    &smg_fam_worker_errors_total,
    &smg_fam_worker_retries_total,
    &smg_fam_worker_pool_size,
    &smg_fam_gateway_requests_total,
    &smg_fam_gateway_request_duration_seconds,
};

static int init_rc;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_all(void) {
    for (size_t i = 0; i < SMG_ARRAY_LEN(all) && init_rc == SMG_OK; i++)
        init_rc = smg_metric_register(all[i]);
}

int smg_metrics_init(void) {
    pthread_once(&init_once, init_all);
    return init_rc;
}

/* Status code as label text; out must hold 8 bytes. */
static smg_str_t status_text(int status, char *out) {
    if (status < 0 || status > 999)
        status = 0;
    /* hot path (three calls per request): no printf */
    size_t n = 0;
    if (status >= 100)
        out[n++] = (char)('0' + status / 100);
    if (status >= 10)
        out[n++] = (char)('0' + status / 10 % 10);
    out[n++] = (char)('0' + status % 10);
    out[n] = '\0';
    return smg_str(out, n);
}

void smg_metrics_http_request(smg_str_t method, smg_str_t path, int status, smg_str_t error_code,
                              double seconds) {
    char st[8];
    smg_str_t mp[] = {method, path};
    smg_metric_counter_add(&smg_fam_http_requests_total, mp, 2, 1);
    smg_metric_hist_observe(&smg_fam_http_request_duration_seconds, mp, 2, seconds);
    smg_str_t r[] = {path, status_text(status, st), error_code};
    smg_metric_counter_add(&smg_fam_http_responses_total, r, 3, 1);
}

void smg_metrics_connections_add(int delta) {
    smg_metric_gauge_add(&smg_fam_http_connections_active, NULL, 0, delta);
}

void smg_metrics_request_done(const smg_metrics_request_t *r) {
    char st[8];
    smg_str_t status = status_text(r->status, st);
    smg_str_t a[] = {r->model, r->route, r->streaming ? SMG_STR("true") : SMG_STR("false")};
    smg_metric_counter_add(&smg_fam_router_requests_total, a, 3, 1);
    smg_metric_hist_observe(&smg_fam_router_request_duration_seconds, a, 2, r->seconds);
    if (r->ttft_seconds >= 0)
        smg_metric_hist_observe(&smg_fam_router_ttft_seconds, &r->model, 1, r->ttft_seconds);
    if (r->status >= 400 || r->error_type.len) {
        smg_str_t e[] = {r->model, r->route, r->error_type.len ? r->error_type : status};
        smg_metric_counter_add(&smg_fam_router_request_errors_total, e, 3, 1);
    }
    smg_str_t g[] = {r->route, r->model, r->worker, status};
    smg_metric_counter_add(&smg_fam_gateway_requests_total, g, 4, 1);
    smg_metric_hist_observe(&smg_fam_gateway_request_duration_seconds, g, 4, r->seconds);
}

void smg_metrics_upstream_response(int status_code, smg_str_t error_code) {
    char st[8];
    smg_str_t l[] = {status_text(status_code, st), error_code};
    smg_metric_counter_add(&smg_fam_router_upstream_responses_total, l, 2, 1);
}

void smg_metrics_worker_selected(smg_str_t model, smg_str_t policy, smg_str_t worker) {
    smg_str_t l[] = {model, policy, worker};
    smg_metric_counter_add(&smg_fam_worker_selection_total, l, 3, 1);
}

void smg_metrics_worker_error(smg_str_t worker, smg_str_t error_type) {
    smg_str_t l[] = {worker, error_type};
    smg_metric_counter_add(&smg_fam_worker_errors_total, l, 2, 1);
}

void smg_metrics_worker_retry(smg_str_t worker) {
    smg_metric_counter_add(&smg_fam_worker_retries_total, &worker, 1, 1);
}

void smg_metrics_health_check(smg_str_t worker, bool ok) {
    smg_str_t l[] = {worker, ok ? SMG_STR("success") : SMG_STR("failure")};
    smg_metric_counter_add(&smg_fam_worker_health_checks_total, l, 2, 1);
}

void smg_metrics_worker_pool_size(size_t n) {
    smg_metric_gauge_set(&smg_fam_worker_pool_size, NULL, 0, (double)n);
}

void smg_metrics_set_worker_collectors(smg_metric_collect_cb requests_active,
                                       smg_metric_collect_cb health, void *arg) {
    smg_metric_set_collect(&smg_fam_worker_requests_active, requests_active, arg);
    smg_metric_set_collect(&smg_fam_worker_health, health, arg);
}
