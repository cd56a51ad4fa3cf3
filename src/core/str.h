/* smg_str_t: a borrowed byte view, passed by value. Never assumes a NUL. */
#ifndef SMG_CORE_STR_H
#define SMG_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    const char *ptr;
    size_t len;
} smg_str_t;

#define SMG_STR(lit) ((smg_str_t){(lit), sizeof(lit) - 1})
#define SMG_STR_NULL ((smg_str_t){NULL, 0})
/* printf("%.*s", SMG_STR_FMT(s)) */
#define SMG_STR_FMT(s) (int)(s).len, (s).ptr

static inline smg_str_t smg_str(const char *p, size_t n) {
    return (smg_str_t){p, n};
}
static inline smg_str_t smg_str_c(const char *cstr) {
    return (smg_str_t){cstr, cstr ? strlen(cstr) : 0};
}
static inline bool smg_str_eq(smg_str_t a, smg_str_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
static inline bool smg_str_eq_c(smg_str_t a, const char *b) {
    return smg_str_eq(a, smg_str_c(b));
}
/* ASCII case-insensitive comparison (HTTP header names). */
bool smg_str_eq_nocase(smg_str_t a, smg_str_t b);
bool smg_str_starts_with(smg_str_t s, smg_str_t prefix);
/* Trim ASCII spaces and tabs on both ends (HTTP OWS). */
smg_str_t smg_str_trim(smg_str_t s);
/* Parse a non-negative decimal integer that fills the whole view.
 * Returns false on empty input, any non-digit, or overflow past max. */
bool smg_str_to_u64(smg_str_t s, unsigned long long max, unsigned long long *out);
/* Copy into a fresh NUL-terminated heap string; NULL on allocation failure. */
char *smg_str_dup(smg_str_t s);
/* Find the first occurrence of needle; returns offset or (size_t)-1. */
size_t smg_str_find(smg_str_t hay, smg_str_t needle);
/* Value 0..15 of an ASCII hex digit (either case), or -1 for any other byte. */
static inline int smg_hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
