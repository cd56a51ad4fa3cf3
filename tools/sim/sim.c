/* smg-sim: routing, knobs, stats, health and admin routes. */
#include "sim.h"

#include <http_parser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"

static const struct {
    const char *method, *path;
} routes[] = {
#define SIM_ROUTE_ROW(name, method, path) {method, path},
    SIM_ROUTES(SIM_ROUTE_ROW)
#undef SIM_ROUTE_ROW
};

void sim_init(sim_t *s, const char *model) {
    memset(s, 0, sizeof *s);
    s->model = strdup(model);
    atomic_init(&s->fail_status, 500);
    atomic_init(&s->health_status, 200);
    atomic_init(&s->embedding_dim, 8);
    pthread_mutex_init(&s->last_mu, NULL);
    s->last_headers = strdup("{}");
    if (!s->model || !s->last_headers) {
        fprintf(stderr, "smg-sim: out of memory\n");
        exit(1);
    }
}

void sim_free(sim_t *s) {
    free(s->model);
    free(s->last_headers);
    pthread_mutex_destroy(&s->last_mu);
}

static bool name_is(const char *name, const char *want) {
    for (; *name && *want; name++, want++) {
        char a = *name == '-' ? '_' : *name;
        if (a != *want)
            return false;
    }
    return *name == 0 && *want == 0;
}

bool sim_set_knob(sim_t *s, const char *name, double v) {
    if (isnan(v))
        return false;
    if (name_is(name, "ttft_ms") && v >= 0 && v <= 3600000)
        atomic_store(&s->ttft_ms, (int)v);
    else if (name_is(name, "itl_ms") && v >= 0 && v <= 3600000)
        atomic_store(&s->itl_ms, (int)v);
    else if (name_is(name, "fail_rate") && v >= 0 && v <= 1)
        atomic_store(&s->fail_ppm, (unsigned)(v * 1000000.0 + 0.5));
    else if (name_is(name, "fail_status") && v >= 100 && v <= 599)
        atomic_store(&s->fail_status, (int)v);
    else if (name_is(name, "hang") && (v == 0 || v == 1))
        atomic_store(&s->hang, v != 0);
    else if (name_is(name, "die_after") && v >= 0 && v <= 1e12)
        atomic_store(&s->die_after, (long)v);
    else if (name_is(name, "health_status") && v >= 100 && v <= 599)
        atomic_store(&s->health_status, (int)v);
    else if (name_is(name, "response_bytes") && v >= 0 && v <= 64.0 * 1024 * 1024)
        atomic_store(&s->response_bytes, (long)v);
    else if ((name_is(name, "embedding_dim") || name_is(name, "dimension")) && v >= 1 &&
             v <= 65536)
        atomic_store(&s->embedding_dim, (int)v);
    else
        return false;
    return true;
}

void sim_headers(sim_headers_t *hs, const smg_http_req_t *req, const char *content_type) {
    hs->n = 0;
    hs->h[hs->n++] = (smg_http_header_t){SMG_STR("Content-Type"), smg_str_c(content_type)};
    smg_str_t id = smg_http_header_get(req->headers, req->nheaders, SMG_STR("x-request-id"));
    if (id.ptr) {
        size_t n = id.len < sizeof hs->reqid ? id.len : sizeof hs->reqid - 1;
        memcpy(hs->reqid, id.ptr, n);
        hs->reqid[n] = 0;
        hs->h[hs->n++] = (smg_http_header_t){SMG_STR("x-request-id"), smg_str(hs->reqid, n)};
    }
}

static void respond_json(smg_http_req_t *req, int status, smg_str_t body) {
    sim_headers_t hs;
    sim_headers(&hs, req, "application/json");
    (void)smg_http_respond(req, status, hs.h, hs.n, body);
}

void sim_error(smg_http_req_t *req, int status, const char *msg, const char *type, bool anthropic) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc;
    if (anthropic) {
        rc = smg_buf_appendf(&b, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"",
                             status == 404 ? "not_found_error"
                             : status >= 500 ? "api_error"
                                             : "invalid_request_error");
        if (!rc)
            rc = smg_buf_append_json_escaped(&b, smg_str_c(msg));
        if (!rc)
            rc = smg_buf_append_c(&b, "\"}}");
    } else {
        rc = smg_http_error_json(&b, smg_str_c(msg), type, status);
    }
    respond_json(req, status, rc ? SMG_STR("{}") : smg_buf_str(&b));
    smg_buf_free(&b);
}

