/* Pre-tokenizers: Split, ByteLevel, Metaspace, Digits, Punctuation,
 * Whitespace, WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit,
 * Sequence. Each splits every text piece into smaller pieces (HF
 * PreTokenizedString::split semantics: empty pieces are dropped). */
#include <stdlib.h>
#include <string.h>

#include "token/tok_internal.h"

typedef bool (*pred_fn)(const smg__tok_pre_t *pre, uint32_t cp);

/* HF find_matches for a char predicate: each matching char is its own match. */
static int pred_spans(const smg__tok_pre_t *pre, pred_fn f, const char *s, size_t n,
                      smg__tok_spans_t *out) {
    out->n = 0;
    if (n == 0)
        return smg__tok_spans_push(out, 0, 0, false);
    size_t last = 0, i = 0;
    int rc;
    while (i < n) {
        uint32_t cp;
        size_t k = smg__tok_utf8_next(s + i, n - i, &cp);
        if (f(pre, cp)) {
            if (last < i && (rc = smg__tok_spans_push(out, last, i, false)))
                return rc;
            if ((rc = smg__tok_spans_push(out, i, i + k, true)))
                return rc;
            last = i + k;
        }
        i += k;
    }
    if (n > last && (rc = smg__tok_spans_push(out, last, n, false)))
        return rc;
    return SMG_OK;
}

/* Apply a split behaviour to spans (in place) and push the resulting
 * non-empty pieces of the piece at arena offset `base`. */
static int emit(smg__tok_spans_t *sp, smg__tok_split_behavior_t beh, bool invert, uint32_t base,
                bool origin, smg__tok_pieces_t *out) {
    smg__tok_span_t *v = sp->v;
    size_t n = sp->n, k = 0;
    if (invert)
        for (size_t i = 0; i < n; i++)
            v[i].m = !v[i].m;
    switch (beh) {
    case SMG__SPLIT_ISOLATED:
        k = n;
        break;
    case SMG__SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!v[i].m)
                v[k++] = v[i];
        break;
    case SMG__SPLIT_MERGED_PREV: {
        bool prev = false;
        for (size_t i = 0; i < n; i++) {
            bool m = v[i].m;
            if (m && !prev && k > 0)
                v[k - 1].e = v[i].e;
            else
                v[k++] = v[i];
            prev = m;
        }
        break;
    }
    case SMG__SPLIT_MERGED_NEXT: {
        /* fold from the right, then the result is already in order */
        bool prev = false;
        size_t w = n; /* write position from the right */
        for (size_t i = n; i-- > 0;) {
            bool m = v[i].m;
            if (m && !prev && w < n)
                v[w].s = v[i].s;
            else
                v[--w] = v[i];
            prev = m;
        }
        memmove(v, v + w, (n - w) * sizeof *v);
        k = n - w;
        break;
    }
    case SMG__SPLIT_CONTIGUOUS: {
        bool prev = false;
        for (size_t i = 0; i < n; i++) {
            bool m = v[i].m;
            if (m == prev && k > 0)
                v[k - 1].e = v[i].e;
            else
                v[k++] = v[i];
            prev = m;
        }
        break;
    }
    }
    int rc;
    for (size_t i = 0; i < k; i++) {
        if (v[i].e == v[i].s)
            continue;
        if ((rc = smg__tok_pieces_push(out, base + v[i].s, v[i].e - v[i].s, SMG__TOK_NONE,
                                       origin && v[i].s == 0)))
            return rc;
    }
    return SMG_OK;
}

static bool is_ws(const smg__tok_pre_t *p, uint32_t c) {
    (void)p;
    return smg__tok_is_whitespace(c);
}
static bool is_punct(const smg__tok_pre_t *p, uint32_t c) {
    (void)p;
    return smg__tok_is_punct(c);
}
static bool is_digit(const smg__tok_pre_t *p, uint32_t c) {
    (void)p;
    return c >= '0' && c <= '9';
}
static bool is_delim(const smg__tok_pre_t *p, uint32_t c) {
    return c == p->delim;
}
static bool is_repl(const smg__tok_pre_t *p, uint32_t c) {
    return c == p->repl_cp;
}

/* Copy arena[off..off+len) to the end of the arena with an optional prefix
 * and ' ' replaced by `repl`; returns the new offset/length. */
static int rewrite(smg_buf_t *arena, uint32_t off, uint32_t len, const char *prefix, size_t plen,
                   const char *repl, size_t rlen, uint32_t *noff, uint32_t *nlen) {
    size_t worst = plen + (size_t)len * (rlen > 1 ? rlen : 1);
    int rc = smg_buf_reserve(arena, worst);
    if (rc)
        return rc;
    if (arena->len + worst > UINT32_MAX)
        return SMG_ETOOBIG;
    char *dst = arena->ptr + arena->len;
    const char *src = arena->ptr + off;
    size_t w = 0;
    memcpy(dst, prefix, plen);
    w = plen;
    for (uint32_t i = 0; i < len; i++) {
        if (repl && src[i] == ' ') {
            memcpy(dst + w, repl, rlen);
            w += rlen;
        } else {
            dst[w++] = src[i];
        }
    }
    *noff = (uint32_t)arena->len;
    *nlen = (uint32_t)w;
    arena->len += w;
    arena->ptr[arena->len] = 0;
    return SMG_OK;
}

