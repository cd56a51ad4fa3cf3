/* Internals of the Jinja engine shared by jinja_*.c. Not a public API.
 *
 * Errors inside the lexer, parser and evaluator unwind with longjmp to the
 * entry point (smg_jinja_parse / smg_jinja_render), which owns every
 * resource: all allocations come from an arena or from buffers the entry
 * point frees, so unwinding never leaks. */
#ifndef SMG_TOKEN_JINJA_INT_H
#define SMG_TOKEN_JINJA_INT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"
#include "token/jinja.h"

/* ---- arena ---------------------------------------------------------------- */

typedef struct smg__ja_chunk_s smg__ja_chunk_t;
typedef struct smg__jarena_s {
    smg__ja_chunk_t *head;
    char *cur, *end;
    size_t total; /* bytes obtained from malloc */
    size_t max;   /* cap on total; 0 = none */
} smg__jarena_t;

void smg__ja_init(smg__jarena_t *a, size_t max);
void smg__ja_free(smg__jarena_t *a);
/* 16-byte aligned block, or NULL when the cap or malloc fails. */
void *smg__ja_alloc(smg__jarena_t *a, size_t n);

/* ---- lexer ---------------------------------------------------------------- */

typedef enum {
    JT_TEXT, JT_NUM, JT_STR, JT_IDENT, JT_EQUALS, JT_LPAREN, JT_RPAREN,
    JT_OPEN_STMT, JT_CLOSE_STMT, JT_OPEN_EXPR, JT_CLOSE_EXPR, JT_LBRACKET, JT_RBRACKET,
    JT_LBRACE, JT_RBRACE, JT_COMMA, JT_DOT, JT_COLON, JT_PIPE,
    JT_ADD,   /* + - ~ */
    JT_MUL,   /* * / // % */
    JT_POW,   /* ** */
    JT_CMP,   /* < > <= >= == != */
    JT_UNARY, /* + - before an operand */
    JT_COMMENT,
} smg__jtok_type_t;

typedef struct smg__jtok_s {
    uint8_t type;
    bool is_float; /* JT_NUM */
    uint32_t line;
    smg_str_t s; /* text, identifier, operator, unescaped string literal, number text */
} smg__jtok_t;

typedef struct smg__jerr_jmp_s {
    jmp_buf jb;
    smg_jinja_err_t *err;
    int status;
} smg__jerr_jmp_t;

/* Tokenize after the oracle's preprocessing. Strings live in `perm` (the
 * template arena), the token array in `tmp`.
 * On error fills j->err and longjmps. */
void smg__jinja_lex(const char *src, size_t len, smg__jarena_t *perm, smg__jarena_t *tmp,
                    smg__jerr_jmp_t *j, smg__jtok_t **toks, size_t *ntok);

/* Byte length of the whitespace character at p (JavaScript \s), else 0. */
size_t smg__js_space_len(const char *p, size_t avail);

/* ---- AST ------------------------------------------------------------------ */

typedef enum {
    /* statements */
    JN_TEXT, JN_COMMENT, JN_IF, JN_FOR, JN_SET, JN_MACRO, JN_CALLBLOCK, JN_FILTERBLOCK,
    JN_BREAK, JN_CONTINUE,
    /* expressions */
    JN_INT, JN_FLOAT, JN_STR, JN_BOOL, JN_NONE, JN_NAME, JN_LIST, JN_TUPLE, JN_DICT,
    JN_ATTR,    /* a.name */
    JN_INDEX,   /* a[b] */
    JN_SLICE,   /* a[b:c:d], children may be NULL */
    JN_CALL,    /* a(args) */
    JN_FILTER,  /* a | name(args) */
    JN_TEST,    /* a is [not] name(args) */
    JN_BINARY,  /* op */
    JN_AND, JN_OR, JN_NOT, JN_NEG, JN_POS,
    JN_COND,    /* a if b else c */
    JN_SELECT,  /* a if b (no else) */
    JN_KWARG,   /* name=value in calls; name is sym */
    JN_SPREAD,  /* *a in calls */
    JN_KWSPREAD /* **a in calls */
} smg__jnode_kind_t;

