/* Jinja evaluator: statements write into the current output buffer,
 * expressions produce arena values. Entry points smg_jinja_parse and
 * smg_jinja_render own all resources and catch the longjmp of any error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "token/jinja_int.h"

void smg_jinja_limits_default(smg_jinja_limits_t *lim) {
    lim->max_output = 16u << 20;
    lim->max_iterations = 1000000;
    lim->max_call_depth = 64;
    lim->max_expr_depth = 512;
    lim->max_memory = 256u << 20;
    lim->now = 0;
}

static const smg__jglobal_t GLOBALS[] = {
    {"raise_exception", JF_RAISE}, {"range", JF_RANGE},       {"namespace", JF_NAMESPACE},
    {"strftime_now", JF_STRFTIME}, {"dict", JF_DICT},
};

int smg__jglobal_kind(smg_str_t name) {
    for (size_t i = 0; i < SMG_ARRAY_LEN(GLOBALS); i++)
        if (smg_str_eq_c(name, GLOBALS[i].name))
            return GLOBALS[i].kind;
    return -1;
}

/* ---- scopes --------------------------------------------------------------- */

static smg__jscope_t *scope_new(smg__jctx_t *c, smg__jscope_t *parent) {
    smg__jscope_t *s = smg__jalloc(c, sizeof *s);
    memset(s, 0, sizeof *s);
    s->parent = parent;
    return s;
}

/* The root scope is indexed by symbol; child scopes are small arrays. */
static smg__jv_t *scope_find(smg__jctx_t *c, smg__jscope_t *s, uint32_t sym) {
    for (; s; s = s->parent) {
        if (s == &c->root) {
            smg__jv_t *v = &s->vals[sym];
            return v->t == JV_UNDEF ? NULL : v;
        }
        for (uint32_t i = 0; i < s->n; i++)
            if (s->syms[i] == sym)
                return &s->vals[i];
    }
    return NULL;
}

static void scope_set(smg__jctx_t *c, smg__jscope_t *s, uint32_t sym, smg__jv_t v) {
    if (s == &c->root) {
        s->vals[sym] = v;
        return;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->syms[i] == sym) {
            s->vals[i] = v;
            return;
        }
    }
    if (s->n == s->cap) {
        uint32_t nc = s->cap ? s->cap * 2 : 4;
        uint32_t *ns = smg__jalloc(c, nc * sizeof *ns);
        smg__jv_t *nv = smg__jalloc(c, nc * sizeof *nv);
        if (s->n) {
            memcpy(ns, s->syms, s->n * sizeof *ns);
            memcpy(nv, s->vals, s->n * sizeof *nv);
        }
        s->syms = ns;
        s->vals = nv;
        s->cap = nc;
    }
    s->syms[s->n] = sym;
    s->vals[s->n++] = v;
}

/* ---- output stack --------------------------------------------------------- */

static void push_out(smg__jctx_t *c) {
    if (c->nouts == c->capouts) {
        unsigned nc = c->capouts * 2;
        smg_buf_t *nb = realloc(c->outs, nc * sizeof *nb);
        if (!nb)
            smg__jfail(c, 0, SMG_ENOMEM, "out of memory while rendering");
        for (unsigned i = c->capouts; i < nc; i++)
            smg_buf_init(&nb[i], 0);
        c->outs = nb;
        c->capouts = nc;
    }
    smg_buf_reset(&c->outs[c->nouts]);
    c->nouts++;
}

static smg__jv_t pop_out(smg__jctx_t *c) {
    SMG_BUG_ON(c->nouts < 2);
    smg_buf_t *b = &c->outs[--c->nouts];
    return smg__jv_strdup(c, b->ptr ? b->ptr : "", b->len);
}

void smg__jcount_iter(smg__jctx_t *c, uint64_t n, uint32_t line) {
    c->iterations += n;
    if (c->iterations > c->lim.max_iterations)
        smg__jfail(c, line, SMG_ELIMIT, "loop iteration limit reached (%llu)",
                   (unsigned long long)c->lim.max_iterations);
}

/* ---- arguments ------------------------------------------------------------ */

void smg__jeval_args(smg__jctx_t *c, smg__jscope_t *s, const smg__jnodes_t *args,
                     smg__jargs_t *out) {
    out->npos = 0;
    out->kw = NULL;
    out->pos = NULL;
    if (!args->n)
        return;
    uint32_t cap = args->n;
    out->pos = smg__jalloc(c, cap * sizeof(smg__jv_t));
    for (uint32_t i = 0; i < args->n; i++) {
        const smg__jnode_t *a = args->v[i];
        if (a->kind == JN_SPREAD) {
            smg__jv_t v = smg__jeval(c, s, a->a);
            if (v.t != JV_LIST)
                smg__jfail(c, a->line, SMG_EINVAL, "cannot unpack a %s with *",
                           smg__jv_type_name(v));
            smg__jv_t *np = smg__jalloc(c, (cap + v.u.l->n) * sizeof *np);
            memcpy(np, out->pos, out->npos * sizeof *np);
            out->pos = np;
            cap += v.u.l->n;
            for (uint32_t k = 0; k < v.u.l->n; k++)
                out->pos[out->npos++] = v.u.l->v[k];
        } else if (a->kind != JN_KWARG && a->kind != JN_KWSPREAD) {
            out->pos[out->npos++] = smg__jeval(c, s, a);
        }
    }
    for (uint32_t i = 0; i < args->n; i++) {
        const smg__jnode_t *a = args->v[i];
        if (a->kind == JN_KWARG) {
            if (!out->kw)
                out->kw = smg__jdict_new(c, 4);
            if (smg__jdict_get(out->kw, a->s))
                smg__jfail(c, a->line, SMG_EINVAL, "multiple values for keyword argument '%.*s'",
                           SMG_STR_FMT(a->s));
            smg__jdict_set(c, out->kw, a->s, smg__jeval(c, s, a->a));
        } else if (a->kind == JN_KWSPREAD) {
            smg__jv_t v = smg__jeval(c, s, a->a);
            if (v.t != JV_DICT)
                smg__jfail(c, a->line, SMG_EINVAL, "argument after ** must be a mapping, not %s",
                           smg__jv_type_name(v));
            if (!out->kw)
                out->kw = smg__jdict_new(c, 4);
            for (uint32_t k = 0; k < v.u.d->n; k++) {
                if (smg__jdict_get(out->kw, v.u.d->k[k]))
                    smg__jfail(c, a->line, SMG_EINVAL,
                               "multiple values for keyword argument '%.*s'",
                               SMG_STR_FMT(v.u.d->k[k]));
                smg__jdict_set(c, out->kw, v.u.d->k[k], v.u.d->v[k]);
            }
        }
    }
}

