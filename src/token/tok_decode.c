/* Decoders (ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace,
 * WordPiece, BPEDecoder, Sequence) and post-processors (ByteLevel,
 * TemplateProcessing, BertProcessing, RobertaProcessing, Sequence), with HF's
 * per-token semantics. */
#include <stdlib.h>
#include <string.h>

#include "token/tok_internal.h"

/* ---- post-processors ------------------------------------------------------ */

int smg__tok_post_process(const smg__tok_post_t *post, smg_tok_ids_t *ids) {
    if (post->type == SMG__POST_BYTELEVEL)
        return SMG_OK;
    if (post->type == SMG__POST_SEQUENCE) {
        for (size_t i = 0; i < post->n; i++) {
            int rc = smg__tok_post_process(&post->subs[i], ids);
            if (rc)
                return rc;
        }
        return SMG_OK;
    }
    smg_tok_ids_t res = {0};
    int rc = SMG_OK;
    for (size_t i = 0; i < post->n_items && !rc; i++) {
        const smg__tok_tpl_item_t *it = &post->items[i];
        rc = it->is_seq ? smg__tok_ids_append(&res, ids->ids, ids->len)
                        : smg__tok_ids_append(&res, it->ids, it->n);
    }
    if (rc) {
        smg_tok_ids_free(&res);
        return rc;
    }
    smg_tok_ids_free(ids);
    *ids = res;
    return SMG_OK;
}

void smg__tok_post_free(smg__tok_post_t *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n_items; i++)
        free(p->items[i].ids);
    free(p->items);
    for (size_t i = 0; i < p->n; i++)
        smg__tok_post_free(&p->subs[i]);
    free(p->subs);
    p->items = NULL;
    p->subs = NULL;
    p->n = p->n_items = 0;
}

/* ---- decoders ------------------------------------------------------------- */

