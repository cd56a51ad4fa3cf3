/* The gateway process: configuration, threads, listeners, signals, drain. */
#include "gateway/gateway.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/time.h"
#include "gateway/gw.h"
#include "gateway/observe.h"
#include "gateway/options.h"
#include "gateway/tokenize.h"

static const char *const policy_names[] = {"random", "round_robin", "power_of_two"};

/* Longest wait between SIGTERM (readiness 503) and closing the listeners. */
#define SMG_SHUTDOWN_SETTLE_MAX_MS 5000u

/* ---- per-loop upstream pools ------------------------------------------- */

smg_upstream_pool_t *smg_gw_pool(smg_gw_t *gw, smg_worker_t *w, smg_loop_t *loop) {
    int i = smg_loop_index(loop);
    if (atomic_load_explicit(&w->removed, memory_order_acquire))
        return NULL;
    if (!w->pools[i]) {
        smg_upstream_pool_config_t pc = {
            .host = w->host,
            .port = w->port,
            .host_header = w->host_header,
            .max_idle = 256,
        };
        w->pools[i] = smg_upstream_pool_new(smg_loop_uv(loop), &pc);
    }
    return w->pools[i];
}

typedef struct {
    smg_worker_t *w;
    int index;
} pool_close_t;

static void pool_close_cb(void *arg) {
    pool_close_t *pc = arg;
    if (pc->w->pools[pc->index]) {
        smg_upstream_pool_free(pc->w->pools[pc->index]);
        pc->w->pools[pc->index] = NULL;
    }
    smg_worker_unref(pc->w);
    free(pc);
}

/* Loop stop hook: close the pools this loop made, for every worker. */
static void loop_stop_hook(void *arg) {
    smg_gw_t *gw = arg;
    smg_loop_t *loop = smg_loop_current();
    int i = smg_loop_index(loop);
    smg_fleet_snap_t *s = smg_fleet_snapshot_ref(gw->fleet);
    for (size_t k = 0; k < s->nworkers; k++) {
        smg_worker_t *w = s->workers[k];
        if (w->pools[i]) {
            smg_upstream_pool_free(w->pools[i]);
            w->pools[i] = NULL;
        }
    }
    smg_fleet_snapshot_unref(s);
    smg_fleet_thread_release(gw->fleet);
    smg_gw_proxy_thread_exit();
}

/* ---- worker removal with drain ------------------------------------------ */

typedef struct drain_s {
    struct drain_s *next;
    smg_worker_t *w;
    uint64_t deadline_ms;
} drain_t;
static drain_t *draining_workers; /* control thread only */
static uv_timer_t drain_workers_timer;
static bool drain_timer_on;

static void finish_removal(smg_gw_t *gw, smg_worker_t *w) {
    smg_worker_t *removed = smg_fleet_remove(gw->fleet, smg_str_c(w->id));
    if (!removed)
        return;
    atomic_store_explicit(&removed->removed, true, memory_order_release);
    for (int i = 0; i < gw->nloops; i++) {
        pool_close_t *pc = malloc(sizeof *pc);
        if (!pc)
            continue;
        smg_worker_ref(removed);
        *pc = (pool_close_t){removed, i};
        if (smg_loop_post(&gw->loops[i], pool_close_cb, pc) != SMG_OK) {
            smg_worker_unref(removed);
            free(pc);
        }
    }
    if (removed->pools[SMG_MAX_LOOPS]) {
        smg_upstream_pool_free(removed->pools[SMG_MAX_LOOPS]);
        removed->pools[SMG_MAX_LOOPS] = NULL;
    }
    SMG_INFO("worker %s removed: %s", removed->id, removed->url);
    smg_worker_unref(removed);
}