smg__jv_t *smg__jarg(smg__jargs_t *a, uint32_t i, const char *name) {
    if (i < a->npos)
        return &a->pos[i];
    if (name && a->kw)
        return smg__jdict_get(a->kw, smg_str_c(name));
    return NULL;
}

/* ---- macros --------------------------------------------------------------- */

static void exec_list(smg__jctx_t *c, smg__jscope_t *s, const smg__jnodes_t *l);

/* True when name is one of the macro's declared parameters. */
static bool is_param(const smg__jnodes_t *params, smg_str_t name) {
    for (uint32_t i = 0; i < params->n; i++)
        if (smg_str_eq(params->v[i]->s, name))
            return true;
    return false;
}

static smg__jv_t call_macro(smg__jctx_t *c, smg__jfunc_t *fn, smg__jargs_t *a,
                            smg__jfunc_t *caller, uint32_t line) {
    if (++c->call_depth > c->lim.max_call_depth)
        smg__jfail(c, line, SMG_ELIMIT, "macro call depth limit reached (%u)",
                   c->lim.max_call_depth);
    const smg__jnode_t *m = fn->node;
    smg__jscope_t *ms = scope_new(c, fn->closure);
    const smg__jnodes_t *params = &m->alt;
    uint32_t used_kw = 0;
    for (uint32_t i = 0; i < params->n; i++) {
        const smg__jnode_t *p = params->v[i];
        smg__jv_t v = JV_UNDEF_V;
        bool have = false;
        if (i < a->npos) {
            v = a->pos[i];
            have = true;
        } else if (a->kw) {
            smg__jv_t *kv = smg__jdict_get(a->kw, p->s);
            if (kv) {
                v = *kv;
                have = true;
                used_kw++;
            }
        }
        scope_set(c, ms, p->sym, v);
        (void)have;
    }
    /* defaults see the already-bound parameters */
    for (uint32_t i = 0; i < params->n; i++) {
        const smg__jnode_t *p = params->v[i];
        if (p->kind != JN_KWARG || i < a->npos || (a->kw && smg__jdict_get(a->kw, p->s)))
            continue;
        scope_set(c, ms, p->sym, smg__jeval(c, ms, p->a));
    }
    bool uses_varargs = m->op & 1, uses_kwargs = m->op & 2;
    if (uses_kwargs) {
        smg__jdict_t *kw = smg__jdict_new(c, 0);
        if (a->kw)
            for (uint32_t k = 0; k < a->kw->n; k++)
                if (!is_param(params, a->kw->k[k]))
                    smg__jdict_set(c, kw, a->kw->k[k], a->kw->v[k]);
        scope_set(c, ms, JSYM_KWARGS, (smg__jv_t){.t = JV_DICT, .u.d = kw});
    } else if (a->kw && a->kw->n > used_kw) {
        for (uint32_t k = 0; k < a->kw->n; k++)
            if (!is_param(params, a->kw->k[k]))
                smg__jfail(c, line, SMG_EINVAL, "macro %.*s takes no keyword argument '%.*s'",
                           SMG_STR_FMT(fn->name), SMG_STR_FMT(a->kw->k[k]));
    }
    if (uses_varargs) {
        smg__jlist_t *l = smg__jlist_new(c, 0);
        for (uint32_t i = params->n; i < a->npos; i++)
            smg__jlist_push(c, l, a->pos[i]);
        scope_set(c, ms, JSYM_VARARGS, smg__jv_list(l));
    } else if (a->npos > params->n) {
        smg__jfail(c, line, SMG_EINVAL, "macro %.*s takes not more than %u argument(s)",
                   SMG_STR_FMT(fn->name), params->n);
    }
    if (caller)
        scope_set(c, ms, JSYM_CALLER, (smg__jv_t){.t = JV_FUNC, .u.fn = caller});
    int saved_ctl = c->loop_ctl;
    unsigned saved_in_loop = c->in_loop;
    c->in_loop = 0;
    push_out(c);
    exec_list(c, ms, &m->body);
    smg__jv_t r = pop_out(c);
    c->loop_ctl = saved_ctl;
    c->in_loop = saved_in_loop;
    c->call_depth--;
    return r;
}

static smg__jfunc_t *global_func(smg__jctx_t *c, int kind, smg_str_t name) {
    smg__jfunc_t *f = smg__jalloc(c, sizeof *f);
    memset(f, 0, sizeof *f);
    f->kind = (uint8_t)kind;
    f->name = name;
    return f;
}

smg__jv_t smg__jcall_value(smg__jctx_t *c, smg__jscope_t *s, smg__jv_t fn, smg__jv_t *args,
                           uint32_t nargs, smg__jdict_t *kw, uint32_t line) {
    (void)s;
    smg__jargs_t a = {.pos = args, .npos = nargs, .kw = kw};
    if (fn.t != JV_FUNC)
        smg__jfail(c, line, SMG_EINVAL, "cannot call a %s", smg__jv_type_name(fn));
    smg__jfunc_t *f = fn.u.fn;
    if (f->kind == JF_MACRO)
        return call_macro(c, f, &a, NULL, line);
    if (f->kind == JF_METHOD) {
        bool found;
        smg__jv_t r = smg__jmethod(c, f->self, f->name, &a, line, &found);
        if (!found)
            smg__jfail(c, line, SMG_EINVAL, "unknown method '%.*s' for %s", SMG_STR_FMT(f->name),
                       smg__jv_type_name(f->self));
        return r;
    }
    return smg__jbuiltin_call(c, f->kind, &a, line);
}

