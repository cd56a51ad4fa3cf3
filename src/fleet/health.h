/* Active health checks and model discovery, on the control loop.
 *
 * Each worker is probed with GET {base}{endpoint} (bearer = the worker's API
 * key); a 2xx within the timeout is a success. States move as in the
 * reference system:
 *   pending   → ready      after success_threshold consecutive successes
 *                          (and once its models are known)
 *   ready     → not_ready  after failure_threshold consecutive failures
 *   not_ready → ready      after success_threshold consecutive successes
 *   not_ready → failed     after 3 × failure_threshold consecutive failures
 *   pending   → failed     after 10 × failure_threshold probes without success
 * Unlike the reference, failed workers keep being probed (at the normal
 * interval) and come back to ready after success_threshold successes. Draining
 * workers are not probed. Pending workers are probed every
 * SMG_HEALTH_PENDING_MS (or the interval, if shorter) so that new workers take
 * traffic quickly.
 *
 * Model discovery: a worker registered without a model list gets one from
 * GET {base}/v1/models (OpenAI list: data[].id) after its first successful
 * probe. A worker whose /v1/models answers but is not a usable list is
 * treated as serving any model. */
#ifndef SMG_FLEET_HEALTH_H
#define SMG_FLEET_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet/registry.h"
#include "net/loop.h"

#define SMG_HEALTH_PENDING_MS 250

typedef struct smg_health_config_s {
    uint64_t interval_ms;
    uint64_t timeout_ms;
    int failure_threshold;
    int success_threshold;
    const char *endpoint; /* "/health" */
    bool disabled;        /* no probes: workers are ready at once, models discovered in the background */
} smg_health_config_t;

typedef struct smg_health_s smg_health_t;

/* Start on the control loop (call on that thread or before it runs). */
smg_health_t *smg_health_start(smg_loop_t *control, smg_fleet_t *fleet,
                               const smg_health_config_t *cfg);
/* Probe due workers now (after a worker was added). Control thread. */
void smg_health_kick(smg_health_t *h);
/* Stop probing and free (control thread); in-flight probes are aborted. */
void smg_health_stop(smg_health_t *h);
/* Health-probe counters for /metrics and /workers. */
uint64_t smg_health_probes_total(const smg_health_t *h, bool ok);

#endif
