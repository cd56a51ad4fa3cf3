#include "core/str.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* 8 bytes at a time: equal words pass at once; words that differ only in
 * bit 5 (0x20) of some bytes pass when each such byte is an ASCII letter. */
static inline bool word_eq_nocase(uint64_t wa, uint64_t wb) {
    const uint64_t ones = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    uint64_t x = wa ^ wb;
    if (x == 0)
        return true;
    if (x & ~(ones * 0x20))
        return false;
    uint64_t la = wa | (ones * 0x20), l7 = la & ~hi;
    /* high bit of each byte of la in 'a'..'z' (7-bit sums: no carry between bytes) */
    uint64_t letter = (l7 + ones * 0x1f) & ~(l7 + ones * 0x05) & ~la & hi;
    return ((x << 2) & ~letter) == 0; /* bit 5 moved to bit 7 */
}

bool smg_str_eq_nocase(smg_str_t a, smg_str_t b) {
    if (a.len != b.len)
        return false;
    size_t i = 0;
    for (; i + 8 <= a.len; i += 8) {
        uint64_t wa, wb;
        memcpy(&wa, a.ptr + i, 8);
        memcpy(&wb, b.ptr + i, 8);
        if (!word_eq_nocase(wa, wb))
            return false;
    }
    for (; i < a.len; i++) {
        unsigned char ca = (unsigned char)a.ptr[i], cb = (unsigned char)b.ptr[i];
        if (ca != cb && lower(ca) != lower(cb))
            return false;
    }
    return true;
}

bool smg_str_starts_with(smg_str_t s, smg_str_t prefix) {
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

smg_str_t smg_str_trim(smg_str_t s) {
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

bool smg_str_to_u64(smg_str_t s, unsigned long long max, unsigned long long *out) {
    if (s.len == 0)
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < '0' || c > '9')
            return false;
        unsigned d = c - '0';
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

char *smg_str_dup(smg_str_t s) {
    char *p = malloc(s.len + 1);
    if (!p)
        return NULL;
    if (s.len)
        memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return p;
}

size_t smg_str_find(smg_str_t hay, smg_str_t needle) {
    if (needle.len == 0)
        return 0;
    if (needle.len > hay.len)
        return (size_t)-1;
    for (size_t i = 0; i + needle.len <= hay.len; i++) {
        if (hay.ptr[i] == needle.ptr[0] && memcmp(hay.ptr + i, needle.ptr, needle.len) == 0)
            return i;
    }
    return (size_t)-1;
}
