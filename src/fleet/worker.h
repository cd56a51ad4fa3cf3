/* Worker objects: creation from a URL, references, state names. */
#ifndef SMG_FLEET_WORKER_H
#define SMG_FLEET_WORKER_H

#include "core/status.h"
#include "fleet/worker-t.h"

/* Parse `url` ("http://host[:port][/base]"; IPv6 as [::1]) into a new worker
 * with one reference. Returns NULL and a one-line reason in err when the URL is
 * not usable (unsupported scheme, bad port, missing host). */
smg_worker_t *smg_worker_new(const char *url, char *err, size_t errlen);
void smg_worker_ref(smg_worker_t *w);
/* Drops a reference; the last one frees the worker (its pools must already be
 * closed: the registry closes them on each loop before the last unref). */
void smg_worker_unref(smg_worker_t *w);
/* Replace the model list (copies). Control thread only, before publishing. */
SMG_MUST_CHECK int smg_worker_set_models(smg_worker_t *w, const char *const *models, size_t n);
bool smg_worker_serves(const smg_worker_t *w, smg_str_t model);

static inline int smg_worker_state(const smg_worker_t *w) {
    return atomic_load_explicit(&w->state, memory_order_relaxed);
}
static inline bool smg_worker_routable(const smg_worker_t *w) {
    return smg_worker_state(w) == SMG_WORKER_READY;
}
const char *smg_worker_state_name(int state);

#endif