/* ---- member access -------------------------------------------------------- */

static smg__jv_t bound_method(smg__jctx_t *c, smg__jv_t self, smg_str_t name) {
    smg__jfunc_t *f = global_func(c, JF_METHOD, name);
    f->self = self;
    return (smg__jv_t){.t = JV_FUNC, .u.fn = f};
}

static smg__jv_t loop_attr(smg__jloop_t *L, smg_str_t k) {
    if (smg_str_eq_c(k, "index"))
        return smg__jv_int(L->index0 + 1);
    if (smg_str_eq_c(k, "index0"))
        return smg__jv_int(L->index0);
    if (smg_str_eq_c(k, "revindex"))
        return smg__jv_int(L->length - L->index0);
    if (smg_str_eq_c(k, "revindex0"))
        return smg__jv_int(L->length - L->index0 - 1);
    if (smg_str_eq_c(k, "first"))
        return smg__jv_bool(L->index0 == 0);
    if (smg_str_eq_c(k, "last"))
        return smg__jv_bool(L->index0 == L->length - 1);
    if (smg_str_eq_c(k, "length"))
        return smg__jv_int(L->length);
    if (smg_str_eq_c(k, "previtem"))
        return L->prev;
    if (smg_str_eq_c(k, "nextitem"))
        return L->next;
    if (smg_str_eq_c(k, "depth"))
        return smg__jv_int(1);
    if (smg_str_eq_c(k, "depth0"))
        return smg__jv_int(0);
    return JV_UNDEF_V;
}

static smg__jv_t index_seq(smg__jctx_t *c, smg__jv_t obj, int64_t i) {
    if (obj.t == JV_LIST) {
        int64_t n = obj.u.l->n;
        if (i < 0)
            i += n;
        if (i < 0 || i >= n)
            return JV_UNDEF_V;
        return obj.u.l->v[i];
    }
    /* strings index by code point */
    const char *p = obj.u.s.p;
    size_t n = obj.u.s.n;
    int64_t cnt = (int64_t)smg__u8_count(p, n);
    if (i < 0)
        i += cnt;
    if (i < 0 || i >= cnt)
        return JV_UNDEF_V;
    size_t off = smg__u8_offset(p, n, (size_t)i);
    int32_t cp;
    size_t l = smg__u8_dec(p + off, n - off, &cp);
    return smg__jv_str(p + off, l);
    (void)c;
}

static smg__jv_t member(smg__jctx_t *c, smg__jv_t obj, smg__jv_t key, uint32_t line) {
    switch (obj.t) {
    case JV_DICT:
    case JV_NS: {
        if (key.t != JV_STR)
            smg__jfail(c, line, SMG_EINVAL, "cannot access a %s key with a %s",
                       smg__jv_type_name(obj), smg__jv_type_name(key));
        smg__jv_t *v = smg__jdict_get(obj.u.d, smg__jv_s(key));
        if (v)
            return *v;
        if (obj.t == JV_DICT && smg__jhas_method(obj, smg__jv_s(key)))
            return bound_method(c, obj, smg__jv_s(key));
        return JV_UNDEF_V;
    }
    case JV_LIST:
    case JV_STR:
        if (key.t == JV_INT)
            return index_seq(c, obj, key.u.i);
        if (key.t == JV_BOOL)
            return index_seq(c, obj, key.u.b);
        if (key.t == JV_STR) {
            if (smg_str_eq_c(smg__jv_s(key), "length") && obj.t == JV_LIST)
                return smg__jv_int(obj.u.l->n);
            if (smg__jhas_method(obj, smg__jv_s(key)))
                return bound_method(c, obj, smg__jv_s(key));
            return JV_UNDEF_V;
        }
        smg__jfail(c, line, SMG_EINVAL, "cannot index a %s with a %s", smg__jv_type_name(obj),
                   smg__jv_type_name(key));
    case JV_LOOP:
        if (key.t == JV_STR)
            return loop_attr(obj.u.loop, smg__jv_s(key));
        return JV_UNDEF_V;
    default:
        if (key.t == JV_STR && (obj.t == JV_INT || obj.t == JV_FLOAT) &&
            smg__jhas_method(obj, smg__jv_s(key)))
            return bound_method(c, obj, smg__jv_s(key));
        return JV_UNDEF_V;
    }
}

