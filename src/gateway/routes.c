/* The route table: method + path → handler (DESIGN.md §1). */
#include <string.h>

#include "gateway/gw.h"

#define PROXY(m, p, idp, fl)                                                                       \
    {.method = m, .path = p, .kind = SMG_ROUTE_PROXY, .flavor = fl, .id_prefix = idp,              \
     .needs_json = true}
#define LOCAL(m, p, f)                                                                             \
    {.method = m, .path = p, .kind = SMG_ROUTE_LOCAL, .id_prefix = "req-", .fn = f}
#define ADMIN(m, p, pre, f, json)                                                                  \
    {.method = m, .path = p, .prefix = pre, .kind = SMG_ROUTE_ADMIN, .id_prefix = "req-",          \
     .needs_json = json, .fn = f}

static const smg_route_t routes[] = {
    PROXY("POST", "/v1/chat/completions", "chatcmpl-", SMG_API_OPENAI),
    PROXY("POST", "/v1/completions", "cmpl-", SMG_API_OPENAI),
    PROXY("POST", "/v1/embeddings", "embd-", SMG_API_OPENAI),
    PROXY("POST", "/v1/rerank", "rerank-", SMG_API_OPENAI),
    PROXY("POST", "/rerank", "rerank-", SMG_API_OPENAI),
    PROXY("POST", "/v1/classify", "classify-", SMG_API_OPENAI),
    PROXY("POST", "/generate", "gnt-", SMG_API_OPENAI),
    PROXY("POST", "/v1/responses", "resp-", SMG_API_OPENAI),
    PROXY("POST", "/v1/messages", "msg_", SMG_API_ANTHROPIC),
    PROXY("POST", "/v1/tokenize", "tok-", SMG_API_OPENAI),
    PROXY("POST", "/v1/detokenize", "detok-", SMG_API_OPENAI),
    {.method = "GET", .path = "/health_generate", .kind = SMG_ROUTE_PROXY, .id_prefix = "req-"},
    LOCAL("GET", "/v1/models", smg_gw_models),
    LOCAL("GET", "/health", smg_gw_liveness),
    LOCAL("GET", "/liveness", smg_gw_liveness),
    LOCAL("GET", "/readiness", smg_gw_readiness),
    ADMIN("POST", "/workers", false, smg_gw_workers_post, true),
    ADMIN("GET", "/workers", false, smg_gw_workers_list, false),
    ADMIN("GET", "/workers/", true, smg_gw_worker_get, false),
    ADMIN("DELETE", "/workers/", true, smg_gw_worker_delete, false),
    ADMIN("GET", "/get_loads", false, smg_gw_get_loads, false),
};

const smg_route_t *smg_gw_route(smg_str_t method, smg_str_t path, smg_str_t *tail, int *status,
                                const char **allow) {
    static _Thread_local char allow_buf[64];
    const smg_route_t *found = NULL;
    bool path_known = false;
    size_t alen = 0;
    allow_buf[0] = '\0';
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const smg_route_t *r = &routes[i];
        smg_str_t rp = smg_str_c(r->path);
        smg_str_t t = SMG_STR_NULL;
        bool match;
        if (r->prefix) {
            match = path.len > rp.len && smg_str_starts_with(path, rp) &&
                    memchr(path.ptr + rp.len, '/', path.len - rp.len) == NULL;
            if (match)
                t = smg_str(path.ptr + rp.len, path.len - rp.len);
        } else {
            match = smg_str_eq(path, rp);
        }
        if (!match)
            continue;
        if (smg_str_eq_c(method, r->method) ||
            (smg_str_eq_c(method, "HEAD") && strcmp(r->method, "GET") == 0 &&
             r->kind == SMG_ROUTE_LOCAL)) {
            if (!found) {
                found = r;
                *tail = t;
            }
        } else {
            path_known = true;
            size_t ml = strlen(r->method);
            if (!strstr(allow_buf, r->method) && alen + ml + 3 < sizeof allow_buf) {
                if (alen) {
                    memcpy(allow_buf + alen, ", ", 2);
                    alen += 2;
                }
                memcpy(allow_buf + alen, r->method, ml + 1);
                alen += ml;
            }
        }
    }
    if (found)
        return found;
    *status = path_known ? 405 : 404;
    *allow = allow_buf;
    return NULL;
}
