/* Jinja parser: tokens -> AST, following the oracle's grammar and operator
 * precedence (lowest first): `a if b else c`, or, and, not, comparisons and
 * `in`, + - ~, * / // %, **, `is` tests, `|` filters, unary sign, calls /
 * attributes / subscripts, primaries. Nesting is capped so that a hostile
 * template cannot overflow the stack, here or in the evaluator. */
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "token/jinja_int.h"

#define MAX_PARSE_DEPTH 200

typedef struct {
    smg_jinja_tmpl_t *t;
    const smg__jtok_t *tk;
    size_t n, cur;
    smg__jerr_jmp_t *j;
    unsigned depth;
} parser_t;

static const smg__jtok_t *peek(const parser_t *P, size_t k) {
    return P->cur + k < P->n ? &P->tk[P->cur + k] : NULL;
}

static uint32_t cur_line(const parser_t *P) {
    const smg__jtok_t *t = peek(P, 0);
    if (t)
        return t->line;
    return P->n ? P->tk[P->n - 1].line : 1;
}

static const char *tok_name(int type) {
    static const char *names[] = {
        "text", "number", "string", "identifier", "'='", "'('", "')'", "'{%'", "'%}'", "'{{'",
        "'}}'", "'['", "']'", "'{'", "'}'", "','", "'.'", "':'", "'|'", "operator", "operator",
        "'**'", "comparison", "unary operator", "comment"};
    return type >= 0 && type < (int)SMG_ARRAY_LEN(names) ? names[type] : "token";
}

_Noreturn static void perr(parser_t *P, const char *fmt, const char *arg) {
    smg__jfail_jmp(P->j, cur_line(P), SMG_EPARSE, fmt, arg);
}

static void enter(parser_t *P) {
    if (++P->depth > MAX_PARSE_DEPTH)
        smg__jfail_jmp(P->j, cur_line(P), SMG_ETOOBIG, "template nested too deeply (limit %d)",
                       MAX_PARSE_DEPTH);
}

static bool is(const parser_t *P, int type) {
    const smg__jtok_t *t = peek(P, 0);
    return t && t->type == type;
}

static bool is_ident(const parser_t *P, size_t k, const char *name) {
    const smg__jtok_t *t = peek(P, k);
    return t && t->type == JT_IDENT && smg_str_eq_c(t->s, name);
}

static const smg__jtok_t *expect(parser_t *P, int type, const char *what) {
    const smg__jtok_t *t = peek(P, 0);
    if (!t) {
        smg__jfail_jmp(P->j, cur_line(P), SMG_EPARSE, "unexpected end of template, expected %s",
                       what);
    }
    if (t->type != type)
        smg__jfail_jmp(P->j, t->line, SMG_EPARSE, "expected %s, got %s '%.*s'", what,
                       tok_name(t->type), SMG_STR_FMT(t->s));
    P->cur++;
    return t;
}

static void expect_ident(parser_t *P, const char *name) {
    if (!is_ident(P, 0, name))
        smg__jfail_jmp(P->j, cur_line(P), SMG_EPARSE, "expected '%s'", name);
    P->cur++;
}

static smg__jnode_t *node(parser_t *P, int kind, uint32_t line) {
    smg__jnode_t *n = smg__ja_alloc(&P->t->arena, sizeof *n);
    if (!n)
        smg__jfail_jmp(P->j, line, SMG_ENOMEM, "out of memory while parsing the template");
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = line;
    return n;
}

/* Growable node list in the template arena (old arrays are abandoned). */
static void list_push(parser_t *P, smg__jnodes_t *l, uint32_t *cap, smg__jnode_t *x) {
    if (l->n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 4;
        smg__jnode_t **nv = smg__ja_alloc(&P->t->arena, nc * sizeof *nv);
        if (!nv)
            smg__jfail_jmp(P->j, cur_line(P), SMG_ENOMEM, "out of memory while parsing");
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        *cap = nc;
    }
    l->v[l->n++] = x;
}

