#include "fleet/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"

static void set_err(char *err, size_t errlen, const char *msg, const char *url) {
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", msg, url);
}

smg_worker_t *smg_worker_new(const char *url, char *err, size_t errlen) {
    smg_str_t u = smg_str_c(url);
    smg_str_t rest;
    if (smg_str_starts_with(u, SMG_STR("http://"))) {
        rest = smg_str(u.ptr + 7, u.len - 7);
    } else if (smg_str_starts_with(u, SMG_STR("https://")) ||
               smg_str_starts_with(u, SMG_STR("grpc://"))) {
        set_err(err, errlen, "only http:// workers are supported in this version", url);
        return NULL;
    } else {
        set_err(err, errlen, "worker url must start with http://", url);
        return NULL;
    }
    while (rest.len && rest.ptr[rest.len - 1] == '/')
        rest.len--;
    size_t slash = 0;
    while (slash < rest.len && rest.ptr[slash] != '/')
        slash++;
    smg_str_t hostport = smg_str(rest.ptr, slash);
    smg_str_t base = smg_str(rest.ptr + slash, rest.len - slash);
    smg_str_t host;
    smg_str_t port = SMG_STR_NULL;
    if (hostport.len && hostport.ptr[0] == '[') {
        size_t close = 1;
        while (close < hostport.len && hostport.ptr[close] != ']')
            close++;
        if (close >= hostport.len) {
            set_err(err, errlen, "unterminated IPv6 address in worker url", url);
            return NULL;
        }
        host = smg_str(hostport.ptr + 1, close - 1);
        if (close + 1 < hostport.len) {
            if (hostport.ptr[close + 1] != ':') {
                set_err(err, errlen, "bad worker url", url);
                return NULL;
            }
            port = smg_str(hostport.ptr + close + 2, hostport.len - close - 2);
        }
    } else {
        size_t colon = 0;
        while (colon < hostport.len && hostport.ptr[colon] != ':')
            colon++;
        host = smg_str(hostport.ptr, colon);
        if (colon < hostport.len)
            port = smg_str(hostport.ptr + colon + 1, hostport.len - colon - 1);
    }
    if (host.len == 0) {
        set_err(err, errlen, "worker url has no host", url);
        return NULL;
    }
    for (size_t i = 0; i < host.len; i++) {
        unsigned char c = (unsigned char)host.ptr[i];
        if (c <= ' ' || c == '@' || c == '?' || c == '#' || c >= 0x7f) {
            set_err(err, errlen, "bad host in worker url", url);
            return NULL;
        }
    }
    unsigned long long portv = 80;
    if (port.ptr && (!smg_str_to_u64(port, 65535, &portv) || portv == 0)) {
        set_err(err, errlen, "bad port in worker url", url);
        return NULL;
    }
    smg_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    char hh[300];
    bool v6 = memchr(host.ptr, ':', host.len) != NULL;
    snprintf(hh, sizeof hh, "%s%.*s%s:%u", v6 ? "[" : "", SMG_STR_FMT(host), v6 ? "]" : "",
             (unsigned)portv);
    w->id = strdup("-"); /* assigned by the registry when the worker joins it */
    w->url = smg_str_dup(smg_str(u.ptr, (size_t)(rest.ptr + rest.len - u.ptr)));
    w->host = smg_str_dup(host);
    w->base_path = smg_str_dup(base);
    w->host_header = strdup(hh);
    w->labels_json = strdup("{}");
    w->port = (uint16_t)portv;
    atomic_init(&w->refs, 1);
    atomic_init(&w->state, SMG_WORKER_PENDING);
    w->created_ms = smg_now_ms();
    if (!w->id || !w->url || !w->host || !w->base_path || !w->host_header || !w->labels_json) {
        smg_worker_unref(w);
        return NULL;
    }
    return w;
}

void smg_worker_ref(smg_worker_t *w) {
    atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
}

static void free_models(smg_worker_t *w) {
    for (size_t i = 0; i < w->nmodels; i++)
        free(w->models[i]);
    free(w->models);
    w->models = NULL;
    w->nmodels = 0;
}

void smg_worker_unref(smg_worker_t *w) {
    if (!w || atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
        return;
    free_models(w);
    free(w->id);
    free(w->url);
    free(w->host);
    free(w->base_path);
    free(w->host_header);
    free(w->api_key);
    free(w->labels_json);
    free(w);
}

int smg_worker_set_models(smg_worker_t *w, const char *const *models, size_t n) {
    char **m = n ? calloc(n, sizeof *m) : NULL;
    if (n && !m)
        return SMG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        m[i] = strdup(models[i]);
        if (!m[i]) {
            for (size_t j = 0; j < i; j++)
                free(m[j]);
            free(m);
            return SMG_ENOMEM;
        }
    }
    free_models(w);
    w->models = m;
    w->nmodels = n;
    return SMG_OK;
}

bool smg_worker_serves(const smg_worker_t *w, smg_str_t model) {
    for (size_t i = 0; i < w->nmodels; i++)
        if (smg_str_eq_c(model, w->models[i]))
            return true;
    return false;
}

const char *smg_worker_state_name(int state) {
    switch (state) {
    case SMG_WORKER_PENDING: return "pending";
    case SMG_WORKER_READY: return "ready";
    case SMG_WORKER_NOT_READY: return "not_ready";
    case SMG_WORKER_FAILED: return "failed";
    case SMG_WORKER_DRAINING: return "draining";
    }
    return "unknown";
}