static smg__jv_t eval_slice(smg__jctx_t *c, smg__jscope_t *s, const smg__jnode_t *n) {
    smg__jv_t obj = smg__jeval(c, s, n->a);
    if (obj.t != JV_LIST && obj.t != JV_STR)
        smg__jfail(c, n->line, SMG_EINVAL, "cannot slice a %s", smg__jv_type_name(obj));
    const smg__jnode_t *parts[3] = {n->b, n->c, n->body.n ? n->body.v[0] : NULL};
    int64_t v[3];
    bool has[3];
    for (int i = 0; i < 3; i++) {
        has[i] = false;
        if (!parts[i])
            continue;
        smg__jv_t x = smg__jeval(c, s, parts[i]);
        if (x.t == JV_UNDEF || x.t == JV_NONE)
            continue;
        if (x.t != JV_INT)
            smg__jfail(c, n->line, SMG_EINVAL, "slice indices must be integers, not %s",
                       smg__jv_type_name(x));
        v[i] = x.u.i;
        has[i] = true;
    }
    int64_t step = has[2] ? v[2] : 1;
    if (step == 0)
        smg__jfail(c, n->line, SMG_EINVAL, "slice step cannot be zero");
    int64_t len = obj.t == JV_LIST ? obj.u.l->n : (int64_t)smg__u8_count(obj.u.s.p, obj.u.s.n);
    int64_t start, stop;
    if (step > 0) {
        start = has[0] ? v[0] : 0;
        stop = has[1] ? v[1] : len;
        start = start < 0 ? (start + len < 0 ? 0 : start + len) : (start > len ? len : start);
        stop = stop < 0 ? (stop + len < 0 ? 0 : stop + len) : (stop > len ? len : stop);
    } else {
        start = has[0] ? v[0] : len - 1;
        stop = has[1] ? v[1] : -1 - len; /* "to the beginning" */
        start = start < 0 ? (start + len < -1 ? -1 : start + len) : (start > len - 1 ? len - 1 : start);
        stop = stop < 0 ? (stop + len < -1 ? -1 : stop + len) : (stop > len - 1 ? len - 1 : stop);
    }
    if (obj.t == JV_LIST) {
        smg__jlist_t *l = smg__jlist_new(c, 0);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            smg__jlist_push(c, l, obj.u.l->v[i]);
        return smg__jv_list(l);
    }
    /* strings: collect code point offsets */
    size_t *offs = smg__jalloc(c, ((size_t)len + 1) * sizeof *offs);
    size_t o = 0;
    int32_t cp;
    for (int64_t i = 0; i < len; i++) {
        offs[i] = o;
        o += smg__u8_dec(obj.u.s.p + o, obj.u.s.n - o, &cp);
    }
    offs[len] = o;
    if (step == 1) {
        if (stop <= start)
            return smg__jv_str("", 0);
        return smg__jv_str(obj.u.s.p + offs[start], offs[stop] - offs[start]);
    }
    char *buf = smg__jalloc(c, obj.u.s.n + 1);
    size_t k = 0;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        memcpy(buf + k, obj.u.s.p + offs[i], offs[i + 1] - offs[i]);
        k += offs[i + 1] - offs[i];
    }
    return smg__jv_str(buf, k);
}

/* ---- operators ------------------------------------------------------------ */

static bool num_of(smg__jv_t v, double *d, bool *is_int) {
    if (v.t == JV_INT) {
        *d = (double)v.u.i;
        *is_int = true;
    } else if (v.t == JV_BOOL) {
        *d = v.u.b;
        *is_int = true;
    } else if (v.t == JV_FLOAT) {
        *d = v.u.f;
        *is_int = false;
    } else {
        return false;
    }
    return true;
}

static smg__jv_t concat(smg__jctx_t *c, smg__jv_t a, smg__jv_t b) {
    a = smg__jv_to_string(c, a);
    b = smg__jv_to_string(c, b);
    char *p = smg__jalloc(c, a.u.s.n + b.u.s.n + 1);
    memcpy(p, a.u.s.p, a.u.s.n);
    memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
    p[a.u.s.n + b.u.s.n] = '\0';
    return smg__jv_str(p, a.u.s.n + b.u.s.n);
}

static bool contains(smg__jv_t hay, smg__jv_t needle, bool *ok) {
    *ok = true;
    if (hay.t == JV_LIST) {
        for (uint32_t i = 0; i < hay.u.l->n; i++)
            if (smg__jv_equal(hay.u.l->v[i], needle))
                return true;
        return false;
    }
    if (hay.t == JV_STR && needle.t == JV_STR)
        return smg_str_find(smg__jv_s(hay), smg__jv_s(needle)) != (size_t)-1;
    if ((hay.t == JV_DICT || hay.t == JV_NS) && needle.t == JV_STR)
        return smg__jdict_get(hay.u.d, smg__jv_s(needle)) != NULL;
    *ok = false;
    return false;
}

static const char *op_name(int op) {
    static const char *n[] = {"+", "-", "~", "*", "/", "//", "%", "**", "==", "!=", "<", ">",
                              "<=", ">=", "in", "not in"};
    return n[op];
}

