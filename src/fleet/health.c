#include "fleet/health.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "metrics/smg_metrics.h"
#include "net/upstream.h"

struct smg_health_s {
    smg_loop_t *loop;
    smg_fleet_t *fleet;
    smg_health_config_t cfg;
    char *endpoint;
    uv_timer_t timer;
    bool stopping;
    bool timer_closed;
    int in_flight;
    _Atomic uint64_t probes_ok, probes_fail;
};

typedef enum { PROBE_HEALTH, PROBE_MODELS } probe_kind_t;

typedef struct {
    smg_health_t *h;
    smg_worker_t *w; /* reference */
    probe_kind_t kind;
    int status;
    smg_buf_t body; /* capped: discovery answers only */
    char path[512];
    smg_http_header_t hdrs[2];
    size_t nhdrs;
    char auth[300];
} probe_t;

static smg_upstream_pool_t *control_pool(smg_health_t *h, smg_worker_t *w) {
    smg_upstream_pool_t **slot = &w->pools[SMG_MAX_LOOPS];
    if (!*slot) {
        smg_upstream_pool_config_t pc = {
            .host = w->host,
            .port = w->port,
            .host_header = w->host_header,
            .max_idle = 2,
            .connect_timeout_ms = (uint32_t)h->cfg.timeout_ms,
        };
        *slot = smg_upstream_pool_new(smg_loop_uv(h->loop), &pc);
    }
    return *slot;
}

static void set_state(smg_worker_t *w, int to, const char *why) {
    int from = smg_worker_state(w);
    if (from == to)
        return;
    atomic_store(&w->state, to);
    SMG_INFO("worker %s (%s): %s -> %s (%s)", w->id, w->url, smg_worker_state_name(from),
             smg_worker_state_name(to), why);
}

static void apply_probe(smg_health_t *h, smg_worker_t *w, bool ok) {
    int st = smg_worker_state(w);
    if (st == SMG_WORKER_DRAINING)
        return;
    w->probes++;
    smg_metrics_health_check(smg_str_c(w->url), ok);
    if (ok) {
        atomic_fetch_add(&h->probes_ok, 1);
        w->consecutive_ok++;
        w->consecutive_fail = 0;
        if (st != SMG_WORKER_READY && w->consecutive_ok >= h->cfg.success_threshold &&
            atomic_load(&w->models_known))
            set_state(w, SMG_WORKER_READY, "health checks pass");
    } else {
        atomic_fetch_add(&h->probes_fail, 1);
        w->consecutive_fail++;
        w->consecutive_ok = 0;
        int ft = h->cfg.failure_threshold;
        if (st == SMG_WORKER_READY && w->consecutive_fail >= ft)
            set_state(w, SMG_WORKER_NOT_READY, "health checks fail");
        else if (st == SMG_WORKER_NOT_READY && w->consecutive_fail >= 3 * ft)
            set_state(w, SMG_WORKER_FAILED, "health checks keep failing");
        else if (st == SMG_WORKER_PENDING && w->probes >= 10 * ft)
            set_state(w, SMG_WORKER_FAILED, "never became healthy");
    }
}

/* Parse an OpenAI model list; returns true and sets the models when usable. */
static bool apply_models(smg_health_t *h, smg_worker_t *w, smg_str_t body) {
    json_error_t err;
    json_t *root = json_loadb(body.ptr, body.len, 0, &err);
    json_t *data = root ? json_object_get(root, "data") : NULL;
    bool ok = false;
    if (json_is_array(data)) {
        size_t n = json_array_size(data);
        const char **ids = calloc(n ? n : 1, sizeof *ids);
        size_t k = 0;
        for (size_t i = 0; ids && i < n; i++) {
            json_t *id = json_object_get(json_array_get(data, i), "id");
            if (json_is_string(id) && json_string_length(id) > 0)
                ids[k++] = json_string_value(id);
        }
        if (ids && smg_worker_set_models(w, ids, k) == SMG_OK)
            ok = true;
        free(ids);
    }
    json_decref(root);
    return ok;
}

static void probe_free(probe_t *p) {
    smg_buf_free(&p->body);
    smg_worker_unref(p->w);
    free(p);
}

static void probe_head_cb(smg_upstream_req_t *r, int status, const smg_http_header_t *hd, size_t n,
                          void *ud) {
    ((probe_t *)ud)->status = status;
}

static void probe_body_cb(smg_upstream_req_t *r, const char *data, size_t n, void *ud) {
    probe_t *p = ud;
    if (p->kind == PROBE_MODELS && smg_buf_append(&p->body, data, n) != SMG_OK)
        smg_upstream_abort(r);
}

static void start_probe(smg_health_t *h, smg_worker_t *w, probe_kind_t kind);

/* The checker is freed once it is stopped, its timer closed and no probe is
 * left in flight (probes end when the pools they use are closed). */
static void maybe_free(smg_health_t *h) {
    if (h->stopping && h->timer_closed && h->in_flight == 0) {
        free(h->endpoint);
        free(h);
    }
}

