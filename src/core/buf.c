#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void smg_buf_init(smg_buf_t *b, size_t max) {
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
}

void smg_buf_free(smg_buf_t *b) {
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

int smg_buf_reserve(smg_buf_t *b, size_t extra) {
    if (extra > b->max - b->len)
        return SMG_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return SMG_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap < SIZE_MAX / 4 ? ncap * 2 : need;
    char *p = realloc(b->ptr, ncap);
    if (!p)
        return SMG_ENOMEM;
    b->ptr = p;
    b->cap = ncap;
    return SMG_OK;
}

int smg_buf_append(smg_buf_t *b, const void *p, size_t n) {
    int rc = smg_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return SMG_OK;
}

int smg_buf_append_c(smg_buf_t *b, const char *cstr) {
    return smg_buf_append(b, cstr, strlen(cstr));
}

int smg_buf_append_byte(smg_buf_t *b, char c) {
    return smg_buf_append(b, &c, 1);
}

int smg_buf_vappendf(smg_buf_t *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return SMG_EINVAL;
    if ((size_t)n < sizeof tmp)
        return smg_buf_append(b, tmp, (size_t)n);
    int rc = smg_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return SMG_OK;
}

int smg_buf_appendf(smg_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = smg_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int smg_buf_append_json_escaped(smg_buf_t *b, smg_str_t s) {
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        int rc = smg_buf_append(b, s.ptr + start, i - start);
        if (rc)
            return rc;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        rc = smg_buf_append(b, esc, elen);
        if (rc)
            return rc;
        start = i + 1;
    }
    return smg_buf_append(b, s.ptr + start, s.len - start);
}

int smg_buf_append_json_string(smg_buf_t *b, smg_str_t s) {
    int rc = smg_buf_append_byte(b, '"');
    rc = rc ? rc : smg_buf_append_json_escaped(b, s);
    return rc ? rc : smg_buf_append_byte(b, '"');
}

void smg_buf_consume(smg_buf_t *b, size_t n) {
    if (n >= b->len) {
        smg_buf_reset(b);
        return;
    }
    memmove(b->ptr, b->ptr + n, b->len - n);
    b->len -= n;
    b->ptr[b->len] = '\0';
}

char *smg_buf_detach(smg_buf_t *b) {
    char *p = b->ptr;
    if (!p) {
        p = malloc(1);
        if (p)
            p[0] = '\0';
    }
    b->ptr = NULL;
    b->len = b->cap = 0;
    return p;
}
