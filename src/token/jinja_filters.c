/* Jinja builtins: filters, tests, methods of strings/lists/dicts, and the
 * global functions (raise_exception, range, namespace, strftime_now, dict). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "core/assert.h"
#include "token/jinja_int.h"

#define FAIL(...) smg__jfail(c, line, SMG_EINVAL, __VA_ARGS__)

static smg__jv_t arg_or(smg__jargs_t *a, uint32_t i, const char *name, smg__jv_t dflt) {
    smg__jv_t *v = smg__jarg(a, i, name);
    return v ? *v : dflt;
}

static bool arg_bool(smg__jargs_t *a, uint32_t i, const char *name, bool dflt) {
    smg__jv_t *v = smg__jarg(a, i, name);
    return v ? smg__jv_truthy(*v) : dflt;
}

/* Operand of a string filter: strings, numbers and booleans (printed); none,
 * undefined and containers are an error, as in the reference engines. */
static smg__jv_t str_operand(smg__jctx_t *c, smg__jv_t v, smg_str_t filter, uint32_t line) {
    if (v.t == JV_STR)
        return v;
    if (v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL)
        return smg__jv_to_string(c, v);
    FAIL("filter '%.*s' expects a string, got %s", SMG_STR_FMT(filter), smg__jv_type_name(v));
}

static smg__jv_t mkdict(smg__jdict_t *d) {
    return (smg__jv_t){.t = JV_DICT, .u.d = d};
}

/* ---- string helpers ------------------------------------------------------- */

typedef int32_t (*cp_map_fn)(int32_t);

static void put_cp(smg__jctx_t *c, smg_buf_t *b, int32_t cp) {
    uint8_t tmp[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, tmp);
    smg__jbuf_append(c, b, (const char *)tmp, (size_t)n);
}

static smg__jv_t scratch_result(smg__jctx_t *c) {
    return smg__jv_strdup(c, c->scratch.ptr ? c->scratch.ptr : "", c->scratch.len);
}

/* mode 0 upper, 1 lower, 2 capitalize, 3 title */
static smg__jv_t str_case(smg__jctx_t *c, smg_str_t s, int mode) {
    smg_buf_reset(&c->scratch);
    size_t i = 0;
    bool word_start = true, first = true;
    while (i < s.len) {
        int32_t cp;
        size_t k = smg__u8_dec(s.ptr + i, s.len - i, &cp);
        int32_t o;
        if (mode == 0)
            o = utf8proc_toupper(cp);
        else if (mode == 1)
            o = utf8proc_tolower(cp);
        else if (mode == 2)
            o = first ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
        else
            o = word_start ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
        if (mode == 3)
            word_start = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '-' ||
                         cp == '(' || cp == '{' || cp == '[' || cp == '<' || cp == '\f' ||
                         cp == '\v';
        first = false;
        if (cp == 0xFFFD && k == 1)
            smg__jbuf_append(c, &c->scratch, s.ptr + i, 1); /* keep invalid bytes */
        else
            put_cp(c, &c->scratch, o);
        i += k;
    }
    return scratch_result(c);
}

static bool in_chars(int32_t cp, smg_str_t chars) {
    size_t i = 0;
    while (i < chars.len) {
        int32_t x;
        i += smg__u8_dec(chars.ptr + i, chars.len - i, &x);
        if (x == cp)
            return true;
    }
    return false;
}

/* Python str.strip family: chars NULL = whitespace. which: 1 left, 2 right, 3 both. */
static smg__jv_t str_strip(smg_str_t s, const smg_str_t *chars, int which) {
    size_t b = 0, e = s.len;
    if (which & 1) {
        while (b < e) {
            size_t k;
            if (chars) {
                int32_t cp;
                k = smg__u8_dec(s.ptr + b, e - b, &cp);
                if (!in_chars(cp, *chars))
                    break;
            } else {
                k = smg__js_space_len(s.ptr + b, e - b);
                if (!k)
                    break;
            }
            b += k;
        }
    }
    if (which & 2) {
        while (e > b) {
            /* find the start of the last code point */
            size_t st = e - 1;
            while (st > b && ((unsigned char)s.ptr[st] & 0xC0) == 0x80 && e - st < 4)
                st--;
            bool strip;
            if (chars) {
                int32_t cp;
                smg__u8_dec(s.ptr + st, e - st, &cp);
                strip = in_chars(cp, *chars);
            } else {
                strip = smg__js_space_len(s.ptr + st, e - st) == e - st;
            }
            if (!strip)
                break;
            e = st;
        }
    }
    return smg__jv_str(s.ptr + b, e - b);
}

static smg__jv_t str_replace(smg__jctx_t *c, smg_str_t s, smg_str_t old, smg_str_t rep,
                             int64_t count) {
    if (count == 0)
        return smg__jv_str(s.ptr, s.len);
    smg_buf_reset(&c->scratch);
    int64_t done = 0;
    if (old.len == 0) { /* insert between code points, like Python */
        size_t i = 0;
        while (count < 0 || done < count) {
            smg__jbuf_append(c, &c->scratch, rep.ptr, rep.len);
            done++;
            if (i >= s.len)
                break;
            int32_t cp;
            size_t k = smg__u8_dec(s.ptr + i, s.len - i, &cp);
            smg__jbuf_append(c, &c->scratch, s.ptr + i, k);
            i += k;
        }
        smg__jbuf_append(c, &c->scratch, s.ptr + i, s.len - i);
        return scratch_result(c);
    }
    size_t i = 0;
    while (i < s.len && (count < 0 || done < count)) {
        size_t f = smg_str_find(smg_str(s.ptr + i, s.len - i), old);
        if (f == (size_t)-1)
            break;
        smg__jbuf_append(c, &c->scratch, s.ptr + i, f);
        smg__jbuf_append(c, &c->scratch, rep.ptr, rep.len);
        i += f + old.len;
        done++;
    }
    smg__jbuf_append(c, &c->scratch, s.ptr + i, s.len - i);
    return scratch_result(c);
}

static smg__jv_t str_split(smg__jctx_t *c, smg_str_t s, smg__jv_t sep, int64_t maxsplit,
                           uint32_t line) {
    smg__jlist_t *l = smg__jlist_new(c, 0);
    if (sep.t == JV_NONE || sep.t == JV_UNDEF) {
        size_t i = 0, k;
        while (i < s.len) {
            while (i < s.len && (k = smg__js_space_len(s.ptr + i, s.len - i)))
                i += k;
            if (i >= s.len)
                break;
            if (maxsplit >= 0 && (int64_t)l->n >= maxsplit) {
                smg_str_t rest = s;
                rest.ptr += i;
                rest.len -= i;
                /* the remainder keeps its trailing whitespace, as in Python */
                smg__jlist_push(c, l, smg__jv_str(rest.ptr, rest.len));
                return smg__jv_list(l);
            }
            size_t st = i;
            while (i < s.len && !smg__js_space_len(s.ptr + i, s.len - i))
                i++;
            smg__jlist_push(c, l, smg__jv_str(s.ptr + st, i - st));
        }
        return smg__jv_list(l);
    }
    if (sep.t != JV_STR)
        FAIL("split() separator must be a string or none");
    smg_str_t d = smg__jv_s(sep);
    if (!d.len)
        FAIL("split() separator is empty");
    size_t i = 0;
    for (;;) {
        size_t f = (maxsplit < 0 || (int64_t)l->n < maxsplit)
                       ? smg_str_find(smg_str(s.ptr + i, s.len - i), d)
                       : (size_t)-1;
        if (f == (size_t)-1) {
            smg__jlist_push(c, l, smg__jv_str(s.ptr + i, s.len - i));
            break;
        }
        smg__jlist_push(c, l, smg__jv_str(s.ptr + i, f));
        i += f + d.len;
    }
    return smg__jv_list(l);
}