static void drain_workers_cb(uv_timer_t *t) {
    smg_gw_t *gw = t->data;
    uint64_t now = smg_now_ms();
    drain_t **pp = &draining_workers;
    while (*pp) {
        drain_t *d = *pp;
        if (atomic_load(&d->w->in_flight) == 0 || now >= d->deadline_ms) {
            if (atomic_load(&d->w->in_flight))
                SMG_WARN("worker %s: drain deadline passed with %lld request(s) in flight",
                         d->w->url, (long long)atomic_load(&d->w->in_flight));
            finish_removal(gw, d->w);
            *pp = d->next;
            smg_worker_unref(d->w);
            free(d);
        } else {
            pp = &d->next;
        }
    }
    if (!draining_workers) {
        uv_timer_stop(t);
        drain_timer_on = false;
    }
}

void smg_gw_remove_worker(smg_gw_t *gw, smg_worker_t *w) {
    if (smg_worker_state(w) == SMG_WORKER_DRAINING)
        return;
    atomic_store(&w->state, SMG_WORKER_DRAINING);
    drain_t *d = calloc(1, sizeof *d);
    if (!d) {
        finish_removal(gw, w);
        return;
    }
    smg_worker_ref(w);
    d->w = w;
    d->deadline_ms = smg_now_ms() + gw->cfg.grace_ms;
    d->next = draining_workers;
    draining_workers = d;
    if (!drain_timer_on) {
        drain_timer_on = true;
        uv_timer_start(&drain_workers_timer, drain_workers_cb, 0, 50);
    }
}

/* ---- request entry ------------------------------------------------------- */

static bool has_json_content_type(const smg_http_req_t *req) {
    smg_str_t ct = smg_http_header_get(req->headers, req->nheaders, SMG_STR("content-type"));
    if (!ct.ptr)
        return false;
    size_t semi = 0;
    while (semi < ct.len && ct.ptr[semi] != ';')
        semi++;
    smg_str_t mt = smg_str_trim(smg_str(ct.ptr, semi));
    return smg_str_eq_nocase(mt, SMG_STR("application/json")) ||
           (mt.len > 5 && smg_str_eq_nocase(smg_str(mt.ptr + mt.len - 5, 5), SMG_STR("+json")));
}

static void on_request(smg_http_req_t *req, void *ctx) {
    smg_gw_t *gw = ctx;
    smg_str_t tail = SMG_STR_NULL;
    int status = 404;
    const char *allow = "";
    const smg_route_t *r = smg_gw_route(req->method, req->path, &tail, &status, &allow);
    char reqid[160];
    if (!r) {
        smg_gw_request_id(gw, req, "req-", reqid);
        smg_api_flavor_t fl = smg_str_eq_c(req->path, "/v1/messages") ? SMG_API_ANTHROPIC
                                                                       : SMG_API_OPENAI;
        if (status == 405) {
            smg_buf_t b;
            smg_buf_init(&b, 0);
            char msg[160];
            snprintf(msg, sizeof msg, "method %.*s is not allowed here; allowed: %s",
                     (int)(req->method.len > 16 ? 16 : req->method.len), req->method.ptr, allow);
            if (smg_api_error_body(&b, fl, 405, "method_not_allowed", NULL, msg) == SMG_OK) {
                smg_http_header_t h[3] = {
                    {SMG_STR("Content-Type"), SMG_STR("application/json")},
                    {SMG_STR("Allow"), smg_str_c(allow)},
                    {SMG_STR("x-request-id"), smg_str_c(reqid)},
                };
                (void)smg_http_respond(req, 405, h, 3, smg_buf_str(&b));
            } else {
                (void)smg_http_respond(req, 500, NULL, 0, SMG_STR_NULL);
            }
            smg_buf_free(&b);
            return;
        }
        smg_gw_error(req, fl, 404, "not_found", NULL, reqid, "no route for %.*s %.*s",
                     (int)(req->method.len > 16 ? 16 : req->method.len), req->method.ptr,
                     (int)(req->path.len > 200 ? 200 : req->path.len), req->path.ptr);
        return;
    }
    smg_gw_request_id(gw, req, r->id_prefix, reqid);
    if (r->kind == SMG_ROUTE_PROXY && !smg_gw_auth_ok(req, gw->cfg.api_key)) {
        smg_gw_error(req, r->flavor, 401, "invalid_api_key", NULL, reqid,
                     "missing or invalid API key");
        return;
    }
    if (r->kind == SMG_ROUTE_ADMIN &&
        !smg_gw_auth_ok(req, gw->cfg.admin_api_key ? gw->cfg.admin_api_key : gw->cfg.api_key)) {
        smg_gw_error(req, r->flavor, 401, "invalid_api_key", NULL, reqid,
                     "missing or invalid admin API key");
        return;
    }
    if (r->needs_json && !has_json_content_type(req)) {
        smg_gw_error(req, r->flavor, 415, "unsupported_media_type", NULL, reqid,
                     "expected a request with Content-Type: application/json");
        return;
    }
    if (r->kind == SMG_ROUTE_PROXY && smg_gw_tokenize_local(gw)) {
        if (smg_str_eq_c(req->path, "/v1/tokenize")) {
            smg_gw_tokenize(gw, req, reqid);
            return;
        }
        if (smg_str_eq_c(req->path, "/v1/detokenize")) {
            smg_gw_detokenize(gw, req, reqid);
            return;
        }
    }
    if (r->kind == SMG_ROUTE_PROXY) {
        smg_gw_proxy(gw, req, r, reqid);
        return;
    }
    r->fn(gw, req, tail);
}