static smg__jv_t binary(smg__jctx_t *c, int op, smg__jv_t l, smg__jv_t r, uint32_t line) {
    if (op == JOP_EQ)
        return smg__jv_bool(smg__jv_equal(l, r));
    if (op == JOP_NE)
        return smg__jv_bool(!smg__jv_equal(l, r));
    if (l.t == JV_UNDEF || r.t == JV_UNDEF) {
        if (r.t == JV_UNDEF && (op == JOP_IN || op == JOP_NOTIN))
            return smg__jv_bool(op == JOP_NOTIN);
        smg__jfail(c, line, SMG_EINVAL, "cannot apply '%s' to an undefined value", op_name(op));
    }
    if (l.t == JV_NONE || r.t == JV_NONE) {
        if ((op == JOP_IN || op == JOP_NOTIN) && r.t != JV_NONE) {
            bool ok, in = contains(r, l, &ok);
            if (ok)
                return smg__jv_bool(op == JOP_IN ? in : !in);
        }
        smg__jfail(c, line, SMG_EINVAL, "cannot apply '%s' to none", op_name(op));
    }
    if (op == JOP_CONCAT)
        return concat(c, l, r);
    double a, b;
    bool ai, bi;
    if (num_of(l, &a, &ai) && num_of(r, &b, &bi)) {
        bool ints = ai && bi;
        int64_t x = l.t == JV_BOOL ? l.u.b : l.u.i, y = r.t == JV_BOOL ? r.u.b : r.u.i, z;
        switch (op) {
        case JOP_ADD:
            if (ints && !__builtin_add_overflow(x, y, &z))
                return smg__jv_int(z);
            return ints ? smg__jv_float(a + b) : smg__jv_float(a + b);
        case JOP_SUB:
            if (ints && !__builtin_sub_overflow(x, y, &z))
                return smg__jv_int(z);
            return smg__jv_float(a - b);
        case JOP_MUL:
            if (ints && !__builtin_mul_overflow(x, y, &z))
                return smg__jv_int(z);
            return smg__jv_float(a * b);
        case JOP_DIV:
            if (b == 0)
                smg__jfail(c, line, SMG_EINVAL, "division by zero");
            return smg__jv_float(a / b);
        case JOP_FLOORDIV:
            if (b == 0)
                smg__jfail(c, line, SMG_EINVAL, "division by zero");
            if (ints && !(x == INT64_MIN && y == -1)) {
                int64_t q = x / y;
                if ((x % y != 0) && ((x < 0) != (y < 0)))
                    q--;
                return smg__jv_int(q);
            }
            return smg__jv_float(floor(a / b));
        case JOP_MOD:
            if (b == 0)
                smg__jfail(c, line, SMG_EINVAL, "modulo by zero");
            if (ints && !(x == INT64_MIN && y == -1)) {
                int64_t m = x % y;
                if (m != 0 && ((m < 0) != (y < 0)))
                    m += y;
                return smg__jv_int(m);
            } else {
                double m = fmod(a, b);
                if (m != 0 && ((m < 0) != (b < 0)))
                    m += b;
                return smg__jv_float(m);
            }
        case JOP_POW: {
            if (a == 0 && b < 0)
                smg__jfail(c, line, SMG_EINVAL, "0 cannot be raised to a negative power");
            double p = pow(a, b);
            if (!isfinite(p))
                smg__jfail(c, line, SMG_EINVAL, "exponentiation result is not a finite number");
            if (ints && b >= 0 && fabs(p) < 9.2e18)
                return smg__jv_int((int64_t)p);
            return smg__jv_float(p);
        }
        case JOP_LT: return smg__jv_bool(a < b);
        case JOP_GT: return smg__jv_bool(a > b);
        case JOP_LE: return smg__jv_bool(a <= b);
        case JOP_GE: return smg__jv_bool(a >= b);
        default: break;
        }
    }
    if (l.t == JV_LIST && r.t == JV_LIST && op == JOP_ADD) {
        smg__jlist_t *n = smg__jlist_new(c, l.u.l->n + r.u.l->n);
        memcpy(n->v, l.u.l->v, l.u.l->n * sizeof(smg__jv_t));
        memcpy(n->v + l.u.l->n, r.u.l->v, r.u.l->n * sizeof(smg__jv_t));
        n->n = l.u.l->n + r.u.l->n;
        return smg__jv_list(n);
    }
    if (op == JOP_IN || op == JOP_NOTIN) {
        bool ok, in = contains(r, l, &ok);
        if (ok)
            return smg__jv_bool(op == JOP_IN ? in : !in);
    }
    if (op == JOP_ADD && (l.t == JV_STR || r.t == JV_STR))
        return concat(c, l, r);
    if (l.t == JV_STR && r.t == JV_STR && op >= JOP_LT && op <= JOP_GE) {
        int k = smg__jv_compare(c, l, r, true);
        return smg__jv_bool(op == JOP_LT ? k < 0 : op == JOP_GT ? k > 0 : op == JOP_LE ? k <= 0
                                                                                        : k >= 0);
    }
    if (op == JOP_MUL && ((l.t == JV_STR && r.t == JV_INT) || (l.t == JV_INT && r.t == JV_STR))) {
        smg__jv_t s = l.t == JV_STR ? l : r;
        int64_t k = l.t == JV_INT ? l.u.i : r.u.i;
        if (k <= 0 || s.u.s.n == 0)
            return smg__jv_str("", 0);
        if ((uint64_t)k > c->lim.max_output / s.u.s.n)
            smg__jfail(c, line, SMG_ETOOBIG, "string repetition larger than the output limit");
        char *p = smg__jalloc(c, s.u.s.n * (size_t)k + 1);
        for (int64_t i = 0; i < k; i++)
            memcpy(p + (size_t)i * s.u.s.n, s.u.s.p, s.u.s.n);
        return smg__jv_str(p, s.u.s.n * (size_t)k);
    }
    smg__jfail(c, line, SMG_EINVAL, "unsupported operand types for '%s': %s and %s", op_name(op),
               smg__jv_type_name(l), smg__jv_type_name(r));
}

/* ---- expressions ---------------------------------------------------------- */

static smg__jv_t eval_call(smg__jctx_t *c, smg__jscope_t *s, const smg__jnode_t *n) {
    const smg__jnode_t *callee = n->a;
    smg__jargs_t a;
    if (callee->kind == JN_ATTR) {
        smg__jv_t obj = smg__jeval(c, s, callee->a);
        smg__jv_t key = smg__jv_str(callee->s.ptr, callee->s.len);
        smg__jv_t *own = (obj.t == JV_DICT || obj.t == JV_NS)
                             ? smg__jdict_get(obj.u.d, callee->s)
                             : NULL;
        if (own) {
            smg__jeval_args(c, s, &n->body, &a);
            return smg__jcall_value(c, s, *own, a.pos, a.npos, a.kw, n->line);
        }
        if (obj.t == JV_LOOP) {
            smg__jfail(c, n->line, SMG_EINVAL, "loop.%.*s() is not supported",
                       SMG_STR_FMT(callee->s));
        }
        smg__jeval_args(c, s, &n->body, &a);
        bool found;
        c->cur_line = n->line;
        smg__jv_t r = smg__jmethod(c, obj, callee->s, &a, n->line, &found);
        if (found)
            return r;
        if (obj.t == JV_UNDEF)
            smg__jfail(c, n->line, SMG_EINVAL, "'%.*s' called on an undefined value",
                       SMG_STR_FMT(callee->s));
        (void)key;
        smg__jfail(c, n->line, SMG_EINVAL, "unknown method '%.*s' for %s",
                   SMG_STR_FMT(callee->s), smg__jv_type_name(obj));
    }
    smg__jv_t fn = smg__jeval(c, s, callee);
    if (fn.t != JV_FUNC) {
        if (callee->kind == JN_NAME)
            smg__jfail(c, n->line, SMG_EINVAL, "'%.*s' is %s, not a function",
                       SMG_STR_FMT(callee->s), fn.t == JV_UNDEF ? "undefined" : "not callable");
        smg__jfail(c, n->line, SMG_EINVAL, "cannot call a %s", smg__jv_type_name(fn));
    }
    smg__jeval_args(c, s, &n->body, &a);
    return smg__jcall_value(c, s, fn, a.pos, a.npos, a.kw, n->line);
}

