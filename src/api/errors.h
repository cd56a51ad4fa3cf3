/* Client-facing error bodies (DESIGN.md §7). OpenAI shape:
 *   {"error":{"message":"...","type":"...","param":null,"code":"..."}}
 * Anthropic shape (on /v1/messages):
 *   {"type":"error","error":{"type":"...","message":"..."}}
 * The error type is derived from the HTTP status. */
#ifndef SMG_API_ERRORS_H
#define SMG_API_ERRORS_H

#include "core/buf.h"

typedef enum {
    SMG_API_OPENAI = 0,
    SMG_API_ANTHROPIC = 1,
} smg_api_flavor_t;

/* OpenAI "type" for a status: invalid_request_error, authentication_error, ... */
const char *smg_api_error_type(smg_api_flavor_t flavor, int status);

/* Append an error body to out. `code` may be NULL (JSON null), `param` may be
 * NULL. The message is JSON-escaped. Fails only when out's cap is reached. */
SMG_MUST_CHECK int smg_api_error_body(smg_buf_t *out, smg_api_flavor_t flavor, int status,
                                      const char *code, const char *param, const char *message);

#endif