typedef enum {
    JOP_ADD, JOP_SUB, JOP_CONCAT, JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD, JOP_POW,
    JOP_EQ, JOP_NE, JOP_LT, JOP_GT, JOP_LE, JOP_GE, JOP_IN, JOP_NOTIN,
} smg__jop_t;

typedef struct smg__jnode_s smg__jnode_t;
typedef struct smg__jnodes_s {
    smg__jnode_t **v;
    uint32_t n;
} smg__jnodes_t;

struct smg__jnode_s {
    uint8_t kind;
    uint8_t op;   /* JN_BINARY: smg__jop_t; JN_TEST: negate */
    uint32_t line;
    uint32_t sym; /* JN_NAME, JN_KWARG, JN_ATTR, JN_FILTER, JN_TEST, JN_MACRO: symbol id */
    int64_t i;    /* JN_INT, JN_BOOL */
    double f;     /* JN_FLOAT */
    smg_str_t s;  /* JN_TEXT, JN_STR; JN_ATTR name */
    smg__jnode_t *a, *b, *c; /* operands / test / target / value */
    smg__jnodes_t body, alt; /* statement lists; JN_LIST/TUPLE/DICT/CALL args in body
                                (DICT: keys and values interleaved); params in alt */
};

typedef struct smg__jsymtab_s {
    smg_str_t *names;
    uint32_t n, cap;
} smg__jsymtab_t;

struct smg_jinja_tmpl_s {
    smg__jarena_t arena;
    smg__jnodes_t body;
    smg__jsymtab_t syms;
    bool content_list;
};

/* Symbols interned first, in this order, by every parse. */
enum { JSYM_LOOP = 0, JSYM_CALLER = 1, JSYM_KWARGS = 2, JSYM_VARARGS = 3, JSYM_NFIXED = 4 };

/* Global functions; JN_NAME nodes whose name is one of them carry kind+1 in i. */
typedef struct smg__jglobal_s {
    const char *name;
    int kind;
} smg__jglobal_t;
/* The kind of global function `name`, or -1. */
int smg__jglobal_kind(smg_str_t name);

/* Intern a name (the string must outlive the template: arena copy). */
uint32_t smg__jsym_intern(smg__jsymtab_t *t, smg__jarena_t *a, smg_str_t name, smg__jerr_jmp_t *j);

/* Parse tokens into t->body; errors longjmp through j. */
void smg__jinja_parse_tokens(smg_jinja_tmpl_t *t, const smg__jtok_t *toks, size_t ntok,
                             smg__jerr_jmp_t *j);

/* ---- values --------------------------------------------------------------- */

typedef enum {
    JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_NS,
    JV_FUNC, JV_LOOP,
} smg__jv_type_t;

typedef struct smg__jlist_s smg__jlist_t;
typedef struct smg__jdict_s smg__jdict_t;
typedef struct smg__jfunc_s smg__jfunc_t;
typedef struct smg__jloop_s smg__jloop_t;

typedef struct smg__jv_s {
    uint8_t t;
    bool tuple; /* JV_LIST made by a tuple literal */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        smg__jlist_t *l;
        smg__jdict_t *d; /* JV_DICT, JV_NS */
        smg__jfunc_t *fn;
        smg__jloop_t *loop;
    } u;
} smg__jv_t;

struct smg__jlist_s {
    smg__jv_t *v;
    uint32_t n, cap;
};
struct smg__jdict_s {
    smg_str_t *k;
    smg__jv_t *v;
    uint32_t n, cap;
};