static void probe_done_cb(smg_upstream_req_t *r, const smg_upstream_result_t *res, void *ud) {
    probe_t *p = ud;
    smg_health_t *h = p->h;
    smg_worker_t *w = p->w;
    h->in_flight--;
    w->probe_in_flight = false;
    bool ok = res->status == SMG_OK && p->status >= 200 && p->status < 300;
    if (h->stopping || atomic_load(&w->removed)) {
        probe_free(p);
        maybe_free(h);
        return;
    }
    if (p->kind == PROBE_HEALTH) {
        if (!ok)
            SMG_DEBUG("health probe %s: %s (status %d)", w->url,
                      res->status == SMG_OK ? "bad status" : res->message, p->status);
        if (ok && !atomic_load(&w->models_known)) {
            /* count the success, then discover models before turning ready */
            apply_probe(h, w, true);
            probe_free(p);
            start_probe(h, w, PROBE_MODELS);
            return;
        }
        apply_probe(h, w, ok);
    } else {
        if (res->status == SMG_OK) {
            if (!(ok && apply_models(h, w, smg_buf_str(&p->body)))) {
                SMG_WARN("worker %s: /v1/models gave no usable list (status %d); "
                         "treating it as serving any model",
                         w->url, p->status);
                if (smg_worker_set_models(w, NULL, 0) != SMG_OK)
                    SMG_ERROR("worker %s: out of memory", w->url);
            }
            atomic_store(&w->models_known, true);
            if (smg_fleet_republish(h->fleet) != SMG_OK)
                SMG_ERROR("registry publish failed (out of memory)");
            SMG_INFO("worker %s serves %zu model(s)%s%s", w->url, w->nmodels,
                     w->nmodels ? ", first " : " (any model)", w->nmodels ? w->models[0] : "");
            if (!h->cfg.disabled && w->consecutive_ok >= h->cfg.success_threshold)
                set_state(w, SMG_WORKER_READY, "health checks pass");
        } else {
            SMG_DEBUG("model discovery %s failed: %s", w->url, res->message);
        }
    }
    probe_free(p);
}

static void start_probe(smg_health_t *h, smg_worker_t *w, probe_kind_t kind) {
    smg_upstream_pool_t *pool = control_pool(h, w);
    probe_t *p = calloc(1, sizeof *p);
    if (!pool || !p) {
        free(p);
        return;
    }
    p->h = h;
    p->w = w;
    smg_worker_ref(w);
    p->kind = kind;
    smg_buf_init(&p->body, 4u << 20);
    snprintf(p->path, sizeof p->path, "%s%s", w->base_path,
             kind == PROBE_HEALTH ? h->endpoint : "/v1/models");
    if (w->api_key) {
        snprintf(p->auth, sizeof p->auth, "Bearer %s", w->api_key);
        p->hdrs[p->nhdrs++] = (smg_http_header_t){SMG_STR("Authorization"), smg_str_c(p->auth)};
    }
    smg_upstream_request_t req = {
        .method = SMG_STR("GET"),
        .target = smg_str_c(p->path),
        .headers = p->hdrs,
        .nheaders = p->nhdrs,
        .body = SMG_STR_NULL,
        .timeout_ms = (uint32_t)h->cfg.timeout_ms,
    };
    static const smg_upstream_cbs_t cbs = {probe_head_cb, probe_body_cb, probe_done_cb};
    w->probe_in_flight = true;
    h->in_flight++;
    if (!smg_upstream_send(pool, &req, &cbs, p)) {
        w->probe_in_flight = false;
        h->in_flight--;
        probe_free(p);
    }
}

static void tick_cb(uv_timer_t *t) {
    smg_health_t *h = t->data;
    if (h->stopping)
        return;
    uint64_t now = smg_now_ms();
    smg_fleet_snap_t *s = smg_fleet_snapshot_ref(h->fleet);
    for (size_t i = 0; i < s->nworkers; i++) {
        smg_worker_t *w = s->workers[i];
        int st = smg_worker_state(w);
        if (st == SMG_WORKER_DRAINING || w->probe_in_flight || now < w->next_probe_ms)
            continue;
        if (h->cfg.disabled) {
            /* no probes: routable at once; models are discovered in the
             * background (a worker without a list serves any model) */
            if (st != SMG_WORKER_READY)
                set_state(w, SMG_WORKER_READY, "health checks disabled");
            if (!atomic_load(&w->models_known)) {
                w->next_probe_ms = now + 1000;
                start_probe(h, w, PROBE_MODELS);
            }
            continue;
        }
        uint64_t every = h->cfg.interval_ms;
        if (st == SMG_WORKER_PENDING && every > SMG_HEALTH_PENDING_MS)
            every = SMG_HEALTH_PENDING_MS;
        w->next_probe_ms = now + every;
        start_probe(h, w, PROBE_HEALTH);
    }
    smg_fleet_snapshot_unref(s);
}

smg_health_t *smg_health_start(smg_loop_t *control, smg_fleet_t *fleet,
                               const smg_health_config_t *cfg) {
    smg_health_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->loop = control;
    h->fleet = fleet;
    h->cfg = *cfg;
    h->endpoint = strdup(cfg->endpoint && cfg->endpoint[0] ? cfg->endpoint : "/health");
    h->cfg.endpoint = h->endpoint;
    if (h->cfg.failure_threshold < 1)
        h->cfg.failure_threshold = 1;
    if (h->cfg.success_threshold < 1)
        h->cfg.success_threshold = 1;
    if (!h->endpoint || uv_timer_init(smg_loop_uv(control), &h->timer) != 0) {
        free(h->endpoint);
        free(h);
        return NULL;
    }
    h->timer.data = h;
    uv_timer_start(&h->timer, tick_cb, 0, 100);
    return h;
}

void smg_health_kick(smg_health_t *h) {
    tick_cb(&h->timer);
}

static void timer_closed_cb(uv_handle_t *hd) {
    smg_health_t *h = hd->data;
    h->timer_closed = true;
    maybe_free(h);
}

void smg_health_stop(smg_health_t *h) {
    if (!h)
        return;
    h->stopping = true;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, timer_closed_cb);
}

uint64_t smg_health_probes_total(const smg_health_t *h, bool ok) {
    return ok ? atomic_load(&((smg_health_t *)h)->probes_ok)
              : atomic_load(&((smg_health_t *)h)->probes_fail);
}
