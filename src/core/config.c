/* Table-driven configuration: see config.h for the contract. */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "core/assert.h"

/* ---- small helpers ------------------------------------------------------------------------ */

static void *field(const smg_opt_t *o, void *cfg) {
    return (char *)cfg + o->offset;
}
static const void *cfield(const smg_opt_t *o, const void *cfg) {
    return (const char *)cfg + o->offset;
}

/* err <- "prefix: message". Always one line, always NUL-terminated. */
__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, const char *prefix,
                                                      const char *fmt, ...) {
    if (!err || errlen == 0)
        return SMG_EINVAL;
    int k = prefix && *prefix ? snprintf(err, errlen, "%s: ", prefix) : 0;
    if (k < 0)
        k = 0;
    if ((size_t)k < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return SMG_EINVAL;
}

/* A value as it may appear in a message: at most 48 bytes, non-printable bytes as '?'. */
static const char *shown(const char *v, size_t len, char *out, size_t outlen) {
    size_t lim = 48, k = 0;
    for (size_t i = 0; i < len && i < lim && k + 1 < outlen; i++) {
        unsigned char c = (unsigned char)v[i];
        out[k++] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
    }
    if (len > lim && k + 4 < outlen) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

static bool name_matches(const char *name, const char *s, size_t len) {
    size_t i = 0;
    for (; i < len; i++) {
        char c = s[i] == '_' ? '-' : s[i];
        if (name[i] == '\0' || name[i] != c)
            return false;
    }
    return name[i] == '\0';
}

const smg_opt_t *smg_config_find(const smg_opt_t *table, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (name_matches(table[i].name, name, len))
            return &table[i];
    return NULL;
}

/* Edit distance bounded to small names; returns > 2 when clearly different. */
static size_t distance(const char *a, size_t la, const char *b, size_t lb) {
    enum { M = 48 };
    if (la >= M || lb >= M)
        return 99;
    size_t prev[M + 1], cur[M + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            char ca = a[i - 1] == '_' ? '-' : a[i - 1];
            size_t sub = prev[j - 1] + (ca != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(size_t) * (lb + 1));
    }
    return prev[lb];
}

/* " (did you mean --x?)" or "" into out. */
static const char *suggest(const smg_opt_t *table, size_t n, const char *name, size_t len,
                           const char *dashes, char *out, size_t outlen) {
    const smg_opt_t *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < n; i++) {
        if (table[i].flags & SMG_OPTF_HIDDEN)
            continue;
        size_t d = distance(name, len, table[i].name, strlen(table[i].name));
        if (d < bestd) {
            bestd = d;
            best = &table[i];
        }
    }
    if (best && bestd <= len / 3 + 1)
        snprintf(out, outlen, " (did you mean %s%s?)", dashes, best->name);
    else if (outlen)
        out[0] = '\0';
    return out;
}

static bool eq_nocase(const char *s, size_t len, const char *lit) {
    size_t l = strlen(lit);
    if (l != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

/* ---- value parsing ---------------------------------------------------------------------------- */

static int parse_bool(const char *v, size_t len, bool *out) {
    if (eq_nocase(v, len, "true") || eq_nocase(v, len, "1") || eq_nocase(v, len, "yes") ||
        eq_nocase(v, len, "on")) {
        *out = true;
        return 0;
    }
    if (eq_nocase(v, len, "false") || eq_nocase(v, len, "0") || eq_nocase(v, len, "no") ||
        eq_nocase(v, len, "off")) {
        *out = false;
        return 0;
    }
    return -1;
}

/* Decimal int64 filling the view: -1 not a number, -2 overflow. */
static int parse_i64(const char *v, size_t len, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < len && (v[i] == '+' || v[i] == '-'))
        neg = v[i++] == '-';
    if (i == len)
        return -1;
    uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(v[i] - '0');
        if (acc > (lim - d) / 10)
            return -2;
        acc = acc * 10 + d;
    }
    *out = neg ? (acc == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    return 0;
}

/* Bytes with an optional binary suffix: -1 not a size, -2 overflow. */
static int parse_size(const char *v, size_t len, int64_t *out) {
    static const struct {
        const char *suf;
        int shift;
    } sufs[] = {{"k", 10}, {"kb", 10}, {"kib", 10}, {"m", 20}, {"mb", 20},
                {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"b", 0}};
    size_t d = 0;
    while (d < len && v[d] >= '0' && v[d] <= '9')
        d++;
    if (d == 0)
        return -1;
    int shift = 0;
    if (d < len) {
        size_t i = 0;
        for (; i < SMG_ARRAY_LEN(sufs); i++)
            if (eq_nocase(v + d, len - d, sufs[i].suf))
                break;
        if (i == SMG_ARRAY_LEN(sufs))
            return -1;
        shift = sufs[i].shift;
    }
    int64_t x;
    int rc = parse_i64(v, d, &x);
    if (rc)
        return rc;
    if (x > (INT64_MAX >> shift))
        return -2;
    *out = x * ((int64_t)1 << shift);
    return 0;
}

static int parse_double(const char *v, size_t len, double *out) {
    char tmp[64];
    if (len == 0 || len >= sizeof tmp)
        return -1;
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    for (size_t i = 0; i < len; i++) /* no hex floats, inf, nan, spaces */
        if (!strchr("0123456789+-.eE", tmp[i]))
            return -1;
    char *end;
    errno = 0;
    double x = strtod(tmp, &end);
    if (end != tmp + len || errno == ERANGE || !isfinite(x))
        return -1;
    *out = x;
    return 0;
}

/* Index of v in "a|b|c", or -1. */
static int enum_index(const char *choices, const char *v, size_t len) {
    int idx = 0;
    const char *p = choices ? choices : "";
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == len && memcmp(p, v, len) == 0)
            return idx;
        idx++;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

const char *smg_config_enum_name(const smg_opt_t *opt, int idx, char *out, size_t outlen) {
    if (!outlen)
        return out;
    out[0] = '\0';
    const char *p = opt->choices ? opt->choices : "";
    for (int i = 0; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (i == idx) {
            if (l >= outlen)
                l = outlen - 1;
            memcpy(out, p, l);
            out[l] = '\0';
            return out;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    return out;
}

static void list_clear(smg_strlist_t *l) {
    for (size_t i = 0; i < l->len; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

static int list_append(smg_strlist_t *l, const char *v, size_t len) {
    if (l->len >= SIZE_MAX / sizeof(char *) - 1)
        return SMG_ENOMEM;
    char **items = realloc(l->items, (l->len + 1) * sizeof(char *));
    if (!items)
        return SMG_ENOMEM;
    l->items = items;
    char *s = smg_str_dup(smg_str(v, len));
    if (!s)
        return SMG_ENOMEM;
    l->items[l->len++] = s;
    return SMG_OK;
}

static void range_text(const smg_opt_t *o, char *out, size_t outlen) {
    out[0] = '\0';
    if (o->type == SMG_OPT_DOUBLE && (o->dmin != 0 || o->dmax != 0))
        snprintf(out, outlen, "%g..%g", o->dmin, o->dmax);
    else if ((o->type == SMG_OPT_INT || o->type == SMG_OPT_SIZE) && (o->min != 0 || o->max != 0))
        snprintf(out, outlen, "%lld..%lld", (long long)o->min, (long long)o->max);
}

/* Set a scalar option (not STRLIST) from text. `typed` is true when the text comes from a
 * command line or a plain YAML scalar (so it may be a number or a boolean); a quoted YAML scalar
 * is a string and cannot fill a bool or a number. prefix names the source in messages. */
static int set_scalar(const smg_opt_t *o, void *cfg, const char *v, size_t len, bool typed,
                      const char *prefix, char *err, size_t errlen) {
    char sv[64], rg[64];
    if (memchr(v, '\0', len))
        return fail(err, errlen, prefix, "value contains a NUL byte");
    if (!typed && (o->type == SMG_OPT_BOOL || o->type == SMG_OPT_INT || o->type == SMG_OPT_DOUBLE))
        return fail(err, errlen, prefix, "expected %s, got the quoted string '%s'",
                    o->type == SMG_OPT_BOOL  ? "boolean"
                    : o->type == SMG_OPT_INT ? "integer"
                                             : "number",
                    shown(v, len, sv, sizeof sv));
    switch (o->type) {
    case SMG_OPT_BOOL: {
        bool b;
        if (!typed || parse_bool(v, len, &b))
            return fail(err, errlen, prefix, "expected boolean (true or false), got '%s'",
                        shown(v, len, sv, sizeof sv));
        *(bool *)field(o, cfg) = b;
        return SMG_OK;
    }
    case SMG_OPT_INT:
    case SMG_OPT_SIZE: {
        int64_t x;
        int rc = !typed && o->type == SMG_OPT_INT ? -1
                 : o->type == SMG_OPT_INT         ? parse_i64(v, len, &x)
                                                  : parse_size(v, len, &x);
        range_text(o, rg, sizeof rg);
        if (rc == -1)
            return fail(err, errlen, prefix, "expected %s, got '%s'",
                        o->type == SMG_OPT_INT ? "integer" : "size in bytes (e.g. 1048576 or 1MiB)",
                        shown(v, len, sv, sizeof sv));
        if (rc == -2 || ((o->min != 0 || o->max != 0) && (x < o->min || x > o->max)))
            return fail(err, errlen, prefix, "%s is out of range %s",
                        shown(v, len, sv, sizeof sv), rg[0] ? rg : "of a 64-bit integer");
        *(int64_t *)field(o, cfg) = x;
        return SMG_OK;
    }
    case SMG_OPT_DOUBLE: {
        double x;
        if (!typed || parse_double(v, len, &x))
            return fail(err, errlen, prefix, "expected number, got '%s'",
                        shown(v, len, sv, sizeof sv));
        range_text(o, rg, sizeof rg);
        if ((o->dmin != 0 || o->dmax != 0) && (x < o->dmin || x > o->dmax))
            return fail(err, errlen, prefix, "%s is out of range %s", shown(v, len, sv, sizeof sv),
                        rg);
        *(double *)field(o, cfg) = x;
        return SMG_OK;
    }
    case SMG_OPT_STRING: {
        char *s = smg_str_dup(smg_str(v, len));
        if (!s)
            return SMG_ENOMEM;
        char **f = field(o, cfg);
        free(*f);
        *f = s;
        return SMG_OK;
    }
    case SMG_OPT_ENUM: {
        int idx = enum_index(o->choices, v, len);
        if (idx < 0)
            return fail(err, errlen, prefix, "'%s' is not one of %s", shown(v, len, sv, sizeof sv),
                        o->choices ? o->choices : "(none)");
        *(int *)field(o, cfg) = idx;
        return SMG_OK;
    }
    case SMG_OPT_STRLIST:
        break;
    }
    return fail(err, errlen, prefix, "internal error: option type %d", (int)o->type);
}

/* ---- defaults ----------------------------------------------------------------------------- */

static int apply_default(const smg_opt_t *o, void *cfg, char *err, size_t errlen) {
    char prefix[96];
    snprintf(prefix, sizeof prefix, "default of --%s", o->name);
    if (o->type == SMG_OPT_STRLIST) {
        smg_strlist_t *l = field(o, cfg);
        list_clear(l);
        const char *p = o->def ? o->def : "";
        while (*p) {
            const char *sp = strchr(p, ' ');
            size_t len = sp ? (size_t)(sp - p) : strlen(p);
            if (len) {
                int rc = list_append(l, p, len);
                if (rc)
                    return rc;
            }
            if (!sp)
                break;
            p = sp + 1;
        }
        return SMG_OK;
    }
    if (!o->def) {
        switch (o->type) {
        case SMG_OPT_BOOL:
            *(bool *)field(o, cfg) = false;
            break;
        case SMG_OPT_INT:
        case SMG_OPT_SIZE:
            *(int64_t *)field(o, cfg) = 0;
            break;
        case SMG_OPT_DOUBLE:
            *(double *)field(o, cfg) = 0;
            break;
        case SMG_OPT_STRING: {
            char **f = field(o, cfg);
            free(*f);
            *f = NULL;
            break;
        }
        case SMG_OPT_ENUM:
            *(int *)field(o, cfg) = 0;
            break;
        case SMG_OPT_STRLIST:
            break;
        }
        return SMG_OK;
    }
    return set_scalar(o, cfg, o->def, strlen(o->def), true, prefix, err, errlen);
}

int smg_config_defaults(const smg_opt_t *table, size_t n, void *cfg, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        if (!table[i].name || (table[i].type == SMG_OPT_ENUM && !table[i].choices))
            return fail(err, errlen, NULL, "internal error: bad option table entry %zu", i);
        int rc = apply_default(&table[i], cfg, err, errlen);
        if (rc)
            return rc;
    }
    return SMG_OK;
}

void smg_config_free(const smg_opt_t *table, size_t n, void *cfg) {
    for (size_t i = 0; i < n; i++) {
        const smg_opt_t *o = &table[i];
        if (o->type == SMG_OPT_STRING) {
            char **f = field(o, cfg);
            free(*f);
            *f = NULL;
        } else if (o->type == SMG_OPT_STRLIST) {
            list_clear(field(o, cfg));
        }
    }
}

/* ---- YAML --------------------------------------------------------------------------------- */

typedef struct {
    const smg_opt_t *table;
    size_t n;
    void *cfg;
    const char *name;
    char *err;
    size_t errlen;
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_ev;
    int depth;
    unsigned *seen_line; /* per option: line of its key in this document, 0 if absent */
} yctx_t;

static const char *type_word(const smg_opt_t *o) {
    switch (o->type) {
    case SMG_OPT_BOOL:
        return "boolean";
    case SMG_OPT_INT:
        return "integer";
    case SMG_OPT_SIZE:
        return "size in bytes";
    case SMG_OPT_DOUBLE:
        return "number";
    case SMG_OPT_STRING:
        return "string";
    case SMG_OPT_STRLIST:
        return "list of strings";
    case SMG_OPT_ENUM:
        return "string";
    }
    return "value";
}

static const char *event_word(yaml_event_type_t t) {
    switch (t) {
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    case YAML_ALIAS_EVENT:
        return "an alias";
    default:
        return "something else";
    }
}

static unsigned ev_line(const yctx_t *y) {
    return (unsigned)y->ev.start_mark.line + 1;
}

/* Next event into y->ev (the previous one is released). */
static int ynext(yctx_t *y) {
    if (y->have_ev) {
        yaml_event_delete(&y->ev);
        y->have_ev = false;
    }
    if (!yaml_parser_parse(&y->parser, &y->ev)) {
        if (y->parser.error == YAML_MEMORY_ERROR)
            return SMG_ENOMEM;
        char pre[300];
        snprintf(pre, sizeof pre, "%s:%u", y->name, (unsigned)y->parser.problem_mark.line + 1);
        return fail(y->err, y->errlen, pre, "YAML syntax error: %s",
                    y->parser.problem ? y->parser.problem : "unknown");
    }
    y->have_ev = true;
    switch (y->ev.type) {
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (++y->depth > SMG_CONFIG_MAX_DEPTH) {
            char pre[300];
            snprintf(pre, sizeof pre, "%s:%u", y->name, ev_line(y));
            return fail(y->err, y->errlen, pre, "nesting deeper than %d levels",
                        SMG_CONFIG_MAX_DEPTH);
        }
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        y->depth--;
        break;
    default:
        break;
    }
    return SMG_OK;
}

static bool scalar_is_plain(const yaml_event_t *ev) {
    return ev->data.scalar.plain_implicit && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool scalar_is_null(const yaml_event_t *ev) {
    if (!scalar_is_plain(ev))
        return false;
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    return len == 0 || (len == 1 && v[0] == '~') || eq_nocase(v, len, "null");
}

/* Apply the value of `key` (current event is the first event of the value). */
static int yaml_value(yctx_t *y, const smg_opt_t *o, const char *key, size_t klen) {
    char pre[400], sk[64];
    snprintf(pre, sizeof pre, "%s:%u: %s", y->name, ev_line(y), shown(key, klen, sk, sizeof sk));
    yaml_event_t *ev = &y->ev;
    if (ev->type == YAML_ALIAS_EVENT)
        return fail(y->err, y->errlen, pre, "YAML aliases are not supported");
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (scalar_is_null(ev)) {
            if (o->type == SMG_OPT_STRING) {
                char **f = field(o, y->cfg);
                free(*f);
                *f = NULL;
                return SMG_OK;
            }
            if (o->type == SMG_OPT_STRLIST) {
                list_clear(field(o, y->cfg));
                return SMG_OK;
            }
            return fail(y->err, y->errlen, pre, "expected %s, got null", type_word(o));
        }
        if (o->type == SMG_OPT_STRLIST) { /* a single scalar is a one-item list */
            if (memchr(v, '\0', len))
                return fail(y->err, y->errlen, pre, "value contains a NUL byte");
            smg_strlist_t *l = field(o, y->cfg);
            list_clear(l);
            return list_append(l, v, len);
        }
        return set_scalar(o, y->cfg, v, len, scalar_is_plain(ev), pre, y->err, y->errlen);
    }
    if (ev->type == YAML_SEQUENCE_START_EVENT && o->type == SMG_OPT_STRLIST) {
        smg_strlist_t *l = field(o, y->cfg);
        list_clear(l);
        for (;;) {
            int rc = ynext(y);
            if (rc)
                return rc;
            if (ev->type == YAML_SEQUENCE_END_EVENT)
                return SMG_OK;
            snprintf(pre, sizeof pre, "%s:%u: %s", y->name, ev_line(y),
                     shown(key, klen, sk, sizeof sk));
            if (ev->type != YAML_SCALAR_EVENT)
                return fail(y->err, y->errlen, pre, "expected a list of strings, got %s inside",
                            event_word(ev->type));
            if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
                return fail(y->err, y->errlen, pre, "value contains a NUL byte");
            rc = list_append(l, (const char *)ev->data.scalar.value, ev->data.scalar.length);
            if (rc)
                return rc;
        }
    }
    return fail(y->err, y->errlen, pre, "expected %s, got %s", type_word(o), event_word(ev->type));
}

static int yaml_document(yctx_t *y) {
    int rc;
    if ((rc = ynext(y)))
        return rc;
    if (y->ev.type == YAML_SCALAR_EVENT && scalar_is_null(&y->ev))
        return ynext(y); /* an empty document: nothing to apply; leaves DOCUMENT_END current */
    if (y->ev.type != YAML_MAPPING_START_EVENT) {
        char pre[300];
        snprintf(pre, sizeof pre, "%s:%u", y->name, ev_line(y));
        return fail(y->err, y->errlen, pre, "expected a mapping of option names to values");
    }
    for (;;) {
        if ((rc = ynext(y)))
            return rc;
        if (y->ev.type == YAML_MAPPING_END_EVENT)
            return ynext(y);
        char pre[300], sk[64], sg[128];
        snprintf(pre, sizeof pre, "%s:%u", y->name, ev_line(y));
        if (y->ev.type != YAML_SCALAR_EVENT)
            return fail(y->err, y->errlen, pre, "expected an option name, got %s",
                        event_word(y->ev.type));
        size_t klen = y->ev.data.scalar.length;
        char *key = smg_str_dup(smg_str((const char *)y->ev.data.scalar.value, klen));
        if (!key)
            return SMG_ENOMEM;
        unsigned line = ev_line(y);
        const smg_opt_t *o = memchr(key, '\0', klen) ? NULL
                                                      : smg_config_find(y->table, y->n, key, klen);
        if (!o) {
            rc = fail(y->err, y->errlen, pre, "unknown option '%s'%s", shown(key, klen, sk, sizeof sk),
                      suggest(y->table, y->n, key, klen, "", sg, sizeof sg));
        } else if (o->flags & (SMG_OPTF_CLI_ONLY | SMG_OPTF_EXIT)) {
            rc = fail(y->err, y->errlen, pre, "'%s' is only valid on the command line", o->name);
        } else if (y->seen_line[o - y->table]) {
            rc = fail(y->err, y->errlen, pre, "'%s' is already set on line %u", o->name,
                      y->seen_line[o - y->table]);
        } else {
            y->seen_line[o - y->table] = line;
            rc = ynext(y);
            if (!rc)
                rc = yaml_value(y, o, key, klen);
        }
        free(key);
        if (rc)
            return rc;
    }
}

int smg_config_apply_yaml(const smg_opt_t *table, size_t n, void *cfg, const char *name,
                          const char *data, size_t len, char *err, size_t errlen) {
    if (len > SMG_CONFIG_MAX_FILE)
        return fail(err, errlen, name, "file is larger than %u bytes", SMG_CONFIG_MAX_FILE);
    yctx_t y = {.table = table, .n = n, .cfg = cfg, .name = name, .err = err, .errlen = errlen};
    y.seen_line = calloc(n ? n : 1, sizeof(unsigned));
    if (!y.seen_line)
        return SMG_ENOMEM;
    if (!yaml_parser_initialize(&y.parser)) {
        free(y.seen_line);
        return SMG_ENOMEM;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)data, len);
    int rc = ynext(&y);
    if (!rc && y.ev.type != YAML_STREAM_START_EVENT)
        rc = fail(err, errlen, name, "not a YAML stream");
    if (!rc)
        rc = ynext(&y);
    if (!rc && y.ev.type == YAML_DOCUMENT_START_EVENT) {
        rc = yaml_document(&y);
        if (!rc && y.ev.type != YAML_DOCUMENT_END_EVENT)
            rc = fail(err, errlen, name, "unexpected content after the top-level mapping");
        if (!rc)
            rc = ynext(&y);
        if (!rc && y.ev.type == YAML_DOCUMENT_START_EVENT) {
            char pre[300];
            snprintf(pre, sizeof pre, "%s:%u", name, ev_line(&y));
            rc = fail(err, errlen, pre, "only one YAML document is allowed");
        }
    }
    if (!rc && y.ev.type != YAML_STREAM_END_EVENT)
        rc = fail(err, errlen, name, "unexpected YAML content");
    if (y.have_ev)
        yaml_event_delete(&y.ev);
    yaml_parser_delete(&y.parser);
    free(y.seen_line);
    return rc;
}

static int load_file(const smg_opt_t *table, size_t n, void *cfg, const char *path, char *err,
                     size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, path, "cannot open: %s", strerror(errno));
    size_t cap = SMG_CONFIG_MAX_FILE + 1, len = 0;
    char *data = malloc(cap);
    if (!data) {
        close(fd);
        return SMG_ENOMEM;
    }
    int rc = SMG_OK;
    for (;;) {
        ssize_t r = read(fd, data + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = fail(err, errlen, path, "cannot read: %s", strerror(errno));
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap) {
            rc = fail(err, errlen, path, "file is larger than %u bytes", SMG_CONFIG_MAX_FILE);
            break;
        }
    }
    close(fd);
    if (!rc)
        rc = smg_config_apply_yaml(table, n, cfg, path, data, len, err, errlen);
    free(data);
    return rc;
}

/* ---- command line ------------------------------------------------------------------------- */

static bool is_flag(const char *a) {
    return a[0] == '-' && a[1] == '-' && a[2] != '\0';
}

int smg_config_parse(const smg_opt_t *table, size_t n, void *cfg, int argc, char **argv, char *err,
                     size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    int rc = smg_config_defaults(table, n, cfg, err, errlen);
    if (rc)
        return rc;

    /* 1. Actions (--help, --version) win over everything, even over bad arguments. */
    for (int i = 1; i < argc; i++) {
        if (!is_flag(argv[i]))
            continue;
        const smg_opt_t *o = smg_config_find(table, n, argv[i] + 2, strlen(argv[i] + 2));
        if (o && (o->flags & SMG_OPTF_EXIT) && o->type == SMG_OPT_BOOL) {
            *(bool *)field(o, cfg) = true;
            return SMG_CONFIG_EXIT;
        }
    }

    /* 2. The config file, so that the command line can override it. */
    const smg_opt_t *cfo = NULL;
    for (size_t i = 0; i < n; i++)
        if ((table[i].flags & SMG_OPTF_CONFIG_FILE) && table[i].type == SMG_OPT_STRING)
            cfo = &table[i];
    if (cfo) {
        const char *path = NULL;
        for (int i = 1; i < argc; i++) {
            if (!is_flag(argv[i]))
                continue;
            const char *a = argv[i] + 2, *eq = strchr(a, '=');
            size_t nl = eq ? (size_t)(eq - a) : strlen(a);
            if (!name_matches(cfo->name, a, nl))
                continue;
            char pre[96];
            snprintf(pre, sizeof pre, "--%s", cfo->name);
            if (path)
                return fail(err, errlen, pre, "given more than once");
            if (eq)
                path = eq + 1;
            else if (i + 1 < argc && !is_flag(argv[i + 1]))
                path = argv[++i];
            else
                return fail(err, errlen, pre, "missing value");
            if (!*path)
                return fail(err, errlen, pre, "empty file name");
        }
        if (path) {
            rc = set_scalar(cfo, cfg, path, strlen(path), true, "--config", err, errlen);
            if (!rc)
                rc = load_file(table, n, cfg, path, err, errlen);
            if (rc)
                return rc;
        }
    }

    /* 3. The command line. */
    bool *seen = calloc(n ? n : 1, sizeof(bool));
    if (!seen)
        return SMG_ENOMEM;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        char sv[64], sg[128], pre[96];
        if (!is_flag(a)) {
            rc = fail(err, errlen, NULL, "unexpected argument '%s'", shown(a, strlen(a), sv, sizeof sv));
            break;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const smg_opt_t *o = smg_config_find(table, n, name, nl);
        if (!o) {
            rc = fail(err, errlen, NULL, "unknown option --%s%s", shown(name, nl, sv, sizeof sv),
                      suggest(table, n, name, nl, "--", sg, sizeof sg));
            break;
        }
        snprintf(pre, sizeof pre, "--%s", o->name);
        if (o == cfo) { /* applied in step 2; skip its value */
            if (!eq)
                i++;
            continue;
        }
        size_t idx = (size_t)(o - table);
        if (o->type == SMG_OPT_STRLIST) {
            smg_strlist_t *l = field(o, cfg);
            if (!seen[idx])
                list_clear(l); /* the command line replaces what the file said */
            seen[idx] = true;
            int got = 0;
            if (eq) {
                if (eq[1] == '\0') {
                    list_clear(l);
                    continue;
                }
                rc = list_append(l, eq + 1, strlen(eq + 1));
                got++;
            }
            bool one = (o->flags & SMG_OPTF_REPEATABLE) != 0;
            while (!rc && i + 1 < argc && !is_flag(argv[i + 1]) && !(one && got)) {
                i++;
                rc = list_append(l, argv[i], strlen(argv[i]));
                got++;
            }
            if (!rc && !got)
                rc = fail(err, errlen, pre, "missing value");
            continue;
        }
        if (seen[idx]) {
            rc = fail(err, errlen, pre, "given more than once");
            break;
        }
        seen[idx] = true;
        if (o->type == SMG_OPT_BOOL && !eq) {
            *(bool *)field(o, cfg) = true;
            continue;
        }
        if (o->flags & SMG_OPTF_EXIT) { /* --help=true: an action like --help */
            rc = set_scalar(o, cfg, eq + 1, strlen(eq + 1), true, pre, err, errlen);
            if (!rc && *(bool *)field(o, cfg))
                rc = SMG_CONFIG_EXIT;
            if (rc)
                break;
            continue;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc && !is_flag(argv[i + 1])) {
            v = argv[++i];
        } else {
            rc = fail(err, errlen, pre, "missing value");
            break;
        }
        rc = set_scalar(o, cfg, v, strlen(v), true, pre, err, errlen);
    }
    free(seen);
    return rc;
}

/* ---- help, Markdown, dump ------------------------------------------------------------------- */

static const char *metavar(const smg_opt_t *o) {
    if (o->metavar)
        return o->metavar;
    switch (o->type) {
    case SMG_OPT_BOOL:
        return "";
    case SMG_OPT_INT:
        return "N";
    case SMG_OPT_SIZE:
        return "BYTES";
    case SMG_OPT_DOUBLE:
        return "X";
    case SMG_OPT_STRING:
        return "STR";
    case SMG_OPT_STRLIST:
        return (o->flags & SMG_OPTF_REPEATABLE) ? "STR" : "STR...";
    case SMG_OPT_ENUM:
        return "NAME";
    }
    return "";
}

static const char *section_of(const smg_opt_t *o) {
    return o->section ? o->section : "Other";
}

/* Whether section s was already listed before option index i. */
/* True when o is listed (not hidden) under section s. */
static bool listed_in(const smg_opt_t *o, const char *s) {
    return !(o->flags & SMG_OPTF_HIDDEN) && strcmp(section_of(o), s) == 0;
}

/* The section that table[i] opens in help output (it is the section's first
 * listed option), or NULL when it is hidden or its section came earlier. */
static const char *section_opened_by(const smg_opt_t *table, size_t i) {
    if (table[i].flags & SMG_OPTF_HIDDEN)
        return NULL;
    const char *s = section_of(&table[i]);
    for (size_t j = 0; j < i; j++)
        if (listed_in(&table[j], s))
            return NULL;
    return s;
}

/* Default as shown to people, into out; "" when there is nothing worth showing. */
static const char *default_text(const smg_opt_t *o, char *out, size_t outlen) {
    out[0] = '\0';
    if (o->type == SMG_OPT_BOOL) {
        bool b = false;
        if (o->def && parse_bool(o->def, strlen(o->def), &b) == 0 && b)
            snprintf(out, outlen, "true");
    } else if (o->type == SMG_OPT_ENUM)
        smg_config_enum_name(o, o->def ? enum_index(o->choices, o->def, strlen(o->def)) : 0, out,
                             outlen);
    else if (o->def)
        snprintf(out, outlen, "%s", o->def);
    return out;
}

/* Print `text` wrapped at 80 columns with `indent` spaces. */
static void wrap(FILE *out, const char *text, int indent) {
    const int width = 80;
    int col = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        int wl = (int)(p - w);
        if (wl == 0)
            break;
        if (col == 0) {
            fprintf(out, "%*s", indent, "");
            col = indent;
        } else if (col + 1 + wl > width) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else {
            fputc(' ', out);
            col++;
        }
        fwrite(w, 1, (size_t)wl, out);
        col += wl;
    }
    if (col)
        fputc('\n', out);
}

void smg_config_help(const smg_opt_t *table, size_t n, FILE *out) {
    for (size_t i = 0; i < n; i++) {
        const char *sec = section_opened_by(table, i);
        if (!sec)
            continue;
        fprintf(out, "%s:\n", sec);
        for (size_t j = i; j < n; j++) {
            const smg_opt_t *o = &table[j];
            if (!listed_in(o, sec))
                continue;
            const char *mv = metavar(o);
            fprintf(out, "  --%s%s%s\n", o->name, *mv ? " " : "", mv);
            char line[1024], def[256], rg[64];
            size_t k = (size_t)snprintf(line, sizeof line, "%s", o->help ? o->help : "");
            if (o->type == SMG_OPT_ENUM && k < sizeof line)
                k += (size_t)snprintf(line + k, sizeof line - k, " One of: %s.", o->choices);
            range_text(o, rg, sizeof rg);
            if (rg[0] && k < sizeof line)
                k += (size_t)snprintf(line + k, sizeof line - k, " Range: %s.", rg);
            if (*default_text(o, def, sizeof def) && k < sizeof line)
                snprintf(line + k, sizeof line - k, " [default: %s]", def);
            wrap(out, line, 10);
        }
        fputc('\n', out);
    }
}

/* Markdown table cell text: '|' escaped, newlines as spaces. */
static void md_cell(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

void smg_config_markdown(const smg_opt_t *table, size_t n, FILE *out) {
    for (size_t i = 0; i < n; i++) {
        const char *sec = section_opened_by(table, i);
        if (!sec)
            continue;
        fprintf(out, "## %s\n\n| Flag | Type | Default | Description |\n|---|---|---|---|\n", sec);
        for (size_t j = i; j < n; j++) {
            const smg_opt_t *o = &table[j];
            if (!listed_in(o, sec))
                continue;
            const char *mv = metavar(o);
            fprintf(out, "| `--%s%s", o->name, *mv ? " " : "");
            md_cell(out, mv);
            fputs("` | ", out);
            char rg[64], def[256];
            range_text(o, rg, sizeof rg);
            if (o->type == SMG_OPT_ENUM) {
                fputs("one of `", out);
                md_cell(out, o->choices);
                fputc('`', out);
            } else {
                fputs(type_word(o), out);
                if (o->type == SMG_OPT_STRLIST && (o->flags & SMG_OPTF_REPEATABLE))
                    fputs(" (repeat the flag)", out);
            }
            if (rg[0])
                fprintf(out, ", %s", rg);
            fputs(" | ", out);
            if (*default_text(o, def, sizeof def)) {
                fputc('`', out);
                md_cell(out, def);
                fputc('`', out);
            }
            fputs(" | ", out);
            md_cell(out, o->help ? o->help : "");
            if (o->flags & SMG_OPTF_CLI_ONLY)
                fputs(" Command line only.", out);
            if (o->flags & SMG_OPTF_SECRET)
                fputs(" Secret: never printed.", out);
            fputs(" |\n", out);
        }
        fputc('\n', out);
    }
}

/* Shortest "%.Ng" that reads back as the same double. */
static void fmt_double(double x, char *out, size_t outlen) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, x);
        if (strtod(out, NULL) == x)
            break;
    }
}

