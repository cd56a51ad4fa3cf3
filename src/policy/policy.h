/* Load-balancing policies (DESIGN.md §1, "policy: pick worker(s) among healthy
 * candidates").
 *
 * A policy instance serves one model group and lives as long as the group
 * (reference counted: registry snapshots hold it). select() is called
 * concurrently from every loop thread, so policy state is atomics or
 * thread-local; it must not block. The caller passes only routable candidates
 * (ready, not draining, not excluded by a retry) and a context with what later
 * policies need: the model, the raw request body (cache-aware text), the
 * request headers (routing keys), and the live per-worker counters reachable
 * from each smg_worker_t. */
#ifndef SMG_POLICY_POLICY_H
#define SMG_POLICY_POLICY_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/str.h"
#include "fleet/worker-t.h"
#include "net/http.h"

typedef struct smg_policy_ctx_s {
    smg_str_t model;                  /* "" when the request names none */
    smg_str_t route;                  /* e.g. "/v1/chat/completions" */
    smg_str_t body;                   /* raw request body */
    const smg_http_header_t *headers; /* request headers */
    size_t nheaders;
} smg_policy_ctx_t;

typedef struct smg_policy_s smg_policy_t;

typedef struct smg_policy_ops_s {
    const char *name;
    const char *help;
    smg_policy_t *(*create)(void);
    /* Index into cands (n >= 1) of the chosen worker, or -1 to decline. */
    int (*select)(smg_policy_t *p, smg_worker_t *const *cands, size_t n,
                  const smg_policy_ctx_t *ctx);
    /* Optional: told when a request it routed ends (ok = no upstream error). */
    void (*on_done)(smg_policy_t *p, smg_worker_t *w, const smg_policy_ctx_t *ctx, int ok);
    void (*destroy)(smg_policy_t *p);
} smg_policy_ops_t;

struct smg_policy_s {
    const smg_policy_ops_t *ops;
    _Atomic int refs;
};

/* New instance of the named policy with one reference; NULL if the name is
 * unknown or on allocation failure. */
smg_policy_t *smg_policy_create(const char *name);
void smg_policy_ref(smg_policy_t *p);
void smg_policy_unref(smg_policy_t *p);
/* The table of implemented policies, for --help and validation. */
const smg_policy_ops_t *const *smg_policy_all(size_t *n);

static inline int smg_policy_select(smg_policy_t *p, smg_worker_t *const *cands, size_t n,
                                    const smg_policy_ctx_t *ctx) {
    return n ? p->ops->select(p, cands, n, ctx) : -1;
}

#endif
