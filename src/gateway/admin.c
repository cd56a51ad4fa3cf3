/* Local routes: model list, liveness/readiness, and the admin API. Admin
 * work runs on the control thread (the only writer of the registry and the
 * only reader of mutable worker fields such as the model list); the answer
 * is posted back to the request's loop thread. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/time.h"
#include "gateway/gw.h"

void smg_gw_liveness(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail) {
    smg_gw_json(req, 200, NULL, SMG_STR("{\"status\":\"ok\"}"));
}

void smg_gw_readiness(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail) {
    if (atomic_load(&gw->draining)) {
        smg_gw_json(req, 503, NULL, SMG_STR("{\"status\":\"not_ready\",\"reason\":\"draining\"}"));
        return;
    }
    const smg_fleet_snap_t *s = smg_fleet_snapshot(gw->fleet);
    size_t ready = smg_fleet_ready_count(s);
    char body[160];
    if (ready == 0) {
        snprintf(body, sizeof body,
                 "{\"status\":\"not_ready\",\"reason\":\"insufficient healthy workers\","
                 "\"ready_workers\":0,\"total_workers\":%zu}",
                 s->nworkers);
        smg_gw_json(req, 503, NULL, smg_str_c(body));
        return;
    }
    snprintf(body, sizeof body, "{\"status\":\"ready\",\"ready_workers\":%zu,\"total_workers\":%zu}",
             ready, s->nworkers);
    smg_gw_json(req, 200, NULL, smg_str_c(body));
}

void smg_gw_models(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail) {
    const smg_fleet_snap_t *s = smg_fleet_snapshot(gw->fleet);
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = smg_buf_append_c(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; !rc && i < s->ngroups; i++) {
        rc = smg_buf_append_c(&b, i ? ",{\"id\":\"" : "{\"id\":\"");
        rc = rc ? rc : smg_buf_append_json_escaped(&b, smg_str_c(s->groups[i].model));
        rc = rc ? rc
                : smg_buf_appendf(&b, "\",\"object\":\"model\",\"created\":%llu,\"owned_by\":\"smg\"}",
                                  (unsigned long long)gw->started_wall_s);
    }
    rc = rc ? rc : smg_buf_append_c(&b, "]}");
    if (rc)
        smg_gw_error(req, SMG_API_OPENAI, 503, "overloaded", NULL, NULL, "out of memory");
    else
        smg_gw_json(req, 200, NULL, smg_buf_str(&b));
    smg_buf_free(&b);
}

/* ---- admin jobs: control thread, then back to the request's loop -------- */

typedef struct admin_job_s admin_job_t;
typedef void (*admin_fn)(admin_job_t *job);
struct admin_job_s {
    smg_gw_t *gw;
    smg_http_req_t *req;
    smg_str_t tail;
    admin_fn fn;
    int status;
    smg_buf_t out;
};

static void job_reply_cb(void *arg) {
    admin_job_t *job = arg;
    smg_gw_json(job->req, job->status, NULL, smg_buf_str(&job->out));
    smg_buf_free(&job->out);
    free(job);
}

static void job_run_cb(void *arg) {
    admin_job_t *job = arg;
    job->fn(job);
    if (smg_loop_post(job->req->loop, job_reply_cb, job) != SMG_OK) {
        /* the request's loop is gone (shutdown): nothing can answer */
        smg_buf_free(&job->out);
        free(job);
    }
}

static void run_admin(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail, admin_fn fn) {
    admin_job_t *job = calloc(1, sizeof *job);
    if (!job) {
        smg_gw_error(req, SMG_API_OPENAI, 503, "overloaded", NULL, NULL, "out of memory");
        return;
    }
    *job = (admin_job_t){.gw = gw, .req = req, .tail = tail, .fn = fn, .status = 500};
    smg_buf_init(&job->out, 0);
    if (smg_loop_post(&gw->control, job_run_cb, job) != SMG_OK) {
        free(job);
        smg_gw_error(req, SMG_API_OPENAI, 503, "shutting_down", NULL, NULL,
                     "the gateway is shutting down");
    }
}

static void job_error(admin_job_t *job, int status, const char *code, const char *msg) {
    job->status = status;
    smg_buf_reset(&job->out);
    if (smg_api_error_body(&job->out, SMG_API_OPENAI, status, code, NULL, msg) != SMG_OK)
        job->status = 500;
}

static int append_json_str(smg_buf_t *b, const char *s) {
    return smg_buf_append_json_string(b, smg_str_c(s));
}

