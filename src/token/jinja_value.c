/* Jinja runtime values: the arena they live in, conversions from JSON,
 * printing (as the oracle prints them), JSON output for `tojson`, equality
 * and ordering. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/jinja_int.h"

/* ---- arena ---------------------------------------------------------------- */

struct smg__ja_chunk_s {
    smg__ja_chunk_t *next;
    size_t size;
    _Alignas(16) char data[];
};

#define JA_CHUNK (64u * 1024u)

void smg__ja_init(smg__jarena_t *a, size_t max) {
    memset(a, 0, sizeof *a);
    a->max = max;
}

void smg__ja_free(smg__jarena_t *a) {
    smg__ja_chunk_t *c = a->head;
    while (c) {
        smg__ja_chunk_t *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->cur = a->end = NULL;
    a->total = 0;
}

void *smg__ja_alloc(smg__jarena_t *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if ((size_t)(a->end - a->cur) >= n && a->cur) {
        void *p = a->cur;
        a->cur += n;
        return p;
    }
    size_t sz = n > JA_CHUNK / 4 ? n : JA_CHUNK;
    if (n > SIZE_MAX / 2 || (a->max && a->total + sz + sizeof(smg__ja_chunk_t) > a->max))
        return NULL;
    smg__ja_chunk_t *c = malloc(sizeof *c + sz);
    if (!c)
        return NULL;
    c->size = sz;
    a->total += sz + sizeof *c;
    if (sz == JA_CHUNK || !a->head) {
        c->next = a->head;
        a->head = c;
        a->cur = c->data + n;
        a->end = c->data + sz;
    } else { /* a big block: keep bumping in the current chunk */
        c->next = a->head->next;
        a->head->next = c;
        return c->data;
    }
    return c->data;
}

/* ---- errors --------------------------------------------------------------- */

static _Noreturn void vfail(smg__jerr_jmp_t *j, uint32_t line, int status, const char *fmt,
                            va_list ap) {
    if (j->err) {
        j->err->line = (int)line;
        vsnprintf(j->err->msg, sizeof j->err->msg, fmt, ap);
    }
    j->status = status;
    longjmp(j->jb, 1);
}

void smg__jfail_jmp(smg__jerr_jmp_t *j, uint32_t line, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(j, line, status, fmt, ap);
}

void smg__jfail(smg__jctx_t *c, uint32_t line, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(&c->j, line ? line : c->cur_line, status, fmt, ap);
}

void *smg__jalloc(smg__jctx_t *c, size_t n) {
    void *p = smg__ja_alloc(&c->arena, n);
    if (!p)
        smg__jfail(c, 0, SMG_ELIMIT, "render memory limit reached (%zu bytes)", c->lim.max_memory);
    return p;
}

smg__jv_t smg__jv_strdup(smg__jctx_t *c, const char *p, size_t n) {
    char *d = smg__jalloc(c, n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return smg__jv_str(d, n);
}

smg__jlist_t *smg__jlist_new(smg__jctx_t *c, uint32_t cap) {
    smg__jlist_t *l = smg__jalloc(c, sizeof *l);
    l->n = 0;
    l->cap = cap;
    l->v = cap ? smg__jalloc(c, cap * sizeof(smg__jv_t)) : NULL;
    return l;
}

void smg__jlist_push(smg__jctx_t *c, smg__jlist_t *l, smg__jv_t v) {
    if (l->n == l->cap) {
        if (l->cap >= (1u << 28))
            smg__jfail(c, 0, SMG_ELIMIT, "list too long");
        uint32_t nc = l->cap ? l->cap * 2 : 4;
        smg__jv_t *nv = smg__jalloc(c, nc * sizeof *nv);
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = v;
}

smg__jv_t smg__jv_list(smg__jlist_t *l) {
    return (smg__jv_t){.t = JV_LIST, .u.l = l};
}

smg__jlist_t *smg__jv_items(smg__jctx_t *c, smg__jv_t v) {
    switch (v.t) {
    case JV_LIST: return v.u.l;
    case JV_UNDEF: return smg__jlist_new(c, 0);
    case JV_DICT: {
        smg__jlist_t *l = smg__jlist_new(c, v.u.d->n);
        for (uint32_t i = 0; i < v.u.d->n; i++)
            l->v[l->n++] = smg__jv_str(v.u.d->k[i].ptr, v.u.d->k[i].len);
        return l;
    }
    case JV_STR: {
        smg__jlist_t *l = smg__jlist_new(c, 0);
        size_t i = 0;
        int32_t cp;
        while (i < v.u.s.n) {
            size_t k = smg__u8_dec(v.u.s.p + i, v.u.s.n - i, &cp);
            smg__jlist_push(c, l, smg__jv_str(v.u.s.p + i, k));
            i += k;
        }
        return l;
    }
    default: return NULL;
    }
}

smg__jdict_t *smg__jdict_new(smg__jctx_t *c, uint32_t cap) {
    smg__jdict_t *d = smg__jalloc(c, sizeof *d);
    d->n = 0;
    d->cap = cap;
    d->k = cap ? smg__jalloc(c, cap * sizeof(smg_str_t)) : NULL;
    d->v = cap ? smg__jalloc(c, cap * sizeof(smg__jv_t)) : NULL;
    return d;
}

smg__jv_t *smg__jdict_get(const smg__jdict_t *d, smg_str_t k) {
    for (uint32_t i = 0; i < d->n; i++)
        if (smg_str_eq(d->k[i], k))
            return &d->v[i];
    return NULL;
}

void smg__jdict_set(smg__jctx_t *c, smg__jdict_t *d, smg_str_t k, smg__jv_t v) {
    smg__jv_t *e = smg__jdict_get(d, k);
    if (e) {
        *e = v;
        return;
    }
    if (d->n == d->cap) {
        if (d->cap >= (1u << 26))
            smg__jfail(c, 0, SMG_ELIMIT, "dict too large");
        uint32_t nc = d->cap ? d->cap * 2 : 4;
        smg_str_t *nk = smg__jalloc(c, nc * sizeof *nk);
        smg__jv_t *nv = smg__jalloc(c, nc * sizeof *nv);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = nc;
    }
    d->k[d->n] = k;
    d->v[d->n++] = v;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

size_t smg__u8_dec(const char *p, size_t n, int32_t *cp) {
    const unsigned char *s = (const unsigned char *)p;
    if (!n) {
        *cp = -1;
        return 0;
    }
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (len == 1 || len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    int32_t v = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

size_t smg__u8_count(const char *p, size_t n) {
    size_t k = 0, i = 0;
    int32_t cp;
    while (i < n) {
        i += smg__u8_dec(p + i, n - i, &cp);
        k++;
    }
    return k;
}

size_t smg__u8_offset(const char *p, size_t n, size_t idx) {
    size_t i = 0;
    int32_t cp;
    while (idx > 0 && i < n) {
        i += smg__u8_dec(p + i, n - i, &cp);
        idx--;
    }
    return i;
}

/* ---- output --------------------------------------------------------------- */

void smg__jbuf_append(smg__jctx_t *c, smg_buf_t *b, const char *p, size_t n) {
    if (n > c->lim.max_output || b->len > c->lim.max_output - n)
        smg__jfail(c, 0, SMG_ETOOBIG, "rendered output larger than %zu bytes", c->lim.max_output);
    int rc = smg_buf_append(b, p, n);
    if (rc == SMG_ETOOBIG)
        smg__jfail(c, 0, SMG_ETOOBIG, "rendered output larger than the output buffer allows");
    if (rc)
        smg__jfail(c, 0, SMG_ENOMEM, "out of memory while rendering");
}

void smg__jout(smg__jctx_t *c, const char *p, size_t n) {
    smg__jbuf_append(c, &c->outs[c->nouts - 1], p, n);
}

/* ---- numbers -------------------------------------------------------------- */

size_t smg__js_num_fmt(double d, char *out, size_t cap) {
    if (isnan(d))
        return (size_t)snprintf(out, cap, "NaN");
    if (isinf(d))
        return (size_t)snprintf(out, cap, d < 0 ? "-Infinity" : "Infinity");
    if (d == 0)
        return (size_t)snprintf(out, cap, "0");
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* tmp = [-]d[.ddd]e[+-]XX */
    char digits[24];
    size_t k = 0;
    const char *q = tmp;
    bool neg = *q == '-';
    if (neg)
        q++;
    while (*q && *q != 'e') {
        if (*q != '.')
            digits[k++] = *q;
        q++;
    }
    while (k > 1 && digits[k - 1] == '0')
        k--;
    int e = (int)strtol(q + 1, NULL, 10);
    int n = e + 1;
    size_t o = 0;
    char buf[64];
    if (neg)
        buf[o++] = '-';
    if ((int)k <= n && n <= 21) {
        memcpy(buf + o, digits, k);
        o += k;
        for (int i = 0; i < n - (int)k; i++)
            buf[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(buf + o, digits, (size_t)n);
        o += (size_t)n;
        buf[o++] = '.';
        memcpy(buf + o, digits + n, k - (size_t)n);
        o += k - (size_t)n;
    } else if (-6 < n && n <= 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = 0; i < -n; i++)
            buf[o++] = '0';
        memcpy(buf + o, digits, k);
        o += k;
    } else {
        buf[o++] = digits[0];
        if (k > 1) {
            buf[o++] = '.';
            memcpy(buf + o, digits + 1, k - 1);
            o += k - 1;
        }
        o += (size_t)snprintf(buf + o, sizeof buf - o, "e%c%d", n - 1 < 0 ? '-' : '+',
                              abs(n - 1));
    }
    buf[o] = '\0';
    return (size_t)snprintf(out, cap, "%s", buf);
}

/* The oracle prints floats with a ".0" when integral. */
static size_t float_fmt(double d, char *out, size_t cap) {
    if (d == 0 && signbit(d))
        return (size_t)snprintf(out, cap, "-0.0");
    if (isfinite(d) && d == floor(d) && fabs(d) < 1e21)
        return (size_t)snprintf(out, cap, "%.1f", d);
    return smg__js_num_fmt(d, out, cap);
}

/* ---- predicates ----------------------------------------------------------- */

const char *smg__jv_type_name(smg__jv_t v) {
    switch (v.t) {
    case JV_UNDEF: return "undefined";
    case JV_NONE: return "none";
    case JV_BOOL: return "boolean";
    case JV_INT: return "integer";
    case JV_FLOAT: return "float";
    case JV_STR: return "string";
    case JV_LIST: return v.tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "namespace";
    case JV_FUNC: return "function";
    case JV_LOOP: return "loop";
    }
    return "value";
}

bool smg__jv_truthy(smg__jv_t v) {
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0 && !isnan(v.u.f);
    case JV_STR: return v.u.s.n > 0;
    case JV_LIST: return v.u.l->n > 0;
    case JV_DICT: return v.u.d->n > 0;
    default: return true;
    }
}

static bool numeric(smg__jv_t v, double *d) {
    if (v.t == JV_INT)
        *d = (double)v.u.i;
    else if (v.t == JV_FLOAT)
        *d = v.u.f;
    else if (v.t == JV_BOOL)
        *d = v.u.b;
    else
        return false;
    return true;
}

bool smg__jv_equal(smg__jv_t a, smg__jv_t b) {
    double x, y;
    if (a.t == JV_INT && b.t == JV_INT)
        return a.u.i == b.u.i;
    if (numeric(a, &x) && numeric(b, &y))
        return x == y;
    if ((a.t == JV_NONE || a.t == JV_UNDEF) && (b.t == JV_NONE || b.t == JV_UNDEF))
        return true;
    if (a.t != b.t)
        return false;
    switch (a.t) {
    case JV_STR: return smg_str_eq(smg__jv_s(a), smg__jv_s(b));
    case JV_LIST:
        if (a.u.l->n != b.u.l->n)
            return false;
        for (uint32_t i = 0; i < a.u.l->n; i++)
            if (!smg__jv_equal(a.u.l->v[i], b.u.l->v[i]))
                return false;
        return true;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n)
            return false;
        for (uint32_t i = 0; i < a.u.d->n; i++) {
            smg__jv_t *o = smg__jdict_get(b.u.d, a.u.d->k[i]);
            if (!o || !smg__jv_equal(a.u.d->v[i], *o))
                return false;
        }
        return true;
    default: return a.u.d == b.u.d; /* identity for namespaces, functions */
    }
}

static int lower_cmp(smg_str_t a, smg_str_t b) {
    size_t n = a.len < b.len ? a.len : b.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a.ptr[i], y = (unsigned char)b.ptr[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

int smg__jv_compare(smg__jctx_t *c, smg__jv_t a, smg__jv_t b, bool case_sensitive) {
    double x, y;
    if ((a.t == JV_NONE && b.t == JV_NONE) || (a.t == JV_UNDEF && b.t == JV_UNDEF))
        return 0;
    if (numeric(a, &x) && numeric(b, &y))
        return x < y ? -1 : x > y ? 1 : 0;
    if (a.t == JV_STR && b.t == JV_STR) {
        if (case_sensitive) {
            size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
            int r = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
            if (r)
                return r < 0 ? -1 : 1;
            return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n ? 1 : 0;
        }
        return lower_cmp(smg__jv_s(a), smg__jv_s(b));
    }
    if (a.t == JV_LIST && b.t == JV_LIST) {
        uint32_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (uint32_t i = 0; i < n; i++) {
            int r = smg__jv_compare(c, a.u.l->v[i], b.u.l->v[i], case_sensitive);
            if (r)
                return r;
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n ? 1 : 0;
    }
    smg__jfail(c, 0, SMG_EINVAL, "cannot compare %s with %s", smg__jv_type_name(a),
               smg__jv_type_name(b));
}

/* ---- JSON ----------------------------------------------------------------- */

static void json_str(smg__jctx_t *c, smg_buf_t *b, smg_str_t s, bool ascii) {
    smg__jbuf_append(c, b, "\"", 1);
    if (!ascii) {
        size_t before = b->len;
        if (smg_buf_append_json_escaped(b, s))
            smg__jfail(c, 0, SMG_ETOOBIG, "rendered output too large");
        if (b->len > c->lim.max_output) {
            b->len = before;
            smg__jfail(c, 0, SMG_ETOOBIG, "rendered output larger than %zu bytes",
                       c->lim.max_output);
        }
    } else {
        size_t i = 0, start = 0;
        while (i < s.len) {
            unsigned char ch = (unsigned char)s.ptr[i];
            if (ch < 0x7F) {
                i++;
                continue;
            }
            if (i > start) {
                size_t before = b->len;
                if (smg_buf_append_json_escaped(b, smg_str(s.ptr + start, i - start)) ||
                    b->len > c->lim.max_output) {
                    b->len = before;
                    smg__jfail(c, 0, SMG_ETOOBIG, "rendered output too large");
                }
            }
            int32_t cp;
            i += smg__u8_dec(s.ptr + i, s.len - i, &cp);
            char esc[16];
            size_t el;
            if (cp >= 0x10000) {
                int32_t v = cp - 0x10000;
                el = (size_t)snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (v >> 10),
                                      0xDC00 + (v & 0x3FF));
            } else {
                el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            }
            smg__jbuf_append(c, b, esc, el);
            start = i;
        }
        if (i > start) {
            size_t before = b->len;
            if (smg_buf_append_json_escaped(b, smg_str(s.ptr + start, i - start)) ||
                b->len > c->lim.max_output) {
                b->len = before;
                smg__jfail(c, 0, SMG_ETOOBIG, "rendered output too large");
            }
        }
    }
    smg__jbuf_append(c, b, "\"", 1);
}

static void json_pad(smg__jctx_t *c, smg_buf_t *b, int indent, int depth) {
    smg__jbuf_append(c, b, "\n", 1);
    for (int i = 0; i < indent * depth; i++)
        smg__jbuf_append(c, b, " ", 1);
}

void smg__jv_to_json(smg__jctx_t *c, smg_buf_t *b, smg__jv_t v, const smg__jjson_opts_t *o,
                     int depth) {
    if (depth > 512)
        smg__jfail(c, 0, SMG_ELIMIT, "value nested too deeply for tojson");
    smg_str_t isep = o->item_sep.ptr ? o->item_sep : o->indent >= 0 ? SMG_STR(",") : SMG_STR(", ");
    smg_str_t ksep = o->key_sep.ptr ? o->key_sep : SMG_STR(": ");
    char num[64];
    size_t nl;
    switch (v.t) {
    case JV_NONE: smg__jbuf_append(c, b, "null", 4); return;
    case JV_UNDEF:
        if (o->undefined_as_null)
            smg__jbuf_append(c, b, "null", 4);
        else
            smg__jbuf_append(c, b, "undefined", 9);
        return;
    case JV_BOOL: smg__jbuf_append(c, b, v.u.b ? "true" : "false", v.u.b ? 4 : 5); return;
    case JV_INT:
        nl = (size_t)snprintf(num, sizeof num, "%lld", (long long)v.u.i);
        smg__jbuf_append(c, b, num, nl);
        return;
    case JV_FLOAT:
        if (!isfinite(v.u.f)) {
            smg__jbuf_append(c, b, "null", 4);
            return;
        }
        nl = smg__js_num_fmt(v.u.f, num, sizeof num);
        smg__jbuf_append(c, b, num, nl);
        return;
    case JV_STR: json_str(c, b, smg__jv_s(v), o->ensure_ascii); return;
    case JV_LIST: {
        smg__jlist_t *l = v.u.l;
        smg__jbuf_append(c, b, "[", 1);
        for (uint32_t i = 0; i < l->n; i++) {
            if (i)
                smg__jbuf_append(c, b, isep.ptr, isep.len);
            if (o->indent >= 0)
                json_pad(c, b, o->indent, depth + 1);
            smg__jv_to_json(c, b, l->v[i], o, depth + 1);
        }
        if (o->indent >= 0 && l->n)
            json_pad(c, b, o->indent, depth);
        smg__jbuf_append(c, b, "]", 1);
        return;
    }
    case JV_DICT:
    case JV_NS: {
        smg__jdict_t *d = v.u.d;
        uint32_t *ord = NULL;
        if (o->sort_keys && d->n > 1) {
            ord = smg__jalloc(c, d->n * sizeof *ord);
            for (uint32_t i = 0; i < d->n; i++) {
                uint32_t k = i;
                while (k > 0) {
                    smg_str_t x = d->k[ord[k - 1]], y = d->k[i];
                    size_t m = x.len < y.len ? x.len : y.len;
                    int r = m ? memcmp(x.ptr, y.ptr, m) : 0;
                    if (r < 0 || (r == 0 && x.len <= y.len))
                        break;
                    ord[k] = ord[k - 1];
                    k--;
                }
                ord[k] = i;
            }
        }
        smg__jbuf_append(c, b, "{", 1);
        for (uint32_t i = 0; i < d->n; i++) {
            uint32_t k = ord ? ord[i] : i;
            if (i)
                smg__jbuf_append(c, b, isep.ptr, isep.len);
            if (o->indent >= 0)
                json_pad(c, b, o->indent, depth + 1);
            json_str(c, b, d->k[k], o->ensure_ascii);
            smg__jbuf_append(c, b, ksep.ptr, ksep.len);
            smg__jv_to_json(c, b, d->v[k], o, depth + 1);
        }
        if (o->indent >= 0 && d->n)
            json_pad(c, b, o->indent, depth);
        smg__jbuf_append(c, b, "}", 1);
        return;
    }
    default:
        smg__jfail(c, 0, SMG_EINVAL, "cannot convert a %s to JSON", smg__jv_type_name(v));
    }
}

smg__jv_t smg__jv_from_json(smg__jctx_t *c, const json_t *j, int depth) {
    if (depth > 256)
        smg__jfail(c, 0, SMG_ELIMIT, "input JSON nested too deeply");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        smg__jdict_t *d = smg__jdict_new(c, (uint32_t)json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            /* keys are unique in jansson objects: append without a lookup */
            d->k[d->n] = smg_str(k, strlen(k));
            d->v[d->n++] = smg__jv_from_json(c, v, depth + 1);
        }
        return (smg__jv_t){.t = JV_DICT, .u.d = d};
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        smg__jlist_t *l = smg__jlist_new(c, (uint32_t)n);
        for (size_t i = 0; i < n; i++)
            l->v[l->n++] = smg__jv_from_json(c, json_array_get(j, i), depth + 1);
        return smg__jv_list(l);
    }
    case JSON_STRING: return smg__jv_str(json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return smg__jv_int(json_integer_value(j));
    case JSON_REAL: {
        double d = json_real_value(j);
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            return smg__jv_int((int64_t)d);
        return smg__jv_float(d);
    }
    case JSON_TRUE: return smg__jv_bool(true);
    case JSON_FALSE: return smg__jv_bool(false);
    default: return JV_NONE_V;
    }
}

/* ---- printing ------------------------------------------------------------- */

static void print_into(smg__jctx_t *c, smg_buf_t *b, smg__jv_t v, bool none_text) {
    char num[64];
    size_t n;
    switch (v.t) {
    case JV_UNDEF: return;
    case JV_NONE:
        if (none_text)
            smg__jbuf_append(c, b, "None", 4);
        return;
    case JV_BOOL: smg__jbuf_append(c, b, v.u.b ? "true" : "false", v.u.b ? 4 : 5); return;
    case JV_INT:
        n = (size_t)snprintf(num, sizeof num, "%lld", (long long)v.u.i);
        smg__jbuf_append(c, b, num, n);
        return;
    case JV_FLOAT:
        n = float_fmt(v.u.f, num, sizeof num);
        smg__jbuf_append(c, b, num, n);
        return;
    case JV_STR: smg__jbuf_append(c, b, v.u.s.p, v.u.s.n); return;
    case JV_LIST:
    case JV_DICT:
    case JV_NS: {
        smg__jjson_opts_t o = {.indent = -1};
        smg__jv_to_json(c, b, v, &o, 0);
        return;
    }
    case JV_FUNC: {
        smg_str_t nm = v.u.fn->name;
        smg__jbuf_append(c, b, "<function ", 10);
        smg__jbuf_append(c, b, nm.ptr ? nm.ptr : "", nm.len);
        smg__jbuf_append(c, b, ">", 1);
        return;
    }
    case JV_LOOP: smg__jbuf_append(c, b, "<loop>", 6); return;
    }
}

void smg__jv_print(smg__jctx_t *c, smg_buf_t *b, smg__jv_t v) {
    print_into(c, b, v, false);
}

smg__jv_t smg__jv_to_string(smg__jctx_t *c, smg__jv_t v) {
    if (v.t == JV_STR)
        return v;
    smg_buf_t *tmp = &c->scratch;
    smg_buf_reset(tmp);
    print_into(c, tmp, v, true);
    return smg__jv_strdup(c, tmp->ptr ? tmp->ptr : "", tmp->len);
}