uint32_t smg__jsym_intern(smg__jsymtab_t *t, smg__jarena_t *a, smg_str_t name,
                          smg__jerr_jmp_t *j) {
    for (uint32_t i = 0; i < t->n; i++)
        if (smg_str_eq(t->names[i], name))
            return i;
    if (t->n == t->cap) {
        uint32_t nc = t->cap ? t->cap * 2 : 32;
        smg_str_t *nv = smg__ja_alloc(a, nc * sizeof *nv);
        if (!nv)
            smg__jfail_jmp(j, 0, SMG_ENOMEM, "out of memory while parsing");
        if (t->n)
            memcpy(nv, t->names, t->n * sizeof *nv);
        t->names = nv;
        t->cap = nc;
    }
    t->names[t->n] = name;
    return t->n++;
}

static uint32_t sym(parser_t *P, smg_str_t s) {
    return smg__jsym_intern(&P->t->syms, &P->t->arena, s, P->j);
}

static smg__jnode_t *parse_expr(parser_t *P);
static smg__jnode_t *parse_primary(parser_t *P);
static smg__jnode_t *parse_any(parser_t *P);
static smg__jnode_t *parse_or(parser_t *P);

static bool is_stmt(const parser_t *P, const char *a, const char *b, const char *c) {
    const smg__jtok_t *t0 = peek(P, 0), *t1 = peek(P, 1);
    if (!t0 || !t1 || t0->type != JT_OPEN_STMT || t1->type != JT_IDENT)
        return false;
    return smg_str_eq_c(t1->s, a) || (b && smg_str_eq_c(t1->s, b)) ||
           (c && smg_str_eq_c(t1->s, c));
}

/* Statements until one of the named end tags (not consumed). */
static void parse_body(parser_t *P, smg__jnodes_t *body, const char *a, const char *b,
                       const char *c) {
    uint32_t cap = 0;
    const char *end = strncmp(a, "end", 3) == 0 ? a : b && strncmp(b, "end", 3) == 0 ? b : c ? c : a;
    while (!is_stmt(P, a, b, c)) {
        if (P->cur >= P->n)
            smg__jfail_jmp(P->j, cur_line(P), SMG_EPARSE,
                           "unexpected end of template, expected '{%% %s %%}'", end);
        smg__jnode_t *s = parse_any(P);
        if (s)
            list_push(P, body, &cap, s);
    }
}

static void end_tag(parser_t *P, const char *name) {
    expect(P, JT_OPEN_STMT, "'{%'");
    expect_ident(P, name);
    expect(P, JT_CLOSE_STMT, "'%}'");
}

/* Argument list in parentheses; `params` for macro/caller declarations. */
static void parse_args(parser_t *P, smg__jnodes_t *out, bool params) {
    expect(P, JT_LPAREN, "'('");
    uint32_t cap = 0;
    bool saw_kw = false, saw_spread = false;
    while (!is(P, JT_RPAREN)) {
        if (P->cur >= P->n)
            perr(P, "unexpected end of template in %s", "an argument list");
        const smg__jtok_t *t = peek(P, 0);
        bool kwspread = t->type == JT_POW;
        bool spread = t->type == JT_MUL && smg_str_eq_c(t->s, "*");
        if (params && (kwspread || spread))
            perr(P, "argument unpacking is not allowed in %s", "parameter declarations");
        if (kwspread) {
            P->cur++;
            smg__jnode_t *x = node(P, JN_KWSPREAD, t->line);
            x->a = parse_expr(P);
            list_push(P, out, &cap, x);
            if (is(P, JT_COMMA))
                P->cur++;
            if (!is(P, JT_RPAREN))
                perr(P, "%s must be applied to the final argument", "'**'");
            break;
        }
        smg__jnode_t *arg;
        if (spread) {
            if (saw_spread)
                perr(P, "only one %s argument unpacking is allowed", "'*'");
            saw_spread = true;
            P->cur++;
            arg = node(P, JN_SPREAD, t->line);
            arg->a = parse_expr(P);
        } else {
            arg = parse_expr(P);
            if (is(P, JT_EQUALS)) {
                P->cur++;
                if (arg->kind != JN_NAME)
                    perr(P, "expected an identifier before '=' in %s",
                         params ? "a parameter declaration" : "a keyword argument");
                smg__jnode_t *kw = node(P, JN_KWARG, arg->line);
                kw->sym = arg->sym;
                kw->s = arg->s;
                kw->a = parse_expr(P);
                arg = kw;
            }
            if (params) {
                if (arg->kind != JN_NAME && arg->kind != JN_KWARG)
                    perr(P, "expected an identifier in %s", "a parameter declaration");
                for (uint32_t i = 0; i < out->n; i++)
                    if (out->v[i]->sym == arg->sym)
                        perr(P, "duplicate parameter name%s", "");
            }
            if (arg->kind == JN_KWARG)
                saw_kw = true;
            else if (saw_kw)
                perr(P, "%s", params ? "non-default argument follows default argument"
                                     : "positional argument follows keyword argument");
            else if (saw_spread)
                perr(P, "positional arguments must not follow %s", "'*' unpacking");
        }
        list_push(P, out, &cap, arg);
        if (is(P, JT_COMMA))
            P->cur++;
    }
    expect(P, JT_RPAREN, "')'");
}