/* Parse "<0xXX>" (HF: exactly 6 bytes, two hex digits). */
static bool byte_token(smg_str_t t, uint8_t *out) {
    if (t.len != 6 || memcmp(t.ptr, "<0x", 3) != 0 || t.ptr[5] != '>')
        return false;
    unsigned v = 0;
    for (int i = 3; i < 5; i++) {
        char c = t.ptr[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        v = v * 16 + d;
    }
    *out = (uint8_t)v;
    return true;
}

static int replace_all(const smg__tok_pattern_t *pat, const char *rep, size_t replen, smg_str_t t,
                       smg_buf_t *out) {
    size_t from = 0, copied = 0;
    int rc;
    while (from <= t.len) {
        size_t ms, me;
        rc = smg__tok_pattern_find(pat, t.ptr, t.len, from, &ms, &me);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        if ((rc = smg_buf_append(out, t.ptr + copied, ms - copied)) ||
            (rc = smg_buf_append(out, rep, replen)))
            return rc;
        copied = me;
        if (me == ms) {
            if (me >= t.len)
                break;
            uint32_t cp;
            size_t k = smg__tok_utf8_next(t.ptr + me, t.len - me, &cp);
            if ((rc = smg_buf_append(out, t.ptr + me, k)))
                return rc;
            copied = from = me + k;
        } else {
            from = me;
        }
    }
    return smg_buf_append(out, t.ptr + copied, t.len - copied);
}

/* Replace `old` (a literal) by `new` everywhere in b (WordPiece cleanup). */
static int str_replace(smg_buf_t *b, const char *old, const char *new_) {
    size_t ol = strlen(old), nl = strlen(new_);
    if (b->len < ol)
        return SMG_OK;
    smg_buf_t o;
    smg_buf_init(&o, 0);
    size_t i = 0, copied = 0;
    int rc = SMG_OK;
    smg_str_t s = smg_buf_str(b);
    while (i + ol <= s.len) {
        const char *hit = memmem(s.ptr + i, s.len - i, old, ol);
        if (!hit)
            break;
        size_t at = (size_t)(hit - s.ptr);
        if ((rc = smg_buf_append(&o, s.ptr + copied, at - copied)) ||
            (rc = smg_buf_append(&o, new_, nl)))
            break;
        i = copied = at + ol;
    }
    if (!rc && copied) {
        if (!(rc = smg_buf_append(&o, s.ptr + copied, s.len - copied))) {
            smg_buf_free(b);
            *b = o;
            return SMG_OK;
        }
    }
    smg_buf_free(&o);
    return rc;
}

static int wp_cleanup(smg_buf_t *b) {
    static const char *pairs[][2] = {
        {" .", "."},       {" ?", "?"},   {" !", "!"},   {" ,", ","},   {" ' ", "'"},
        {" n't", "n't"},   {" 'm", "'m"}, {" do not", " don't"},        {" 's", "'s"},
        {" 've", "'ve"},   {" 're", "'re"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        int rc = str_replace(b, pairs[i][0], pairs[i][1]);
        if (rc)
            return rc;
    }
    return SMG_OK;
}

static int dec_one(const smg__tok_dec_t *d, smg__tok_strs_t *in, smg__tok_strs_t *out) {
    smg__tok_strs_reset(out);
    int rc = SMG_OK;
    smg_buf_t b;
    smg_buf_init(&b, 0);
    switch (d->type) {
    case SMG__DEC_BYTELEVEL: {
        for (size_t i = 0; i < in->n && !rc; i++) {
            smg_str_t t = smg__tok_strs_at(in, i);
            size_t mark = b.len, j = 0;
            bool ok = true;
            while (j < t.len && !rc) {
                uint32_t cp;
                j += smg__tok_utf8_next(t.ptr + j, t.len - j, &cp);
                int by = smg__tok_cp_to_byte(cp);
                if (by < 0) {
                    ok = false;
                    break;
                }
                rc = smg_buf_append_byte(&b, (char)by);
            }
            if (!ok && !rc) {
                b.len = mark;
                rc = smg_buf_append(&b, t.ptr, t.len);
            }
        }
        if (!rc) {
            smg_buf_t v;
            smg_buf_init(&v, 0);
            rc = smg__tok_utf8_lossy(smg_buf_str(&b).ptr, b.len, &v);
            if (!rc)
                rc = smg__tok_strs_push(out, smg_buf_str(&v).ptr, v.len);
            smg_buf_free(&v);
        }
        break;
    }
    case SMG__DEC_METASPACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            smg_str_t t = smg__tok_strs_at(in, i);
            smg_buf_reset(&b);
            size_t j = 0;
            while (j < t.len && !rc) {
                uint32_t cp;
                size_t k = smg__tok_utf8_next(t.ptr + j, t.len - j, &cp);
                if (cp == d->cp) {
                    if (!(i == 0 && d->prepend != SMG__PREPEND_NEVER))
                        rc = smg_buf_append_byte(&b, ' ');
                } else {
                    rc = smg_buf_append(&b, t.ptr + j, k);
                }
                j += k;
            }
            if (!rc)
                rc = smg__tok_strs_push(out, smg_buf_str(&b).ptr, b.len);
        }
        break;
    case SMG__DEC_BYTEFALLBACK: {
        smg_buf_t bytes;
        smg_buf_init(&bytes, 0);
        size_t nbytes = 0;
        for (size_t i = 0; i <= in->n && !rc; i++) {
            uint8_t by;
            smg_str_t t = i < in->n ? smg__tok_strs_at(in, i) : SMG_STR_NULL;
            if (i < in->n && byte_token(t, &by)) {
                rc = smg_buf_append_byte(&bytes, (char)by);
                nbytes++;
                continue;
            }
            if (nbytes) {
                if (smg__tok_utf8_valid(smg_buf_str(&bytes).ptr, bytes.len)) {
                    rc = smg__tok_strs_push(out, smg_buf_str(&bytes).ptr, bytes.len);
                } else {
                    for (size_t k = 0; k < nbytes && !rc; k++)
                        rc = smg__tok_strs_push(out, "\xEF\xBF\xBD", 3);
                }
                smg_buf_reset(&bytes);
                nbytes = 0;
            }
            if (i < in->n && !rc)
                rc = smg__tok_strs_push(out, t.ptr, t.len);
        }
        smg_buf_free(&bytes);
        break;
    }
    case SMG__DEC_FUSE:
        for (size_t i = 0; i < in->n && !rc; i++)
            rc = smg_buf_append_str(&b, smg__tok_strs_at(in, i));
        if (!rc)
            rc = smg__tok_strs_push(out, smg_buf_str(&b).ptr, b.len);
        break;
    case SMG__DEC_STRIP:
        for (size_t i = 0; i < in->n && !rc; i++) {
            smg_str_t t = smg__tok_strs_at(in, i);
            size_t s = 0, e = t.len;
            uint32_t cp;
            for (size_t k = 0; k < d->start && s < e; k++) {
                size_t l = smg__tok_utf8_next(t.ptr + s, e - s, &cp);
                if (cp != d->cp)
                    break;
                s += l;
            }
            for (size_t k = 0; k < d->stop && e > s; k++) {
                size_t l = smg__tok_utf8_prev_len(t.ptr + s, e - s);
                smg__tok_utf8_next(t.ptr + e - l, l, &cp);
                if (cp != d->cp)
                    break;
                e -= l;
            }
            rc = smg__tok_strs_push(out, t.ptr + s, e - s);
        }
        break;
    case SMG__DEC_REPLACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            smg_buf_reset(&b);
            rc = replace_all(&d->pat, d->str, d->str_len, smg__tok_strs_at(in, i), &b);
            if (!rc)
                rc = smg__tok_strs_push(out, smg_buf_str(&b).ptr, b.len);
        }
        break;
    case SMG__DEC_WORDPIECE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            smg_str_t t = smg__tok_strs_at(in, i);
            smg_buf_reset(&b);
            if (i != 0) {
                if (t.len >= d->str_len && memcmp(t.ptr, d->str, d->str_len) == 0) {
                    t.ptr += d->str_len;
                    t.len -= d->str_len;
                } else {
                    rc = smg_buf_append_byte(&b, ' ');
                }
            }
            if (!rc)
                rc = smg_buf_append_str(&b, t);
            if (!rc && d->cleanup)
                rc = wp_cleanup(&b);
            if (!rc)
                rc = smg__tok_strs_push(out, smg_buf_str(&b).ptr, b.len);
        }
        break;
    case SMG__DEC_BPE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            smg_buf_reset(&b);
            smg__tok_pattern_t lit = {.lit = d->str, .lit_len = d->str_len};
            rc = replace_all(&lit, i + 1 == in->n ? "" : " ", i + 1 == in->n ? 0 : 1,
                             smg__tok_strs_at(in, i), &b);
            if (!rc)
                rc = smg__tok_strs_push(out, smg_buf_str(&b).ptr, b.len);
        }
        break;
    case SMG__DEC_SEQUENCE:
        rc = SMG_EINVAL;
        break;
    }
    smg_buf_free(&b);
    return rc;
}

int smg__tok_decode_chain(const smg__tok_dec_t *d, smg__tok_strs_t *toks, smg__tok_strs_t *tmp) {
    if (d->type == SMG__DEC_SEQUENCE) {
        for (size_t i = 0; i < d->n; i++) {
            int rc = smg__tok_decode_chain(&d->items[i], toks, tmp);
            if (rc)
                return rc;
        }
        return SMG_OK;
    }
    int rc = dec_one(d, toks, tmp);
    if (rc)
        return rc;
    smg__tok_strs_t t = *toks;
    *toks = *tmp;
    *tmp = t;
    return SMG_OK;
}

void smg__tok_dec_free(smg__tok_dec_t *d) {
    if (!d)
        return;
    smg__tok_pattern_free(&d->pat);
    free(d->str);
    for (size_t i = 0; i < d->n; i++)
        smg__tok_dec_free(&d->items[i]);
    free(d->items);
    d->items = NULL;
    d->str = NULL;
    d->n = 0;
}
