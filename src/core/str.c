#include "core/str.h"

#include <stdlib.h>

static inline unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool smg_str_eq_nocase(smg_str_t a, smg_str_t b) {
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)b.ptr[i]))
            return false;
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
