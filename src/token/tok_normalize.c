/* Normalizers: NFC/NFD/NFKC/NFKD (utf8proc), Lowercase, Prepend, Replace,
 * Strip, StripAccents, BertNormalizer, Sequence — HF semantics, per char. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "token/tok_internal.h"

static bool all_ascii(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return false;
    return true;
}

static int unicode_form(const char *in, size_t n, int opts, smg_buf_t *out) {
    if (all_ascii(in, n))
        return smg_buf_append(out, in, n);
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t r =
        utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)n, &res,
                     (utf8proc_option_t)(opts | UTF8PROC_STABLE));
    if (r < 0) {
        free(res);
        return r == UTF8PROC_ERROR_NOMEM ? SMG_ENOMEM : SMG_EINVAL;
    }
    int rc = smg_buf_append(out, res, (size_t)r);
    free(res);
    return rc;
}

static int put_cp(smg_buf_t *out, uint32_t cp) {
    char tmp[4];
    return smg_buf_append(out, tmp, smg_utf8_put(cp, tmp));
}

static int lowercase(const char *in, size_t n, smg_buf_t *out) {
    int rc = smg_buf_reserve(out, n + 8);
    if (rc)
        return rc;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x80) {
            if ((rc = smg_buf_append_byte(out, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c))))
                return rc;
            i++;
            continue;
        }
        uint32_t cp;
        i += smg__tok_utf8_next(in + i, n - i, &cp);
        if (cp == 0x130) { /* the one unconditional multi-char lowercase mapping */
            if ((rc = smg_buf_append(out, "i\xCC\x87", 3)))
                return rc;
            continue;
        }
        if ((rc = put_cp(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp))))
            return rc;
    }
    return SMG_OK;
}

static int replace(const smg__tok_norm_t *nm, const char *in, size_t n, smg_buf_t *out) {
    size_t from = 0, copied = 0;
    int rc;
    while (from <= n) {
        size_t ms, me;
        rc = smg__tok_pattern_find(&nm->pat, in, n, from, &ms, &me);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        if ((rc = smg_buf_append(out, in + copied, ms - copied)) ||
            (rc = smg_buf_append(out, nm->str, nm->str_len)))
            return rc;
        copied = me;
        if (me == ms) { /* empty match: step over one character */
            if (me >= n)
                break;
            uint32_t cp;
            size_t k = smg__tok_utf8_next(in + me, n - me, &cp);
            if ((rc = smg_buf_append(out, in + me, k)))
                return rc;
            copied = me + k;
            from = me + k;
        } else {
            from = me;
        }
    }
    return smg_buf_append(out, in + copied, n - copied);
}