/* A YAML double-quoted scalar that reads back byte for byte: besides what JSON escapes, YAML
 * folds or rejects raw C1 controls (NEL is a line break), U+2028/2029, U+FEFF, U+FFFE/FFFF. */
static int dump_string(smg_buf_t *b, const char *s) {
    int rc = smg_buf_append_byte(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0, i = 0;
    while (!rc && p[i]) {
        unsigned cp = 0;
        size_t adv = 1;
        char esc[8] = "";
        if (p[i] == '"' || p[i] == '\\')
            snprintf(esc, sizeof esc, "\\%c", p[i]);
        else if (p[i] == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (p[i] < 0x20 || p[i] == 0x7f)
            cp = p[i];
        else if (p[i] == 0xC2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
            cp = p[i + 1], adv = 2;
        else if (p[i] == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9))
            cp = 0x2000u | (p[i + 2] & 0x3Fu), adv = 3;
        else if (p[i] == 0xEF && p[i + 1] == 0xBB && p[i + 2] == 0xBF)
            cp = 0xFEFF, adv = 3;
        else if (p[i] == 0xEF && p[i + 1] == 0xBF && (p[i + 2] == 0xBE || p[i + 2] == 0xBF))
            cp = 0xFFC0u | (p[i + 2] & 0x3Fu), adv = 3;
        if (cp)
            snprintf(esc, sizeof esc, "\\u%04X", cp);
        if (esc[0]) {
            rc = smg_buf_append(b, s + start, i - start);
            if (!rc)
                rc = smg_buf_append_c(b, esc);
            start = i + adv;
        }
        i += adv;
    }
    if (!rc)
        rc = smg_buf_append(b, s + start, i - start);
    if (!rc)
        rc = smg_buf_append_byte(b, '"');
    return rc;
}

int smg_config_dump(const smg_opt_t *table, size_t n, const void *cfg, smg_buf_t *out) {
    int rc = SMG_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const smg_opt_t *o = &table[i];
        if (o->flags & (SMG_OPTF_CLI_ONLY | SMG_OPTF_EXIT | SMG_OPTF_HIDDEN))
            continue;
        rc = smg_buf_appendf(out, "%s: ", o->name);
        if (rc)
            break;
        const void *f = cfield(o, cfg);
        char tmp[64];
        switch (o->type) {
        case SMG_OPT_BOOL:
            rc = smg_buf_append_c(out, *(const bool *)f ? "true" : "false");
            break;
        case SMG_OPT_INT:
        case SMG_OPT_SIZE:
            rc = smg_buf_appendf(out, "%lld", (long long)*(const int64_t *)f);
            break;
        case SMG_OPT_DOUBLE:
            fmt_double(*(const double *)f, tmp, sizeof tmp);
            rc = smg_buf_append_c(out, tmp);
            break;
        case SMG_OPT_ENUM:
            rc = dump_string(out, smg_config_enum_name(o, *(const int *)f, tmp, sizeof tmp));
            break;
        case SMG_OPT_STRING: {
            const char *s = *(char *const *)f;
            if (!s)
                rc = smg_buf_append_c(out, "null");
            else
                rc = dump_string(out, (o->flags & SMG_OPTF_SECRET) ? "<hidden>" : s);
            break;
        }
        case SMG_OPT_STRLIST: {
            const smg_strlist_t *l = f;
            rc = smg_buf_append_byte(out, '[');
            for (size_t k = 0; k < l->len && !rc; k++) {
                if (k)
                    rc = smg_buf_append_c(out, ", ");
                if (!rc)
                    rc = dump_string(out, (o->flags & SMG_OPTF_SECRET) ? "<hidden>" : l->items[k]);
            }
            if (!rc)
                rc = smg_buf_append_byte(out, ']');
            break;
        }
        }
        if (!rc)
            rc = smg_buf_append_byte(out, '\n');
    }
    return rc;
}