static smg__jnode_t *parse_member_tail(parser_t *P, smg__jnode_t *obj) {
    while (is(P, JT_DOT) || is(P, JT_LBRACKET)) {
        const smg__jtok_t *op = &P->tk[P->cur++];
        if (op->type == JT_LBRACKET) {
            smg__jnode_t *parts[3] = {NULL, NULL, NULL};
            unsigned np = 0;
            bool slice = false;
            while (!is(P, JT_RBRACKET)) {
                if (P->cur >= P->n)
                    perr(P, "unexpected end of template in %s", "a subscript");
                if (np >= 3)
                    perr(P, "%s", "expected 0-3 arguments for a slice");
                if (is(P, JT_COLON)) {
                    parts[np++] = NULL;
                    P->cur++;
                    slice = true;
                } else {
                    parts[np++] = parse_expr(P);
                    if (is(P, JT_COLON)) {
                        P->cur++;
                        slice = true;
                    }
                }
            }
            if (np == 0)
                perr(P, "%s", "expected an index or a slice inside []");
            expect(P, JT_RBRACKET, "']'");
            smg__jnode_t *x = node(P, slice ? JN_SLICE : JN_INDEX, op->line);
            x->a = obj;
            if (slice) {
                x->b = parts[0];
                x->c = np > 1 ? parts[1] : NULL;
                /* the step lives in body.v[0] */
                if (np > 2 && parts[2]) {
                    uint32_t cap = 0;
                    list_push(P, &x->body, &cap, parts[2]);
                }
            } else {
                x->b = parts[0];
            }
            obj = x;
        } else {
            const smg__jtok_t *t = peek(P, 0);
            if (t && t->type == JT_IDENT) {
                P->cur++;
                smg__jnode_t *x = node(P, JN_ATTR, op->line);
                x->a = obj;
                x->s = t->s;
                obj = x;
            } else if (t && t->type == JT_NUM && !t->is_float) {
                P->cur++;
                smg__jnode_t *idx = node(P, JN_INT, t->line);
                idx->i = strtoll(t->s.ptr, NULL, 10);
                smg__jnode_t *x = node(P, JN_INDEX, op->line);
                x->a = obj;
                x->b = idx;
                obj = x;
            } else {
                perr(P, "%s", "expected an identifier or an integer after '.'");
            }
        }
    }
    return obj;
}

static smg__jnode_t *parse_call_tail(parser_t *P, smg__jnode_t *callee) {
    for (;;) {
        smg__jnode_t *x = node(P, JN_CALL, cur_line(P));
        x->a = callee;
        parse_args(P, &x->body, false);
        callee = parse_member_tail(P, x);
        if (!is(P, JT_LPAREN))
            return callee;
    }
}

static smg__jnode_t *parse_call_member(parser_t *P) {
    smg__jnode_t *m = parse_member_tail(P, parse_primary(P));
    if (is(P, JT_LPAREN))
        return parse_call_tail(P, m);
    return m;
}

