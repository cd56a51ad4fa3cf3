/* UTF-8 encoding and validation of single code points, shared by every parser
 * that decodes escapes (JSON, Jinja string literals) or checks bytes from
 * outside (JSON strings, tokenizer input). Pure functions, no allocation. */
#ifndef SMG_CORE_UTF8_H
#define SMG_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Encode cp into out, which must have room for 4 bytes; returns the length
 * written (1..4). cp must be <= 0x10FFFF. Surrogates (U+D800..U+DFFF) are
 * encoded as they are: a caller that must emit well-formed UTF-8 maps them to
 * U+FFFD first. */
size_t smg_utf8_put(uint32_t cp, char *out);

/* Length (1..4) of the well-formed UTF-8 sequence at p[0..n), n > 0, per
 * Unicode Table 3-7 (no overlongs, no surrogates, nothing above U+10FFFF).
 * Returns 0 when ill-formed or cut short by n; then, if bad is non-NULL,
 * *bad is the length (>= 1) of the maximal ill-formed subpart, the unit a
 * lossy decoder replaces with one U+FFFD (WHATWG / Rust from_utf8_lossy). */
size_t smg_utf8_valid_at(const char *p, size_t n, size_t *bad);

#endif