smg__jv_t smg__jeval(smg__jctx_t *c, smg__jscope_t *s, const smg__jnode_t *n) {
    if (++c->expr_depth > c->lim.max_expr_depth)
        smg__jfail(c, n->line, SMG_ELIMIT, "expression nesting limit reached (%u)",
                   c->lim.max_expr_depth);
    smg__jv_t r;
    switch (n->kind) {
    case JN_INT: r = smg__jv_int(n->i); break;
    case JN_FLOAT: r = smg__jv_float(n->f); break;
    case JN_STR: r = smg__jv_str(n->s.ptr, n->s.len); break;
    case JN_BOOL: r = smg__jv_bool(n->i != 0); break;
    case JN_NONE: r = JV_NONE_V; break;
    case JN_NAME: {
        smg__jv_t *v = scope_find(c, s, n->sym);
        if (v)
            r = *v;
        else if (n->i > 0)
            r = (smg__jv_t){.t = JV_FUNC, .u.fn = global_func(c, (int)n->i - 1, n->s)};
        else
            r = JV_UNDEF_V;
        break;
    }
    case JN_LIST:
    case JN_TUPLE: {
        smg__jlist_t *l = smg__jlist_new(c, n->body.n);
        for (uint32_t i = 0; i < n->body.n; i++)
            l->v[l->n++] = smg__jeval(c, s, n->body.v[i]);
        r = smg__jv_list(l);
        r.tuple = n->kind == JN_TUPLE;
        break;
    }
    case JN_DICT: {
        smg__jdict_t *d = smg__jdict_new(c, n->body.n / 2);
        for (uint32_t i = 0; i + 1 < n->body.n; i += 2) {
            smg__jv_t k = smg__jeval(c, s, n->body.v[i]);
            if (k.t != JV_STR)
                smg__jfail(c, n->body.v[i]->line, SMG_EINVAL, "dict keys must be strings, not %s",
                           smg__jv_type_name(k));
            smg__jdict_set(c, d, smg__jv_s(k), smg__jeval(c, s, n->body.v[i + 1]));
        }
        r = (smg__jv_t){.t = JV_DICT, .u.d = d};
        break;
    }
    case JN_ATTR:
        r = member(c, smg__jeval(c, s, n->a), smg__jv_str(n->s.ptr, n->s.len), n->line);
        break;
    case JN_INDEX: {
        smg__jv_t obj = smg__jeval(c, s, n->a);
        r = member(c, obj, smg__jeval(c, s, n->b), n->line);
        break;
    }
    case JN_SLICE: r = eval_slice(c, s, n); break;
    case JN_CALL: r = eval_call(c, s, n); break;
    case JN_FILTER: {
        smg__jv_t v = smg__jeval(c, s, n->a);
        smg__jargs_t a;
        smg__jeval_args(c, s, &n->body, &a);
        c->cur_line = n->line;
        r = smg__jfilter(c, s, v, n->s, &a, n->line);
        break;
    }
    case JN_TEST: {
        smg__jv_t v = smg__jeval(c, s, n->a);
        smg__jargs_t a;
        smg__jeval_args(c, s, &n->body, &a);
        c->cur_line = n->line;
        bool b = smg__jtest(c, v, n->s, &a, n->line);
        r = smg__jv_bool(n->op ? !b : b);
        break;
    }
    case JN_BINARY: {
        smg__jv_t l = smg__jeval(c, s, n->a);
        smg__jv_t rr = smg__jeval(c, s, n->b);
        r = binary(c, n->op, l, rr, n->line);
        break;
    }
    case JN_AND: {
        smg__jv_t l = smg__jeval(c, s, n->a);
        r = smg__jv_truthy(l) ? smg__jeval(c, s, n->b) : l;
        break;
    }
    case JN_OR: {
        smg__jv_t l = smg__jeval(c, s, n->a);
        r = smg__jv_truthy(l) ? l : smg__jeval(c, s, n->b);
        break;
    }
    case JN_NOT: r = smg__jv_bool(!smg__jv_truthy(smg__jeval(c, s, n->a))); break;
    case JN_NEG:
    case JN_POS: {
        smg__jv_t v = smg__jeval(c, s, n->a);
        bool neg = n->kind == JN_NEG;
        if (v.t == JV_INT && !(neg && v.u.i == INT64_MIN))
            r = smg__jv_int(neg ? -v.u.i : v.u.i);
        else if (v.t == JV_BOOL)
            r = smg__jv_int(neg ? -(int64_t)v.u.b : v.u.b);
        else if (v.t == JV_FLOAT || v.t == JV_INT)
            r = smg__jv_float(neg ? -(v.t == JV_INT ? (double)v.u.i : v.u.f)
                                  : (v.t == JV_INT ? (double)v.u.i : v.u.f));
        else
            smg__jfail(c, n->line, SMG_EINVAL, "bad operand type for unary %c: %s",
                       neg ? '-' : '+', smg__jv_type_name(v));
        break;
    }
    case JN_COND:
        r = smg__jv_truthy(smg__jeval(c, s, n->a)) ? smg__jeval(c, s, n->b)
                                                    : smg__jeval(c, s, n->c);
        break;
    case JN_SELECT:
        r = smg__jv_truthy(smg__jeval(c, s, n->b)) ? smg__jeval(c, s, n->a) : JV_UNDEF_V;
        break;
    default:
        smg__jfail(c, n->line, SMG_EINVAL, "this construct cannot be used as an expression");
    }
    c->expr_depth--;
    return r;
}

/* ---- statements ----------------------------------------------------------- */

static void bind_target(smg__jctx_t *c, smg__jscope_t *s, const smg__jnode_t *target,
                        smg__jv_t v, uint32_t line) {
    if (target->kind == JN_NAME) {
        scope_set(c, s, target->sym, v);
        return;
    }
    if (v.t != JV_LIST)
        smg__jfail(c, line, SMG_EINVAL, "cannot unpack a %s", smg__jv_type_name(v));
    if (v.u.l->n != target->body.n)
        smg__jfail(c, line, SMG_EINVAL, "too %s values to unpack (expected %u, got %u)",
                   v.u.l->n < target->body.n ? "few" : "many", target->body.n, v.u.l->n);
    for (uint32_t i = 0; i < target->body.n; i++) {
        if (target->body.v[i]->kind != JN_NAME)
            smg__jfail(c, line, SMG_EINVAL, "can only unpack into names");
        scope_set(c, s, target->body.v[i]->sym, v.u.l->v[i]);
    }
}

