/* smg's metric families: declarations and typed helpers (see smg_metrics.h, docs/metrics.md). */
#include "metrics/smg_metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* ---- per-thread memo of series handles ------------------------------------------------------
 * The request path records the same few label sets over and over: each helper below keeps, per
 * thread, the label values of its last MEMO_WAYS distinct calls and the series handles they
 * resolved to (metrics.h: a handle belongs to its thread), so a repeated call skips the hash
 * lookups. Entries are reused round-robin; label sets longer than MEMO_KEY bytes in all are
 * not memoized (they take the labelled calls). */
#define MEMO_WAYS 8
#define MEMO_KEY 240
#define MEMO_LABELS 5
#define MEMO_SERIES 5

typedef struct {
    uint8_t n; /* labels in the key; 0: unused */
    uint16_t len[MEMO_LABELS];
    char key[MEMO_KEY];
    bool looked_up[MEMO_SERIES];
    smg_metric_series_t *s[MEMO_SERIES]; /* NULL after a lookup: use the labelled call */
} memo_ent_t;

typedef struct {
    memo_ent_t e[MEMO_WAYS];
    unsigned next;
} memo_t;

/* The entry for these label values (found, or claimed and reset), or NULL when they do not
 * fit in a key. */
static memo_ent_t *memo_get(memo_t *m, const smg_str_t *l, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += l[i].len;
    if (total > MEMO_KEY || n > MEMO_LABELS)
        return NULL;
    for (unsigned w = 0; w < MEMO_WAYS; w++) {
        memo_ent_t *e = &m->e[w];
        if (e->n != n)
            continue;
        size_t off = 0, i = 0;
        for (; i < n; i++) {
            if (e->len[i] != l[i].len || (l[i].len && memcmp(e->key + off, l[i].ptr, l[i].len)))
                break;
            off += l[i].len;
        }
        if (i == n)
            return e;
    }
    memo_ent_t *e = &m->e[m->next++ % MEMO_WAYS];
    memset(e, 0, sizeof *e);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        e->len[i] = (uint16_t)l[i].len;
        if (l[i].len)
            memcpy(e->key + off, l[i].ptr, l[i].len);
        off += l[i].len;
    }
    e->n = (uint8_t)n;
    return e;
}

static smg_metric_series_t *memo_series(memo_ent_t *e, int slot, smg_metric_family_t *fam,
                                        const smg_str_t *l, size_t n) {
    if (!e)
        return NULL;
    if (!e->looked_up[slot]) {
        e->s[slot] = smg_metric_series(fam, l, n);
        e->looked_up[slot] = true;
    }
    return e->s[slot];
}

static void memo_add(memo_ent_t *e, int slot, smg_metric_family_t *fam, const smg_str_t *l,
                     size_t n, double v) {
    smg_metric_series_t *s = memo_series(e, slot, fam, l, n);
    if (s)
        smg_metric_series_add(fam, s, v);
    else
        smg_metric_counter_add(fam, l, n, v);
}

static void memo_observe(memo_ent_t *e, int slot, smg_metric_family_t *fam, const smg_str_t *l,
                         size_t n, double v) {
    smg_metric_series_t *s = memo_series(e, slot, fam, l, n);
    if (s)
        smg_metric_series_observe(fam, s, v);
    else
        smg_metric_hist_observe(fam, l, n, v);
}

static _Thread_local memo_t memo_http, memo_done, memo_upstream, memo_selected;

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
    smg_str_t key[] = {method, path, status_text(status, st), error_code};
    memo_ent_t *e = memo_get(&memo_http, key, 4);
    smg_str_t mp[] = {method, path};
    memo_add(e, 0, &smg_fam_http_requests_total, mp, 2, 1);
    memo_observe(e, 1, &smg_fam_http_request_duration_seconds, mp, 2, seconds);
    smg_str_t r[] = {path, key[2], error_code};
    memo_add(e, 2, &smg_fam_http_responses_total, r, 3, 1);
}

void smg_metrics_connections_add(int delta) {
    smg_metric_gauge_add(&smg_fam_http_connections_active, NULL, 0, delta);
}

void smg_metrics_request_done(const smg_metrics_request_t *r) {
    char st[8];
    smg_str_t status = status_text(r->status, st);
    smg_str_t streaming = r->streaming ? SMG_STR("true") : SMG_STR("false");
    smg_str_t key[] = {r->route, r->model, r->worker, status, streaming};
    memo_ent_t *m = memo_get(&memo_done, key, 5);
    smg_str_t a[] = {r->model, r->route, streaming};
    memo_add(m, 0, &smg_fam_router_requests_total, a, 3, 1);
    memo_observe(m, 1, &smg_fam_router_request_duration_seconds, a, 2, r->seconds);
    if (r->ttft_seconds >= 0)
        memo_observe(m, 2, &smg_fam_router_ttft_seconds, &r->model, 1, r->ttft_seconds);
    if (r->status >= 400 || r->error_type.len) {
        smg_str_t e[] = {r->model, r->route, r->error_type.len ? r->error_type : status};
        smg_metric_counter_add(&smg_fam_router_request_errors_total, e, 3, 1);
    }
    smg_str_t g[] = {r->route, r->model, r->worker, status};
    memo_add(m, 3, &smg_fam_gateway_requests_total, g, 4, 1);
    memo_observe(m, 4, &smg_fam_gateway_request_duration_seconds, g, 4, r->seconds);
}

void smg_metrics_upstream_response(int status_code, smg_str_t error_code) {
    char st[8];
    smg_str_t l[] = {status_text(status_code, st), error_code};
    memo_add(memo_get(&memo_upstream, l, 2), 0, &smg_fam_router_upstream_responses_total, l, 2, 1);
}

void smg_metrics_worker_selected(smg_str_t model, smg_str_t policy, smg_str_t worker) {
    smg_str_t l[] = {model, policy, worker};
    memo_add(memo_get(&memo_selected, l, 3), 0, &smg_fam_worker_selection_total, l, 3, 1);
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
