/* Small pieces of the request path: error and JSON responses, request ids,
 * API-key checks, the access log. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/time.h"
#include "gateway/gw.h"
#include "gateway/observe.h"

/* Every response the gateway makes itself goes through here: count it at
 * the edge (the proxied ones are counted by the proxy), then send it. */
static void respond_json(smg_http_req_t *req, int status, const char *reqid, smg_str_t body,
                         const char *code) {
    smg_str_t tail;
    int st;
    const char *allow;
    const smg_route_t *r = smg_gw_route(req->method, req->path, &tail, &st, &allow);
    smg_gw_observe_http(req->method, r, status, smg_str_c(code ? code : ""), req->start_ns);
    smg_http_header_t h[3] = {
        {SMG_STR("Content-Type"), SMG_STR("application/json")},
        {SMG_STR("x-request-id"), smg_str_c(reqid ? reqid : "")},
        {SMG_STR("X-SMG-Error-Code"), smg_str_c(code ? code : "")},
    };
    size_t nh = 1;
    if (reqid)
        h[nh++] = h[1];
    if (code)
        h[nh++] = h[2];
    (void)smg_http_respond(req, status, h, nh, body);
}

void smg_gw_json(smg_http_req_t *req, int status, const char *reqid, smg_str_t body) {
    respond_json(req, status, reqid, body, NULL);
}

void smg_gw_error(smg_http_req_t *req, smg_api_flavor_t flavor, int status, const char *code,
                  const char *param, const char *reqid, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    smg_buf_t b;
    smg_buf_init(&b, 0);
    if (smg_api_error_body(&b, flavor, status, code, param, msg) != SMG_OK) {
        smg_buf_free(&b);
        (void)smg_http_respond(req, 500, NULL, 0, SMG_STR_NULL);
        return;
    }
    respond_json(req, status, reqid, smg_buf_str(&b), code);
    smg_buf_free(&b);
}

static bool id_char_ok(unsigned char c) {
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

void smg_gw_request_id(const smg_gw_t *gw, const smg_http_req_t *req, const char *prefix,
                       char *out) {
    for (size_t i = 0; i < gw->cfg.nrequest_id_headers; i++) {
        smg_str_t v = smg_http_header_get(req->headers, req->nheaders,
                                          smg_str_c(gw->cfg.request_id_headers[i]));
        if (!v.ptr || v.len == 0 || v.len > 128)
            continue;
        bool ok = true;
        for (size_t k = 0; k < v.len && ok; k++)
            ok = id_char_ok((unsigned char)v.ptr[k]);
        if (!ok)
            continue;
        memcpy(out, v.ptr, v.len);
        out[v.len] = '\0';
        return;
    }
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t pl = strlen(prefix);
    if (pl > 32)
        pl = 32;
    memcpy(out, prefix, pl);
    uint64_t r1 = smg_rand64(), r2 = smg_rand64(), r3 = smg_rand64();
    for (int i = 0; i < 24; i++) {
        uint64_t *r = i < 8 ? &r1 : (i < 16 ? &r2 : &r3);
        out[pl + (size_t)i] = alnum[*r % 62];
        *r /= 62;
    }
    out[pl + 24] = '\0';
}

bool smg_gw_auth_ok(const smg_http_req_t *req, const char *key) {
    if (!key || !key[0])
        return true;
    smg_str_t v = smg_http_header_get(req->headers, req->nheaders, SMG_STR("authorization"));
    if (!v.ptr)
        v = smg_http_header_get(req->headers, req->nheaders, SMG_STR("x-api-key"));
    else if (v.len >= 7 && smg_str_eq_nocase(smg_str(v.ptr, 7), SMG_STR("Bearer ")))
        v = smg_str_trim(smg_str(v.ptr + 7, v.len - 7));
    else
        return false;
    if (!v.ptr)
        return false;
    /* constant time in the presented length and the key length */
    size_t klen = strlen(key);
    unsigned char diff = (unsigned char)(v.len != klen);
    for (size_t i = 0; i < v.len; i++)
        diff |= (unsigned char)v.ptr[i] ^ (unsigned char)key[i < klen ? i : 0];
    return diff == 0;
}

void smg_gw_access_log(const smg_access_t *a) {
    if (!smg_log_enabled(SMG_LOG_INFO))
        return;
    smg_buf_t b;
    smg_buf_init(&b, 8192);
    char ts[40];
    smg_wall_iso(ts, sizeof ts);
    int rc;
    if (smg__log_json) {
        rc = smg_buf_appendf(&b, "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"access\",\"request_id\":\"",
                             ts);
        rc = rc ? rc : smg_buf_append_json_escaped(&b, smg_str_c(a->reqid));
        rc = rc ? rc : smg_buf_append_c(&b, "\",\"method\":\"");
        rc = rc ? rc : smg_buf_append_json_escaped(&b, a->method);
        rc = rc ? rc : smg_buf_append_c(&b, "\",\"route\":\"");
        rc = rc ? rc : smg_buf_append_json_escaped(&b, a->path);
        rc = rc ? rc : smg_buf_append_c(&b, "\",\"model\":\"");
        rc = rc ? rc : smg_buf_append_json_escaped(&b, a->model);
        rc = rc ? rc : smg_buf_append_c(&b, "\",\"worker\":\"");
        rc = rc ? rc : smg_buf_append_json_escaped(&b, smg_str_c(a->worker ? a->worker : "-"));
        rc = rc ? rc
                : smg_buf_appendf(&b,
                                  "\",\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,"
                                  "\"duration_ms\":%.3f,\"ttfb_ms\":%.3f,\"attempts\":%d",
                                  a->status, (unsigned long long)a->bytes_in,
                                  (unsigned long long)a->bytes_out, (double)a->dur_ns / 1e6,
                                  (double)a->ttfb_ns / 1e6, a->attempts);
        if (!rc && a->error)
            rc = smg_buf_appendf(&b, ",\"error\":\"%s\"", a->error);
        rc = rc ? rc : smg_buf_append_byte(&b, '}');
    } else {
        /* the model name comes from the client: quoted and escaped, never raw */
        rc = smg_buf_appendf(&b, "%s info  access id=%s method=%.*s route=%.*s model=\"", ts,
                             a->reqid, SMG_STR_FMT(a->method), SMG_STR_FMT(a->path));
        rc = rc ? rc
                : smg_buf_append_json_escaped(
                      &b, smg_str(a->model.ptr, a->model.len > 200 ? 200 : a->model.len));
        rc = rc ? rc
                : smg_buf_appendf(&b,
                                  "\" worker=%s status=%d bytes_in=%llu bytes_out=%llu "
                                  "dur_ms=%.3f ttfb_ms=%.3f attempts=%d%s%s",
                                  a->worker ? a->worker : "-", a->status,
                                  (unsigned long long)a->bytes_in,
                                  (unsigned long long)a->bytes_out, (double)a->dur_ns / 1e6,
                                  (double)a->ttfb_ns / 1e6, a->attempts, a->error ? " error=" : "",
                                  a->error ? a->error : "");
    }
    if (!rc)
        smg_log_raw(b.ptr, b.len);
    smg_buf_free(&b);
}