static smg__jlist_t *iter_items(smg__jctx_t *c, smg__jv_t v, uint32_t line) {
    smg__jlist_t *l = smg__jv_items(c, v);
    if (!l)
        smg__jfail(c, line, SMG_EINVAL, "cannot iterate over a %s", smg__jv_type_name(v));
    return l;
}

static void exec_for(smg__jctx_t *c, smg__jscope_t *s, const smg__jnode_t *n) {
    smg__jscope_t *ls = scope_new(c, s);
    const smg__jnode_t *it = n->b, *cond = NULL;
    if (it->kind == JN_SELECT) {
        cond = it->b;
        it = it->a;
    }
    smg__jlist_t *items = iter_items(c, smg__jeval(c, ls, it), n->line);
    if (cond) {
        smg__jlist_t *kept = smg__jlist_new(c, 0);
        smg__jscope_t *ts = scope_new(c, ls);
        for (uint32_t i = 0; i < items->n; i++) {
            smg__jcount_iter(c, 1, n->line);
            bind_target(c, ts, n->a, items->v[i], n->line);
            if (smg__jv_truthy(smg__jeval(c, ts, cond)))
                smg__jlist_push(c, kept, items->v[i]);
        }
        items = kept;
    }
    if (items->n == 0) {
        exec_list(c, ls, &n->alt);
        return;
    }
    smg__jloop_t *L = smg__jalloc(c, sizeof *L);
    L->length = items->n;
    uint32_t count = items->n; /* the body may append to the list: iterate the snapshot */
    c->in_loop++;
    for (uint32_t i = 0; i < count; i++) {
        smg__jcount_iter(c, 1, n->line);
        L->index0 = i;
        L->prev = i > 0 ? items->v[i - 1] : JV_UNDEF_V;
        L->next = i + 1 < count ? items->v[i + 1] : JV_UNDEF_V;
        scope_set(c, ls, JSYM_LOOP, (smg__jv_t){.t = JV_LOOP, .u.loop = L});
        bind_target(c, ls, n->a, items->v[i], n->line);
        exec_list(c, ls, &n->body);
        if (c->loop_ctl == 1) {
            c->loop_ctl = 0;
            break;
        }
        c->loop_ctl = 0;
    }
    c->in_loop--;
}

static void exec(smg__jctx_t *c, smg__jscope_t *s, const smg__jnode_t *n) {
    c->cur_line = n->line;
    switch (n->kind) {
    case JN_TEXT: smg__jout(c, n->s.ptr, n->s.len); return;
    case JN_COMMENT: return;
    case JN_IF:
        if (smg__jv_truthy(smg__jeval(c, s, n->a)))
            exec_list(c, s, &n->body);
        else
            exec_list(c, s, &n->alt);
        return;
    case JN_FOR: exec_for(c, s, n); return;
    case JN_SET: {
        smg__jv_t v;
        if (n->b) {
            v = smg__jeval(c, s, n->b);
        } else {
            push_out(c);
            exec_list(c, s, &n->body);
            v = pop_out(c);
        }
        if (n->a->kind == JN_ATTR) {
            smg__jv_t obj = smg__jeval(c, s, n->a->a);
            if (obj.t != JV_NS)
                smg__jfail(c, n->line, SMG_EINVAL,
                           "cannot assign attribute '%.*s' on a %s (only namespace() objects)",
                           SMG_STR_FMT(n->a->s), smg__jv_type_name(obj));
            smg__jdict_set(c, obj.u.d, n->a->s, v);
        } else {
            bind_target(c, s, n->a, v, n->line);
        }
        return;
    }
    case JN_MACRO: {
        smg__jfunc_t *f = global_func(c, JF_MACRO, n->s);
        f->node = n;
        f->closure = s;
        scope_set(c, s, n->sym, (smg__jv_t){.t = JV_FUNC, .u.fn = f});
        return;
    }
    case JN_CALLBLOCK: {
        smg__jfunc_t *caller = global_func(c, JF_MACRO, SMG_STR("caller"));
        caller->node = n;
        caller->closure = s;
        const smg__jnode_t *call = n->a;
        smg__jv_t fn = smg__jeval(c, s, call->a);
        if (fn.t != JV_FUNC || fn.u.fn->kind != JF_MACRO)
            smg__jfail(c, n->line, SMG_EINVAL, "'%.*s' is not a macro", SMG_STR_FMT(call->a->s));
        smg__jargs_t a;
        smg__jeval_args(c, s, &call->body, &a);
        smg__jv_t r = call_macro(c, fn.u.fn, &a, caller, n->line);
        smg__jout(c, r.u.s.p, r.u.s.n);
        return;
    }
    case JN_FILTERBLOCK: {
        push_out(c);
        exec_list(c, s, &n->body);
        smg__jv_t v = pop_out(c);
        smg__jargs_t a;
        smg__jeval_args(c, s, &n->alt, &a);
        smg__jv_t r = smg__jfilter(c, s, v, n->s, &a, n->line);
        smg__jv_print(c, &c->outs[c->nouts - 1], r);
        return;
    }
    case JN_BREAK:
    case JN_CONTINUE:
        if (!c->in_loop)
            smg__jfail(c, n->line, SMG_EINVAL, "'%s' outside of a loop",
                       n->kind == JN_BREAK ? "break" : "continue");
        c->loop_ctl = n->kind == JN_BREAK ? 1 : 2;
        return;
    default: {
        smg__jv_t v = smg__jeval(c, s, n);
        smg__jv_print(c, &c->outs[c->nouts - 1], v);
        return;
    }
    }
}

