/* Models: BPE (byte-level and SentencePiece-style, HF merge order exactly),
 * WordPiece, WordLevel. A bounded per-thread word cache serves byte-level
 * BPE. */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "token/tok_internal.h"

/* ---- the merge loop (HF Word::merge_all, priority by rank then position) */

typedef struct {
    uint32_t rank, pos, nid;
} merge_t;

static inline bool merge_less(merge_t a, merge_t b) {
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(merge_t *h, size_t *n, merge_t m) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(m, h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = m;
}

static merge_t heap_pop(merge_t *h, size_t *n) {
    merge_t top = h[0], last = h[--*n];
    size_t i = 0, cnt = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= cnt)
            break;
        if (c + 1 < cnt && merge_less(h[c + 1], h[c]))
            c++;
        if (!merge_less(h[c], last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (cnt)
        h[i] = last;
    return top;
}

#define STACK_SYMS 128

/* Merge symbols ids[0..n) in place; returns the new count. */
static int merge_all(const smg__tok_pmap_t *pm, uint32_t *ids, size_t n, size_t *outn) {
    if (n < 2) {
        *outn = n;
        return SMG_OK;
    }
    int32_t prev_s[STACK_SYMS], next_s[STACK_SYMS];
    uint8_t alive_s[STACK_SYMS];
    merge_t heap_s[STACK_SYMS * 2];
    int32_t *prev = prev_s, *next = next_s;
    uint8_t *alive = alive_s;
    merge_t *heap = heap_s;
    size_t heap_cap = STACK_SYMS * 2;
    void *blk = NULL;
    if (n > STACK_SYMS) {
        /* every merge pushes at most two entries; n initial + 2n pushes */
        heap_cap = 3 * n;
        blk = malloc(n * (2 * sizeof(int32_t) + 1) + heap_cap * sizeof(merge_t));
        if (!blk)
            return SMG_ENOMEM;
        heap = blk;
        prev = (int32_t *)(heap + heap_cap);
        next = prev + n;
        alive = (uint8_t *)(next + n);
    } else {
        heap_cap = STACK_SYMS * 2;
    }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        alive[i] = 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t r, nid;
        if (smg__tok_pmap_get(pm, ids[i], ids[i + 1], &r, &nid))
            heap_push(heap, &hn, (merge_t){r, (uint32_t)i, nid});
    }
    while (hn) {
        merge_t top = heap_pop(heap, &hn);
        uint32_t pos = top.pos;
        if (!alive[pos] || next[pos] < 0)
            continue;
        int32_t np = next[pos];
        uint32_t r, nid;
        if (!smg__tok_pmap_get(pm, ids[pos], ids[np], &r, &nid) || nid != top.nid)
            continue;
        ids[pos] = top.nid;
        alive[np] = 0;
        next[pos] = next[np];
        if (next[np] >= 0)
            prev[next[np]] = (int32_t)pos;
        if (hn + 2 > heap_cap) /* cannot happen: bounded by construction */
            break;
        if (prev[pos] >= 0 && smg__tok_pmap_get(pm, ids[prev[pos]], ids[pos], &r, &nid))
            heap_push(heap, &hn, (merge_t){r, (uint32_t)prev[pos], nid});
        if (next[pos] >= 0 && smg__tok_pmap_get(pm, ids[pos], ids[next[pos]], &r, &nid))
            heap_push(heap, &hn, (merge_t){r, pos, nid});
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (alive[i])
            ids[k++] = ids[i];
    *outn = k;
    free(blk);
    return SMG_OK;
}

/* ---- per-thread word cache (byte-level BPE) -------------------------------- */

#define WC_SLOTS 8192          /* direct-mapped */
#define WC_MAX_WORD 48         /* bytes; longer words are not cached */
#define WC_MAX_IDS 16

typedef struct {
    uint64_t h;
    uint8_t klen, nids;
    char key[WC_MAX_WORD];
    uint32_t ids[WC_MAX_IDS];
} wc_entry_t;

typedef struct {
    uint64_t uid;
    wc_entry_t e[WC_SLOTS];
} word_cache_t;

static _Thread_local word_cache_t *tl_wc;

void smg__tok_word_cache_free(void);
void smg__tok_word_cache_free(void) {
    free(tl_wc);
    tl_wc = NULL;
}

void smg__tok_thread_register(void);

static word_cache_t *wc_get(const smg_tok_t *tok) {
    if (!tl_wc) {
        smg__tok_thread_register();
        tl_wc = calloc(1, sizeof *tl_wc);
        if (!tl_wc)
            return NULL;
        tl_wc->uid = tok->uid;
    }
    if (tl_wc->uid != tok->uid) {
        memset(tl_wc->e, 0, sizeof tl_wc->e);
        tl_wc->uid = tok->uid;
    }
    return tl_wc;
}

/* ---- BPE -------------------------------------------------------------------- */

static int add_unk(smg_tok_ids_t *out, const smg__tok_model_t *m) {
    return smg__tok_ids_push(out, m->unk_id);
}

/* Generic path: s is in the model's string form (chars are symbols). */
static int bpe_generic(const smg__tok_model_t *m, const char *s, size_t n, smg_tok_ids_t *out) {
    size_t start = out->len;
    int rc;
    bool unk_pending = false;
    char tmpb[256];
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = smg__tok_utf8_next(s + i, n - i, &cp);
        bool first = i == 0, last = i + k == n;
        const char *sym = s + i;
        size_t symlen = k;
        char *heap = NULL;
        if ((!first && m->prefix_len) || (last && m->suffix_len)) {
            size_t need = k + (first ? 0 : m->prefix_len) + (last ? m->suffix_len : 0);
            char *b = need <= sizeof tmpb ? tmpb : (heap = malloc(need));
            if (!b)
                return SMG_ENOMEM;
            size_t w = 0;
            if (!first) {
                memcpy(b, m->prefix, m->prefix_len);
                w = m->prefix_len;
            }
            memcpy(b + w, s + i, k);
            w += k;
            if (last) {
                memcpy(b + w, m->suffix, m->suffix_len);
                w += m->suffix_len;
            }
            sym = b;
            symlen = w;
        }
        uint32_t id;
        if (smg__tok_smap_get(&m->vocab, sym, symlen, &id)) {
            if (unk_pending) {
                if ((rc = add_unk(out, m))) {
                    free(heap);
                    return rc;
                }
                unk_pending = false;
            }
            rc = smg__tok_ids_push(out, id);
        } else {
            bool done = false;
            rc = SMG_OK;
            if (m->byte_fallback) {
                bool all = true;
                for (size_t j = 0; j < symlen; j++)
                    all = all && m->fallback_ids[(unsigned char)sym[j]] != SMG__TOK_NONE;
                if (all) {
                    for (size_t j = 0; j < symlen && !rc; j++)
                        rc = smg__tok_ids_push(out, m->fallback_ids[(unsigned char)sym[j]]);
                    done = true;
                }
            }
            if (!done && !rc) {
                if (m->unk_id == SMG__TOK_NONE) {
                    /* HF drops a char that has no vocab entry, no byte
                     * fallback and no unk token; so do we */
                    free(heap);
                    i += k;
                    continue;
                }
                if (unk_pending && !m->fuse_unk)
                    rc = add_unk(out, m);
                unk_pending = true;
            }
        }
        free(heap);
        if (rc)
            return rc;
        i += k;
    }
    if (unk_pending && (rc = add_unk(out, m)))
        return rc;
    size_t cnt = out->len - start;
    size_t nn;
    if (cnt < 2)
        return SMG_OK;
    if ((rc = merge_all(&m->merges, out->ids + start, cnt, &nn)))
        return rc;
    out->len = start + nn;
    return SMG_OK;
}

/* Byte-level path on raw bytes. */
static int bpe_bytes(const smg_tok_t *tok, const char *s, size_t n, smg_tok_ids_t *out) {
    const smg__tok_model_t *m = &tok->model;
    uint32_t id;
    if (m->ignore_merges && smg__tok_smap_get(&m->raw_vocab, s, n, &id))
        return smg__tok_ids_push(out, id);
    word_cache_t *wc = NULL;
    wc_entry_t *e = NULL;
    uint64_t h = 0;
    if (n <= WC_MAX_WORD && (wc = wc_get(tok))) {
        h = smg_hash64(s, n, 0x5eed) | 1;
        e = &wc->e[h & (WC_SLOTS - 1)];
        if (e->h == h && e->klen == n && memcmp(e->key, s, n) == 0)
            return smg__tok_ids_append(out, e->ids, e->nids);
    }
    size_t start = out->len;
    int rc;
    if ((rc = smg__tok_ids_reserve(out, n)))
        return rc;
    for (size_t i = 0; i < n; i++)
        out->ids[start + i] = m->byte_ids[(unsigned char)s[i]];
    size_t nn;
    if ((rc = merge_all(&m->merges, out->ids + start, n, &nn)))
        return rc;
    out->len = start + nn;
    if (e && nn <= WC_MAX_IDS) {
        e->h = h;
        e->klen = (uint8_t)n;
        e->nids = (uint8_t)nn;
        memcpy(e->key, s, n);
        memcpy(e->ids, out->ids + start, nn * sizeof(uint32_t));
    }
    return SMG_OK;
}

static int bpe(const smg_tok_t *tok, const char *s, size_t n, smg_tok_ids_t *out) {
    const smg__tok_model_t *m = &tok->model;
    if (n == 0)
        return SMG_OK;
    if (tok->byte_level && m->byte_ids_ok && !m->prefix_len && !m->suffix_len)
        return bpe_bytes(tok, s, n, out);
    const char *w = s;
    size_t wn = n;
    smg_buf_t conv;
    smg_buf_init(&conv, 0);
    int rc;
    if (tok->byte_level) { /* map raw bytes to the alphabet's chars */
        if ((rc = smg_buf_reserve(&conv, n * 2)))
            return rc;
        for (size_t i = 0; i < n; i++) {
            char t[4];
            size_t k = smg_utf8_put(smg__tok_byte_to_cp((uint8_t)s[i]), t);
            if ((rc = smg_buf_append(&conv, t, k))) {
                smg_buf_free(&conv);
                return rc;
            }
        }
        w = conv.ptr;
        wn = conv.len;
    }
    uint32_t id;
    if (m->ignore_merges && smg__tok_smap_get(&m->vocab, w, wn, &id))
        rc = smg__tok_ids_push(out, id);
    else
        rc = bpe_generic(m, w, wn, out);
    smg_buf_free(&conv);
    return rc;
}

/* ---- WordPiece / WordLevel --------------------------------------------------- */

static int wordpiece(const smg__tok_model_t *m, const char *s, size_t n, smg_tok_ids_t *out) {
    if (n == 0)
        return SMG_OK;
    if (smg__tok_utf8_count(s, n) > m->max_chars)
        return m->unk_id == SMG__TOK_NONE ? SMG_EINVAL : smg__tok_ids_push(out, m->unk_id);
    size_t start_len = out->len, start = 0;
    char *buf = malloc(n + m->wp_prefix_len + 1);
    if (!buf)
        return SMG_ENOMEM;
    memcpy(buf, m->wp_prefix, m->wp_prefix_len);
    int rc = SMG_OK;
    bool bad = false;
    while (start < n && !rc) {
        size_t end = n;
        bool found = false;
        while (start < end) {
            uint32_t id;
            bool hit;
            if (start > 0) {
                memcpy(buf + m->wp_prefix_len, s + start, end - start);
                hit = smg__tok_smap_get(&m->vocab, buf, m->wp_prefix_len + end - start, &id);
            } else {
                hit = smg__tok_smap_get(&m->vocab, s, end, &id);
            }
            if (hit) {
                rc = smg__tok_ids_push(out, id);
                found = true;
                break;
            }
            end -= smg__tok_utf8_prev_len(s + start, end - start);
        }
        if (!found) {
            bad = true;
            break;
        }
        start = end;
    }
    free(buf);
    if (rc)
        return rc;
    if (bad) {
        out->len = start_len;
        return m->unk_id == SMG__TOK_NONE ? SMG_EINVAL : smg__tok_ids_push(out, m->unk_id);
    }
    return SMG_OK;
}

int smg__tok_model_tokenize(const smg_tok_t *tok, const char *s, size_t n, smg_tok_ids_t *out) {
    const smg__tok_model_t *m = &tok->model;
    switch (m->type) {
    case SMG__MODEL_BPE:
        return bpe(tok, s, n, out);
    case SMG__MODEL_WORDPIECE:
        return wordpiece(m, s, n, out);
    case SMG__MODEL_WORDLEVEL: {
        uint32_t id;
        if (n == 0)
            return SMG_OK;
        if (smg__tok_smap_get(&m->vocab, s, n, &id))
            return smg__tok_ids_push(out, id);
        return m->unk_id == SMG__TOK_NONE ? SMG_EINVAL : smg__tok_ids_push(out, m->unk_id);
    }
    }
    return SMG_EUNSUPPORTED;
}

void smg__tok_model_free(smg__tok_model_t *m) {
    smg__tok_smap_free(&m->vocab);
    smg__tok_smap_free(&m->raw_vocab);
    smg__tok_pmap_free(&m->merges);
    free(m->prefix);
    free(m->suffix);
    free(m->wp_prefix);
}