/* Errors the HTTP server answers by itself keep the route's shape too. */
static int server_error_body(smg_buf_t *out, smg_str_t path, int status, const char *msg,
                             void *ctx) {
    smg_api_flavor_t fl = smg_str_eq_c(path, "/v1/messages") ? SMG_API_ANTHROPIC : SMG_API_OPENAI;
    return smg_api_error_body(out, fl, status, NULL, NULL, msg);
}

static void on_metrics_request(smg_http_req_t *req, void *ctx) {
    smg_gw_t *gw = ctx;
    if (!smg_str_eq_c(req->path, "/metrics")) {
        smg_gw_error(req, SMG_API_OPENAI, 404, "not_found", NULL, NULL,
                     "the metrics listener serves GET /metrics only");
        return;
    }
    smg_buf_t b;
    smg_buf_init(&b, 0);
    if (smg_gw_metrics_render(gw, &b) != SMG_OK) {
        smg_buf_free(&b);
        (void)smg_http_respond(req, 500, NULL, 0, SMG_STR_NULL);
        return;
    }
    smg_http_header_t h[1] = {
        {SMG_STR("Content-Type"), SMG_STR("text/plain; version=0.0.4; charset=utf-8")}};
    (void)smg_http_respond(req, 200, h, 1, smg_buf_str(&b));
    smg_buf_free(&b);
}

/* ---- shutdown ------------------------------------------------------------ */

static void stop_everything(smg_gw_t *gw) {
    uv_timer_stop(&gw->drain_timer);
    if (gw->health) {
        smg_health_stop(gw->health);
        gw->health = NULL;
    }
    for (int i = 0; i < gw->nloops; i++)
        smg_loop_stop(&gw->loops[i]);
    smg_loop_stop(&gw->control);
}

static void drain_tick_cb(uv_timer_t *t) {
    smg_gw_t *gw = t->data;
    size_t active = smg_http_server_active_requests(gw->server);
    if (active == 0) {
        SMG_INFO("drained; exiting");
        stop_everything(gw);
    } else if (smg_now_ms() >= gw->drain_deadline_ms) {
        SMG_WARN("grace period over with %zu request(s) in flight; exiting", active);
        stop_everything(gw);
    }
}

/* After the settle window: close the listeners and idle connections, then
 * wait for in-flight requests (drain_tick_cb). */