static smg__jnode_t *parse_unary(parser_t *P) {
    const smg__jtok_t *t = peek(P, 0);
    if (t && (t->type == JT_UNARY || t->type == JT_ADD) &&
        (smg_str_eq_c(t->s, "-") || smg_str_eq_c(t->s, "+"))) {
        enter(P);
        P->cur++;
        smg__jnode_t *x = node(P, t->s.ptr[0] == '-' ? JN_NEG : JN_POS, t->line);
        x->a = parse_unary(P);
        P->depth--;
        return x;
    }
    return parse_call_member(P);
}

static smg__jnode_t *parse_filter(parser_t *P) {
    smg__jnode_t *x = parse_unary(P);
    while (is(P, JT_PIPE)) {
        P->cur++;
        const smg__jtok_t *name = expect(P, JT_IDENT, "a filter name");
        smg__jnode_t *f = node(P, JN_FILTER, name->line);
        f->a = x;
        f->s = name->s;
        if (is(P, JT_LPAREN))
            parse_args(P, &f->body, false);
        x = f;
    }
    return x;
}

/* A test argument without parentheses: `x is equalto 3`, `x is sameas none`. */
static bool starts_operand(const parser_t *P) {
    const smg__jtok_t *t = peek(P, 0);
    if (!t)
        return false;
    if (t->type == JT_NUM || t->type == JT_STR || t->type == JT_LBRACKET || t->type == JT_LBRACE)
        return true;
    if (t->type != JT_IDENT)
        return false;
    static const char *kw[] = {"and", "or", "else", "if", "in", "is", "not"};
    for (size_t i = 0; i < SMG_ARRAY_LEN(kw); i++)
        if (smg_str_eq_c(t->s, kw[i]))
            return false;
    return true;
}

static smg__jnode_t *parse_test(parser_t *P) {
    smg__jnode_t *x = parse_filter(P);
    while (is_ident(P, 0, "is")) {
        uint32_t line = cur_line(P);
        P->cur++;
        bool neg = is_ident(P, 0, "not");
        if (neg)
            P->cur++;
        const smg__jtok_t *name = expect(P, JT_IDENT, "a test name");
        smg__jnode_t *t = node(P, JN_TEST, line);
        t->a = x;
        t->op = neg;
        t->s = name->s;
        if (is(P, JT_LPAREN)) {
            parse_args(P, &t->body, false);
        } else if (starts_operand(P)) {
            uint32_t cap = 0;
            list_push(P, &t->body, &cap, parse_filter(P));
        }
        x = t;
    }
    return x;
}

static smg__jnode_t *binary(parser_t *P, int op, uint32_t line, smg__jnode_t *a,
                            smg__jnode_t *b) {
    smg__jnode_t *x = node(P, JN_BINARY, line);
    x->op = (uint8_t)op;
    x->a = a;
    x->b = b;
    return x;
}

static smg__jnode_t *parse_power(parser_t *P) {
    smg__jnode_t *x = parse_test(P);
    while (is(P, JT_POW)) {
        uint32_t line = P->tk[P->cur++].line;
        x = binary(P, JOP_POW, line, x, parse_test(P));
    }
    return x;
}

static smg__jnode_t *parse_mul(parser_t *P) {
    smg__jnode_t *x = parse_power(P);
    while (is(P, JT_MUL)) {
        const smg__jtok_t *t = &P->tk[P->cur++];
        int op = smg_str_eq_c(t->s, "*")    ? JOP_MUL
                 : smg_str_eq_c(t->s, "/")  ? JOP_DIV
                 : smg_str_eq_c(t->s, "//") ? JOP_FLOORDIV
                                            : JOP_MOD;
        x = binary(P, op, t->line, x, parse_power(P));
    }
    return x;
}

static smg__jnode_t *parse_add(parser_t *P) {
    smg__jnode_t *x = parse_mul(P);
    while (is(P, JT_ADD)) {
        const smg__jtok_t *t = &P->tk[P->cur++];
        int op = t->s.ptr[0] == '+' ? JOP_ADD : t->s.ptr[0] == '-' ? JOP_SUB : JOP_CONCAT;
        x = binary(P, op, t->line, x, parse_mul(P));
    }
    return x;
}