static int pre_one(const smg__tok_pre_t *pre, smg__tok_pieces_t *in, smg__tok_pieces_t *out) {
    smg__tok_spans_t sp = {0};
    int rc = SMG_OK;
    out->n = 0;
    for (size_t i = 0; i < in->n && !rc; i++) {
        smg__tok_piece_t pc = in->v[i];
        if (pc.id != SMG__TOK_NONE) {
            rc = smg__tok_pieces_push(out, pc.off, pc.len, pc.id, pc.origin);
            continue;
        }
        const char *s = in->arena.ptr + pc.off;
        switch (pre->type) {
        case SMG__PRE_SPLIT:
            if (!(rc = smg__tok_pattern_spans(&pre->pat, s, pc.len, &sp)))
                rc = emit(&sp, pre->behavior, pre->invert, pc.off, pc.origin, out);
            break;
        case SMG__PRE_WHITESPACE:
            if (!(rc = smg__tok_pattern_spans(&pre->pat, s, pc.len, &sp)))
                rc = emit(&sp, SMG__SPLIT_REMOVED, true, pc.off, pc.origin, out);
            break;
        case SMG__PRE_WHITESPACE_SPLIT:
            if (!(rc = pred_spans(pre, is_ws, s, pc.len, &sp)))
                rc = emit(&sp, SMG__SPLIT_REMOVED, false, pc.off, pc.origin, out);
            break;
        case SMG__PRE_PUNCTUATION:
            if (!(rc = pred_spans(pre, is_punct, s, pc.len, &sp)))
                rc = emit(&sp, pre->behavior, false, pc.off, pc.origin, out);
            break;
        case SMG__PRE_CHAR_DELIMITER:
            if (!(rc = pred_spans(pre, is_delim, s, pc.len, &sp)))
                rc = emit(&sp, SMG__SPLIT_REMOVED, false, pc.off, pc.origin, out);
            break;
        case SMG__PRE_DIGITS:
            if (!(rc = pred_spans(pre, is_digit, s, pc.len, &sp)))
                rc = emit(&sp, pre->individual_digits ? SMG__SPLIT_ISOLATED : SMG__SPLIT_CONTIGUOUS,
                          false, pc.off, pc.origin, out);
            break;
        case SMG__PRE_BERT: {
            /* whitespace (removed), then punctuation (isolated) */
            smg__tok_pieces_t mid = {.arena = in->arena};
            smg__tok_pieces_t one = {.arena = in->arena};
            if (!(rc = pred_spans(pre, is_ws, s, pc.len, &sp)))
                rc = emit(&sp, SMG__SPLIT_REMOVED, false, pc.off, pc.origin, &mid);
            for (size_t j = 0; j < mid.n && !rc; j++) {
                const char *ms = in->arena.ptr + mid.v[j].off;
                if (!(rc = pred_spans(pre, is_punct, ms, mid.v[j].len, &sp)))
                    rc = emit(&sp, SMG__SPLIT_ISOLATED, false, mid.v[j].off, mid.v[j].origin,
                              out);
            }
            free(mid.v);
            free(one.v);
            break;
        }
        case SMG__PRE_BYTELEVEL: {
            uint32_t off = pc.off, len = pc.len;
            if (pre->add_prefix_space && (len == 0 || s[0] != ' ')) {
                if ((rc = rewrite(&in->arena, pc.off, pc.len, " ", 1, NULL, 0, &off, &len)))
                    break;
            }
            if (pre->use_regex) {
                if (!(rc = smg__tok_pattern_spans(&pre->pat, in->arena.ptr + off, len, &sp)))
                    rc = emit(&sp, SMG__SPLIT_ISOLATED, false, off, pc.origin, out);
            } else if (len) {
                rc = smg__tok_pieces_push(out, off, len, SMG__TOK_NONE, pc.origin);
            }
            break;
        }
        case SMG__PRE_METASPACE: {
            bool pre_ok = pre->prepend == SMG__PREPEND_ALWAYS ||
                          (pre->prepend == SMG__PREPEND_FIRST && pc.origin);
            /* starts_with(replacement) is checked after ' ' -> replacement */
            bool starts = pc.len > 0 && (s[0] == ' ' || (pc.len >= pre->repl_len &&
                                                         !memcmp(s, pre->repl, pre->repl_len)));
            uint32_t off, len;
            if ((rc = rewrite(&in->arena, pc.off, pc.len, pre->repl,
                              pre_ok && !starts ? pre->repl_len : 0, pre->repl, pre->repl_len,
                              &off, &len)))
                break;
            if (pre->split) {
                if (!(rc = pred_spans(pre, is_repl, in->arena.ptr + off, len, &sp)))
                    rc = emit(&sp, SMG__SPLIT_MERGED_NEXT, false, off, pc.origin, out);
            } else if (len) {
                rc = smg__tok_pieces_push(out, off, len, SMG__TOK_NONE, pc.origin);
            }
            break;
        }
        case SMG__PRE_SEQUENCE:
            rc = SMG_EINVAL;
            break;
        }
    }
    free(sp.v);
    return rc;
}

int smg__tok_pretokenize(const smg__tok_pre_t *pre, smg__tok_pieces_t *in,
                         smg__tok_pieces_t *tmp) {
    if (pre->type == SMG__PRE_SEQUENCE) {
        for (size_t i = 0; i < pre->n; i++) {
            int rc = smg__tok_pretokenize(&pre->items[i], in, tmp);
            if (rc)
                return rc;
        }
        return SMG_OK;
    }
    int rc = pre_one(pre, in, tmp);
    if (rc)
        return rc;
    smg__tok_piece_t *v = in->v;
    size_t cap = in->cap;
    in->v = tmp->v;
    in->n = tmp->n;
    in->cap = tmp->cap;
    tmp->v = v;
    tmp->cap = cap;
    tmp->n = 0;
    return SMG_OK;
}

void smg__tok_pre_free(smg__tok_pre_t *p) {
    if (!p)
        return;
    smg__tok_pattern_free(&p->pat);
    for (size_t i = 0; i < p->n; i++)
        smg__tok_pre_free(&p->items[i]);
    free(p->items);
    p->items = NULL;
    p->n = 0;
}
