/* Request metrics: the gateway's calls into src/metrics (docs/metrics.md). */
#include "gateway/observe.h"

#include "core/time.h"
#include "metrics/smg_metrics.h"

static smg_str_t route_label(const smg_route_t *r) {
    if (!r)
        return SMG_STR("unmatched");
    if (r->prefix)
        return SMG_STR("/workers/{id}");
    return smg_str_c(r->path);
}

void smg_gw_observe_http(smg_str_t method, const smg_route_t *route, int status,
                         smg_str_t error_code, uint64_t start_ns) {
    double secs = (double)(smg_now_ns() - start_ns) / 1e9;
    smg_metrics_http_request(method, route_label(route), status, error_code, secs);
}

void smg_gw_observe(smg_gw_t *gw, const smg_route_t *route, const smg_access_t *a, bool stream) {
    smg_metrics_request_t m = {
        .route = route_label(route),
        .model = a->model,
        .worker = smg_str_c(a->worker ? a->worker : ""),
        .error_type = smg_str_c(a->error ? a->error : ""),
        .status = a->status,
        .streaming = stream,
        .seconds = (double)a->dur_ns / 1e9,
        .ttft_seconds = a->ttfb_ns ? (double)a->ttfb_ns / 1e9 : -1.0,
    };
    smg_metrics_request_done(&m);
}

static void emit_workers(smg_metric_emit_t *e, void *arg, bool health) {
    smg_gw_t *gw = arg;
    smg_fleet_snap_t *s = smg_fleet_snapshot_ref(gw->fleet);
    for (size_t i = 0; i < s->nworkers; i++) {
        smg_worker_t *w = s->workers[i];
        smg_str_t label = smg_str_c(w->url);
        double v = health ? (smg_worker_routable(w) ? 1.0 : 0.0)
                          : (double)atomic_load_explicit(&w->in_flight, memory_order_relaxed);
        smg_metric_emit(e, &label, 1, v);
    }
    smg_fleet_snapshot_unref(s);
}

static void collect_active(smg_metric_emit_t *e, void *arg) {
    emit_workers(e, arg, false);
}

static void collect_health(smg_metric_emit_t *e, void *arg) {
    emit_workers(e, arg, true);
}

static void collect_connections(smg_metric_emit_t *e, void *arg) {
    smg_gw_t *gw = arg;
    smg_metric_emit(e, NULL, 0, (double)smg_http_server_connections(gw->server));
}

static void collect_pool_size(smg_metric_emit_t *e, void *arg) {
    smg_gw_t *gw = arg;
    smg_fleet_snap_t *s = smg_fleet_snapshot_ref(gw->fleet);
    smg_metric_emit(e, NULL, 0, (double)s->nworkers);
    smg_fleet_snapshot_unref(s);
}

int smg_gw_metrics_init(smg_gw_t *gw) {
    int rc = smg_metrics_init();
    if (rc)
        return rc;
    smg_metrics_set_worker_collectors(collect_active, collect_health, gw);
    smg_metric_set_collect(&smg_fam_http_connections_active, collect_connections, gw);
    smg_metric_set_collect(&smg_fam_worker_pool_size, collect_pool_size, gw);
    return SMG_OK;
}

int smg_gw_metrics_render(smg_gw_t *gw, smg_buf_t *out) {
    return smg_metrics_render(out);
}