static smg__jnode_t *parse_compare(parser_t *P) {
    smg__jnode_t *x = parse_add(P);
    for (;;) {
        int op;
        uint32_t line = cur_line(P);
        if (is_ident(P, 0, "not") && is_ident(P, 1, "in")) {
            op = JOP_NOTIN;
            P->cur += 2;
        } else if (is_ident(P, 0, "in")) {
            op = JOP_IN;
            P->cur++;
        } else if (is(P, JT_CMP)) {
            smg_str_t s = P->tk[P->cur++].s;
            op = smg_str_eq_c(s, "==")   ? JOP_EQ
                 : smg_str_eq_c(s, "!=") ? JOP_NE
                 : smg_str_eq_c(s, "<")  ? JOP_LT
                 : smg_str_eq_c(s, ">")  ? JOP_GT
                 : smg_str_eq_c(s, "<=") ? JOP_LE
                                         : JOP_GE;
        } else {
            return x;
        }
        x = binary(P, op, line, x, parse_add(P));
    }
}

static smg__jnode_t *parse_not(parser_t *P) {
    if (is_ident(P, 0, "not")) {
        enter(P);
        smg__jnode_t *x = node(P, JN_NOT, cur_line(P));
        P->cur++;
        x->a = parse_not(P);
        P->depth--;
        return x;
    }
    return parse_compare(P);
}

static smg__jnode_t *parse_and(parser_t *P) {
    smg__jnode_t *x = parse_not(P);
    while (is_ident(P, 0, "and")) {
        smg__jnode_t *y = node(P, JN_AND, cur_line(P));
        P->cur++;
        y->a = x;
        y->b = parse_not(P);
        x = y;
    }
    return x;
}

static smg__jnode_t *parse_or(parser_t *P) {
    smg__jnode_t *x = parse_and(P);
    while (is_ident(P, 0, "or")) {
        smg__jnode_t *y = node(P, JN_OR, cur_line(P));
        P->cur++;
        y->a = x;
        y->b = parse_and(P);
        x = y;
    }
    return x;
}

static smg__jnode_t *parse_expr(parser_t *P) {
    enter(P);
    smg__jnode_t *a = parse_or(P);
    if (is_ident(P, 0, "if")) {
        uint32_t line = cur_line(P);
        P->cur++;
        smg__jnode_t *test = parse_or(P);
        if (is_ident(P, 0, "else")) {
            P->cur++;
            smg__jnode_t *x = node(P, JN_COND, line);
            x->a = test;
            x->b = a;
            x->c = parse_expr(P);
            a = x;
        } else {
            smg__jnode_t *x = node(P, JN_SELECT, line);
            x->a = a;
            x->b = test;
            a = x;
        }
    }
    P->depth--;
    return a;
}

/* expr or expr, expr, ... (a tuple); `primary` for loop targets. */
static smg__jnode_t *parse_sequence(parser_t *P, bool primary) {
    uint32_t line = cur_line(P);
    smg__jnode_t *first = primary ? parse_primary(P) : parse_expr(P);
    if (!is(P, JT_COMMA))
        return first;
    smg__jnode_t *t = node(P, JN_TUPLE, line);
    uint32_t cap = 0;
    list_push(P, &t->body, &cap, first);
    while (is(P, JT_COMMA)) {
        P->cur++;
        list_push(P, &t->body, &cap, primary ? parse_primary(P) : parse_expr(P));
    }
    return t;
}

