/* Request metrics: the glue between the request path and src/metrics. */
#ifndef SMG_GATEWAY_OBSERVE_H
#define SMG_GATEWAY_OBSERVE_H

#include "gateway/gw.h"

/* Count one finished request (any route): called once, on its loop thread. */
void smg_gw_observe(smg_gw_t *gw, const smg_route_t *route, const smg_access_t *a, bool stream);
/* Count one HTTP exchange at the edge (smg_http_* families). */
void smg_gw_observe_http(smg_str_t method, const smg_route_t *route, int status,
                         smg_str_t error_code, uint64_t start_ns);
/* Register the scrape-time gauges (workers, connections) once at start-up. */
int smg_gw_metrics_init(smg_gw_t *gw);
/* Render the exposition for GET /metrics into out. */
int smg_gw_metrics_render(smg_gw_t *gw, smg_buf_t *out);

#endif
