/* Jinja lexer: the oracle's preprocessing (trailing newline, lstrip_blocks,
 * trim_blocks, generation tags) followed by its tokenizer, with a line number
 * on every token. Preprocessing keeps a parallel array of original line
 * numbers so that errors name the line of the template as written. */
#include <string.h>

#include "core/assert.h"
#include "core/utf8.h"
#include "token/jinja_int.h"

size_t smg__js_space_len(const char *p, size_t avail) {
    if (!avail)
        return 0;
    unsigned char c = (unsigned char)p[0];
    if (c == ' ' || (c >= '\t' && c <= '\r'))
        return 1;
    if (c < 0x80 || avail < 2)
        return 0;
    unsigned char c1 = (unsigned char)p[1];
    if (c == 0xC2 && c1 == 0xA0)
        return 2;
    if (avail < 3)
        return 0;
    unsigned char c2 = (unsigned char)p[2];
    if (c == 0xE1 && c1 == 0x9A && c2 == 0x80)
        return 3; /* U+1680 */
    if (c == 0xE2 && c1 == 0x80 && ((c2 >= 0x80 && c2 <= 0x8A) || c2 == 0xA8 || c2 == 0xA9 ||
                                    c2 == 0xAF))
        return 3; /* U+2000..200A, U+2028, U+2029, U+202F */
    if (c == 0xE2 && c1 == 0x81 && c2 == 0x9F)
        return 3; /* U+205F */
    if (c == 0xE3 && c1 == 0x80 && c2 == 0x80)
        return 3; /* U+3000 */
    if (c == 0xEF && c1 == 0xBB && c2 == 0xBF)
        return 3; /* U+FEFF */
    return 0;
}

/* Length of the JavaScript-whitespace suffix of p[0..n). */
static size_t js_space_suffix(const char *p, size_t n) {
    size_t end = n;
    while (end > 0) {
        size_t k = 0;
        for (size_t w = 1; w <= 3 && w <= end; w++) {
            if (smg__js_space_len(p + end - w, w) == w) {
                k = w;
                break;
            }
        }
        if (!k)
            break;
        end -= k;
    }
    return n - end;
}

typedef struct {
    char *p;
    uint32_t *ln;
    size_t n;
} pp_t;

static void pp_alloc(pp_t *o, smg__jarena_t *a, size_t n, smg__jerr_jmp_t *j) {
    o->p = smg__ja_alloc(a, n + 1);
    o->ln = smg__ja_alloc(a, (n + 1) * sizeof(uint32_t));
    if (!o->p || !o->ln)
        smg__jfail_jmp(j, 0, SMG_ENOMEM, "out of memory while reading the template");
    o->n = 0;
}

static inline void pp_put(pp_t *o, const pp_t *in, size_t i) {
    o->p[o->n] = in->p[i];
    o->ln[o->n] = in->ln[i];
    o->n++;
}

static bool line_start(const pp_t *in, size_t i) {
    if (i == 0)
        return true;
    char c = in->p[i - 1];
    if (c == '\n' || c == '\r')
        return true;
    if (i >= 3 && (unsigned char)in->p[i - 3] == 0xE2 && (unsigned char)in->p[i - 2] == 0x80 &&
        ((unsigned char)c == 0xA8 || (unsigned char)c == 0xA9))
        return true;
    return false;
}

/* `{%-? *(end)?generation *-?%}` at in->p[i]: returns its length, sets lstrip/rstrip. */
static size_t generation_tag(const pp_t *in, size_t i, bool *lstrip, bool *rstrip) {
    size_t n = in->n, k = i;
    if (k + 2 > n || in->p[k] != '{' || in->p[k + 1] != '%')
        return 0;
    k += 2;
    *lstrip = k < n && in->p[k] == '-';
    if (*lstrip)
        k++;
    size_t w;
    while ((w = smg__js_space_len(in->p + k, n - k)))
        k += w;
    if (n - k >= 3 && memcmp(in->p + k, "end", 3) == 0 && n - k >= 13 &&
        memcmp(in->p + k, "endgeneration", 13) == 0)
        k += 13;
    else if (n - k >= 10 && memcmp(in->p + k, "generation", 10) == 0)
        k += 10;
    else
        return 0;
    while ((w = smg__js_space_len(in->p + k, n - k)))
        k += w;
    *rstrip = k < n && in->p[k] == '-';
    if (*rstrip)
        k++;
    if (n - k < 2 || in->p[k] != '%' || in->p[k + 1] != '}')
        return 0;
    return k + 2 - i;
}

