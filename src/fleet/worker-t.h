/* The worker: one inference engine the gateway sends traffic to.
 *
 * Identity (id, url, host, port) is fixed at creation. The model list and
 * labels are replaced only by the control thread, through a new registry
 * snapshot. Live state is atomics, read lock-free by every loop thread.
 * Lifetime: reference counted (smg_worker_ref/unref); a request holds a
 * reference from selection to finalize, a snapshot holds one per worker. */
#ifndef SMG_FLEET_WORKER_T_H
#define SMG_FLEET_WORKER_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/str.h"

#define SMG_MAX_LOOPS 64

typedef enum {
    SMG_WORKER_PENDING = 0,
    SMG_WORKER_READY = 1,
    SMG_WORKER_NOT_READY = 2,
    SMG_WORKER_FAILED = 3,
    SMG_WORKER_DRAINING = 4,
} smg_worker_state_t;

struct smg_upstream_pool_s;

typedef struct smg_worker_s {
    char *id;      /* "w1", "w2", ... given by smg_fleet_add; unique for the registry lifetime */
    char *url;     /* as given, without trailing slash */
    char *host;    /* host part, without brackets for IPv6 */
    uint16_t port;
    char *base_path; /* "" or "/prefix" prepended to request paths */
    char *host_header; /* "host:port" for the Host header */
    char *api_key;   /* bearer sent to the worker, or NULL */
    char *labels_json; /* JSON object text, "{}" when none */
    char **models;   /* model ids served; NULL/0 = discovered later or wildcard */
    size_t nmodels;
    bool models_fixed; /* given by the admin; never rediscovered */
    _Atomic bool models_known; /* discovery done (or fixed) */

    _Atomic int state;           /* smg_worker_state_t */
    _Atomic int64_t in_flight;   /* requests selected and not yet finalized */
    _Atomic uint64_t requests;   /* completed requests */
    _Atomic uint64_t errors;     /* requests that ended in an upstream error or 5xx */
    _Atomic uint64_t selected;   /* times picked by a policy */
    _Atomic int refs;
    _Atomic bool removed;        /* deleted from the registry; pools are being closed */

    /* health checker state: control thread only */
    int consecutive_ok;
    int consecutive_fail;
    int probes;
    uint64_t next_probe_ms;
    bool probe_in_flight;
    uint64_t created_ms;

    /* per-loop upstream pools, created lazily by the owning loop thread */
    struct smg_upstream_pool_s *pools[SMG_MAX_LOOPS + 1];
} smg_worker_t;

#endif