static bool is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_combining_mark(uint32_t c) {
    int k = (int)utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

/* Keep the characters for which keep() is true. */
static int filter(const char *in, size_t n, bool (*drop)(uint32_t), smg_buf_t *out) {
    size_t i = 0;
    int rc;
    while (i < n) {
        uint32_t cp;
        size_t k = smg__tok_utf8_next(in + i, n - i, &cp);
        if (!drop(cp) && (rc = smg_buf_append(out, in + i, k)))
            return rc;
        i += k;
    }
    return SMG_OK;
}

static int bert(const smg__tok_norm_t *nm, const char *in, size_t n, smg_buf_t *out) {
    smg_buf_t a, b;
    smg_buf_init(&a, 0);
    smg_buf_init(&b, 0);
    int rc = SMG_OK;
    const char *cur = in;
    size_t curn = n;
    if (nm->clean_text || nm->chinese) {
        size_t i = 0;
        while (i < n && !rc) {
            uint32_t cp;
            size_t k = smg__tok_utf8_next(in + i, n - i, &cp);
            if (nm->clean_text) {
                bool ws = cp == '\t' || cp == '\n' || cp == '\r' || smg__tok_is_whitespace(cp);
                bool ctl = !(cp == '\t' || cp == '\n' || cp == '\r') && smg__tok_is_other(cp);
                if (cp == 0 || cp == 0xFFFD || (ctl && !ws)) {
                    i += k;
                    continue;
                }
                if (ws) {
                    rc = smg_buf_append_byte(&a, ' ');
                    i += k;
                    continue;
                }
            }
            if (nm->chinese && is_chinese(cp)) {
                if (!(rc = smg_buf_append_byte(&a, ' ')) && !(rc = smg_buf_append(&a, in + i, k)))
                    rc = smg_buf_append_byte(&a, ' ');
            } else {
                rc = smg_buf_append(&a, in + i, k);
            }
            i += k;
        }
        cur = smg_buf_str(&a).ptr;
        curn = a.len;
    }
    if (!rc && nm->strip_accents) {
        smg_buf_t d;
        smg_buf_init(&d, 0);
        rc = unicode_form(cur, curn, UTF8PROC_DECOMPOSE, &d);
        if (!rc)
            rc = filter(smg_buf_str(&d).ptr, d.len, smg__tok_is_mark_nonspacing, &b);
        smg_buf_free(&d);
        cur = smg_buf_str(&b).ptr;
        curn = b.len;
    }
    if (!rc)
        rc = nm->lowercase ? lowercase(cur, curn, out) : smg_buf_append(out, cur, curn);
    smg_buf_free(&a);
    smg_buf_free(&b);
    return rc;
}

int smg__tok_normalize(const smg__tok_norm_t *nm, const char *in, size_t n, smg_buf_t *out) {
    switch (nm->type) {
    case SMG__NORM_NFC:
        return unicode_form(in, n, UTF8PROC_COMPOSE, out);
    case SMG__NORM_NFD:
        return unicode_form(in, n, UTF8PROC_DECOMPOSE, out);
    case SMG__NORM_NFKC:
        return unicode_form(in, n, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, out);
    case SMG__NORM_NFKD:
        return unicode_form(in, n, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, out);
    case SMG__NORM_LOWERCASE:
        return lowercase(in, n, out);
    case SMG__NORM_PREPEND: {
        int rc;
        if (n && (rc = smg_buf_append(out, nm->str, nm->str_len)))
            return rc;
        return smg_buf_append(out, in, n);
    }
    case SMG__NORM_REPLACE:
        return replace(nm, in, n, out);
    case SMG__NORM_STRIP: {
        size_t s = 0, e = n;
        uint32_t cp;
        if (nm->left)
            while (s < e) {
                size_t k = smg__tok_utf8_next(in + s, e - s, &cp);
                if (!smg__tok_is_whitespace(cp))
                    break;
                s += k;
            }
        if (nm->right)
            while (e > s) {
                size_t k = smg__tok_utf8_prev_len(in + s, e - s);
                smg__tok_utf8_next(in + e - k, k, &cp);
                if (!smg__tok_is_whitespace(cp))
                    break;
                e -= k;
            }
        return smg_buf_append(out, in + s, e - s);
    }
    case SMG__NORM_STRIP_ACCENTS:
        return filter(in, n, is_combining_mark, out);
    case SMG__NORM_BERT:
        return bert(nm, in, n, out);
    case SMG__NORM_SEQUENCE: {
        if (nm->n == 0)
            return smg_buf_append(out, in, n);
        smg_buf_t a, b;
        smg_buf_init(&a, 0);
        smg_buf_init(&b, 0);
        int rc = smg_buf_append(&a, in, n);
        for (size_t i = 0; i < nm->n && !rc; i++) {
            smg_buf_reset(&b);
            rc = smg__tok_normalize(&nm->items[i], smg_buf_str(&a).ptr, a.len, &b);
            smg_buf_t t = a;
            a = b;
            b = t;
        }
        if (!rc)
            rc = smg_buf_append(out, smg_buf_str(&a).ptr, a.len);
        smg_buf_free(&a);
        smg_buf_free(&b);
        return rc;
    }
    }
    return SMG_EUNSUPPORTED;
}

/* Frees what nm holds (not nm itself). */
void smg__tok_norm_free(smg__tok_norm_t *nm) {
    if (!nm)
        return;
    free(nm->str);
    smg__tok_pattern_free(&nm->pat);
    for (size_t i = 0; i < nm->n; i++)
        smg__tok_norm_free(&nm->items[i]);
    free(nm->items);
    nm->items = NULL;
    nm->n = 0;
    nm->str = NULL;
}