static bool str_affix(smg__jctx_t *c, smg_str_t s, smg__jv_t pat, bool start, uint32_t line) {
    if (pat.t == JV_STR) {
        smg_str_t p = smg__jv_s(pat);
        if (p.len > s.len)
            return false;
        return memcmp(start ? s.ptr : s.ptr + s.len - p.len, p.ptr, p.len) == 0;
    }
    if (pat.t == JV_LIST) {
        for (uint32_t i = 0; i < pat.u.l->n; i++) {
            if (pat.u.l->v[i].t != JV_STR)
                FAIL("%s() tuple elements must be strings", start ? "startswith" : "endswith");
            if (str_affix(c, s, pat.u.l->v[i], start, line))
                return true;
        }
        return false;
    }
    FAIL("%s() argument must be a string or a tuple of strings",
         start ? "startswith" : "endswith");
}

/* "{} {0} {name}".format(...) */
static smg__jv_t str_format(smg__jctx_t *c, smg_str_t f, smg__jargs_t *a, uint32_t line) {
    smg_buf_t out;
    smg_buf_init(&out, 0);
    /* scratch is used by to_string: collect into a local arena string instead */
    size_t cap = f.len + 64, k = 0;
    char *buf = smg__jalloc(c, cap);
    uint32_t auto_idx = 0;
#define EMIT(p, n)                                                                                 \
    do {                                                                                           \
        size_t n_ = (n);                                                                           \
        if (k + n_ + 1 > cap) {                                                                    \
            size_t nc = (k + n_ + 1) * 2;                                                          \
            if (nc > c->lim.max_output)                                                            \
                smg__jfail(c, line, SMG_ETOOBIG, "format() result too large");                     \
            char *nb = smg__jalloc(c, nc);                                                         \
            memcpy(nb, buf, k);                                                                    \
            buf = nb;                                                                              \
            cap = nc;                                                                              \
        }                                                                                          \
        memcpy(buf + k, (p), n_);                                                                  \
        k += n_;                                                                                   \
    } while (0)
    for (size_t i = 0; i < f.len; i++) {
        char ch = f.ptr[i];
        if (ch == '{' && i + 1 < f.len && f.ptr[i + 1] == '{') {
            EMIT("{", 1);
            i++;
            continue;
        }
        if (ch == '}' && i + 1 < f.len && f.ptr[i + 1] == '}') {
            EMIT("}", 1);
            i++;
            continue;
        }
        if (ch != '{') {
            EMIT(&f.ptr[i], 1);
            continue;
        }
        size_t j = i + 1;
        while (j < f.len && f.ptr[j] != '}')
            j++;
        if (j >= f.len)
            FAIL("single '{' encountered in format string");
        smg_str_t field = smg_str(f.ptr + i + 1, j - i - 1);
        size_t colon = smg_str_find(field, SMG_STR(":"));
        if (colon != (size_t)-1)
            field.len = colon; /* format specs are ignored */
        smg__jv_t v;
        unsigned long long idx;
        if (field.len == 0) {
            if (auto_idx >= a->npos)
                FAIL("format(): replacement index %u out of range", auto_idx);
            v = a->pos[auto_idx++];
        } else if (smg_str_to_u64(field, 1u << 20, &idx)) {
            if (idx >= a->npos)
                FAIL("format(): replacement index %llu out of range", idx);
            v = a->pos[idx];
        } else {
            smg__jv_t *kv = a->kw ? smg__jdict_get(a->kw, field) : NULL;
            if (!kv)
                FAIL("format(): missing key '%.*s'", SMG_STR_FMT(field));
            v = *kv;
        }
        smg__jv_t sv = smg__jv_to_string(c, v);
        EMIT(sv.u.s.p, sv.u.s.n);
        i = j;
    }
#undef EMIT
    smg_buf_free(&out);
    return smg__jv_str(buf, k);
}

/* ---- list helpers --------------------------------------------------------- */

static smg__jlist_t *as_list(smg__jctx_t *c, smg__jv_t v, const char *what, uint32_t line) {
    smg__jlist_t *l = smg__jv_items(c, v);
    if (!l)
        FAIL("%s expects a sequence, got %s", what, smg__jv_type_name(v));
    return l;
}

/* Dotted attribute path ("a.b.0") as used by sort/map/selectattr. */
static smg__jv_t attr_path(smg__jv_t v, smg_str_t path) {
    size_t i = 0;
    while (i <= path.len) {
        size_t e = i;
        while (e < path.len && path.ptr[e] != '.')
            e++;
        smg_str_t part = smg_str(path.ptr + i, e - i);
        if (v.t == JV_DICT || v.t == JV_NS) {
            smg__jv_t *x = smg__jdict_get(v.u.d, part);
            if (!x)
                return JV_UNDEF_V;
            v = *x;
        } else if (v.t == JV_LIST) {
            unsigned long long idx;
            if (!smg_str_to_u64(part, UINT32_MAX, &idx) || idx >= v.u.l->n)
                return JV_UNDEF_V;
            v = v.u.l->v[idx];
        } else {
            return JV_UNDEF_V;
        }
        i = e + 1;
    }
    return v;
}

static smg__jv_t attr_key(smg__jctx_t *c, smg__jv_t v, smg__jv_t attr, uint32_t line) {
    if (attr.t == JV_NONE || attr.t == JV_UNDEF)
        return v;
    if (attr.t == JV_INT) {
        char tmp[32];
        int n = snprintf(tmp, sizeof tmp, "%lld", (long long)attr.u.i);
        return attr_path(v, smg_str(tmp, (size_t)n));
    }
    if (attr.t != JV_STR)
        FAIL("attribute must be a string or an integer");
    return attr_path(v, smg__jv_s(attr));
}

/* Stable merge sort of values by key; compare may fail (longjmp). */
typedef struct {
    smg__jv_t v, key;
} sort_item_t;

