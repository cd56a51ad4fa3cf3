/* Tokenizer plumbing: UTF-8, Unicode classes, hash maps, string lists,
 * patterns (literal or PCRE2 regex with HF/onig iteration semantics). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/assert.h"
#include "core/hash.h"
#include "token/tok_internal.h"

void smg__tok_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- UTF-8 ---------------------------------------------------------------- */

size_t smg__tok_utf8_next(const char *p, size_t n, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)p;
    unsigned c = s[0];
    if (c < 0x80 || n < 2) {
        *cp = c;
        return 1;
    }
    if (c < 0xE0) {
        *cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        return 2;
    }
    if (c < 0xF0 || n < 4) {
        if (n < 3) {
            *cp = c;
            return 1;
        }
        *cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    *cp = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

size_t smg__tok_utf8_prev_len(const char *p, size_t n) {
    size_t k = 1;
    while (k < n && k < 4 && ((unsigned char)p[n - k] & 0xC0) == 0x80)
        k++;
    return k;
}

bool smg__tok_utf8_valid(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = smg_utf8_valid_at(p + i, n - i, NULL);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

int smg__tok_utf8_lossy(const char *p, size_t n, smg_buf_t *out) {
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, run = 0;
    int rc;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t bad, k = smg_utf8_valid_at(p + i, n - i, &bad);
        if (k) {
            i += k;
            continue;
        }
        if ((rc = smg_buf_append(out, p + run, i - run)) ||
            (rc = smg_buf_append(out, "\xEF\xBF\xBD", 3)))
            return rc;
        i += bad;
        run = i;
    }
    return smg_buf_append(out, p + run, n - run);
}

size_t smg__tok_utf8_count(const char *p, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

/* ---- Unicode classes ------------------------------------------------------ */

bool smg__tok_is_whitespace(uint32_t c) {
    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0D);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int cat(uint32_t c) {
    return (int)utf8proc_category((utf8proc_int32_t)c);
}

bool smg__tok_is_numeric(uint32_t c) {
    if (c < 0x80)
        return c >= '0' && c <= '9';
    int k = cat(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

bool smg__tok_is_alnum(uint32_t c) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    int k = cat(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

bool smg__tok_is_punct(uint32_t c) {
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    int k = cat(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

bool smg__tok_is_other(uint32_t c) {
    int k = cat(c);
    /* HF's BertNormalizer keeps unassigned code points (Cn): measured against
     * the reference, so Cn is not "other" here */
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
           k == UTF8PROC_CATEGORY_CO;
}

bool smg__tok_is_mark_nonspacing(uint32_t c) {
    return c >= 0x300 && cat(c) == UTF8PROC_CATEGORY_MN;
}

/* ---- byte-level alphabet (GPT-2 bytes_to_unicode) ------------------------- */

static bool printable_byte(unsigned b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t smg__tok_byte_to_cp(uint8_t b) {
    if (printable_byte(b))
        return b;
    unsigned n = 0;
    for (unsigned i = 0; i < b; i++)
        n += !printable_byte(i);
    return 256 + n;
}

int smg__tok_cp_to_byte(uint32_t cp) {
    if (cp < 256)
        return printable_byte(cp) ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    unsigned n = cp - 256;
    for (unsigned b = 0; b < 256; b++) {
        if (!printable_byte(b)) {
            if (n == 0)
                return (int)b;
            n--;
        }
    }
    return -1;
}

/* ---- string map ----------------------------------------------------------- */

static inline uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
        i += 8;
    }
    uint64_t w = 0;
    memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    return h;
}

void smg__tok_smap_init(smg__tok_smap_t *m) {
    memset(m, 0, sizeof *m);
    smg_buf_init(&m->arena, 0);
}

void smg__tok_smap_free(smg__tok_smap_t *m) {
    free(m->slots);
    free(m->key_off);
    free(m->key_len);
    free(m->val);
    smg_buf_free(&m->arena);
    memset(m, 0, sizeof *m);
}

static int smap_grow(smg__tok_smap_t *m) {
    size_t nslots = m->mask ? (m->mask + 1) * 2 : 64;
    uint32_t *s = calloc(nslots, sizeof *s);
    if (!s)
        return SMG_ENOMEM;
    for (size_t e = 0; e < m->n; e++) {
        size_t i = hash_bytes(m->arena.ptr + m->key_off[e], m->key_len[e]) & (nslots - 1);
        while (s[i])
            i = (i + 1) & (nslots - 1);
        s[i] = (uint32_t)e + 1;
    }
    free(m->slots);
    m->slots = s;
    m->mask = nslots - 1;
    return SMG_OK;
}

int smg__tok_smap_put(smg__tok_smap_t *m, const char *k, size_t n, uint32_t v) {
    if (n > UINT32_MAX)
        return SMG_ETOOBIG;
    if (!m->slots || (m->n + 1) * 4 > (m->mask + 1) * 3) {
        int rc = smap_grow(m);
        if (rc)
            return rc;
    }
    size_t i = hash_bytes(k, n) & m->mask;
    while (m->slots[i]) {
        uint32_t e = m->slots[i] - 1;
        if (m->key_len[e] == n && memcmp(m->arena.ptr + m->key_off[e], k, n) == 0) {
            m->val[e] = v;
            return SMG_OK;
        }
        i = (i + 1) & m->mask;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        uint32_t *a = realloc(m->key_off, nc * sizeof *a);
        if (!a)
            return SMG_ENOMEM;
        m->key_off = a;
        a = realloc(m->key_len, nc * sizeof *a);
        if (!a)
            return SMG_ENOMEM;
        m->key_len = a;
        a = realloc(m->val, nc * sizeof *a);
        if (!a)
            return SMG_ENOMEM;
        m->val = a;
        m->cap = nc;
    }
    if (m->arena.len + n > UINT32_MAX)
        return SMG_ETOOBIG;
    uint32_t off = (uint32_t)m->arena.len;
    int rc = smg_buf_append(&m->arena, k, n);
    if (rc)
        return rc;
    m->key_off[m->n] = off;
    m->key_len[m->n] = (uint32_t)n;
    m->val[m->n] = v;
    m->slots[i] = (uint32_t)++m->n;
    return SMG_OK;
}

bool smg__tok_smap_get(const smg__tok_smap_t *m, const char *k, size_t n, uint32_t *v) {
    if (!m->slots)
        return false;
    size_t i = hash_bytes(k, n) & m->mask;
    while (m->slots[i]) {
        uint32_t e = m->slots[i] - 1;
        if (m->key_len[e] == n && memcmp(m->arena.ptr + m->key_off[e], k, n) == 0) {
            *v = m->val[e];
            return true;
        }
        i = (i + 1) & m->mask;
    }
    return false;
}

/* ---- pair map ------------------------------------------------------------- */

void smg__tok_pmap_free(smg__tok_pmap_t *m) {
    free(m->keys);
    free(m->rank);
    free(m->nid);
    memset(m, 0, sizeof *m);
}

int smg__tok_pmap_reserve(smg__tok_pmap_t *m, size_t n) {
    SMG_BUG_ON(m->keys != NULL);
    size_t slots = 64;
    while (slots < n * 2 + 2)
        slots *= 2;
    m->keys = malloc(slots * sizeof *m->keys);
    m->rank = malloc(slots * sizeof *m->rank);
    m->nid = malloc(slots * sizeof *m->nid);
    if (!m->keys || !m->rank || !m->nid)
        return SMG_ENOMEM;
    memset(m->keys, 0xFF, slots * sizeof *m->keys);
    m->mask = slots - 1;
    m->n = 0;
    return SMG_OK;
}

int smg__tok_pmap_put(smg__tok_pmap_t *m, uint32_t a, uint32_t b, uint32_t rank, uint32_t nid) {
    if (!m->keys || (m->n + 1) * 2 > m->mask + 1)
        return SMG_ELIMIT; /* reserve() sizes it up front */
    uint64_t k = (uint64_t)a << 32 | b;
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
    while (m->keys[i] != UINT64_MAX && m->keys[i] != k)
        i = (i + 1) & m->mask;
    if (m->keys[i] == UINT64_MAX)
        m->n++;
    m->keys[i] = k;
    m->rank[i] = rank;
    m->nid[i] = nid;
    return SMG_OK;
}

/* ---- string lists --------------------------------------------------------- */

void smg__tok_strs_init(smg__tok_strs_t *l) {
    memset(l, 0, sizeof *l);
    smg_buf_init(&l->arena, 0);
}

void smg__tok_strs_free(smg__tok_strs_t *l) {
    smg_buf_free(&l->arena);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

void smg__tok_strs_reset(smg__tok_strs_t *l) {
    smg_buf_reset(&l->arena);
    l->n = 0;
}

int smg__tok_strs_push(smg__tok_strs_t *l, const char *p, size_t n) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        uint32_t *a = realloc(l->off, nc * sizeof *a);
        if (!a)
            return SMG_ENOMEM;
        l->off = a;
        a = realloc(l->len, nc * sizeof *a);
        if (!a)
            return SMG_ENOMEM;
        l->len = a;
        l->cap = nc;
    }
    if (l->arena.len + n > UINT32_MAX)
        return SMG_ETOOBIG;
    size_t off = l->arena.len;
    int rc = smg_buf_append(&l->arena, p, n);
    if (rc)
        return rc;
    l->off[l->n] = (uint32_t)off;
    l->len[l->n] = (uint32_t)n;
    l->n++;
    return SMG_OK;
}

/* ---- ids and pieces ------------------------------------------------------- */

void smg_tok_ids_free(smg_tok_ids_t *ids) {
    free(ids->ids);
    ids->ids = NULL;
    ids->len = ids->cap = 0;
}

int smg__tok_ids_reserve(smg_tok_ids_t *ids, size_t extra) {
    if (ids->len + extra <= ids->cap)
        return SMG_OK;
    size_t nc = ids->cap ? ids->cap : 16;
    while (nc < ids->len + extra)
        nc *= 2;
    uint32_t *p = realloc(ids->ids, nc * sizeof *p);
    if (!p)
        return SMG_ENOMEM;
    ids->ids = p;
    ids->cap = nc;
    return SMG_OK;
}

int smg__tok_ids_push(smg_tok_ids_t *ids, uint32_t id) {
    if (ids->len == ids->cap) {
        int rc = smg__tok_ids_reserve(ids, 1);
        if (rc)
            return rc;
    }
    ids->ids[ids->len++] = id;
    return SMG_OK;
}

int smg__tok_ids_append(smg_tok_ids_t *ids, const uint32_t *v, size_t n) {
    int rc = smg__tok_ids_reserve(ids, n);
    if (rc)
        return rc;
    if (n)
        memcpy(ids->ids + ids->len, v, n * sizeof *v);
    ids->len += n;
    return SMG_OK;
}

int smg__tok_pieces_push(smg__tok_pieces_t *p, uint32_t off, uint32_t len, uint32_t id,
                         bool origin) {
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 32;
        smg__tok_piece_t *v = realloc(p->v, nc * sizeof *v);
        if (!v)
            return SMG_ENOMEM;
        p->v = v;
        p->cap = nc;
    }
    p->v[p->n++] = (smg__tok_piece_t){off, len, id, origin};
    return SMG_OK;
}

int smg__tok_spans_push(smg__tok_spans_t *sp, size_t s, size_t e, bool m) {
    if (sp->n == sp->cap) {
        size_t nc = sp->cap ? sp->cap * 2 : 32;
        smg__tok_span_t *v = realloc(sp->v, nc * sizeof *v);
        if (!v)
            return SMG_ENOMEM;
        sp->v = v;
        sp->cap = nc;
    }
    sp->v[sp->n++] = (smg__tok_span_t){(uint32_t)s, (uint32_t)e, m};
    return SMG_OK;
}

/* ---- patterns ------------------------------------------------------------- */

/* Thread-local scratch is released by smg_tok_thread_cleanup(), which a
 * pthread key destructor also runs when a thread exits. */
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
void smg_tok_thread_cleanup(void);
static void tl_destroy(void *p) {
    (void)p;
    smg_tok_thread_cleanup();
}
static void tl_key_init(void) {
    (void)pthread_key_create(&tl_key, tl_destroy);
}
void smg__tok_thread_register(void);
void smg__tok_thread_register(void) {
    pthread_once(&tl_once, tl_key_init);
    if (!pthread_getspecific(tl_key))
        (void)pthread_setspecific(tl_key, (void *)1);
}

static _Thread_local pcre2_match_data *tl_md;
static _Thread_local pcre2_match_context *tl_mctx;
static _Thread_local pcre2_jit_stack *tl_jit;

pcre2_match_data *smg__tok_match_data(void) {
    if (!tl_md) {
        smg__tok_thread_register();
        tl_md = pcre2_match_data_create(16, NULL);
    }
    return tl_md;
}

pcre2_match_context *smg__tok_match_ctx(void) {
    if (!tl_mctx) {
        smg__tok_thread_register();
        tl_mctx = pcre2_match_context_create(NULL);
        if (!tl_mctx)
            return NULL;
        /* Bound backtracking so a hostile input yields an error, not a hang. */
        pcre2_set_match_limit(tl_mctx, 50u * 1000 * 1000);
        pcre2_set_depth_limit(tl_mctx, 100000);
        tl_jit = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
        if (tl_jit)
            pcre2_jit_stack_assign(tl_mctx, NULL, tl_jit);
    }
    return tl_mctx;
}

void smg__tok_thread_scratch_free(void);
void smg__tok_thread_scratch_free(void) {
    if (tl_md)
        pcre2_match_data_free(tl_md);
    if (tl_mctx)
        pcre2_match_context_free(tl_mctx);
    if (tl_jit)
        pcre2_jit_stack_free(tl_jit);
    tl_md = NULL;
    tl_mctx = NULL;
    tl_jit = NULL;
}

int smg__tok_pattern_init(smg__tok_pattern_t *p, const char *s, size_t n, bool regex, char *err,
                          size_t errlen) {
    memset(p, 0, sizeof *p);
    if (!regex) {
        p->lit = malloc(n + 1);
        if (!p->lit)
            return SMG_ENOMEM;
        memcpy(p->lit, s, n);
        p->lit[n] = 0;
        p->lit_len = n;
        return SMG_OK;
    }
    int ec;
    PCRE2_SIZE eo;
    p->re = pcre2_compile((PCRE2_SPTR)s, n, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &ec, &eo,
                          NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        smg__tok_errf(err, errlen, "regex /%.*s/ does not compile at offset %zu: %s",
                      (int)(n > 200 ? 200 : n), s, (size_t)eo, (const char *)msg);
        return SMG_EPARSE;
    }
    (void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    return SMG_OK;
}

void smg__tok_pattern_free(smg__tok_pattern_t *p) {
    free(p->lit);
    if (p->re)
        pcre2_code_free(p->re);
    memset(p, 0, sizeof *p);
}

int smg__tok_pattern_find(const smg__tok_pattern_t *p, const char *s, size_t n, size_t from,
                          size_t *ms, size_t *me) {
    if (from > n)
        return 0;
    if (!p->re) {
        if (p->lit_len == 0)
            return 0;
        const char *hit = memmem(s + from, n - from, p->lit, p->lit_len);
        if (!hit)
            return 0;
        *ms = (size_t)(hit - s);
        *me = *ms + p->lit_len;
        return 1;
    }
    pcre2_match_data *md = smg__tok_match_data();
    pcre2_match_context *ctx = smg__tok_match_ctx();
    if (!md || !ctx)
        return SMG_ENOMEM;
    int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, md, ctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0)
        return rc == PCRE2_ERROR_NOMEMORY ? SMG_ENOMEM : SMG_ELIMIT;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

int smg__tok_pattern_spans(const smg__tok_pattern_t *p, const char *s, size_t n,
                           smg__tok_spans_t *out) {
    out->n = 0;
    if (n == 0)
        return smg__tok_spans_push(out, 0, 0, false);
    size_t prev = 0, from = 0, last_match_end = SIZE_MAX;
    int rc;
    while (from <= n) {
        size_t ms, me;
        rc = smg__tok_pattern_find(p, s, n, from, &ms, &me);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        if (ms == me && last_match_end == me) {
            /* onig: no empty match right after the previous match */
            if (from >= n)
                break;
            uint32_t cp;
            from += smg__tok_utf8_next(s + from, n - from, &cp);
            continue;
        }
        from = me;
        last_match_end = me;
        if (prev != ms && (rc = smg__tok_spans_push(out, prev, ms, false)))
            return rc;
        if ((rc = smg__tok_spans_push(out, ms, me, true)))
            return rc;
        prev = me;
    }
    if (prev != n && (rc = smg__tok_spans_push(out, prev, n, false)))
        return rc;
    return SMG_OK;
}
