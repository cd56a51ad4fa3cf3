/* Types shared by the HTTP/1.1 server (net/http_server.h) and the upstream
 * client (net/upstream.h). Views point into buffers owned by the request or
 * response they came with; they stay valid as long as that object does. */
#ifndef SMG_NET_HTTP_H
#define SMG_NET_HTTP_H

#include <stddef.h>

#include "core/str.h"

typedef struct smg_http_header_s {
    smg_str_t name;
    smg_str_t value;
} smg_http_header_t;

/* Case-insensitive lookup; returns SMG_STR_NULL (ptr == NULL) when absent. */
smg_str_t smg_http_header_get(const smg_http_header_t *h, size_t n, smg_str_t name);
/* Reason phrase for a status ("Not Found"); "Unknown" for others. */
const char *smg_http_reason(int status);
/* True for hop-by-hop headers that a proxy must not forward (RFC 9110 §7.6.1):
 * connection, keep-alive, proxy-connection, te, trailer, transfer-encoding,
 * upgrade, plus content-length (recomputed by whoever frames the body). */
bool smg_http_is_hop_by_hop(smg_str_t name);

#endif