static void settle_done_cb(uv_timer_t *t) {
    smg_gw_t *gw = t->data;
    SMG_INFO("closing listeners; %zu request(s) in flight",
             smg_http_server_active_requests(gw->server));
    smg_http_server_stop_accepting(gw->server);
    if (gw->metrics_server)
        smg_http_server_stop_accepting(gw->metrics_server);
    smg_http_server_close_idle(gw->server);
    uv_timer_start(&gw->drain_timer, drain_tick_cb, 0, 25);
}

static void on_signal(uv_signal_t *s, int signum) {
    smg_gw_t *gw = s->data;
    if (atomic_exchange(&gw->draining, true)) {
        SMG_WARN("second signal: exiting now");
        stop_everything(gw);
        return;
    }
    /* As the reference does: readiness turns 503 at once, but the listeners
     * stay open for a settle window of min(grace / 2, 5 s) so that load
     * balancers see the 503 and stop sending before connections are refused. */
    uint64_t settle = gw->cfg.grace_ms / 2;
    if (settle > SMG_SHUTDOWN_SETTLE_MAX_MS)
        settle = SMG_SHUTDOWN_SETTLE_MAX_MS;
    SMG_INFO("%s: draining (readiness 503; listeners close in %llu ms; grace %llu s)",
             signum == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long long)settle,
             (unsigned long long)(gw->cfg.grace_ms / 1000));
    gw->drain_deadline_ms = smg_now_ms() + gw->cfg.grace_ms;
    uv_timer_start(&gw->drain_timer, settle_done_cb, settle, 0);
}

static void close_control_handles(void *arg) {
    smg_gw_t *gw = arg;
    uv_signal_stop(&gw->sigterm);
    uv_signal_stop(&gw->sigint);
    uv_close((uv_handle_t *)&gw->sigterm, NULL);
    uv_close((uv_handle_t *)&gw->sigint, NULL);
    uv_close((uv_handle_t *)&gw->drain_timer, NULL);
    uv_close((uv_handle_t *)&drain_workers_timer, NULL);
    while (draining_workers) {
        drain_t *d = draining_workers;
        draining_workers = d->next;
        smg_worker_unref(d->w);
        free(d);
    }
    if (gw->health) {
        smg_health_stop(gw->health);
        gw->health = NULL;
    }
}

/* ---- start-up ------------------------------------------------------------ */

static int settings_from(smg_gw_t *gw, const smg_config_t *c) {
    smg_gw_settings_t *s = &gw->cfg;
    s->host = c->host;
    s->port = (int)c->port;
    s->prometheus_host = c->prometheus_host;
    s->prometheus_port = (int)c->prometheus_port;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = c->threads > 0 ? (int)c->threads : (int)(cores > 0 ? cores : 1);
    if (s->threads > SMG_MAX_LOOPS)
        s->threads = SMG_MAX_LOOPS;
    s->request_timeout_ms = (uint64_t)c->request_timeout_secs * 1000u;
    s->max_payload = (uint64_t)c->max_payload_size;
    s->grace_ms = (uint64_t)c->shutdown_grace_period_secs * 1000u;
    s->max_retries = c->disable_retries ? 0 : (int)c->retry_max_retries;
    s->api_key = c->api_key;
    s->admin_api_key = c->admin_api_key;
    s->request_id_headers = c->request_id_headers.items;
    s->nrequest_id_headers = c->request_id_headers.len;
    s->health = (smg_health_config_t){
        .interval_ms = (uint64_t)c->health_check_interval_secs * 1000u,
        .timeout_ms = (uint64_t)c->health_check_timeout_secs * 1000u,
        .failure_threshold = (int)c->health_failure_threshold,
        .success_threshold = (int)c->health_success_threshold,
        .endpoint = c->health_check_endpoint,
        .disabled = c->disable_health_check,
    };
    s->policy = policy_names[c->policy >= 0 && c->policy < 3 ? c->policy : 1];
    return SMG_OK;
}

/* Stop and close loops that were created but may never have run (start-up
 * failed part-way), or that ran on threads: either way their stop hooks run
 * and their handles are closed before the memory goes. */