static void preprocess(const char *src, size_t len, smg__jarena_t *tmp, smg__jerr_jmp_t *j,
                       pp_t *out) {
    pp_t a, b;
    pp_alloc(&a, tmp, len, j);
    uint32_t line = 1;
    for (size_t i = 0; i < len; i++) {
        a.p[i] = src[i];
        a.ln[i] = line;
        if (src[i] == '\n')
            line++;
    }
    a.n = len;
    if (a.n && a.p[a.n - 1] == '\n')
        a.n--;
    /* lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1" */
    pp_alloc(&b, tmp, a.n, j);
    for (size_t i = 0; i < a.n;) {
        if (line_start(&a, i)) {
            size_t k = i;
            while (k < a.n && (a.p[k] == ' ' || a.p[k] == '\t'))
                k++;
            if (k > i && k + 1 < a.n && a.p[k] == '{' &&
                (a.p[k + 1] == '#' || a.p[k + 1] == '%' || a.p[k + 1] == '-')) {
                i = k;
                continue;
            }
        }
        pp_put(&b, &a, i);
        i++;
    }
    /* trim_blocks: /([#%-]})\n/g -> "$1" */
    a.n = 0;
    for (size_t i = 0; i < b.n;) {
        if (i + 2 < b.n && (b.p[i] == '#' || b.p[i] == '%' || b.p[i] == '-') &&
            b.p[i + 1] == '}' && b.p[i + 2] == '\n') {
            pp_put(&a, &b, i);
            pp_put(&a, &b, i + 1);
            i += 3;
            continue;
        }
        pp_put(&a, &b, i);
        i++;
    }
    /* {% generation %} / {% endgeneration %} markers are dropped. */
    b.n = 0;
    for (size_t i = 0; i < a.n;) {
        bool ls, rs;
        size_t tl = a.p[i] == '{' ? generation_tag(&a, i, &ls, &rs) : 0;
        if (!tl) {
            pp_put(&b, &a, i);
            i++;
            continue;
        }
        if (ls)
            b.n -= js_space_suffix(b.p, b.n);
        i += tl;
        if (rs) {
            size_t w;
            while ((w = smg__js_space_len(a.p + i, a.n - i)))
                i += w;
        }
    }
    *out = b;
}

typedef struct {
    smg__jarena_t *perm, *tmp;
    smg__jerr_jmp_t *j;
    pp_t s;
    size_t pos;
    smg__jtok_t *toks;
    size_t n, cap;
} lexer_t;

static void push(lexer_t *L, uint8_t type, const char *p, size_t n, uint32_t line) {
    if (L->n == L->cap) {
        size_t ncap = L->cap ? L->cap * 2 : 256;
        smg__jtok_t *nt = smg__ja_alloc(L->tmp, ncap * sizeof *nt);
        if (!nt)
            smg__jfail_jmp(L->j, line, SMG_ENOMEM, "out of memory while reading the template");
        if (L->n)
            memcpy(nt, L->toks, L->n * sizeof *nt);
        L->toks = nt;
        L->cap = ncap;
    }
    L->toks[L->n++] = (smg__jtok_t){.type = type, .line = line, .s = smg_str(p, n)};
}

static uint32_t line_at(const lexer_t *L, size_t pos) {
    if (pos < L->s.n)
        return L->s.ln[pos];
    return L->s.n ? L->s.ln[L->s.n - 1] : 1;
}

static inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
static inline bool is_word(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static inline char at(const lexer_t *L, size_t i) {
    return i < L->s.n ? L->s.p[i] : '\0';
}

/* A quoted string literal starting after the opening quote. */
static void lex_string(lexer_t *L, char q, uint32_t line) {
    /* the unescaped text is never longer than the raw text up to the closing quote */
    size_t max = 0;
    for (size_t i = L->pos; i < L->s.n && L->s.p[i] != q; i++, max++)
        if (L->s.p[i] == '\\' && i + 1 < L->s.n) {
            i++;
            max++;
        }
    char *o = smg__ja_alloc(L->perm, max + 1);
    if (!o)
        smg__jfail_jmp(L->j, line, SMG_ENOMEM, "out of memory while reading the template");
    size_t k = 0;
    for (;;) {
        if (L->pos >= L->s.n)
            smg__jfail_jmp(L->j, line, SMG_EPARSE, "unexpected end of input in a string literal");
        char c = L->s.p[L->pos];
        if (c == q)
            break;
        if (c == '\\') {
            L->pos++;
            if (L->pos >= L->s.n)
                smg__jfail_jmp(L->j, line, SMG_EPARSE, "unexpected end of input");
            char e = L->s.p[L->pos++];
            if (e == 'x' || e == 'u') {
                size_t hl = e == 'x' ? 2 : 4;
                uint32_t cp = 0;
                for (size_t h = 0; h < hl; h++) {
                    int v = smg_hex_digit((unsigned char)at(L, L->pos + h));
                    if (v < 0 || L->pos + h >= L->s.n)
                        smg__jfail_jmp(L->j, line, SMG_EPARSE,
                                       "invalid hexadecimal escape sequence in a string literal");
                    cp = cp * 16 + (uint32_t)v;
                }
                L->pos += hl;
                if (cp >= 0xD800 && cp <= 0xDFFF)
                    cp = 0xFFFD; /* a lone surrogate cannot be UTF-8 */
                k += smg_utf8_put(cp, o + k);
                continue;
            }
            char r;
            switch (e) {
            case 'n': r = '\n'; break;
            case 't': r = '\t'; break;
            case 'r': r = '\r'; break;
            case 'b': r = '\b'; break;
            case 'f': r = '\f'; break;
            case 'v': r = '\v'; break;
            case '\'': r = '\''; break;
            case '"': r = '"'; break;
            case '\\': r = '\\'; break;
            default:
                smg__jfail_jmp(L->j, line, SMG_EPARSE, "unexpected escaped character '%c'", e);
            }
            o[k++] = r;
            continue;
        }
        o[k++] = c;
        L->pos++;
    }
    L->pos++; /* closing quote */
    push(L, JT_STR, o, k, line);
}

static void lex_number(lexer_t *L, size_t start, uint32_t line, bool allow_frac) {
    while (is_digit(at(L, L->pos)))
        L->pos++;
    bool isf = false;
    if (allow_frac && at(L, L->pos) == '.' && is_digit(at(L, L->pos + 1))) {
        L->pos++;
        while (is_digit(at(L, L->pos)))
            L->pos++;
        isf = true;
    }
    push(L, JT_NUM, L->s.p + start, L->pos - start, line);
    L->toks[L->n - 1].is_float = isf;
}

static void strip_trailing_ws(lexer_t *L) {
    if (L->n && L->toks[L->n - 1].type == JT_TEXT) {
        smg__jtok_t *t = &L->toks[L->n - 1];
        t->s.len -= js_space_suffix(t->s.ptr, t->s.len);
        if (!t->s.len)
            L->n--;
    }
}

static void skip_ws(lexer_t *L) {
    size_t w;
    while ((w = smg__js_space_len(L->s.p + L->pos, L->s.n - L->pos)))
        L->pos += w;
}

static const struct {
    const char *seq;
    uint8_t len, type;
} TABLE[] = {
    {"{%", 2, JT_OPEN_STMT}, {"%}", 2, JT_CLOSE_STMT}, {"{{", 2, JT_OPEN_EXPR},
    {"}}", 2, JT_CLOSE_EXPR}, {"(", 1, JT_LPAREN},     {")", 1, JT_RPAREN},
    {"{", 1, JT_LBRACE},      {"}", 1, JT_RBRACE},     {"[", 1, JT_LBRACKET},
    {"]", 1, JT_RBRACKET},    {",", 1, JT_COMMA},      {".", 1, JT_DOT},
    {":", 1, JT_COLON},       {"|", 1, JT_PIPE},       {"<=", 2, JT_CMP},
    {">=", 2, JT_CMP},        {"==", 2, JT_CMP},       {"!=", 2, JT_CMP},
    {"<", 1, JT_CMP},         {">", 1, JT_CMP},        {"+", 1, JT_ADD},
    {"-", 1, JT_ADD},         {"~", 1, JT_ADD},        {"**", 2, JT_POW},
    {"*", 1, JT_MUL},         {"//", 2, JT_MUL},       {"/", 1, JT_MUL},
    {"%", 1, JT_MUL},         {"=", 1, JT_EQUALS},
};

void smg__jinja_lex(const char *src, size_t len, smg__jarena_t *perm, smg__jarena_t *tmp,
                    smg__jerr_jmp_t *j, smg__jtok_t **toks, size_t *ntok) {
    lexer_t L = {.perm = perm, .tmp = tmp, .j = j};
    pp_t pp;
    preprocess(src, len, tmp, j, &pp);
    /* Text tokens point into the preprocessed source: keep it in the template arena. */
    char *keep = smg__ja_alloc(perm, pp.n + 1);
    if (!keep)
        smg__jfail_jmp(j, 0, SMG_ENOMEM, "out of memory while reading the template");
    memcpy(keep, pp.p, pp.n);
    pp.p = keep;
    L.s = pp;
    int curly = 0;
    const char *p = L.s.p;
    size_t n = L.s.n;
    while (L.pos < n) {
        int last = L.n ? L.toks[L.n - 1].type : -1;
        if (last < 0 || last == JT_CLOSE_STMT || last == JT_CLOSE_EXPR || last == JT_COMMENT) {
            size_t st = L.pos;
            while (L.pos < n && !(p[L.pos] == '{' && (at(&L, L.pos + 1) == '%' ||
                                                      at(&L, L.pos + 1) == '{' ||
                                                      at(&L, L.pos + 1) == '#')))
                L.pos++;
            if (L.pos > st) {
                push(&L, JT_TEXT, p + st, L.pos - st, line_at(&L, st));
                continue;
            }
        }
        uint32_t line = line_at(&L, L.pos);
        if (p[L.pos] == '{' && at(&L, L.pos + 1) == '#') {
            L.pos += 2;
            bool strip_before = at(&L, L.pos) == '-';
            if (strip_before)
                L.pos++;
            size_t st = L.pos;
            while (at(&L, L.pos) != '#' || at(&L, L.pos + 1) != '}') {
                if (L.pos + 2 >= n)
                    smg__jfail_jmp(j, line, SMG_EPARSE, "missing end of comment tag");
                L.pos++;
            }
            size_t cl = L.pos - st;
            bool strip_after = cl > 0 && p[st + cl - 1] == '-';
            if (strip_after)
                cl--;
            if (strip_before)
                strip_trailing_ws(&L);
            push(&L, JT_COMMENT, p + st, cl, line);
            L.pos += 2;
            if (strip_after)
                skip_ws(&L);
            continue;
        }
        if (n - L.pos >= 3 && p[L.pos] == '{' && p[L.pos + 2] == '-' &&
            (p[L.pos + 1] == '%' || p[L.pos + 1] == '{')) {
            strip_trailing_ws(&L);
            bool st = p[L.pos + 1] == '%';
            push(&L, st ? JT_OPEN_STMT : JT_OPEN_EXPR, p + L.pos, 2, line);
            if (!st)
                curly = 0;
            L.pos += 3;
            continue;
        }
        /* whitespace inside a tag (the oracle fails if it reaches the end here) */
        {
            size_t w, moved = 0;
            while ((w = smg__js_space_len(p + L.pos, n - L.pos))) {
                L.pos += w;
                moved = 1;
                if (L.pos >= n)
                    smg__jfail_jmp(j, line, SMG_EPARSE, "unexpected end of input");
            }
            (void)moved;
            line = line_at(&L, L.pos);
        }
        if (n - L.pos >= 3 && p[L.pos] == '-' &&
            ((p[L.pos + 1] == '%' && p[L.pos + 2] == '}') ||
             (p[L.pos + 1] == '}' && p[L.pos + 2] == '}'))) {
            push(&L, p[L.pos + 1] == '%' ? JT_CLOSE_STMT : JT_CLOSE_EXPR, p + L.pos + 1, 2, line);
            L.pos += 3;
            skip_ws(&L);
            continue;
        }
        char ch = p[L.pos];
        if (ch == '-' || ch == '+') {
            int lt = L.n ? L.toks[L.n - 1].type : -1;
            if (lt < 0 || lt == JT_TEXT)
                smg__jfail_jmp(j, line, SMG_EPARSE, "unexpected character '%c'", ch);
            if (lt != JT_IDENT && lt != JT_NUM && lt != JT_STR && lt != JT_RPAREN &&
                lt != JT_RBRACKET) {
                size_t st = L.pos++;
                if (is_digit(at(&L, L.pos))) {
                    lex_number(&L, st, line, true);
                } else {
                    push(&L, JT_UNARY, p + st, 1, line);
                }
                continue;
            }
        }
        bool matched = false;
        for (size_t t = 0; t < SMG_ARRAY_LEN(TABLE); t++) {
            if (TABLE[t].type == JT_CLOSE_EXPR && curly > 0)
                continue;
            if (n - L.pos >= TABLE[t].len && memcmp(p + L.pos, TABLE[t].seq, TABLE[t].len) == 0) {
                push(&L, TABLE[t].type, p + L.pos, TABLE[t].len, line);
                if (TABLE[t].type == JT_OPEN_EXPR)
                    curly = 0;
                else if (TABLE[t].type == JT_LBRACE)
                    curly++;
                else if (TABLE[t].type == JT_RBRACE)
                    curly--;
                L.pos += TABLE[t].len;
                matched = true;
                break;
            }
        }
        if (matched)
            continue;
        if (ch == '\'' || ch == '"') {
            L.pos++;
            lex_string(&L, ch, line);
            continue;
        }
        if (is_digit(ch)) {
            int lt = L.n ? L.toks[L.n - 1].type : -1;
            lex_number(&L, L.pos, line, lt != JT_DOT);
            continue;
        }
        if (is_word(ch)) {
            size_t st = L.pos;
            while (is_word(at(&L, L.pos)))
                L.pos++;
            push(&L, JT_IDENT, p + st, L.pos - st, line);
            continue;
        }
        if ((unsigned char)ch >= 0x20 && (unsigned char)ch < 0x7f)
            smg__jfail_jmp(j, line, SMG_EPARSE, "unexpected character '%c'", ch);
        smg__jfail_jmp(j, line, SMG_EPARSE, "unexpected byte 0x%02x", (unsigned char)ch);
    }
    *toks = L.toks;
    *ntok = L.n;
}