/* Control thread: the worker as JSON. */
static int worker_json(smg_buf_t *b, const smg_worker_t *w) {
    int st = smg_worker_state(w);
    int rc = smg_buf_append_c(b, "{\"id\":");
    rc = rc ? rc : append_json_str(b, w->id);
    rc = rc ? rc : smg_buf_append_c(b, ",\"url\":");
    rc = rc ? rc : append_json_str(b, w->url);
    rc = rc ? rc : smg_buf_append_c(b, ",\"models\":[");
    for (size_t i = 0; !rc && i < w->nmodels; i++) {
        rc = i ? smg_buf_append_byte(b, ',') : SMG_OK;
        rc = rc ? rc : append_json_str(b, w->models[i]);
    }
    rc = rc ? rc
            : smg_buf_appendf(
                  b,
                  "],\"models_discovered\":%s,\"worker_type\":\"regular\",\"connection_mode\":"
                  "\"http\",\"status\":\"%s\",\"is_healthy\":%s,\"in_flight\":%lld,\"load\":%lld,"
                  "\"total_requests\":%llu,\"total_errors\":%llu,\"total_selected\":%llu,"
                  "\"has_api_key\":%s,\"labels\":%s}",
                  atomic_load(&w->models_known) ? "true" : "false", smg_worker_state_name(st),
                  st == SMG_WORKER_READY ? "true" : "false",
                  (long long)atomic_load(&w->in_flight), (long long)atomic_load(&w->in_flight),
                  (unsigned long long)atomic_load(&w->requests),
                  (unsigned long long)atomic_load(&w->errors),
                  (unsigned long long)atomic_load(&w->selected), w->api_key ? "true" : "false",
                  w->labels_json);
    return rc;
}