typedef enum {
    JF_RAISE, JF_RANGE, JF_NAMESPACE, JF_STRFTIME, JF_DICT, JF_MACRO, JF_METHOD,
} smg__jfunc_kind_t;

typedef struct smg__jscope_s smg__jscope_t;
struct smg__jfunc_s {
    uint8_t kind;
    const smg__jnode_t *node; /* JF_MACRO: JN_MACRO or JN_CALLBLOCK */
    smg__jscope_t *closure;   /* JF_MACRO */
    smg__jv_t self;           /* JF_METHOD */
    smg_str_t name;           /* JF_METHOD: method name; JF_MACRO: display name */
};

struct smg__jloop_s {
    int64_t index0, length;
    smg__jv_t prev, next;
};

struct smg__jscope_s {
    smg__jscope_t *parent;
    uint32_t *syms;
    smg__jv_t *vals;
    uint32_t n, cap;
};

/* Render state. */
typedef struct smg__jctx_s {
    smg__jerr_jmp_t j;
    const smg_jinja_tmpl_t *t;
    smg__jarena_t arena;
    smg_jinja_limits_t lim;
    smg__jscope_t root;
    smg_buf_t *outs; /* output stack: outs[0] is the caller's buffer */
    unsigned nouts, capouts;
    smg_buf_t scratch; /* short-lived text (str(), tojson) */
    unsigned call_depth, expr_depth;
    uint64_t iterations;
    int loop_ctl;     /* 1 break, 2 continue pending */
    unsigned in_loop; /* enclosing for loops in the current macro body */
    uint32_t cur_line;
} smg__jctx_t;

#define JV_UNDEF_V ((smg__jv_t){.t = JV_UNDEF})
#define JV_NONE_V ((smg__jv_t){.t = JV_NONE})

static inline smg__jv_t smg__jv_bool(bool b) {
    return (smg__jv_t){.t = JV_BOOL, .u.b = b};
}
static inline smg__jv_t smg__jv_int(int64_t i) {
    return (smg__jv_t){.t = JV_INT, .u.i = i};
}
static inline smg__jv_t smg__jv_float(double f) {
    return (smg__jv_t){.t = JV_FLOAT, .u.f = f};
}
static inline smg__jv_t smg__jv_str(const char *p, size_t n) {
    return (smg__jv_t){.t = JV_STR, .u.s = {p, n}};
}
static inline smg_str_t smg__jv_s(smg__jv_t v) {
    return smg_str(v.u.s.p, v.u.s.n);
}