static void exec_list(smg__jctx_t *c, smg__jscope_t *s, const smg__jnodes_t *l) {
    for (uint32_t i = 0; i < l->n; i++) {
        exec(c, s, l->v[i]);
        if (c->loop_ctl)
            return;
    }
}

/* ---- entry points --------------------------------------------------------- */

/* Mark macros / call blocks that read `varargs` (bit 0) or `kwargs` (bit 1). */
static unsigned special_uses(const smg__jnode_t *n, unsigned d) {
    if (!n || d > 4096)
        return 0;
    unsigned r = 0;
    if (n->kind == JN_NAME && n->sym == JSYM_VARARGS)
        r |= 1;
    if (n->kind == JN_NAME && n->sym == JSYM_KWARGS)
        r |= 2;
    r |= special_uses(n->a, d + 1) | special_uses(n->b, d + 1) | special_uses(n->c, d + 1);
    for (uint32_t i = 0; i < n->body.n; i++)
        r |= special_uses(n->body.v[i], d + 1);
    for (uint32_t i = 0; i < n->alt.n; i++)
        r |= special_uses(n->alt.v[i], d + 1);
    return r;
}

static void mark_macros(smg__jnode_t *n, unsigned d) {
    if (!n || d > 4096)
        return;
    if (n->kind == JN_MACRO || n->kind == JN_CALLBLOCK) {
        unsigned r = 0;
        for (uint32_t i = 0; i < n->body.n; i++)
            r |= special_uses(n->body.v[i], 0);
        n->op = (uint8_t)r;
    }
    mark_macros(n->a, d + 1);
    mark_macros(n->b, d + 1);
    mark_macros(n->c, d + 1);
    for (uint32_t i = 0; i < n->body.n; i++)
        mark_macros(n->body.v[i], d + 1);
    for (uint32_t i = 0; i < n->alt.n; i++)
        mark_macros(n->alt.v[i], d + 1);
}

typedef struct {
    smg__jerr_jmp_t j;
    smg_jinja_tmpl_t *t;
    smg__jarena_t tmp;
} parse_state_t;

int smg_jinja_parse(const char *src, size_t len, smg_jinja_tmpl_t **out, smg_jinja_err_t *err) {
    *out = NULL;
    if (err) {
        err->line = 0;
        err->msg[0] = '\0';
    }
    if (len > SMG_JINJA_MAX_SOURCE) {
        if (err)
            snprintf(err->msg, sizeof err->msg, "template larger than %u bytes",
                     SMG_JINJA_MAX_SOURCE);
        return SMG_ETOOBIG;
    }
    parse_state_t *ps = calloc(1, sizeof *ps);
    smg_jinja_tmpl_t *t = calloc(1, sizeof *t);
    if (!ps || !t) {
        free(ps);
        free(t);
        return SMG_ENOMEM;
    }
    ps->t = t;
    ps->j.err = err;
    smg__ja_init(&t->arena, 0);
    smg__ja_init(&ps->tmp, 0);
    if (setjmp(ps->j.jb)) {
        int st = ps->j.status;
        smg__ja_free(&ps->tmp);
        smg_jinja_free(ps->t);
        free(ps);
        return st;
    }
    smg__jtok_t *toks;
    size_t ntok;
    smg__jinja_lex(src ? src : "", len, &t->arena, &ps->tmp, &ps->j, &toks, &ntok);
    smg__jinja_parse_tokens(t, toks, ntok, &ps->j);
    for (uint32_t i = 0; i < t->body.n; i++)
        mark_macros(t->body.v[i], 0);
    smg__ja_free(&ps->tmp);
    free(ps);
    *out = t;
    return SMG_OK;
}

void smg_jinja_free(smg_jinja_tmpl_t *t) {
    if (!t)
        return;
    smg__ja_free(&t->arena);
    free(t);
}

bool smg_jinja_uses_content_list(const smg_jinja_tmpl_t *t) {
    return t && t->content_list;
}

int smg_jinja_render(const smg_jinja_tmpl_t *t, const json_t *ctx, const smg_jinja_limits_t *lim,
                     smg_buf_t *out, smg_jinja_err_t *err) {
    if (err) {
        err->line = 0;
        err->msg[0] = '\0';
    }
    smg__jctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return SMG_ENOMEM;
    c->t = t;
    c->j.err = err;
    if (lim)
        c->lim = *lim;
    else
        smg_jinja_limits_default(&c->lim);
    smg__ja_init(&c->arena, c->lim.max_memory);
    smg_buf_init(&c->scratch, 0);
    c->capouts = 8;
    c->outs = calloc(c->capouts, sizeof *c->outs);
    size_t orig_len = out->len;
    if (!c->outs) {
        free(c);
        return SMG_ENOMEM;
    }
    c->outs[0] = *out;
    for (unsigned i = 1; i < c->capouts; i++)
        smg_buf_init(&c->outs[i], 0);
    c->nouts = 1;
    int status = SMG_OK;
    if (setjmp(c->j.jb)) {
        status = c->j.status;
        goto done;
    }
    c->root.vals = smg__jalloc(c, (t->syms.n + 1) * sizeof(smg__jv_t));
    memset(c->root.vals, 0, (t->syms.n + 1) * sizeof(smg__jv_t));
    if (ctx && json_is_object(ctx)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)ctx, k, v) {
            smg_str_t key = smg_str_c(k);
            for (uint32_t i = JSYM_NFIXED; i < t->syms.n; i++) {
                if (smg_str_eq(t->syms.names[i], key)) {
                    c->root.vals[i] = smg__jv_from_json(c, v, 0);
                    /* a JSON null is a defined none, not an unset name */
                    break;
                }
            }
        }
    }
    exec_list(c, &c->root, &t->body);
done:
    *out = c->outs[0];
    if (status != SMG_OK) {
        out->len = orig_len;
        if (out->ptr)
            out->ptr[orig_len] = '\0';
    }
    for (unsigned i = 1; i < c->capouts; i++)
        smg_buf_free(&c->outs[i]);
    free(c->outs);
    smg_buf_free(&c->scratch);
    smg__ja_free(&c->arena);
    free(c);
    return status;
}
