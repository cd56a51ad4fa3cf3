#include "api/json_scan.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/utf8.h"

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    const unsigned char *start;
    const char *err;
    const unsigned char *err_at;
} scanner_t;

static int fail(scanner_t *s, const char *msg) {
    if (!s->err) {
        s->err = msg;
        s->err_at = s->p;
    }
    return -1;
}

static void skip_ws(scanner_t *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int read_hex4(scanner_t *s, unsigned *out) {
    if (s->end - s->p < 4)
        return fail(s, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = smg_hex_digit(s->p[i]);
        if (h < 0)
            return fail(s, "bad \\u escape");
        v = v << 4 | (unsigned)h;
    }
    s->p += 4;
    *out = v;
    return 0;
}

/* Non-zero when the 8 bytes of w may hold a byte that ends the plain-ASCII
 * fast path of scan_string: '"', '\\', a control byte (< 0x20) or a byte
 * >= 0x80. Never zero when one is there (a borrow in the subtractions can
 * only flag extra bytes above a real one), so a word that passes is plain,
 * and the lowest flagged byte is always a real one. */
static inline uint64_t string_special(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & hi;
}

/* s->p at the opening quote. */
static int scan_string(scanner_t *s) {
    s->p++;
    for (;;) {
        /* fast path over plain ASCII: a word at a time, then byte by byte
         * up to the first byte that needs a look */
#ifdef __SSE2__
        /* 16 bytes at a time: '"', '\\', and (signed compare) bytes < 0x20
         * or >= 0x80 */
        while (s->end - s->p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s->p);
            __m128i sp = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                   _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                      _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            unsigned m = (unsigned)_mm_movemask_epi8(sp);
            if (m) {
                s->p += __builtin_ctz(m);
                break;
            }
            s->p += 16;
        }
#endif
        while (s->end - s->p >= 8) {
            uint64_t w;
            memcpy(&w, s->p, 8);
            uint64_t m = string_special(w);
            if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                /* the lowest flagged byte is a real one (borrows only go up):
                 * go straight to it */
                s->p += (unsigned)__builtin_ctzll(m) >> 3;
#endif
                break;
            }
            s->p += 8;
        }
        while (s->p < s->end && *s->p >= 0x20 && *s->p < 0x80 && *s->p != '"' && *s->p != '\\')
            s->p++;
        if (s->p >= s->end)
            return fail(s, "unterminated string");
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c == '\\') {
            s->p++;
            if (s->p >= s->end)
                return fail(s, "unterminated string");
            c = *s->p++;
            switch (c) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            case 'u': {
                unsigned u;
                if (read_hex4(s, &u))
                    return -1;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
                        return fail(s, "lone surrogate in \\u escape");
                    s->p += 2;
                    unsigned lo;
                    if (read_hex4(s, &lo))
                        return -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail(s, "lone surrogate in \\u escape");
                } else if (u >= 0xDC00 && u <= 0xDFFF) {
                    return fail(s, "lone surrogate in \\u escape");
                }
                break;
            }
            default:
                s->p--;
                return fail(s, "bad escape in string");
            }
            continue;
        }
        if (c < 0x20)
            return fail(s, "control character in string");
        size_t n = smg_utf8_valid_at((const char *)s->p, (size_t)(s->end - s->p), NULL);
        if (!n)
            return fail(s, "invalid UTF-8 in string");
        s->p += n;
    }
}

static int scan_number(scanner_t *s) {
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p >= s->end)
        return fail(s, "bad number");
    if (*s->p == '0') {
        s->p++;
    } else if (*s->p >= '1' && *s->p <= '9') {
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    } else {
        return fail(s, "bad number");
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return fail(s, "bad number");
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return fail(s, "bad number");
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    return 0;
}

static int scan_lit(scanner_t *s, const char *lit, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return fail(s, "unexpected token");
    s->p += n;
    return 0;
}

/* Compare a raw JSON key (with quotes, validated) to a plain C string,
 * decoding simple escapes. */
