/* smg_buf_t: a growable byte buffer with a hard cap (STYLE.md rule 5).
 * Growing past `max` fails with SMG_ETOOBIG and leaves the buffer as it was,
 * so the caller can answer 413 instead of aborting. The buffer owns `ptr`.
 * The content is kept NUL-terminated (not counted in len) for convenience. */
#ifndef SMG_CORE_BUF_H
#define SMG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/status.h"
#include "core/str.h"

typedef struct smg_buf_s {
    char *ptr;
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len; 0 means SIZE_MAX/2 */
} smg_buf_t;

void smg_buf_init(smg_buf_t *b, size_t max);
void smg_buf_free(smg_buf_t *b);
static inline void smg_buf_reset(smg_buf_t *b) {
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}
/* Make room for `extra` more bytes (plus the NUL). */
SMG_MUST_CHECK int smg_buf_reserve(smg_buf_t *b, size_t extra);
SMG_MUST_CHECK int smg_buf_append(smg_buf_t *b, const void *p, size_t n);
static inline SMG_MUST_CHECK int smg_buf_append_str(smg_buf_t *b, smg_str_t s) {
    return smg_buf_append(b, s.ptr, s.len);
}
SMG_MUST_CHECK int smg_buf_append_c(smg_buf_t *b, const char *cstr);
SMG_MUST_CHECK int smg_buf_append_byte(smg_buf_t *b, char c);
SMG_MUST_CHECK int smg_buf_appendf(smg_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
SMG_MUST_CHECK int smg_buf_vappendf(smg_buf_t *b, const char *fmt, va_list ap);
/* Append `s` as the inside of a JSON string (escapes quotes, backslash,
 * control bytes; passes UTF-8 through unchanged). */
SMG_MUST_CHECK int smg_buf_append_json_escaped(smg_buf_t *b, smg_str_t s);
/* Append `s` as a whole JSON string: quotes around smg_buf_append_json_escaped. */
SMG_MUST_CHECK int smg_buf_append_json_string(smg_buf_t *b, smg_str_t s);
/* Remove the first n bytes (n <= len). */
void smg_buf_consume(smg_buf_t *b, size_t n);
static inline smg_str_t smg_buf_str(const smg_buf_t *b) {
    return (smg_str_t){b->ptr ? b->ptr : "", b->len};
}
/* Hand the heap block to the caller (NUL-terminated) and reset the buffer. */
char *smg_buf_detach(smg_buf_t *b);

#endif
