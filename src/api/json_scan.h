/* A validating, allocation-free JSON scanner for the request hot path.
 *
 * The gateway in HTTP mode forwards request bodies unchanged and only needs a
 * few top-level fields (model, stream). smg_json_scan_top() checks that the
 * whole document is valid JSON (RFC 8259: syntax, string escapes, UTF-8,
 * numbers) with a nesting cap, and reports where the wanted top-level members
 * are, without building a tree. Duplicate keys: the last occurrence wins (as
 * in JavaScript and Python). Never reads past doc.len. */
#ifndef SMG_API_JSON_SCAN_H
#define SMG_API_JSON_SCAN_H

#include <stddef.h>

#include "core/buf.h"
#include "core/status.h"
#include "core/str.h"

typedef enum {
    SMG_JSON_ABSENT = 0,
    SMG_JSON_NULL,
    SMG_JSON_FALSE,
    SMG_JSON_TRUE,
    SMG_JSON_NUMBER,
    SMG_JSON_STRING,
    SMG_JSON_ARRAY,
    SMG_JSON_OBJECT,
} smg_json_type_t;

#define SMG_JSON_MAX_DEPTH 128

typedef struct {
    smg_json_type_t type;
    smg_str_t raw; /* the value's bytes; for strings, including the quotes */
} smg_json_field_t;

typedef struct {
    smg_json_type_t root; /* type of the document's root value */
    size_t error_offset;  /* byte offset of the first error */
    const char *error;    /* static text describing the first error */
} smg_json_scan_info_t;

/* Validate `doc` and fill out[i] for each key want[i] found as a member of the
 * root object (type ABSENT when not found or when the root is not an object).
 * Returns SMG_OK or SMG_EPARSE (info->error / error_offset say why and where). */
SMG_MUST_CHECK int smg_json_scan_top(smg_str_t doc, const char *const *want, size_t nwant,
                                     smg_json_field_t *out, smg_json_scan_info_t *info);

/* Decode a JSON string value (raw, with its quotes, already validated) into
 * out (appended). Fails only if out's cap is reached. */
SMG_MUST_CHECK int smg_json_unescape(smg_str_t raw, smg_buf_t *out);

/* True if raw (a validated JSON string with quotes) contains no escapes, so
 * its inside can be used as is. */
static inline int smg_json_string_is_plain(smg_str_t raw) {
    return memchr(raw.ptr, '\\', raw.len) == NULL;
}

#endif