static smg__jnode_t *parse_primary(parser_t *P) {
    const smg__jtok_t *t = peek(P, 0);
    if (!t)
        perr(P, "unexpected end of template, expected %s", "an expression");
    P->cur++;
    smg__jnode_t *x;
    switch (t->type) {
    case JT_NUM: {
        char tmp[64];
        size_t n = t->s.len < sizeof tmp - 1 ? t->s.len : sizeof tmp - 1;
        memcpy(tmp, t->s.ptr, n);
        tmp[n] = '\0';
        if (t->is_float) {
            x = node(P, JN_FLOAT, t->line);
            x->f = strtod(tmp, NULL);
        } else {
            x = node(P, JN_INT, t->line);
            double d = strtod(tmp, NULL);
            if (d > 9.2e18 || d < -9.2e18) {
                x->kind = JN_FLOAT;
                x->f = d;
            } else {
                x->i = strtoll(tmp, NULL, 10);
            }
        }
        return x;
    }
    case JT_STR: {
        x = node(P, JN_STR, t->line);
        x->s = t->s;
        if (is(P, JT_STR)) { /* adjacent literals concatenate */
            size_t total = t->s.len, k = P->cur;
            while (k < P->n && P->tk[k].type == JT_STR)
                total += P->tk[k++].s.len;
            char *buf = smg__ja_alloc(&P->t->arena, total + 1);
            if (!buf)
                smg__jfail_jmp(P->j, t->line, SMG_ENOMEM, "out of memory while parsing");
            memcpy(buf, t->s.ptr, t->s.len);
            size_t o = t->s.len;
            while (is(P, JT_STR)) {
                smg_str_t s = P->tk[P->cur++].s;
                memcpy(buf + o, s.ptr, s.len);
                o += s.len;
            }
            x->s = smg_str(buf, o);
        }
        return x;
    }
    case JT_IDENT: {
        smg_str_t s = t->s;
        if (smg_str_eq_c(s, "true") || smg_str_eq_c(s, "True") || smg_str_eq_c(s, "false") ||
            smg_str_eq_c(s, "False")) {
            x = node(P, JN_BOOL, t->line);
            x->i = s.ptr[0] == 't' || s.ptr[0] == 'T';
            return x;
        }
        if (smg_str_eq_c(s, "none") || smg_str_eq_c(s, "None"))
            return node(P, JN_NONE, t->line);
        x = node(P, JN_NAME, t->line);
        x->s = s;
        x->sym = sym(P, s);
        x->i = smg__jglobal_kind(s) + 1;
        return x;
    }
    case JT_LPAREN: {
        enter(P);
        x = parse_sequence(P, false);
        expect(P, JT_RPAREN, "')'");
        P->depth--;
        return x;
    }
    case JT_LBRACKET: {
        enter(P);
        x = node(P, JN_LIST, t->line);
        uint32_t cap = 0;
        while (!is(P, JT_RBRACKET)) {
            if (P->cur >= P->n)
                perr(P, "unexpected end of template in %s", "a list");
            list_push(P, &x->body, &cap, parse_expr(P));
            if (is(P, JT_COMMA))
                P->cur++;
        }
        P->cur++;
        P->depth--;
        return x;
    }
    case JT_LBRACE: {
        enter(P);
        x = node(P, JN_DICT, t->line);
        uint32_t cap = 0;
        while (!is(P, JT_RBRACE)) {
            if (P->cur >= P->n)
                perr(P, "unexpected end of template in %s", "a dict");
            list_push(P, &x->body, &cap, parse_expr(P));
            expect(P, JT_COLON, "':' between key and value");
            list_push(P, &x->body, &cap, parse_expr(P));
            if (is(P, JT_COMMA))
                P->cur++;
        }
        P->cur++;
        P->depth--;
        return x;
    }
    default:
        P->cur--;
        smg__jfail_jmp(P->j, t->line, SMG_EPARSE, "unexpected %s '%.*s'", tok_name(t->type),
                       SMG_STR_FMT(t->s));
    }
}

static smg__jnode_t *parse_if(parser_t *P, uint32_t line) {
    smg__jnode_t *x = node(P, JN_IF, line);
    x->a = parse_expr(P);
    expect(P, JT_CLOSE_STMT, "'%}'");
    parse_body(P, &x->body, "elif", "else", "endif");
    if (is_stmt(P, "elif", NULL, NULL)) {
        uint32_t l2 = P->tk[P->cur + 1].line;
        P->cur += 2;
        enter(P);
        uint32_t cap = 0;
        list_push(P, &x->alt, &cap, parse_if(P, l2));
        P->depth--;
    } else if (is_stmt(P, "else", NULL, NULL)) {
        P->cur += 2;
        expect(P, JT_CLOSE_STMT, "'%}'");
        parse_body(P, &x->alt, "endif", NULL, NULL);
    }
    return x;
}