static void merge_sort(smg__jctx_t *c, sort_item_t *a, sort_item_t *tmp, uint32_t n, bool cs,
                       bool rev) {
    if (n < 2)
        return;
    uint32_t m = n / 2;
    merge_sort(c, a, tmp, m, cs, rev);
    merge_sort(c, a + m, tmp, n - m, cs, rev);
    uint32_t i = 0, j = m, k = 0;
    while (i < m && j < n) {
        int r = smg__jv_compare(c, a[j].key, a[i].key, cs);
        if (rev)
            r = -r;
        if (r < 0)
            tmp[k++] = a[j++];
        else
            tmp[k++] = a[i++];
    }
    while (i < m)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

static smg__jv_t sort_list(smg__jctx_t *c, smg__jlist_t *l, smg__jv_t attr, bool cs, bool rev,
                           uint32_t line) {
    sort_item_t *it = smg__jalloc(c, (l->n + 1) * sizeof *it);
    sort_item_t *tmp = smg__jalloc(c, (l->n + 1) * sizeof *tmp);
    for (uint32_t i = 0; i < l->n; i++) {
        it[i].v = l->v[i];
        it[i].key = attr_key(c, l->v[i], attr, line);
    }
    smg__jcount_iter(c, l->n, line);
    merge_sort(c, it, tmp, l->n, cs, rev);
    smg__jlist_t *o = smg__jlist_new(c, l->n);
    for (uint32_t i = 0; i < l->n; i++)
        o->v[o->n++] = it[i].v;
    return smg__jv_list(o);
}

static smg__jv_t pair(smg__jctx_t *c, smg_str_t k, smg__jv_t v) {
    smg__jlist_t *p = smg__jlist_new(c, 2);
    p->v[0] = smg__jv_str(k.ptr, k.len);
    p->v[1] = v;
    p->n = 2;
    smg__jv_t r = smg__jv_list(p);
    r.tuple = true;
    return r;
}

static smg__jv_t dict_items(smg__jctx_t *c, smg__jdict_t *d) {
    smg__jlist_t *l = smg__jlist_new(c, d->n);
    for (uint32_t i = 0; i < d->n; i++)
        l->v[l->n++] = pair(c, d->k[i], d->v[i]);
    return smg__jv_list(l);
}

/* Arguments after the first `skip` positional ones, for a nested test/filter. */
static smg__jargs_t rest_args(smg__jargs_t *a, uint32_t skip) {
    smg__jargs_t r = {.pos = a->pos + (a->npos > skip ? skip : a->npos),
                      .npos = a->npos > skip ? a->npos - skip : 0,
                      .kw = a->kw};
    return r;
}

/* ---- tests ---------------------------------------------------------------- */

bool smg__jtest(smg__jctx_t *c, smg__jv_t v, smg_str_t name, smg__jargs_t *a, uint32_t line) {
#define IS(n) smg_str_eq_c(name, n)
    if (IS("defined"))
        return v.t != JV_UNDEF;
    if (IS("undefined"))
        return v.t == JV_UNDEF;
    if (IS("none"))
        return v.t == JV_NONE;
    if (IS("string"))
        return v.t == JV_STR;
    if (IS("number"))
        return v.t == JV_INT || v.t == JV_FLOAT;
    if (IS("integer"))
        return v.t == JV_INT;
    if (IS("float"))
        return v.t == JV_FLOAT;
    if (IS("boolean"))
        return v.t == JV_BOOL;
    if (IS("true"))
        return v.t == JV_BOOL && v.u.b;
    if (IS("false"))
        return v.t == JV_BOOL && !v.u.b;
    if (IS("mapping"))
        return v.t == JV_DICT;
    if (IS("iterable"))
        return v.t == JV_LIST || v.t == JV_STR || v.t == JV_DICT;
    if (IS("sequence"))
        return v.t == JV_LIST || v.t == JV_STR || v.t == JV_DICT;
    if (IS("callable"))
        return v.t == JV_FUNC;
    if (IS("odd") || IS("even")) {
        if (v.t != JV_INT)
            FAIL("test '%.*s' expects an integer, got %s", SMG_STR_FMT(name),
                 smg__jv_type_name(v));
        bool odd = (v.u.i % 2) != 0;
        return IS("odd") ? odd : !odd;
    }
    if (IS("divisibleby")) {
        smg__jv_t *d = smg__jarg(a, 0, "num");
        if (!d || d->t != JV_INT || d->u.i == 0 || v.t != JV_INT)
            FAIL("divisibleby expects integers and a non-zero divisor");
        return v.u.i % d->u.i == 0;
    }
    if (IS("lower") || IS("upper")) {
        if (v.t != JV_STR)
            return false;
        smg__jv_t x = str_case(c, smg__jv_s(v), IS("upper") ? 0 : 1);
        return smg_str_eq(smg__jv_s(x), smg__jv_s(v));
    }
    if (IS("equalto") || IS("eq") || IS("==") || IS("sameas") || IS("ne") || IS("lt") ||
        IS("gt") || IS("le") || IS("ge") || IS("lessthan") || IS("greaterthan") || IS("in")) {
        smg__jv_t *o = smg__jarg(a, 0, "other");
        if (!o)
            FAIL("test '%.*s' needs an argument", SMG_STR_FMT(name));
        if (IS("equalto") || IS("eq") || IS("=="))
            return smg__jv_equal(v, *o);
        if (IS("sameas"))
            return v.t == o->t && smg__jv_equal(v, *o);
        if (IS("ne"))
            return !smg__jv_equal(v, *o);
        if (IS("in")) {
            if (o->t == JV_LIST) {
                for (uint32_t i = 0; i < o->u.l->n; i++)
                    if (smg__jv_equal(o->u.l->v[i], v))
                        return true;
                return false;
            }
            if (o->t == JV_STR && v.t == JV_STR)
                return smg_str_find(smg__jv_s(*o), smg__jv_s(v)) != (size_t)-1;
            if (o->t == JV_DICT && v.t == JV_STR)
                return smg__jdict_get(o->u.d, smg__jv_s(v)) != NULL;
            FAIL("test 'in' expects a container");
        }
        int r = smg__jv_compare(c, v, *o, true);
        if (IS("lt") || IS("lessthan"))
            return r < 0;
        if (IS("gt") || IS("greaterthan"))
            return r > 0;
        if (IS("le"))
            return r <= 0;
        return r >= 0;
    }
    FAIL("unknown test '%.*s'", SMG_STR_FMT(name));
#undef IS
}

/* ---- filters -------------------------------------------------------------- */

static smg__jv_t f_tojson(smg__jctx_t *c, smg__jv_t v, smg__jargs_t *a, uint32_t line) {
    smg__jjson_opts_t o = {.indent = -1, .undefined_as_null = true};
    smg__jv_t ind = arg_or(a, 0, "indent", JV_NONE_V);
    if (ind.t == JV_INT) {
        if (ind.u.i < 0 || ind.u.i > 64)
            FAIL("tojson indent must be between 0 and 64");
        o.indent = (int)ind.u.i;
    } else if (ind.t != JV_NONE) {
        FAIL("tojson indent must be an integer");
    }
    o.ensure_ascii = arg_bool(a, 99, "ensure_ascii", false);
    o.sort_keys = arg_bool(a, 99, "sort_keys", false);
    smg__jv_t sep = arg_or(a, 99, "separators", JV_NONE_V);
    if (sep.t == JV_LIST) {
        if (sep.u.l->n != 2 || sep.u.l->v[0].t != JV_STR || sep.u.l->v[1].t != JV_STR)
            FAIL("tojson separators must be a pair of strings");
        o.item_sep = smg__jv_s(sep.u.l->v[0]);
        o.key_sep = smg__jv_s(sep.u.l->v[1]);
    } else if (sep.t != JV_NONE) {
        FAIL("tojson separators must be a pair of strings");
    }
    smg_buf_reset(&c->scratch);
    smg__jv_to_json(c, &c->scratch, v, &o, 0);
    return scratch_result(c);
}

static smg__jv_t f_indent(smg__jctx_t *c, smg__jv_t v, smg__jargs_t *a, uint32_t line) {
    v = smg__jv_to_string(c, v);
    smg__jv_t w = arg_or(a, 0, "width", smg__jv_int(4));
    smg_str_t pad;
    char spaces[256];
    if (w.t == JV_INT) {
        if (w.u.i < 0 || w.u.i > 255)
            FAIL("indent width must be between 0 and 255");
        memset(spaces, ' ', (size_t)w.u.i);
        pad = smg_str(spaces, (size_t)w.u.i);
    } else if (w.t == JV_STR) {
        pad = smg__jv_s(w);
    } else {
        FAIL("indent width must be an integer or a string");
    }
    bool first = arg_bool(a, 1, "first", false), blank = arg_bool(a, 2, "blank", false);
    smg_buf_reset(&c->scratch);
    smg_str_t s = smg__jv_s(v);
    size_t i = 0, lineno = 0;
    for (;;) {
        size_t e = i;
        while (e < s.len && s.ptr[e] != '\n')
            e++;
        bool empty = e == i;
        if ((lineno > 0 || first) && (blank || !empty))
            smg__jbuf_append(c, &c->scratch, pad.ptr, pad.len);
        smg__jbuf_append(c, &c->scratch, s.ptr + i, e - i);
        if (e >= s.len)
            break;
        smg__jbuf_append(c, &c->scratch, "\n", 1);
        i = e + 1;
        lineno++;
    }
    return scratch_result(c);
}

static smg__jv_t f_int(smg__jctx_t *c, smg__jv_t v, smg__jargs_t *a) {
    smg__jv_t dflt = arg_or(a, 0, "default", smg__jv_int(0));
    switch (v.t) {
    case JV_INT: return v;
    case JV_BOOL: return smg__jv_int(v.u.b);
    case JV_FLOAT:
        if (!isfinite(v.u.f) || fabs(v.u.f) > 9.2e18)
            return dflt;
        return smg__jv_int((int64_t)v.u.f);
    case JV_STR: {
        char tmp[64];
        smg_str_t s = smg__jv_s(str_strip(smg__jv_s(v), NULL, 3));
        if (!s.len || s.len >= sizeof tmp)
            return dflt;
        memcpy(tmp, s.ptr, s.len);
        tmp[s.len] = '\0';
        char *end;
        long long x = strtoll(tmp, &end, 10);
        if (*end == '\0')
            return smg__jv_int(x);
        double d = strtod(tmp, &end);
        if (*end == '\0' && isfinite(d) && fabs(d) < 9.2e18)
            return smg__jv_int((int64_t)d);
        return dflt;
    }
    default: return dflt;
    }
    (void)c;
}

static smg__jv_t f_float(smg__jctx_t *c, smg__jv_t v, smg__jargs_t *a) {
    smg__jv_t dflt = arg_or(a, 0, "default", smg__jv_float(0));
    switch (v.t) {
    case JV_INT: return smg__jv_float((double)v.u.i);
    case JV_BOOL: return smg__jv_float(v.u.b);
    case JV_FLOAT: return v;
    case JV_STR: {
        char tmp[64];
        smg_str_t s = smg__jv_s(str_strip(smg__jv_s(v), NULL, 3));
        if (!s.len || s.len >= sizeof tmp)
            return dflt;
        memcpy(tmp, s.ptr, s.len);
        tmp[s.len] = '\0';
        char *end;
        double d = strtod(tmp, &end);
        return *end == '\0' ? smg__jv_float(d) : dflt;
    }
    default: return dflt;
    }
    (void)c;
}

static smg__jv_t f_escape(smg__jctx_t *c, smg__jv_t v) {
    v = smg__jv_to_string(c, v);
    smg_str_t s = smg__jv_s(v);
    size_t cap = s.len * 5 + 1, k = 0;
    char *o = smg__jalloc(c, cap);
    for (size_t i = 0; i < s.len; i++) {
        const char *r = NULL;
        switch (s.ptr[i]) {
        case '&': r = "&amp;"; break;
        case '<': r = "&lt;"; break;
        case '>': r = "&gt;"; break;
        case '"': r = "&#34;"; break;
        case '\'': r = "&#39;"; break;
        default: o[k++] = s.ptr[i]; continue;
        }
        size_t rl = strlen(r);
        memcpy(o + k, r, rl);
        k += rl;
    }
    return smg__jv_str(o, k);
}

static smg__jv_t f_round(smg__jctx_t *c, smg__jv_t v, smg__jargs_t *a, uint32_t line) {
    double d;
    if (v.t == JV_INT)
        d = (double)v.u.i;
    else if (v.t == JV_FLOAT)
        d = v.u.f;
    else
        FAIL("round expects a number, got %s", smg__jv_type_name(v));
    smg__jv_t pr = arg_or(a, 0, "precision", smg__jv_int(0));
    smg__jv_t me = arg_or(a, 1, "method", smg__jv_str("common", 6));
    if (pr.t != JV_INT || pr.u.i < 0 || pr.u.i > 15 || me.t != JV_STR)
        FAIL("round(precision, method): bad arguments");
    double m = pow(10, (double)pr.u.i), x = d * m;
    if (smg_str_eq_c(smg__jv_s(me), "floor"))
        x = floor(x);
    else if (smg_str_eq_c(smg__jv_s(me), "ceil"))
        x = ceil(x);
    else if (smg_str_eq_c(smg__jv_s(me), "common"))
        x = round(x);
    else
        FAIL("round method must be common, ceil or floor");
    return smg__jv_float(x / m);
}

/* map / select / reject / selectattr / rejectattr */
static smg__jv_t f_seq(smg__jctx_t *c, smg__jscope_t *s, smg__jv_t v, smg_str_t name,
                       smg__jargs_t *a, uint32_t line) {
    smg__jlist_t *l = as_list(c, v, "filter", line);
    smg__jlist_t *o = smg__jlist_new(c, l->n);
    smg__jcount_iter(c, l->n, line);
    bool is_map = smg_str_eq_c(name, "map");
    bool attr = smg_str_eq_c(name, "selectattr") || smg_str_eq_c(name, "rejectattr");
    bool keep_if = smg_str_eq_c(name, "select") || smg_str_eq_c(name, "selectattr");
    if (is_map) {
        smg__jv_t *at = a->kw ? smg__jdict_get(a->kw, SMG_STR("attribute")) : NULL;
        if (at) {
            smg__jv_t *dflt = smg__jdict_get(a->kw, SMG_STR("default"));
            for (uint32_t i = 0; i < l->n; i++) {
                smg__jv_t x = attr_key(c, l->v[i], *at, line);
                if (x.t == JV_UNDEF && dflt)
                    x = *dflt;
                o->v[o->n++] = x;
            }
            return smg__jv_list(o);
        }
        if (a->npos < 1 || a->pos[0].t != JV_STR)
            FAIL("map expects a filter name or attribute=");
        smg__jargs_t r = rest_args(a, 1);
        for (uint32_t i = 0; i < l->n; i++)
            o->v[o->n++] = smg__jfilter(c, s, l->v[i], smg__jv_s(a->pos[0]), &r, line);
        return smg__jv_list(o);
    }
    uint32_t skip = attr ? 1 : 0;
    smg__jv_t at = JV_NONE_V;
    if (attr) {
        if (a->npos < 1 || a->pos[0].t != JV_STR)
            FAIL("%.*s expects an attribute name", SMG_STR_FMT(name));
        at = a->pos[0];
    }
    bool has_test = a->npos > skip;
    if (has_test && a->pos[skip].t != JV_STR)
        FAIL("%.*s expects a test name", SMG_STR_FMT(name));
    smg__jargs_t r = rest_args(a, skip + 1);
    for (uint32_t i = 0; i < l->n; i++) {
        smg__jv_t x = attr ? attr_key(c, l->v[i], at, line) : l->v[i];
        bool ok = has_test ? smg__jtest(c, x, smg__jv_s(a->pos[skip]), &r, line)
                           : smg__jv_truthy(x);
        if (ok == keep_if)
            o->v[o->n++] = l->v[i];
    }
    return smg__jv_list(o);
}

static smg__jv_t f_minmax(smg__jctx_t *c, smg__jv_t v, smg__jargs_t *a, bool max, uint32_t line) {
    smg__jlist_t *l = as_list(c, v, max ? "max" : "min", line);
    if (!l->n)
        return JV_UNDEF_V;
    smg__jv_t at = arg_or(a, 1, "attribute", JV_NONE_V);
    bool cs = arg_bool(a, 0, "case_sensitive", false);
    smg__jv_t best = l->v[0], bk = attr_key(c, best, at, line);
    for (uint32_t i = 1; i < l->n; i++) {
        smg__jv_t k = attr_key(c, l->v[i], at, line);
        int r = smg__jv_compare(c, k, bk, cs);
        if (max ? r > 0 : r < 0) {
            best = l->v[i];
            bk = k;
        }
    }
    return best;
}

smg__jv_t smg__jfilter(smg__jctx_t *c, smg__jscope_t *s, smg__jv_t v, smg_str_t name,
                       smg__jargs_t *a, uint32_t line) {
#define IS(n) smg_str_eq_c(name, n)
    switch (name.len ? name.ptr[0] : 0) {
    case 'a':
        if (IS("abs")) {
            if (v.t == JV_INT)
                return smg__jv_int(v.u.i < 0 && v.u.i != INT64_MIN ? -v.u.i : v.u.i);
            if (v.t == JV_FLOAT)
                return smg__jv_float(fabs(v.u.f));
            FAIL("abs expects a number, got %s", smg__jv_type_name(v));
        }
        if (IS("attr")) {
            smg__jv_t *n = smg__jarg(a, 0, "name");
            if (!n || n->t != JV_STR)
                FAIL("attr expects a name");
            if (v.t == JV_DICT || v.t == JV_NS) {
                smg__jv_t *x = smg__jdict_get(v.u.d, smg__jv_s(*n));
                return x ? *x : JV_UNDEF_V;
            }
            return JV_UNDEF_V;
        }
        break;
    case 'b':
        if (IS("bool"))
            return smg__jv_bool(smg__jv_truthy(v));
        break;
    case 'c':
        if (IS("capitalize"))
            return str_case(c, smg__jv_s(str_operand(c, v, name, line)), 2);
        if (IS("count"))
            goto length;
        break;
    case 'd':
        if (IS("default") || IS("d")) {
            smg__jv_t dflt = arg_or(a, 0, "default_value", smg__jv_str("", 0));
            bool boolean = arg_bool(a, 1, "boolean", false);
            if (v.t == JV_UNDEF || (boolean && !smg__jv_truthy(v)))
                return dflt;
            return v;
        }
        if (IS("dictsort")) {
            if (v.t != JV_DICT)
                FAIL("dictsort expects a dict, got %s", smg__jv_type_name(v));
            bool cs = arg_bool(a, 0, "case_sensitive", false);
            smg__jv_t by = arg_or(a, 1, "by", smg__jv_str("key", 3));
            bool rev = arg_bool(a, 2, "reverse", false);
            if (by.t != JV_STR ||
                !(smg_str_eq_c(smg__jv_s(by), "key") || smg_str_eq_c(smg__jv_s(by), "value")))
                FAIL("dictsort: by must be 'key' or 'value'");
            smg__jv_t items = dict_items(c, v.u.d);
            return sort_list(c, items.u.l,
                             smg__jv_int(smg_str_eq_c(smg__jv_s(by), "key") ? 0 : 1), cs, rev,
                             line);
        }
        break;
    case 'e':
        if (IS("escape") || IS("e"))
            return f_escape(c, v);
        break;
    case 'f':
        if (IS("first")) {
            if (v.t == JV_STR)
                return v.u.s.n ? smg__jv_str(v.u.s.p, smg__u8_offset(v.u.s.p, v.u.s.n, 1))
                               : JV_UNDEF_V;
            smg__jlist_t *l = as_list(c, v, "first", line);
            return l->n ? l->v[0] : JV_UNDEF_V;
        }
        if (IS("float"))
            return f_float(c, v, a);
        if (IS("forceescape"))
            return f_escape(c, v);
        break;
    case 'i':
        if (IS("int"))
            return f_int(c, v, a);
        if (IS("indent"))
            return f_indent(c, str_operand(c, v, name, line), a, line);
        if (IS("items")) {
            if (v.t == JV_UNDEF)
                return smg__jv_list(smg__jlist_new(c, 0));
            if (v.t != JV_DICT && v.t != JV_NS)
                FAIL("items expects a dict, got %s", smg__jv_type_name(v));
            return dict_items(c, v.u.d);
        }
        break;
    case 'j':
        if (IS("join")) {
            smg__jlist_t *l = as_list(c, v, "join", line);
            smg__jv_t sep = arg_or(a, 0, "d", smg__jv_str("", 0));
            smg__jv_t at = arg_or(a, 1, "attribute", JV_NONE_V);
            if (sep.t != JV_STR)
                FAIL("join separator must be a string");
            size_t total = 0;
            smg__jv_t *parts = smg__jalloc(c, (l->n + 1) * sizeof *parts);
            for (uint32_t i = 0; i < l->n; i++) {
                parts[i] = smg__jv_to_string(c, attr_key(c, l->v[i], at, line));
                total += parts[i].u.s.n + sep.u.s.n;
                if (total > c->lim.max_output)
                    smg__jfail(c, line, SMG_ETOOBIG, "join result too large");
            }
            char *o = smg__jalloc(c, total + 1);
            size_t k = 0;
            for (uint32_t i = 0; i < l->n; i++) {
                if (i) {
                    memcpy(o + k, sep.u.s.p, sep.u.s.n);
                    k += sep.u.s.n;
                }
                memcpy(o + k, parts[i].u.s.p, parts[i].u.s.n);
                k += parts[i].u.s.n;
            }
            return smg__jv_str(o, k);
        }
        break;
    case 'l':
        if (IS("length")) {
        length:
            if (v.t == JV_STR)
                return smg__jv_int((int64_t)smg__u8_count(v.u.s.p, v.u.s.n));
            if (v.t == JV_LIST)
                return smg__jv_int(v.u.l->n);
            if (v.t == JV_DICT || v.t == JV_NS)
                return smg__jv_int(v.u.d->n);
            if (v.t == JV_UNDEF)
                return smg__jv_int(0);
            FAIL("object of type %s has no length", smg__jv_type_name(v));
        }
        if (IS("lower"))
            return str_case(c, smg__jv_s(str_operand(c, v, name, line)), 1);
        if (IS("last")) {
            if (v.t == JV_STR) {
                size_t n = smg__u8_count(v.u.s.p, v.u.s.n);
                if (!n)
                    return JV_UNDEF_V;
                size_t off = smg__u8_offset(v.u.s.p, v.u.s.n, n - 1);
                return smg__jv_str(v.u.s.p + off, v.u.s.n - off);
            }
            smg__jlist_t *l = as_list(c, v, "last", line);
            return l->n ? l->v[l->n - 1] : JV_UNDEF_V;
        }
        if (IS("list")) {
            smg__jlist_t *l = as_list(c, v, "list", line);
            smg__jlist_t *o = smg__jlist_new(c, l->n);
            memcpy(o->v, l->v, l->n * sizeof(smg__jv_t));
            o->n = l->n;
            return smg__jv_list(o);
        }
        break;
    case 'm':
        if (IS("map"))
            return f_seq(c, s, v, name, a, line);
        if (IS("max") || IS("min"))
            return f_minmax(c, v, a, IS("max"), line);
        break;
    case 'r':
        if (IS("replace")) {
            v = str_operand(c, v, name, line);
            smg__jv_t *o = smg__jarg(a, 0, "old"), *n = smg__jarg(a, 1, "new");
            smg__jv_t cnt = arg_or(a, 2, "count", JV_NONE_V);
            if (!o || !n || o->t != JV_STR || n->t != JV_STR)
                FAIL("replace expects two strings");
            if (cnt.t != JV_NONE && cnt.t != JV_INT)
                FAIL("replace count must be an integer");
            return str_replace(c, smg__jv_s(v), smg__jv_s(*o), smg__jv_s(*n),
                               cnt.t == JV_INT ? cnt.u.i : -1);
        }
        if (IS("reverse")) {
            if (v.t == JV_STR) {
                smg__jv_t lst = smg__jv_list(as_list(c, v, "reverse", line));
                size_t k = 0;
                char *o = smg__jalloc(c, v.u.s.n + 1);
                for (uint32_t i = lst.u.l->n; i-- > 0;) {
                    memcpy(o + k, lst.u.l->v[i].u.s.p, lst.u.l->v[i].u.s.n);
                    k += lst.u.l->v[i].u.s.n;
                }
                return smg__jv_str(o, k);
            }
            smg__jlist_t *l = as_list(c, v, "reverse", line);
            smg__jlist_t *o = smg__jlist_new(c, l->n);
            for (uint32_t i = l->n; i-- > 0;)
                o->v[o->n++] = l->v[i];
            return smg__jv_list(o);
        }
        if (IS("reject") || IS("rejectattr"))
            return f_seq(c, s, v, name, a, line);
        if (IS("round"))
            return f_round(c, v, a, line);
        break;
    case 's':
        if (IS("safe"))
            return v;
        if (IS("string"))
            return smg__jv_to_string(c, v);
        if (IS("select") || IS("selectattr"))
            return f_seq(c, s, v, name, a, line);
        if (IS("sort")) {
            smg__jlist_t *l = as_list(c, v, "sort", line);
            return sort_list(c, l, arg_or(a, 2, "attribute", JV_NONE_V),
                             arg_bool(a, 1, "case_sensitive", false),
                             arg_bool(a, 0, "reverse", false), line);
        }
        if (IS("sum")) {
            smg__jlist_t *l = as_list(c, v, "sum", line);
            smg__jv_t at = arg_or(a, 0, "attribute", JV_NONE_V);
            smg__jv_t acc = arg_or(a, 1, "start", smg__jv_int(0));
            for (uint32_t i = 0; i < l->n; i++) {
                smg__jv_t x = attr_key(c, l->v[i], at, line);
                double p, q;
                if (acc.t == JV_INT && x.t == JV_INT &&
                    !__builtin_add_overflow(acc.u.i, x.u.i, &acc.u.i))
                    continue;
                if ((acc.t != JV_INT && acc.t != JV_FLOAT) || (x.t != JV_INT && x.t != JV_FLOAT))
                    FAIL("sum expects numbers");
                p = acc.t == JV_INT ? (double)acc.u.i : acc.u.f;
                q = x.t == JV_INT ? (double)x.u.i : x.u.f;
                acc = smg__jv_float(p + q);
            }
            return acc;
        }
        break;
    case 't':
        if (IS("tojson"))
            return f_tojson(c, v, a, line);
        if (IS("trim")) {
            v = str_operand(c, v, name, line);
            smg__jv_t ch = arg_or(a, 0, "chars", JV_NONE_V);
            if (ch.t == JV_STR) {
                smg_str_t cs = smg__jv_s(ch);
                return str_strip(smg__jv_s(v), &cs, 3);
            }
            return str_strip(smg__jv_s(v), NULL, 3);
        }
        if (IS("title"))
            return str_case(c, smg__jv_s(str_operand(c, v, name, line)), 3);
        break;
    case 'u':
        if (IS("upper"))
            return str_case(c, smg__jv_s(str_operand(c, v, name, line)), 0);
        if (IS("unique")) {
            smg__jlist_t *l = as_list(c, v, "unique", line);
            smg__jlist_t *o = smg__jlist_new(c, 0);
            smg__jcount_iter(c, l->n, line);
            for (uint32_t i = 0; i < l->n; i++) {
                bool seen = false;
                for (uint32_t k = 0; k < o->n && !seen; k++)
                    seen = smg__jv_equal(o->v[k], l->v[i]);
                if (!seen)
                    smg__jlist_push(c, o, l->v[i]);
            }
            return smg__jv_list(o);
        }
        break;
    case 'w':
        if (IS("wordcount")) {
            smg_str_t t = smg__jv_s(smg__jv_to_string(c, v));
            int64_t n = 0;
            bool in = false;
            for (size_t i = 0; i < t.len; i++) {
                unsigned char ch = (unsigned char)t.ptr[i];
                bool w = ch >= 0x80 || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                         (ch >= 'A' && ch <= 'Z') || ch == '_';
                if (w && !in)
                    n++;
                in = w;
            }
            return smg__jv_int(n);
        }
        break;
    }
    FAIL("unknown filter '%.*s'", SMG_STR_FMT(name));
#undef IS
}

/* ---- methods -------------------------------------------------------------- */

static const char *STR_METHODS[] = {
    "strip", "lstrip", "rstrip", "split", "startswith", "endswith", "upper", "lower",
    "title", "capitalize", "replace", "format", "count", "find", "rfind", "join",
    "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "splitlines", "index",
};
static const char *LIST_METHODS[] = {"append", "extend", "pop", "insert", "index", "count",
                                     "copy", "reverse"};
static const char *DICT_METHODS[] = {"get", "items", "keys", "values", "copy", "pop",
                                     "update", "setdefault"};

static bool in_table(smg_str_t name, const char **t, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (smg_str_eq_c(name, t[i]))
            return true;
    return false;
}

bool smg__jhas_method(smg__jv_t self, smg_str_t name) {
    if (self.t == JV_STR)
        return in_table(name, STR_METHODS, SMG_ARRAY_LEN(STR_METHODS));
    if (self.t == JV_LIST)
        return in_table(name, LIST_METHODS, SMG_ARRAY_LEN(LIST_METHODS));
    if (self.t == JV_DICT)
        return in_table(name, DICT_METHODS, SMG_ARRAY_LEN(DICT_METHODS));
    return false;
}

static bool all_cp(smg_str_t s, int kind) {
    if (!s.len)
        return false;
    bool cased = false;
    size_t i = 0;
    while (i < s.len) {
        int32_t cp;
        i += smg__u8_dec(s.ptr + i, s.len - i, &cp);
        utf8proc_category_t cat = utf8proc_category(cp);
        bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        switch (kind) {
        case 0: if (!digit) return false; break;
        case 1: if (!alpha) return false; break;
        case 2: if (!alpha && !digit) return false; break;
        case 3: {
            char tmp[4];
            uint8_t *u = (uint8_t *)tmp;
            size_t n = (size_t)utf8proc_encode_char(cp, u);
            if (smg__js_space_len(tmp, n) != n)
                return false;
            break;
        }
        case 4:
            if (utf8proc_tolower(cp) != cp)
                cased = true;
            else if (utf8proc_toupper(cp) != cp)
                return false;
            break;
        case 5:
            if (utf8proc_toupper(cp) != cp)
                cased = true;
            else if (utf8proc_tolower(cp) != cp)
                return false;
            break;
        }
    }
    return kind >= 4 ? cased : true;
}

static int64_t find_sub(smg_str_t s, smg_str_t sub, bool last) {
    if (sub.len > s.len)
        return -1;
    int64_t found = -1;
    for (size_t i = 0; i + sub.len <= s.len; i++) {
        if (memcmp(s.ptr + i, sub.ptr, sub.len) == 0) {
            found = (int64_t)smg__u8_count(s.ptr, i);
            if (!last)
                return found;
        }
    }
    return found;
}

static smg__jv_t str_method(smg__jctx_t *c, smg__jv_t self, smg_str_t name, smg__jargs_t *a,
                            uint32_t line, bool *found) {
#define IS(n) smg_str_eq_c(name, n)
    smg_str_t s = smg__jv_s(self);
    *found = true;
    if (IS("strip") || IS("lstrip") || IS("rstrip")) {
        smg__jv_t ch = arg_or(a, 0, "chars", JV_NONE_V);
        int which = IS("strip") ? 3 : IS("lstrip") ? 1 : 2;
        if (ch.t == JV_STR) {
            smg_str_t cs = smg__jv_s(ch);
            return str_strip(s, &cs, which);
        }
        if (ch.t != JV_NONE && ch.t != JV_UNDEF)
            FAIL("%.*s() argument must be a string or none", SMG_STR_FMT(name));
        return str_strip(s, NULL, which);
    }
    if (IS("split")) {
        smg__jv_t mx = arg_or(a, 1, "maxsplit", smg__jv_int(-1));
        if (mx.t != JV_INT)
            FAIL("split() maxsplit must be an integer");
        return str_split(c, s, arg_or(a, 0, "sep", JV_NONE_V), mx.u.i, line);
    }
    if (IS("startswith") || IS("endswith")) {
        smg__jv_t *p = smg__jarg(a, 0, "prefix");
        if (!p)
            FAIL("%.*s() requires an argument", SMG_STR_FMT(name));
        return smg__jv_bool(str_affix(c, s, *p, IS("startswith"), line));
    }
    if (IS("upper"))
        return str_case(c, s, 0);
    if (IS("lower"))
        return str_case(c, s, 1);
    if (IS("capitalize"))
        return str_case(c, s, 2);
    if (IS("title"))
        return str_case(c, s, 3);
    if (IS("replace")) {
        smg__jv_t *o = smg__jarg(a, 0, "old"), *n = smg__jarg(a, 1, "new");
        smg__jv_t cnt = arg_or(a, 2, "count", smg__jv_int(-1));
        if (!o || !n || o->t != JV_STR || n->t != JV_STR || cnt.t != JV_INT)
            FAIL("replace() expects (old, new[, count])");
        return str_replace(c, s, smg__jv_s(*o), smg__jv_s(*n), cnt.u.i);
    }
    if (IS("format"))
        return str_format(c, s, a, line);
    if (IS("count") || IS("find") || IS("rfind") || IS("index")) {
        smg__jv_t *sub = smg__jarg(a, 0, "sub");
        if (!sub || sub->t != JV_STR)
            FAIL("%.*s() expects a string", SMG_STR_FMT(name));
        smg_str_t x = smg__jv_s(*sub);
        if (IS("count")) {
            if (!x.len)
                return smg__jv_int((int64_t)smg__u8_count(s.ptr, s.len) + 1);
            int64_t n = 0;
            size_t i = 0, f;
            while ((f = smg_str_find(smg_str(s.ptr + i, s.len - i), x)) != (size_t)-1) {
                n++;
                i += f + x.len;
            }
            return smg__jv_int(n);
        }
        int64_t pos = find_sub(s, x, IS("rfind"));
        if (pos < 0 && IS("index"))
            FAIL("substring not found");
        return smg__jv_int(pos);
    }
    if (IS("join")) {
        smg__jv_t *it = smg__jarg(a, 0, "iterable");
        if (!it)
            FAIL("join() expects an iterable");
        smg__jargs_t ja = {.pos = &self, .npos = 1};
        return smg__jfilter(c, NULL, *it, SMG_STR("join"), &ja, line);
    }
    if (IS("isdigit"))
        return smg__jv_bool(all_cp(s, 0));
    if (IS("isalpha"))
        return smg__jv_bool(all_cp(s, 1));
    if (IS("isalnum"))
        return smg__jv_bool(all_cp(s, 2));
    if (IS("isspace"))
        return smg__jv_bool(all_cp(s, 3));
    if (IS("islower"))
        return smg__jv_bool(all_cp(s, 4));
    if (IS("isupper"))
        return smg__jv_bool(all_cp(s, 5));
    if (IS("splitlines")) {
        smg__jlist_t *l = smg__jlist_new(c, 0);
        size_t i = 0;
        while (i < s.len) {
            size_t e = i;
            while (e < s.len && s.ptr[e] != '\n' && s.ptr[e] != '\r')
                e++;
            smg__jlist_push(c, l, smg__jv_str(s.ptr + i, e - i));
            if (e < s.len && s.ptr[e] == '\r' && e + 1 < s.len && s.ptr[e + 1] == '\n')
                e++;
            i = e + 1;
        }
        return smg__jv_list(l);
    }
    *found = false;
    return JV_UNDEF_V;
#undef IS
}

smg__jv_t smg__jmethod(smg__jctx_t *c, smg__jv_t self, smg_str_t name, smg__jargs_t *a,
                       uint32_t line, bool *found) {
#define IS(n) smg_str_eq_c(name, n)
    *found = true;
    if (self.t == JV_STR)
        return str_method(c, self, name, a, line, found);
    if (self.t == JV_DICT) {
        smg__jdict_t *d = self.u.d;
        if (IS("get")) {
            smg__jv_t *k = smg__jarg(a, 0, "key");
            if (!k)
                FAIL("get() requires a key");
            if (k->t != JV_STR)
                return arg_or(a, 1, "default", JV_NONE_V);
            smg__jv_t *v = smg__jdict_get(d, smg__jv_s(*k));
            return v ? *v : arg_or(a, 1, "default", JV_NONE_V);
        }
        if (IS("items"))
            return dict_items(c, d);
        if (IS("keys") || IS("values")) {
            smg__jlist_t *l = smg__jlist_new(c, d->n);
            for (uint32_t i = 0; i < d->n; i++)
                l->v[l->n++] = IS("keys") ? smg__jv_str(d->k[i].ptr, d->k[i].len) : d->v[i];
            return smg__jv_list(l);
        }
        if (IS("copy")) {
            smg__jdict_t *n = smg__jdict_new(c, d->n);
            memcpy(n->k, d->k, d->n * sizeof *n->k);
            memcpy(n->v, d->v, d->n * sizeof *n->v);
            n->n = d->n;
            return mkdict(n);
        }
        if (IS("pop")) {
            smg__jv_t *k = smg__jarg(a, 0, "key");
            if (!k || k->t != JV_STR)
                FAIL("pop() requires a string key");
            for (uint32_t i = 0; i < d->n; i++) {
                if (smg_str_eq(d->k[i], smg__jv_s(*k))) {
                    smg__jv_t v = d->v[i];
                    memmove(d->k + i, d->k + i + 1, (d->n - i - 1) * sizeof *d->k);
                    memmove(d->v + i, d->v + i + 1, (d->n - i - 1) * sizeof *d->v);
                    d->n--;
                    return v;
                }
            }
            smg__jv_t *dflt = smg__jarg(a, 1, "default");
            if (!dflt)
                FAIL("pop(): key not found");
            return *dflt;
        }
        if (IS("update")) {
            smg__jv_t *o = smg__jarg(a, 0, NULL);
            if (o && o->t == JV_DICT)
                for (uint32_t i = 0; i < o->u.d->n; i++)
                    smg__jdict_set(c, d, o->u.d->k[i], o->u.d->v[i]);
            if (a->kw)
                for (uint32_t i = 0; i < a->kw->n; i++)
                    smg__jdict_set(c, d, a->kw->k[i], a->kw->v[i]);
            return JV_NONE_V;
        }
        if (IS("setdefault")) {
            smg__jv_t *k = smg__jarg(a, 0, "key");
            if (!k || k->t != JV_STR)
                FAIL("setdefault() requires a string key");
            smg__jv_t *v = smg__jdict_get(d, smg__jv_s(*k));
            if (v)
                return *v;
            smg__jv_t dv = arg_or(a, 1, "default", JV_NONE_V);
            smg__jdict_set(c, d, smg__jv_s(*k), dv);
            return dv;
        }
    } else if (self.t == JV_LIST) {
        smg__jlist_t *l = self.u.l;
        if (IS("append")) {
            smg__jv_t *x = smg__jarg(a, 0, NULL);
            if (!x)
                FAIL("append() requires an argument");
            smg__jcount_iter(c, 1, line);
            smg__jlist_push(c, l, *x);
            return JV_NONE_V;
        }
        if (IS("extend")) {
            smg__jv_t *x = smg__jarg(a, 0, NULL);
            if (!x)
                FAIL("extend() requires an argument");
            smg__jlist_t *o = as_list(c, *x, "extend", line);
            uint32_t n = o->n;
            smg__jcount_iter(c, n, line);
            for (uint32_t i = 0; i < n; i++)
                smg__jlist_push(c, l, o->v[i]);
            return JV_NONE_V;
        }
        if (IS("pop")) {
            smg__jv_t ix = arg_or(a, 0, "index", smg__jv_int(-1));
            if (ix.t != JV_INT)
                FAIL("pop() index must be an integer");
            int64_t i = ix.u.i < 0 ? ix.u.i + l->n : ix.u.i;
            if (i < 0 || i >= (int64_t)l->n)
                FAIL("pop index out of range");
            smg__jv_t v = l->v[i];
            memmove(l->v + i, l->v + i + 1, (l->n - (size_t)i - 1) * sizeof *l->v);
            l->n--;
            return v;
        }
        if (IS("insert")) {
            smg__jv_t *ix = smg__jarg(a, 0, NULL), *x = smg__jarg(a, 1, NULL);
            if (!ix || !x || ix->t != JV_INT)
                FAIL("insert() expects (index, value)");
            int64_t i = ix->u.i < 0 ? ix->u.i + l->n : ix->u.i;
            if (i < 0)
                i = 0;
            if (i > (int64_t)l->n)
                i = l->n;
            smg__jlist_push(c, l, *x);
            memmove(l->v + i + 1, l->v + i, (l->n - 1 - (size_t)i) * sizeof *l->v);
            l->v[i] = *x;
            return JV_NONE_V;
        }
        if (IS("index") || IS("count")) {
            smg__jv_t *x = smg__jarg(a, 0, NULL);
            if (!x)
                FAIL("%.*s() requires an argument", SMG_STR_FMT(name));
            int64_t n = 0;
            for (uint32_t i = 0; i < l->n; i++) {
                if (smg__jv_equal(l->v[i], *x)) {
                    if (IS("index"))
                        return smg__jv_int(i);
                    n++;
                }
            }
            if (IS("index"))
                FAIL("value is not in list");
            return smg__jv_int(n);
        }
        if (IS("copy")) {
            smg__jlist_t *o = smg__jlist_new(c, l->n);
            memcpy(o->v, l->v, l->n * sizeof *l->v);
            o->n = l->n;
            return smg__jv_list(o);
        }
        if (IS("reverse")) {
            for (uint32_t i = 0, j = l->n ? l->n - 1 : 0; i < j; i++, j--) {
                smg__jv_t t = l->v[i];
                l->v[i] = l->v[j];
                l->v[j] = t;
            }
            return JV_NONE_V;
        }
    }
    *found = false;
    return JV_UNDEF_V;
#undef IS
}

/* ---- global functions ----------------------------------------------------- */

smg__jv_t smg__jbuiltin_call(smg__jctx_t *c, int kind, smg__jargs_t *a, uint32_t line) {
    switch (kind) {
    case JF_RAISE: {
        smg__jv_t m = a->npos ? smg__jv_to_string(c, a->pos[0]) : smg__jv_str("", 0);
        smg__jfail(c, line, SMG_EINVAL, "%.*s", (int)m.u.s.n, m.u.s.p);
    }
    case JF_RANGE: {
        int64_t v[3] = {0, 0, 1};
        if (a->npos < 1 || a->npos > 3)
            FAIL("range() expects 1 to 3 integer arguments");
        for (uint32_t i = 0; i < a->npos; i++) {
            if (a->pos[i].t != JV_INT)
                FAIL("range() arguments must be integers");
        }
        if (a->npos == 1) {
            v[1] = a->pos[0].u.i;
        } else {
            v[0] = a->pos[0].u.i;
            v[1] = a->pos[1].u.i;
            if (a->npos == 3)
                v[2] = a->pos[2].u.i;
        }
        if (v[2] == 0)
            FAIL("range() step must not be zero");
        double cnt = v[2] > 0 ? ceil(((double)v[1] - (double)v[0]) / (double)v[2])
                              : ceil(((double)v[0] - (double)v[1]) / -(double)v[2]);
        if (cnt < 0)
            cnt = 0;
        if (cnt > (double)c->lim.max_iterations)
            smg__jfail(c, line, SMG_ELIMIT, "range() of %.0f items exceeds the iteration limit",
                       cnt);
        smg__jcount_iter(c, (uint64_t)cnt, line);
        smg__jlist_t *l = smg__jlist_new(c, (uint32_t)cnt);
        for (int64_t x = v[0]; v[2] > 0 ? x < v[1] : x > v[1]; x += v[2])
            l->v[l->n++] = smg__jv_int(x);
        return smg__jv_list(l);
    }
    case JF_NAMESPACE:
    case JF_DICT: {
        smg__jdict_t *d = smg__jdict_new(c, 4);
        if (a->npos > 1)
            FAIL("%s expected at most 1 positional argument",
                 kind == JF_DICT ? "dict()" : "namespace()");
        if (a->npos == 1) {
            smg__jv_t src = a->pos[0];
            if (src.t == JV_DICT || src.t == JV_NS) {
                for (uint32_t i = 0; i < src.u.d->n; i++)
                    smg__jdict_set(c, d, src.u.d->k[i], src.u.d->v[i]);
            } else if (src.t == JV_LIST) {
                for (uint32_t i = 0; i < src.u.l->n; i++) {
                    smg__jv_t p = src.u.l->v[i];
                    if (p.t != JV_LIST || p.u.l->n != 2 || p.u.l->v[0].t != JV_STR)
                        FAIL("expected [key, value] pairs with string keys");
                    smg__jdict_set(c, d, smg__jv_s(p.u.l->v[0]), p.u.l->v[1]);
                }
            } else {
                FAIL("cannot build a mapping from a %s", smg__jv_type_name(src));
            }
        }
        if (a->kw)
            for (uint32_t i = 0; i < a->kw->n; i++)
                smg__jdict_set(c, d, a->kw->k[i], a->kw->v[i]);
        return (smg__jv_t){.t = kind == JF_DICT ? JV_DICT : JV_NS, .u.d = d};
    }
    case JF_STRFTIME: {
        smg__jv_t *f = smg__jarg(a, 0, "format");
        if (!f || f->t != JV_STR)
            FAIL("strftime_now() expects a format string");
        if (f->u.s.n > 256)
            FAIL("strftime_now() format too long");
        char fmt[260], out[1024];
        memcpy(fmt, f->u.s.p, f->u.s.n);
        fmt[f->u.s.n] = '\0';
        time_t now = c->lim.now ? (time_t)c->lim.now : time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t n = strftime(out, sizeof out, fmt, &tm);
        return smg__jv_strdup(c, out, n);
    }
    default: FAIL("not a function");
    }
}