/* Errors: set the message (line = current node line) and unwind. */
_Noreturn void smg__jfail(smg__jctx_t *c, uint32_t line, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
_Noreturn void smg__jfail_jmp(smg__jerr_jmp_t *j, uint32_t line, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void *smg__jalloc(smg__jctx_t *c, size_t n);
smg__jv_t smg__jv_strdup(smg__jctx_t *c, const char *p, size_t n);
smg__jlist_t *smg__jlist_new(smg__jctx_t *c, uint32_t cap);
void smg__jlist_push(smg__jctx_t *c, smg__jlist_t *l, smg__jv_t v);
smg__jv_t smg__jv_list(smg__jlist_t *l);
/* The items a for loop or a list filter walks, as Python's iter() yields them:
 * a list itself (not copied), a dict's keys, a string's code points as
 * one-character strings (views into the string), undefined as an empty list.
 * NULL for any other type: the caller fails with its own message. */
smg__jlist_t *smg__jv_items(smg__jctx_t *c, smg__jv_t v);
smg__jdict_t *smg__jdict_new(smg__jctx_t *c, uint32_t cap);
/* Insert or replace. */
void smg__jdict_set(smg__jctx_t *c, smg__jdict_t *d, smg_str_t k, smg__jv_t v);
/* NULL when absent. */
smg__jv_t *smg__jdict_get(const smg__jdict_t *d, smg_str_t k);

const char *smg__jv_type_name(smg__jv_t v);
bool smg__jv_truthy(smg__jv_t v);
/* Python-ish equality as the oracle's `==` sees it. */
bool smg__jv_equal(smg__jv_t a, smg__jv_t b);
/* Ordering for sort/dictsort/min/max; fails on incomparable types. */
int smg__jv_compare(smg__jctx_t *c, smg__jv_t a, smg__jv_t b, bool case_sensitive);
/* Append the printed form (`{{ v }}`): none/undefined print nothing. */
void smg__jv_print(smg__jctx_t *c, smg_buf_t *b, smg__jv_t v);
/* The value as a string value (str() / ~). */
smg__jv_t smg__jv_to_string(smg__jctx_t *c, smg__jv_t v);

typedef struct smg__jjson_opts_s {
    int indent; /* < 0: none */
    bool ensure_ascii, sort_keys;
    smg_str_t item_sep, key_sep; /* .ptr NULL = default */
    bool undefined_as_null;
} smg__jjson_opts_t;
void smg__jv_to_json(smg__jctx_t *c, smg_buf_t *b, smg__jv_t v, const smg__jjson_opts_t *o,
                     int depth);
/* Convert a jansson value into arena values (integral reals become ints, as
 * the oracle's JSON input does). */
smg__jv_t smg__jv_from_json(smg__jctx_t *c, const json_t *j, int depth);
/* Format a double as JavaScript's Number#toString does. */
size_t smg__js_num_fmt(double d, char *out, size_t cap);

/* Append to the current output, enforcing the output cap. */
void smg__jout(smg__jctx_t *c, const char *p, size_t n);
void smg__jbuf_append(smg__jctx_t *c, smg_buf_t *b, const char *p, size_t n);

/* ---- evaluator ------------------------------------------------------------ */

smg__jv_t smg__jeval(smg__jctx_t *c, smg__jscope_t *s, const smg__jnode_t *n);
smg__jv_t smg__jcall_value(smg__jctx_t *c, smg__jscope_t *s, smg__jv_t fn, smg__jv_t *args,
                           uint32_t nargs, smg__jdict_t *kw, uint32_t line);
void smg__jcount_iter(smg__jctx_t *c, uint64_t n, uint32_t line);

/* Evaluated arguments of a call, filter or test. */
typedef struct smg__jargs_s {
    smg__jv_t *pos;
    uint32_t npos;
    smg__jdict_t *kw; /* may be NULL */
} smg__jargs_t;
void smg__jeval_args(smg__jctx_t *c, smg__jscope_t *s, const smg__jnodes_t *args,
                     smg__jargs_t *out);
/* Argument i by position, else by keyword name, else NULL. */
smg__jv_t *smg__jarg(smg__jargs_t *a, uint32_t i, const char *name);

/* ---- builtins (jinja_filters.c) ------------------------------------------- */

smg__jv_t smg__jfilter(smg__jctx_t *c, smg__jscope_t *s, smg__jv_t v, smg_str_t name,
                       smg__jargs_t *a, uint32_t line);
bool smg__jtest(smg__jctx_t *c, smg__jv_t v, smg_str_t name, smg__jargs_t *a, uint32_t line);
/* Method call v.name(args); *found=false when the type has no such method. */
smg__jv_t smg__jmethod(smg__jctx_t *c, smg__jv_t self, smg_str_t name, smg__jargs_t *a,
                       uint32_t line, bool *found);
bool smg__jhas_method(smg__jv_t self, smg_str_t name);
smg__jv_t smg__jbuiltin_call(smg__jctx_t *c, int kind, smg__jargs_t *a, uint32_t line);

/* UTF-8 helpers. */
size_t smg__u8_count(const char *p, size_t n);
/* Byte offset of code point index i (clamped to n). */
size_t smg__u8_offset(const char *p, size_t n, size_t i);
size_t smg__u8_dec(const char *p, size_t n, int32_t *cp);

#endif
