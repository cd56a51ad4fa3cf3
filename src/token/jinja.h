/* A Jinja2 template engine for chat templates (the subset real models ship).
 *
 * A template is parsed once into an immutable object that any number of
 * threads may render at the same time: rendering reads the template and keeps
 * all its own state (values, scopes, output) in a per-render arena that is
 * freed when the render returns.
 *
 * Semantics follow Hugging Face's @huggingface/jinja (the oracle the tests
 * compare against byte for byte) with trim_blocks and lstrip_blocks on, as
 * transformers renders chat templates; where that implementation is missing a
 * feature, Jinja2's own behaviour is used. docs/chat-templates.md lists the
 * supported subset and the known differences.
 *
 * Rendering is bounded by smg_jinja_limits_t: output bytes, loop iterations,
 * macro call depth, expression depth and arena memory. Each limit fails with a
 * clear message instead of looping, recursing or growing without bound. */
#ifndef SMG_TOKEN_JINJA_H
#define SMG_TOKEN_JINJA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"

typedef struct smg_jinja_tmpl_s smg_jinja_tmpl_t;

/* A parse or render error: a NUL-terminated message and the 1-based template
 * line it refers to (0 when no line applies, e.g. a limit on the input). */
typedef struct smg_jinja_err_s {
    int line;
    char msg[256];
} smg_jinja_err_t;

typedef struct smg_jinja_limits_s {
    size_t max_output;       /* bytes of rendered text (default 16 MiB) */
    uint64_t max_iterations; /* loop iterations + items produced by range() (default 1e6) */
    unsigned max_call_depth; /* nested macro / caller() calls (default 64) */
    unsigned max_expr_depth; /* nested expression evaluation (default 256) */
    size_t max_memory;       /* per-render arena bytes (default 256 MiB) */
    int64_t now;             /* strftime_now() clock, seconds since the epoch, local time;
                                0 means the current time */
} smg_jinja_limits_t;

/* The defaults listed above. */
void smg_jinja_limits_default(smg_jinja_limits_t *lim);

/* Largest template source accepted by smg_jinja_parse. */
#define SMG_JINJA_MAX_SOURCE (4u << 20)

/* Parse `src` (not NUL-terminated; at most SMG_JINJA_MAX_SOURCE bytes).
 * On success *out owns the template (free with smg_jinja_free) and SMG_OK is
 * returned. On failure *out is NULL, `err` (if not NULL) holds the message
 * and line, and the status is SMG_EPARSE (syntax), SMG_ETOOBIG (source too
 * large or nested too deeply) or SMG_ENOMEM. */
SMG_MUST_CHECK int smg_jinja_parse(const char *src, size_t len, smg_jinja_tmpl_t **out,
                                   smg_jinja_err_t *err);
void smg_jinja_free(smg_jinja_tmpl_t *t);

/* Render with the top-level variables of `ctx` (a JSON object, or NULL for
 * none; it is only read) appended to `out`. `lim` may be NULL for the
 * defaults. Returns SMG_OK, or on failure leaves `out` as it was and returns
 * SMG_EINVAL (a template error: raise_exception, type error, unknown
 * filter/test/method, ...), SMG_ELIMIT (a limit reached), SMG_ETOOBIG
 * (output larger than lim->max_output or out->max) or SMG_ENOMEM, with the
 * message and line in `err` (if not NULL). Thread-safe for a shared `t`. */
SMG_MUST_CHECK int smg_jinja_render(const smg_jinja_tmpl_t *t, const json_t *ctx,
                                    const smg_jinja_limits_t *lim, smg_buf_t *out,
                                    smg_jinja_err_t *err);

/* True when the template reads message content as a list of parts (the
 * "openai" content format): it iterates over `*.content` / `content`, indexes
 * it with a number, or takes its length. Otherwise templates expect a string
 * and content parts are flattened by the caller. */
bool smg_jinja_uses_content_list(const smg_jinja_tmpl_t *t);

#endif