static void record_headers(sim_t *s, const smg_http_req_t *req) {
    smg_buf_t b;
    smg_buf_init(&b, 256 * 1024);
    int rc = smg_buf_append_byte(&b, '{');
    for (size_t i = 0; i < req->nheaders && !rc; i++) {
        rc = smg_buf_appendf(&b, "%s\"", i ? "," : "");
        /* names lower-cased for easy lookup by tests */
        for (size_t k = 0; k < req->headers[i].name.len && !rc; k++) {
            char ch = req->headers[i].name.ptr[k];
            rc = smg_buf_append_byte(&b, (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch);
        }
        if (!rc)
            rc = smg_buf_append_c(&b, "\":\"");
        if (!rc)
            rc = smg_buf_append_json_escaped(&b, req->headers[i].value);
        if (!rc)
            rc = smg_buf_append_byte(&b, '"');
    }
    if (!rc)
        rc = smg_buf_append_byte(&b, '}');
    if (rc) {
        smg_buf_free(&b);
        return;
    }
    char *text = smg_buf_detach(&b);
    pthread_mutex_lock(&s->last_mu);
    char *old = s->last_headers;
    s->last_headers = text;
    pthread_mutex_unlock(&s->last_mu);
    free(old);
}

static void route_stats(sim_t *s, smg_http_req_t *req) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = smg_buf_appendf(&b,
                             "{\"requests\":%ld,\"aborted\":%ld,\"in_flight\":%ld,\"completed\":%ld,"
                             "\"by_path\":{",
                             atomic_load(&s->requests), atomic_load(&s->aborted),
                             atomic_load(&s->in_flight), atomic_load(&s->completed));
    bool first = true;
    for (int i = 0; i < SIM_R_COUNT && !rc; i++) {
        long n = atomic_load(&s->by_path[i]);
        if (!n)
            continue;
        rc = smg_buf_appendf(&b, "%s\"%s\":%ld", first ? "" : ",",
                             i == SIM_R_OTHER ? "other" : routes[i].path, n);
        first = false;
    }
    if (!rc)
        rc = smg_buf_append_c(&b, "}}");
    respond_json(req, 200, smg_buf_str(&b));
    smg_buf_free(&b);
}

static void route_last_headers(sim_t *s, smg_http_req_t *req) {
    pthread_mutex_lock(&s->last_mu);
    char *copy = strdup(s->last_headers);
    pthread_mutex_unlock(&s->last_mu);
    respond_json(req, 200, copy ? smg_str_c(copy) : SMG_STR("{}"));
    free(copy);
}

static void knobs_json(sim_t *s, smg_buf_t *b) {
    int rc = smg_buf_appendf(
        b,
        "{\"ttft_ms\":%d,\"itl_ms\":%d,\"fail_rate\":%g,\"fail_status\":%d,\"hang\":%s,"
        "\"die_after\":%ld,\"health_status\":%d,\"response_bytes\":%ld,\"embedding_dim\":%d}",
        atomic_load(&s->ttft_ms), atomic_load(&s->itl_ms), atomic_load(&s->fail_ppm) / 1e6,
        atomic_load(&s->fail_status), atomic_load(&s->hang) ? "true" : "false",
        atomic_load(&s->die_after), atomic_load(&s->health_status),
        atomic_load(&s->response_bytes), atomic_load(&s->embedding_dim));
    (void)rc;
}

static void route_control(sim_t *s, smg_http_req_t *req, json_t *root) {
    if (!json_is_object(root)) {
        sim_error(req, 400, "control body must be a JSON object", "invalid_request_error", false);
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "reset_stats") == 0) {
            if (json_is_true(v)) {
                atomic_store(&s->requests, 0);
                atomic_store(&s->aborted, 0);
                atomic_store(&s->completed, 0);
                for (int i = 0; i < SIM_R_COUNT; i++)
                    atomic_store(&s->by_path[i], 0);
            }
            continue;
        }
        double d;
        if (json_is_boolean(v))
            d = json_is_true(v) ? 1 : 0;
        else if (json_is_number(v))
            d = json_number_value(v);
        else
            d = NAN;
        if (!sim_set_knob(s, key, d)) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown knob or value out of range: %s", key);
            sim_error(req, 400, msg, "invalid_request_error", false);
            return;
        }
    }
    smg_buf_t b;
    smg_buf_init(&b, 0);
    knobs_json(s, &b);
    respond_json(req, 200, smg_buf_str(&b));
    smg_buf_free(&b);
}