static int key_equals(const unsigned char *k, size_t klen, const char *want) {
    const unsigned char *p = k + 1, *e = k + klen - 1;
    const unsigned char *w = (const unsigned char *)want;
    while (p < e) {
        unsigned ch;
        if (*p == '\\') {
            p++;
            switch (*p) {
            case 'u': {
                unsigned v = 0;
                for (int i = 1; i <= 4; i++)
                    v = v << 4 | (unsigned)smg_hex_digit(p[i]);
                if (v >= 0x80)
                    return 0; /* wanted keys are ASCII */
                ch = v;
                p += 5;
                break;
            }
            case 'n': ch = '\n'; p++; break;
            case 't': ch = '\t'; p++; break;
            case 'r': ch = '\r'; p++; break;
            case 'b': ch = '\b'; p++; break;
            case 'f': ch = '\f'; p++; break;
            default: ch = *p++; break;
            }
        } else {
            ch = *p++;
        }
        if (!*w || *w != ch)
            return 0;
        w++;
    }
    return *w == '\0';
}

typedef struct {
    const char *const *want;
    size_t nwant;
    smg_json_field_t *out;
} top_t;

static smg_json_type_t scan_value(scanner_t *s, int depth, top_t *top);

static smg_json_type_t scan_value(scanner_t *s, int depth, top_t *top) {
    skip_ws(s);
    if (s->p >= s->end) {
        fail(s, "unexpected end of input");
        return SMG_JSON_ABSENT;
    }
    switch (*s->p) {
    case '"':
        return scan_string(s) ? SMG_JSON_ABSENT : SMG_JSON_STRING;
    case 't':
        return scan_lit(s, "true", 4) ? SMG_JSON_ABSENT : SMG_JSON_TRUE;
    case 'f':
        return scan_lit(s, "false", 5) ? SMG_JSON_ABSENT : SMG_JSON_FALSE;
    case 'n':
        return scan_lit(s, "null", 4) ? SMG_JSON_ABSENT : SMG_JSON_NULL;
    case '[': {
        if (depth >= SMG_JSON_MAX_DEPTH) {
            fail(s, "nesting too deep");
            return SMG_JSON_ABSENT;
        }
        s->p++;
        skip_ws(s);
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return SMG_JSON_ARRAY;
        }
        for (;;) {
            if (scan_value(s, depth + 1, NULL) == SMG_JSON_ABSENT)
                return SMG_JSON_ABSENT;
            skip_ws(s);
            if (s->p >= s->end) {
                fail(s, "unterminated array");
                return SMG_JSON_ABSENT;
            }
            if (*s->p == ',') {
                s->p++;
                continue;
            }
            if (*s->p == ']') {
                s->p++;
                return SMG_JSON_ARRAY;
            }
            fail(s, "expected ',' or ']'");
            return SMG_JSON_ABSENT;
        }
    }
    case '{': {
        if (depth >= SMG_JSON_MAX_DEPTH) {
            fail(s, "nesting too deep");
            return SMG_JSON_ABSENT;
        }
        s->p++;
        skip_ws(s);
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            return SMG_JSON_OBJECT;
        }
        for (;;) {
            skip_ws(s);
            if (s->p >= s->end || *s->p != '"') {
                fail(s, "expected object key");
                return SMG_JSON_ABSENT;
            }
            const unsigned char *k = s->p;
            if (scan_string(s))
                return SMG_JSON_ABSENT;
            size_t klen = (size_t)(s->p - k);
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':') {
                fail(s, "expected ':'");
                return SMG_JSON_ABSENT;
            }
            s->p++;
            skip_ws(s);
            const unsigned char *vstart = s->p;
            smg_json_type_t t = scan_value(s, depth + 1, NULL);
            if (t == SMG_JSON_ABSENT)
                return SMG_JSON_ABSENT;
            if (top) {
                for (size_t i = 0; i < top->nwant; i++) {
                    if (key_equals(k, klen, top->want[i])) {
                        top->out[i].type = t;
                        top->out[i].raw = smg_str((const char *)vstart, (size_t)(s->p - vstart));
                    }
                }
            }
            skip_ws(s);
            if (s->p >= s->end) {
                fail(s, "unterminated object");
                return SMG_JSON_ABSENT;
            }
            if (*s->p == ',') {
                s->p++;
                continue;
            }
            if (*s->p == '}') {
                s->p++;
                return SMG_JSON_OBJECT;
            }
            fail(s, "expected ',' or '}'");
            return SMG_JSON_ABSENT;
        }
    }
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return scan_number(s) ? SMG_JSON_ABSENT : SMG_JSON_NUMBER;
        fail(s, "unexpected character");
        return SMG_JSON_ABSENT;
    }
}