static smg__jnode_t *parse_statement(parser_t *P) {
    expect(P, JT_OPEN_STMT, "'{%'");
    const smg__jtok_t *t = peek(P, 0);
    if (!t || t->type != JT_IDENT)
        perr(P, "expected a statement name after '{%%'%s", "");
    smg_str_t name = t->s;
    uint32_t line = t->line;
    P->cur++;
    smg__jnode_t *x;
    if (smg_str_eq_c(name, "set")) {
        x = node(P, JN_SET, line);
        x->a = parse_sequence(P, false);
        if (x->a->kind != JN_NAME && x->a->kind != JN_TUPLE && x->a->kind != JN_ATTR)
            smg__jfail_jmp(P->j, line, SMG_EPARSE, "cannot assign to this expression");
        if (is(P, JT_EQUALS)) {
            P->cur++;
            x->b = parse_sequence(P, false);
        } else {
            expect(P, JT_CLOSE_STMT, "'=' or '%}'");
            parse_body(P, &x->body, "endset", NULL, NULL);
            P->cur++;
            expect_ident(P, "endset");
        }
        expect(P, JT_CLOSE_STMT, "'%}'");
    } else if (smg_str_eq_c(name, "if")) {
        x = parse_if(P, line);
        end_tag(P, "endif");
    } else if (smg_str_eq_c(name, "macro")) {
        x = node(P, JN_MACRO, line);
        const smg__jtok_t *nm = expect(P, JT_IDENT, "a macro name");
        x->s = nm->s;
        x->sym = sym(P, nm->s);
        parse_args(P, &x->alt, true);
        expect(P, JT_CLOSE_STMT, "'%}'");
        parse_body(P, &x->body, "endmacro", NULL, NULL);
        end_tag(P, "endmacro");
    } else if (smg_str_eq_c(name, "for")) {
        x = node(P, JN_FOR, line);
        x->a = parse_sequence(P, true);
        if (x->a->kind == JN_TUPLE) {
            for (uint32_t i = 0; i < x->a->body.n; i++)
                if (x->a->body.v[i]->kind != JN_NAME)
                    smg__jfail_jmp(P->j, line, SMG_EPARSE, "expected names as loop variables");
        } else if (x->a->kind != JN_NAME) {
            smg__jfail_jmp(P->j, line, SMG_EPARSE, "expected a name as the loop variable");
        }
        if (!is_ident(P, 0, "in"))
            perr(P, "expected 'in' after the loop variable%s", "");
        P->cur++;
        x->b = parse_expr(P);
        expect(P, JT_CLOSE_STMT, "'%}'");
        parse_body(P, &x->body, "endfor", "else", NULL);
        if (is_stmt(P, "else", NULL, NULL)) {
            P->cur += 2;
            expect(P, JT_CLOSE_STMT, "'%}'");
            parse_body(P, &x->alt, "endfor", NULL, NULL);
        }
        end_tag(P, "endfor");
    } else if (smg_str_eq_c(name, "call")) {
        x = node(P, JN_CALLBLOCK, line);
        if (is(P, JT_LPAREN))
            parse_args(P, &x->alt, true);
        const smg__jtok_t *nm = expect(P, JT_IDENT, "a macro name after 'call'");
        smg__jnode_t *callee = node(P, JN_NAME, nm->line);
        callee->s = nm->s;
        callee->sym = sym(P, nm->s);
        callee->i = smg__jglobal_kind(nm->s) + 1;
        smg__jnode_t *call = node(P, JN_CALL, nm->line);
        call->a = callee;
        parse_args(P, &call->body, false);
        x->a = call;
        expect(P, JT_CLOSE_STMT, "'%}'");
        parse_body(P, &x->body, "endcall", NULL, NULL);
        end_tag(P, "endcall");
    } else if (smg_str_eq_c(name, "filter")) {
        x = node(P, JN_FILTERBLOCK, line);
        const smg__jtok_t *nm = expect(P, JT_IDENT, "a filter name");
        x->s = nm->s;
        if (is(P, JT_LPAREN))
            parse_args(P, &x->alt, false);
        expect(P, JT_CLOSE_STMT, "'%}'");
        parse_body(P, &x->body, "endfilter", NULL, NULL);
        end_tag(P, "endfilter");
    } else if (smg_str_eq_c(name, "break") || smg_str_eq_c(name, "continue")) {
        x = node(P, name.ptr[0] == 'b' ? JN_BREAK : JN_CONTINUE, line);
        expect(P, JT_CLOSE_STMT, "'%}'");
    } else {
        smg__jfail_jmp(P->j, line, SMG_EPARSE, "unknown statement '%.*s'", SMG_STR_FMT(name));
    }
    return x;
}