static void route_simple(sim_t *s, smg_http_req_t *req, sim_route_t r) {
    char body[512];
    int n = 0;
    switch (r) {
    case SIM_R_HEALTH:
    case SIM_R_HEALTH_GENERATE: {
        int st = atomic_load(&s->health_status);
        n = snprintf(body, sizeof body, "{\"status\":\"%s\"}", st == 200 ? "OK" : "unhealthy");
        respond_json(req, st, smg_str(body, (size_t)n));
        return;
    }
    case SIM_R_GET_LOAD: {
        long f = atomic_load(&s->in_flight);
        n = snprintf(body, sizeof body, "{\"load\":%ld,\"in_flight\":%ld}", f, f);
        break;
    }
    case SIM_R_LOADS: {
        long f = atomic_load(&s->in_flight);
        n = snprintf(body, sizeof body,
                     "{\"in_flight\":%ld,\"loads\":[{\"dp_rank\":0,\"num_reqs\":%ld,"
                     "\"num_waiting_reqs\":0}]}",
                     f, f);
        break;
    }
    default:
        break;
    }
    respond_json(req, 200, smg_str(body, (size_t)n));
}

static void route_models(sim_t *s, smg_http_req_t *req) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = smg_buf_append_c(&b, "{\"object\":\"list\",\"data\":[{\"id\":\"");
    if (!rc)
        rc = smg_buf_append_json_escaped(&b, smg_str_c(s->model));
    if (!rc)
        rc = smg_buf_appendf(&b,
                             "\",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"smg-sim\","
                             "\"root\":\"",
                             (long)time(NULL));
    if (!rc)
        rc = smg_buf_append_json_escaped(&b, smg_str_c(s->model));
    if (!rc)
        rc = smg_buf_append_c(&b, "\"}]}");
    respond_json(req, 200, smg_buf_str(&b));
    smg_buf_free(&b);
}

static sim_route_t find_route(const smg_http_req_t *req, bool *wrong_method) {
    *wrong_method = false;
    for (int i = 0; i < SIM_R_OTHER; i++) {
        if (smg_str_eq_c(req->path, routes[i].path)) {
            if (smg_str_eq_c(req->method, routes[i].method) ||
                (req->method_id == HTTP_HEAD && routes[i].method[0] == 'G'))
                return (sim_route_t)i;
            *wrong_method = true;
        }
    }
    return SIM_R_OTHER;
}

void sim_handle(smg_http_req_t *req, void *ctx) {
    sim_t *s = ctx;
    atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
    bool wrong_method;
    sim_route_t r = find_route(req, &wrong_method);
    atomic_fetch_add_explicit(&s->by_path[r], 1, memory_order_relaxed);
    /* Monitoring routes (health checks, load polls, stats) would overwrite
     * the request a test wants to inspect: only the others are recorded. */
    if (r != SIM_R_STATS && r != SIM_R_LAST_HEADERS && r != SIM_R_HEALTH &&
        r != SIM_R_HEALTH_GENERATE && r != SIM_R_GET_LOAD && r != SIM_R_LOADS)
        record_headers(s, req);
    if (r == SIM_R_OTHER) {
        if (wrong_method)
            sim_error(req, 405, "method not allowed", "invalid_request_error", false);
        else
            sim_error(req, 404, "no such route", "invalid_request_error", false);
        return;
    }
    switch (r) {
    case SIM_R_HEALTH:
    case SIM_R_HEALTH_GENERATE:
    case SIM_R_GET_LOAD:
    case SIM_R_LOADS:
        route_simple(s, req, r);
        return;
    case SIM_R_MODELS:
        route_models(s, req);
        return;
    case SIM_R_STATS:
        route_stats(s, req);
        return;
    case SIM_R_LAST_HEADERS:
        route_last_headers(s, req);
        return;
    default:
        break;
    }
    bool anthropic = r == SIM_R_MESSAGES;
    json_error_t jerr;
    json_t *root = json_loadb(req->body.ptr ? req->body.ptr : "", req->body.len, 0, &jerr);
    if (!root) {
        char msg[256];
        snprintf(msg, sizeof msg, "invalid JSON body: %s (line %d column %d)", jerr.text,
                 jerr.line, jerr.column);
        sim_error(req, 400, msg, "invalid_request_error", anthropic);
        return;
    }
    if (r == SIM_R_CONTROL) {
        route_control(s, req, root);
    } else if (!json_is_object(root)) {
        sim_error(req, 400, "request body must be a JSON object", "invalid_request_error",
                  anthropic);
    } else {
        sim_infer(s, req, r, root);
    }
    json_decref(root);
}
