/* Added tokens: a byte trie matched leftmost-longest (as HF's aho-corasick
 * with MatchKind::LeftmostLongest), with single_word / lstrip / rstrip. */
#include <stdlib.h>
#include <string.h>

#include "token/tok_internal.h"

static int node_new(smg__tok_trie_t *t, uint8_t byte, uint32_t *idx) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 256;
        smg__tok_trie_node_t *v = realloc(t->nodes, nc * sizeof *v);
        if (!v)
            return SMG_ENOMEM;
        t->nodes = v;
        t->cap = nc;
    }
    if (t->n == 0) { /* node 0 is the unused "none" index */
        t->nodes[0] = (smg__tok_trie_node_t){0, 0, -1, 0};
        t->n = 1;
    }
    t->nodes[t->n] = (smg__tok_trie_node_t){0, 0, -1, byte};
    *idx = (uint32_t)t->n++;
    return SMG_OK;
}

int smg__tok_trie_add(smg__tok_trie_t *t, const char *s, size_t n, int32_t match) {
    if (n == 0)
        return SMG_OK; /* an empty token never matches */
    uint32_t cur = t->root_child[(uint8_t)s[0]];
    int rc;
    if (!cur) {
        if ((rc = node_new(t, (uint8_t)s[0], &cur)))
            return rc;
        t->root_child[(uint8_t)s[0]] = cur;
    }
    for (size_t i = 1; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        uint32_t c = t->nodes[cur].child;
        while (c && t->nodes[c].byte != b)
            c = t->nodes[c].sibling;
        if (!c) {
            if ((rc = node_new(t, b, &c)))
                return rc;
            t->nodes[c].sibling = t->nodes[cur].child;
            t->nodes[cur].child = c;
        }
        cur = c;
    }
    if (t->nodes[cur].match < 0)
        t->nodes[cur].match = match; /* first one wins (same content twice) */
    t->any = true;
    return SMG_OK;
}

void smg__tok_trie_free(smg__tok_trie_t *t) {
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

/* Longest match starting at s[i]; returns its length (0 none) and index. */
static size_t longest_at(const smg__tok_trie_t *t, const char *s, size_t n, size_t i,
                         int32_t *match) {
    uint32_t cur = t->root_child[(uint8_t)s[i]];
    size_t best = 0, k = i + 1;
    while (cur) {
        if (t->nodes[cur].match >= 0) {
            best = k - i;
            *match = t->nodes[cur].match;
        }
        if (k >= n)
            break;
        uint8_t b = (uint8_t)s[k];
        uint32_t c = t->nodes[cur].child;
        while (c && t->nodes[c].byte != b)
            c = t->nodes[c].sibling;
        cur = c;
        k++;
    }
    return best;
}

static bool is_word_char(uint32_t c) {
    return c == '_' || smg__tok_is_alnum(c);
}

static int seg_push(smg__tok_segs_t *o, size_t s, size_t e, uint32_t id) {
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 16;
        smg__tok_seg_t *v = realloc(o->v, nc * sizeof *v);
        if (!v)
            return SMG_ENOMEM;
        o->v = v;
        o->cap = nc;
    }
    o->v[o->n++] = (smg__tok_seg_t){(uint32_t)s, (uint32_t)e, id};
    return SMG_OK;
}

int smg__tok_added_split(const smg_tok_t *tok, const smg__tok_trie_t *trie, const char *s,
                         size_t n, smg__tok_segs_t *out) {
    out->n = 0;
    int rc;
    if (n == 0)
        return seg_push(out, 0, 0, SMG__TOK_NONE);
    size_t start_offset = 0, i = 0;
    if (trie->any) {
        while (i < n) {
            int32_t mi = -1;
            size_t ml = trie->root_child[(uint8_t)s[i]] ? longest_at(trie, s, n, i, &mi) : 0;
            if (!ml) {
                i++;
                continue;
            }
            size_t start = i, stop = i + ml;
            i = stop; /* the matcher resumes after the raw match */
            const smg__tok_added_t *at = &tok->added[mi];
            uint32_t cp;
            if (at->single_word) {
                bool start_space = true, stop_space = true;
                if (start > 0) {
                    size_t k = smg__tok_utf8_prev_len(s, start);
                    smg__tok_utf8_next(s + start - k, k, &cp);
                    start_space = !is_word_char(cp);
                }
                if (stop < n) {
                    smg__tok_utf8_next(s + stop, n - stop, &cp);
                    stop_space = !is_word_char(cp);
                }
                if (!start_space || !stop_space)
                    continue;
            }
            if (at->lstrip) {
                size_t ns = start;
                while (ns > 0) {
                    size_t k = smg__tok_utf8_prev_len(s, ns);
                    smg__tok_utf8_next(s + ns - k, k, &cp);
                    if (!smg__tok_is_whitespace(cp))
                        break;
                    ns -= k;
                }
                start = ns > start_offset ? ns : start_offset;
            }
            if (at->rstrip) {
                while (stop < n) {
                    size_t k = smg__tok_utf8_next(s + stop, n - stop, &cp);
                    if (!smg__tok_is_whitespace(cp))
                        break;
                    stop += k;
                }
            }
            if (start_offset < start && (rc = seg_push(out, start_offset, start, SMG__TOK_NONE)))
                return rc;
            if ((rc = seg_push(out, start, stop, at->id)))
                return rc;
            start_offset = stop;
        }
    }
    if (start_offset != n && (rc = seg_push(out, start_offset, n, SMG__TOK_NONE)))
        return rc;
    return SMG_OK;
}