static void workers_post_job(admin_job_t *job) {
    smg_gw_t *gw = job->gw;
    json_error_t jerr;
    json_t *root = json_loadb(job->req->body.ptr, job->req->body.len, 0, &jerr);
    if (!root) {
        char msg[300];
        snprintf(msg, sizeof msg, "invalid JSON body: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        job_error(job, 400, "invalid_json", msg);
        return;
    }
    json_t *url = json_object_get(root, "url");
    json_t *models = json_object_get(root, "models");
    json_t *key = json_object_get(root, "api_key");
    json_t *labels = json_object_get(root, "labels");
    const char *bad = NULL;
    if (!json_is_object(root))
        bad = "body must be a JSON object";
    else if (!json_is_string(url))
        bad = "'url' is required and must be a string";
    else if (models && !json_is_null(models) && !json_is_array(models) && !json_is_string(models))
        bad = "'models' must be an array of strings";
    else if (key && !json_is_null(key) && !json_is_string(key))
        bad = "'api_key' must be a string";
    else if (labels && !json_is_null(labels) && !json_is_object(labels))
        bad = "'labels' must be an object";
    size_t nm = json_is_array(models) ? json_array_size(models) : (json_is_string(models) ? 1 : 0);
    for (size_t i = 0; !bad && json_is_array(models) && i < nm; i++) {
        json_t *m = json_array_get(models, i);
        if (!json_is_string(m) || json_string_length(m) == 0 || json_string_length(m) > 256)
            bad = "'models' must be an array of non-empty strings (at most 256 bytes)";
    }
    if (!bad && nm > 1024)
        bad = "'models' has more than 1024 entries";
    if (bad) {
        job_error(job, 400, "invalid_request", bad);
        json_decref(root);
        return;
    }
    char err[300];
    smg_worker_t *w = smg_worker_new(json_string_value(url), err, sizeof err);
    if (!w) {
        job_error(job, 400, "invalid_worker_url", err);
        json_decref(root);
        return;
    }
    int rc = SMG_OK;
    if (nm) {
        const char **ids = calloc(nm, sizeof *ids);
        if (!ids)
            rc = SMG_ENOMEM;
        for (size_t i = 0; ids && i < nm; i++)
            ids[i] = json_is_string(models) ? json_string_value(models)
                                            : json_string_value(json_array_get(models, i));
        rc = rc ? rc : smg_worker_set_models(w, ids, nm);
        free(ids);
        w->models_fixed = true;
        atomic_store(&w->models_known, true);
    }
    if (!rc && json_is_string(key) && json_string_length(key)) {
        w->api_key = strdup(json_string_value(key));
        if (!w->api_key)
            rc = SMG_ENOMEM;
    }
    if (!rc && json_is_object(labels)) {
        char *lj = json_dumps(labels, JSON_COMPACT);
        if (lj) {
            free(w->labels_json);
            w->labels_json = lj;
        } else {
            rc = SMG_ENOMEM;
        }
    }
    json_decref(root);
    if (!rc)
        rc = smg_fleet_add(gw->fleet, w);
    if (rc == SMG_EEXIST) {
        job_error(job, 409, "worker_exists", "a worker with this url is already registered");
        smg_worker_unref(w);
        return;
    }
    if (rc) {
        job_error(job, 503, "overloaded", "out of memory");
        smg_worker_unref(w);
        return;
    }
    SMG_INFO("worker %s added: %s", w->id, w->url);
    if (gw->health)
        smg_health_kick(gw->health);
    job->status = 202;
    int wr = smg_buf_append_c(&job->out, "{\"status\":\"accepted\",\"worker_id\":");
    wr = wr ? wr : append_json_str(&job->out, w->id);
    wr = wr ? wr : smg_buf_append_c(&job->out, ",\"url\":");
    wr = wr ? wr : append_json_str(&job->out, w->url);
    wr = wr ? wr : smg_buf_appendf(&job->out, ",\"location\":\"/workers/%s\",\"message\":", w->id);
    wr = wr ? wr
            : append_json_str(&job->out, "worker registered; it takes traffic once its health "
                                         "checks pass");
    wr = wr ? wr : smg_buf_append_byte(&job->out, '}');
    if (wr)
        job_error(job, 500, "internal", "out of memory");
}

static void workers_list_job(admin_job_t *job) {
    smg_fleet_snap_t *s = smg_fleet_snapshot_ref(job->gw->fleet);
    size_t counts[5] = {0};
    int rc = smg_buf_append_c(&job->out, "{\"workers\":[");
    for (size_t i = 0; !rc && i < s->nworkers; i++) {
        rc = i ? smg_buf_append_byte(&job->out, ',') : SMG_OK;
        rc = rc ? rc : worker_json(&job->out, s->workers[i]);
        int st = smg_worker_state(s->workers[i]);
        if (st >= 0 && st < 5)
            counts[st]++;
    }
    rc = rc ? rc
            : smg_buf_appendf(&job->out,
                              "],\"total\":%zu,\"stats\":{\"regular_count\":%zu,\"pending\":%zu,"
                              "\"ready\":%zu,\"not_ready\":%zu,\"failed\":%zu,\"draining\":%zu},"
                              "\"policy\":\"%s\"}",
                              s->nworkers, s->nworkers, counts[0], counts[1], counts[2], counts[3],
                              counts[4], smg_fleet_policy_name(job->gw->fleet));
    smg_fleet_snapshot_unref(s);
    job->status = rc ? 500 : 200;
}

static void worker_get_job(admin_job_t *job) {
    smg_worker_t *w = smg_fleet_find(job->gw->fleet, job->tail);
    if (!w) {
        job_error(job, 404, "worker_not_found", "no worker with this id");
        return;
    }
    job->status = worker_json(&job->out, w) ? 500 : 200;
    smg_worker_unref(w);
}

static void worker_delete_job(admin_job_t *job) {
    smg_worker_t *w = smg_fleet_find(job->gw->fleet, job->tail);
    if (!w) {
        job_error(job, 404, "worker_not_found", "no worker with this id");
        return;
    }
    job->status = 202;
    int rc = smg_buf_append_c(&job->out, "{\"status\":\"accepted\",\"worker_id\":");
    rc = rc ? rc : append_json_str(&job->out, w->id);
    rc = rc ? rc : smg_buf_append_c(&job->out, ",\"url\":");
    rc = rc ? rc : append_json_str(&job->out, w->url);
    rc = rc ? rc
            : smg_buf_append_c(&job->out, ",\"message\":\"draining: the worker takes no new "
                                          "requests and is removed when its in-flight requests "
                                          "end\"}");
    if (rc)
        job->status = 500;
    smg_gw_remove_worker(job->gw, w);
    smg_worker_unref(w);
}

static void get_loads_job(admin_job_t *job) {
    smg_fleet_snap_t *s = smg_fleet_snapshot_ref(job->gw->fleet);
    int rc = smg_buf_append_c(&job->out, "{\"workers\":[");
    for (size_t i = 0; !rc && i < s->nworkers; i++) {
        smg_worker_t *w = s->workers[i];
        rc = i ? smg_buf_append_byte(&job->out, ',') : SMG_OK;
        rc = rc ? rc : smg_buf_append_c(&job->out, "{\"worker\":");
        rc = rc ? rc : append_json_str(&job->out, w->url);
        rc = rc ? rc : smg_buf_append_c(&job->out, ",\"worker_id\":");
        rc = rc ? rc : append_json_str(&job->out, w->id);
        rc = rc ? rc
                : smg_buf_appendf(&job->out, ",\"load\":%lld,\"status\":\"%s\"}",
                                  (long long)atomic_load(&w->in_flight),
                                  smg_worker_state_name(smg_worker_state(w)));
    }
    rc = rc ? rc : smg_buf_append_c(&job->out, "]}");
    smg_fleet_snapshot_unref(s);
    job->status = rc ? 500 : 200;
}

void smg_gw_workers_post(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail) {
    run_admin(gw, req, tail, workers_post_job);
}
void smg_gw_workers_list(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail) {
    run_admin(gw, req, tail, workers_list_job);
}
void smg_gw_worker_get(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail) {
    run_admin(gw, req, tail, worker_get_job);
}
void smg_gw_worker_delete(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail) {
    run_admin(gw, req, tail, worker_delete_job);
}
void smg_gw_get_loads(smg_gw_t *gw, smg_http_req_t *req, smg_str_t tail) {
    run_admin(gw, req, tail, get_loads_job);
}
