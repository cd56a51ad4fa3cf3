/* smg-sim: a simulated OpenAI-compatible inference engine on smg's own HTTP
 * server (docs/sim.md). Knobs are atomics so POST /control can change them
 * while loop threads read them. */
#ifndef SMG_TOOLS_SIM_H
#define SMG_TOOLS_SIM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "net/http_server.h"

/* Routes with their own counter in /stats by_path. */
#define SIM_ROUTES(X)                                                                              \
    X(HEALTH, "GET", "/health")                                                                    \
    X(HEALTH_GENERATE, "GET", "/health_generate")                                                  \
    X(MODELS, "GET", "/v1/models")                                                                 \
    X(GET_LOAD, "GET", "/get_load")                                                                \
    X(LOADS, "GET", "/v1/loads")                                                                   \
    X(STATS, "GET", "/stats")                                                                      \
    X(LAST_HEADERS, "GET", "/stats/last_headers")                                                  \
    X(CONTROL, "POST", "/control")                                                                 \
    X(CHAT, "POST", "/v1/chat/completions")                                                        \
    X(COMPLETIONS, "POST", "/v1/completions")                                                      \
    X(EMBEDDINGS, "POST", "/v1/embeddings")                                                        \
    X(GENERATE, "POST", "/generate")                                                               \
    X(RERANK, "POST", "/v1/rerank")                                                                \
    X(CLASSIFY, "POST", "/v1/classify")                                                            \
    X(RESPONSES, "POST", "/v1/responses")                                                          \
    X(MESSAGES, "POST", "/v1/messages")                                                            \
    X(TOKENIZE, "POST", "/v1/tokenize")                                                            \
    X(DETOKENIZE, "POST", "/v1/detokenize")

typedef enum {
#define SIM_ROUTE_ENUM(name, method, path) SIM_R_##name,
    SIM_ROUTES(SIM_ROUTE_ENUM)
#undef SIM_ROUTE_ENUM
    SIM_R_OTHER,
    SIM_R_COUNT
} sim_route_t;

typedef struct sim_s {
    char *model;
    atomic_int ttft_ms;
    atomic_int itl_ms;
    atomic_uint fail_ppm; /* fail rate in parts per million */
    atomic_int fail_status;
    atomic_bool hang;
    atomic_long die_after; /* 0: never */
    atomic_int health_status;
    atomic_long response_bytes;
    atomic_int embedding_dim;
    /* stats */
    atomic_long requests, aborted, in_flight, completed;
    atomic_long by_path[SIM_R_COUNT];
    atomic_ulong seq; /* response ids */
    pthread_mutex_t last_mu;
    char *last_headers; /* JSON object text of the last request's headers */
    size_t write_high_watermark;
} sim_t;

void sim_init(sim_t *s, const char *model);
void sim_free(sim_t *s);
/* Apply one knob by name (flag spelling with '-' or '_'); false if unknown
 * or out of range. Used by the CLI and POST /control. */
bool sim_set_knob(sim_t *s, const char *name, double value);
/* The HTTP handler (ctx = sim_t*). */
void sim_handle(smg_http_req_t *req, void *ctx);

#endif

/* --- shared between sim.c and sim_gen.c --------------------------------- */
#include <jansson.h>

/* Response headers: Content-Type plus x-request-id echo (copied into hs). */
typedef struct {
    smg_http_header_t h[4];
    size_t n;
    char reqid[128];
} sim_headers_t;

void sim_headers(sim_headers_t *hs, const smg_http_req_t *req, const char *content_type);
/* Answer an error: OpenAI shape, or Anthropic shape when anthropic. */
void sim_error(smg_http_req_t *req, int status, const char *msg, const char *type, bool anthropic);
/* Inference routes (sim_gen.c). root is the parsed body, owned by the caller. */
void sim_infer(sim_t *s, smg_http_req_t *req, sim_route_t route, json_t *root);
/* A request of an inference route finished (answered or aborted). */
void sim_request_done(sim_t *s, bool aborted);
/* The toy vocabulary (also used by tokenize/detokenize). */
extern const char *const sim_words[];
extern const size_t sim_nwords;