int smg_json_scan_top(smg_str_t doc, const char *const *want, size_t nwant, smg_json_field_t *out,
                      smg_json_scan_info_t *info) {
    scanner_t s = {(const unsigned char *)doc.ptr, (const unsigned char *)doc.ptr + doc.len,
                   (const unsigned char *)doc.ptr, NULL, NULL};
    for (size_t i = 0; i < nwant; i++)
        out[i] = (smg_json_field_t){SMG_JSON_ABSENT, SMG_STR_NULL};
    top_t top = {want, nwant, out};
    if (doc.len == 0) {
        info->root = SMG_JSON_ABSENT;
        info->error = "empty body";
        info->error_offset = 0;
        return SMG_EPARSE;
    }
    /* RFC 8259 allows a UTF-8 BOM to be ignored; we reject it like most servers do. */
    smg_json_type_t root = scan_value(&s, 0, nwant ? &top : NULL);
    if (root != SMG_JSON_ABSENT) {
        skip_ws(&s);
        if (s.p != s.end) {
            fail(&s, "trailing data after JSON value");
            root = SMG_JSON_ABSENT;
        }
    }
    info->root = root;
    if (root == SMG_JSON_ABSENT) {
        info->error = s.err ? s.err : "invalid JSON";
        info->error_offset = (size_t)((s.err_at ? s.err_at : s.p) - s.start);
        for (size_t i = 0; i < nwant; i++)
            out[i] = (smg_json_field_t){SMG_JSON_ABSENT, SMG_STR_NULL};
        return SMG_EPARSE;
    }
    if (root != SMG_JSON_OBJECT)
        for (size_t i = 0; i < nwant; i++)
            out[i] = (smg_json_field_t){SMG_JSON_ABSENT, SMG_STR_NULL};
    info->error = NULL;
    info->error_offset = 0;
    return SMG_OK;
}

int smg_json_unescape(smg_str_t raw, smg_buf_t *out) {
    if (raw.len < 2)
        return SMG_EINVAL;
    const unsigned char *p = (const unsigned char *)raw.ptr + 1;
    const unsigned char *e = (const unsigned char *)raw.ptr + raw.len - 1;
    while (p < e) {
        const unsigned char *q = p;
        while (q < e && *q != '\\')
            q++;
        int rc = smg_buf_append(out, p, (size_t)(q - p));
        if (rc)
            return rc;
        if (q >= e)
            break;
        q++;
        unsigned char c = *q++;
        switch (c) {
        case 'b': rc = smg_buf_append_byte(out, '\b'); break;
        case 'f': rc = smg_buf_append_byte(out, '\f'); break;
        case 'n': rc = smg_buf_append_byte(out, '\n'); break;
        case 'r': rc = smg_buf_append_byte(out, '\r'); break;
        case 't': rc = smg_buf_append_byte(out, '\t'); break;
        case 'u': {
            unsigned v = 0;
            for (int i = 0; i < 4 && q < e; i++)
                v = v << 4 | (unsigned)smg_hex_digit(*q++);
            if (v >= 0xD800 && v <= 0xDBFF && e - q >= 6) {
                unsigned lo = 0;
                q += 2;
                for (int i = 0; i < 4; i++)
                    lo = lo << 4 | (unsigned)smg_hex_digit(*q++);
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            }
            char u[4];
            rc = smg_buf_append(out, u, smg_utf8_put(v, u));
            break;
        }
        default: rc = smg_buf_append_byte(out, (char)c); break;
        }
        if (rc)
            return rc;
        p = q;
    }
    return SMG_OK;
}