static smg__jnode_t *parse_any(parser_t *P) {
    const smg__jtok_t *t = peek(P, 0);
    switch (t->type) {
    case JT_COMMENT:
        P->cur++;
        return NULL;
    case JT_TEXT: {
        P->cur++;
        smg__jnode_t *x = node(P, JN_TEXT, t->line);
        x->s = t->s;
        return x;
    }
    case JT_OPEN_STMT: {
        enter(P);
        smg__jnode_t *x = parse_statement(P);
        P->depth--;
        return x;
    }
    case JT_OPEN_EXPR: {
        P->cur++;
        smg__jnode_t *x = parse_expr(P);
        expect(P, JT_CLOSE_EXPR, "'}}'");
        return x;
    }
    default:
        smg__jfail_jmp(P->j, t->line, SMG_EPARSE, "unexpected %s '%.*s'", tok_name(t->type),
                       SMG_STR_FMT(t->s));
    }
}

/* ---- content-format detection ------------------------------------------- */

static bool is_content(const smg__jnode_t *n) {
    if (!n)
        return false;
    if (n->kind == JN_ATTR && smg_str_eq_c(n->s, "content"))
        return true;
    if (n->kind == JN_INDEX && n->b && n->b->kind == JN_STR && smg_str_eq_c(n->b->s, "content"))
        return true;
    if (n->kind == JN_NAME && smg_str_eq_c(n->s, "content"))
        return true;
    return false;
}

/* Left-assoc chains (a + b + c ...) can make the tree deeper than the
 * parser's recursion; the walk gives up past this depth. */
#define MAX_WALK_DEPTH 4096

static bool walk_content(const smg__jnode_t *n, unsigned d);
static bool walk_list(const smg__jnodes_t *l, unsigned d) {
    for (uint32_t i = 0; i < l->n; i++)
        if (walk_content(l->v[i], d))
            return true;
    return false;
}

static bool walk_content(const smg__jnode_t *n, unsigned d) {
    if (!n || d > MAX_WALK_DEPTH)
        return false;
    d++;
    if (n->kind == JN_FOR) {
        const smg__jnode_t *it = n->b->kind == JN_SELECT ? n->b->a : n->b;
        if (is_content(it))
            return true;
    }
    if (n->kind == JN_INDEX && is_content(n->a) && n->b && n->b->kind == JN_INT)
        return true;
    if (n->kind == JN_FILTER && is_content(n->a) &&
        (smg_str_eq_c(n->s, "length") || smg_str_eq_c(n->s, "count")))
        return true;
    return walk_content(n->a, d) || walk_content(n->b, d) || walk_content(n->c, d) ||
           walk_list(&n->body, d) || walk_list(&n->alt, d);
}

void smg__jinja_parse_tokens(smg_jinja_tmpl_t *t, const smg__jtok_t *toks, size_t ntok,
                             smg__jerr_jmp_t *j) {
    parser_t P = {.t = t, .tk = toks, .n = ntok, .j = j};
    static const char *fixed[] = {"loop", "caller", "kwargs", "varargs"};
    for (size_t i = 0; i < SMG_ARRAY_LEN(fixed); i++)
        sym(&P, smg_str_c(fixed[i]));
    uint32_t cap = 0;
    while (P.cur < P.n) {
        smg__jnode_t *s = parse_any(&P);
        if (s)
            list_push(&P, &t->body, &cap, s);
    }
    t->content_list = walk_list(&t->body, 0);
}