static void teardown(smg_gw_t *gw, int nloops_inited, bool control_inited, int nthreads) {
    for (int i = 0; i < nloops_inited; i++) {
        smg_loop_stop(&gw->loops[i]);
        if (i < nthreads)
            smg_loop_join(&gw->loops[i]);
        else
            smg_loop_run_here(&gw->loops[i]);
    }
    if (control_inited && nthreads == 0) {
        smg_loop_stop(&gw->control);
        smg_loop_run_here(&gw->control);
    }
    if (gw->server)
        smg_http_server_free(gw->server);
    if (gw->metrics_server)
        smg_http_server_free(gw->metrics_server);
    if (gw->fleet) {
        smg_fleet_thread_release(gw->fleet);
        smg_fleet_free(gw->fleet);
    }
    smg_gw_tokenizers_free(gw);
    free(gw->loops);
}

int smg_gateway_main(int argc, char **argv) {
    smg_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    int exit_code = 0;
    if (smg_options_load(&cfg, argc, argv, &exit_code) != SMG_OK)
        return exit_code;
    smg_log_configure(cfg.log_level, cfg.log_json);
    signal(SIGPIPE, SIG_IGN);

    int code = 1, nloops_inited = 0, nthreads = 0;
    bool control_inited = false;
    char err[700];
    smg_gw_t *gw = calloc(1, sizeof *gw);
    if (!gw) {
        smg_options_free(&cfg);
        fprintf(stderr, "smg: out of memory\n");
        return 1;
    }
    settings_from(gw, &cfg);
    gw->started_wall_s = (uint64_t)smg_wall_s();
    gw->fleet = smg_fleet_new(gw->cfg.policy);
    if (!gw->fleet) {
        fprintf(stderr, "smg: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < cfg.worker_urls.len; i++) {
        smg_worker_t *w = smg_worker_new(cfg.worker_urls.items[i], err, sizeof err);
        if (!w) {
            fprintf(stderr, "smg: --worker-urls: %s\n", err);
            code = 2;
            goto out;
        }
        int rc = smg_fleet_add(gw->fleet, w);
        if (rc == SMG_EEXIST) {
            SMG_WARN("--worker-urls: %s given twice; using it once", w->url);
            smg_worker_unref(w);
        } else if (rc) {
            smg_worker_unref(w);
            fprintf(stderr, "smg: out of memory\n");
            goto out;
        }
    }
    int trc = smg_gw_tokenizers_load(gw, &cfg.tokenizer_path, err, sizeof err);
    if (trc) {
        fprintf(stderr, "smg: %s\n", trc == SMG_ENOMEM ? "out of memory" : err);
        code = trc == SMG_ENOMEM ? 1 : 2;
        goto out;
    }

    gw->nloops = gw->cfg.threads;
    gw->loops = calloc((size_t)gw->nloops, sizeof *gw->loops);
    if (!gw->loops || smg_loop_init(&gw->control, SMG_MAX_LOOPS) != SMG_OK) {
        fprintf(stderr, "smg: cannot create event loops\n");
        goto out;
    }
    control_inited = true;
    for (; nloops_inited < gw->nloops; nloops_inited++) {
        if (smg_loop_init(&gw->loops[nloops_inited], nloops_inited) != SMG_OK) {
            fprintf(stderr, "smg: cannot create event loops\n");
            goto out;
        }
    }

    smg_http_server_config_t sc;
    smg_http_server_config_default(&sc);
    sc.host = cfg.host;
    sc.port = (int)cfg.port;
    sc.max_body_bytes = (uint64_t)cfg.max_payload_size;
    sc.max_connections = (size_t)cfg.max_connections;
    sc.idle_timeout_ms = (uint32_t)(cfg.keep_alive_timeout_secs * 1000);
    sc.header_timeout_ms = (uint32_t)(cfg.header_timeout_secs * 1000);
    sc.max_header_bytes = (size_t)cfg.max_header_size;
    sc.max_headers = (size_t)cfg.max_headers;
    sc.error_body = server_error_body;
    gw->server = smg_http_server_new(&sc, on_request, gw);
    if (!gw->server) {
        fprintf(stderr, "smg: invalid server configuration\n");
        code = 2;
        goto out;
    }
    for (int i = 0; i < gw->nloops; i++) {
        if (smg_loop_on_stop(&gw->loops[i], loop_stop_hook, gw) != SMG_OK)
            goto out;
        if (smg_http_server_listen(gw->server, &gw->loops[i]) != SMG_OK) {
            fprintf(stderr, "smg: cannot listen on %s:%d\n", cfg.host, (int)cfg.port);
            goto out;
        }
    }
    if (smg_gw_metrics_init(gw) != SMG_OK) {
        fprintf(stderr, "smg: cannot set up metrics\n");
        goto out;
    }
    uv_loop_t *cl = smg_loop_uv(&gw->control);
    uv_timer_init(cl, &gw->drain_timer);
    gw->drain_timer.data = gw;
    uv_timer_init(cl, &drain_workers_timer);
    drain_workers_timer.data = gw;
    uv_signal_init(cl, &gw->sigterm);
    uv_signal_init(cl, &gw->sigint);
    gw->sigterm.data = gw->sigint.data = gw;
    if (smg_loop_on_stop(&gw->control, close_control_handles, gw) != SMG_OK ||
        smg_loop_on_stop(&gw->control, loop_stop_hook, gw) != SMG_OK)
        goto out;
    int mport = 0;
    if (cfg.prometheus_port > 0) {
        smg_http_server_config_t mc;
        smg_http_server_config_default(&mc);
        mc.host = cfg.prometheus_host;
        mc.port = (int)cfg.prometheus_port;
        mc.max_body_bytes = 1 << 16;
        mc.max_connections = 256;
        gw->metrics_server = smg_http_server_new(&mc, on_metrics_request, gw);
        if (!gw->metrics_server ||
            smg_http_server_listen(gw->metrics_server, &gw->control) != SMG_OK) {
            fprintf(stderr, "smg: cannot listen on %s:%d (--prometheus-port)\n",
                    cfg.prometheus_host, (int)cfg.prometheus_port);
            goto out;
        }
        mport = smg_http_server_port(gw->metrics_server);
    }
    gw->health = smg_health_start(&gw->control, gw->fleet, &gw->cfg.health);
    if (!gw->health) {
        fprintf(stderr, "smg: cannot start health checks\n");
        goto out;
    }
    uv_signal_start(&gw->sigterm, on_signal, SIGTERM);
    uv_signal_start(&gw->sigint, on_signal, SIGINT);

    printf("smg listening on %s:%d\n", cfg.host, smg_http_server_port(gw->server));
    if (mport)
        printf("smg metrics on %s:%d\n", cfg.prometheus_host, mport);
    fflush(stdout);
    SMG_INFO("smg %s: %d thread(s), policy %s, %zu worker(s)", SMG_VERSION, gw->nloops,
             gw->cfg.policy, cfg.worker_urls.len);

    for (; nthreads < gw->nloops; nthreads++) {
        if (smg_loop_start_thread(&gw->loops[nthreads]) != SMG_OK) {
            fprintf(stderr, "smg: cannot start thread\n");
            stop_everything(gw);
            break;
        }
    }
    smg_loop_run_here(&gw->control);
    code = nthreads == gw->nloops ? gw->exit_code : 1;
    /* the control loop has run: teardown only joins and frees */
    control_inited = false;
    if (nthreads == 0)
        nthreads = -1; /* no data loop ran: teardown runs them once to close */
out:
    teardown(gw, nloops_inited, control_inited, nthreads < 0 ? 0 : nthreads);
    free(gw);
    smg_options_free(&cfg);
    return code;
}
