/* Encode caches, off unless created: an exact-match cache (text -> ids) and a
 * prefix cache (ids of a text's leading part, cut right after a special added
 * token, reused when a later text starts with the same bytes and splits the
 * same way there). Both are LRU, bounded in bytes, lock-striped.
 *
 * Why the prefix cache is exact: HF encodes the segments between added
 * tokens independently (normalizer, pre-tokenizer and model see one segment
 * at a time). A cached prefix is reused only when (a) its bytes equal the new
 * text's first bytes and (b) the new text's own added-token segmentation of
 * those bytes is identical (checked by a fingerprint of segment boundaries and
 * ids). Then every segment of the prefix is the same input, so its ids are
 * the same. Cuts are taken only after special tokens without rstrip or
 * single_word, whose match does not look at the bytes after it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/hash.h"
#include "token/tok_internal.h"

#define SHARDS 16
#define BUCKETS 1024 /* per shard */
#define ENTRY_OVERHEAD 96

typedef struct entry_s {
    struct entry_s *hnext, *prev, *next;
    uint64_t h, fp;
    char *key;
    size_t klen;
    uint32_t *ids;
    size_t nids;
    size_t cost;
} entry_t;

typedef struct {
    pthread_mutex_t mu;
    entry_t *buckets[BUCKETS];
    entry_t *head, *tail; /* most / least recently used */
    size_t bytes, budget;
} shard_t;

typedef struct {
    shard_t s[SHARDS];
    bool on;
} table_t;

struct smg_tok_cache_s {
    const smg_tok_t *tok;
    smg_tok_cache_opts_t opts;
    table_t exact, prefix;
    atomic_ullong exact_hits, exact_misses, prefix_hits, prefix_misses, prefix_reused;
};

static void table_init(table_t *t, size_t budget) {
    memset(t, 0, sizeof *t);
    t->on = budget > 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&t->s[i].mu, NULL);
        t->s[i].budget = budget / SHARDS;
    }
}

static void entry_free(entry_t *e) {
    free(e->key);
    free(e->ids);
    free(e);
}

static void table_free(table_t *t) {
    for (int i = 0; i < SHARDS; i++) {
        entry_t *e = t->s[i].head;
        while (e) {
            entry_t *n = e->next;
            entry_free(e);
            e = n;
        }
        pthread_mutex_destroy(&t->s[i].mu);
    }
}

static void lru_unlink(shard_t *s, entry_t *e) {
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(shard_t *s, entry_t *e) {
    e->next = s->head;
    e->prev = NULL;
    if (s->head)
        s->head->prev = e;
    s->head = e;
    if (!s->tail)
        s->tail = e;
}

static void hash_unlink(shard_t *s, entry_t *e) {
    entry_t **pp = &s->buckets[(e->h >> 8) % BUCKETS];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
}

/* Copy the entry's ids to out when key (and fp) match. */
static bool table_get(table_t *t, uint64_t h, const char *k, size_t kl, uint64_t fp,
                      smg_tok_ids_t *out, int *rc) {
    shard_t *s = &t->s[h % SHARDS];
    bool hit = false;
    pthread_mutex_lock(&s->mu);
    for (entry_t *e = s->buckets[(h >> 8) % BUCKETS]; e; e = e->hnext) {
        if (e->h == h && e->klen == kl && e->fp == fp && memcmp(e->key, k, kl) == 0) {
            *rc = smg__tok_ids_append(out, e->ids, e->nids);
            lru_unlink(s, e);
            lru_front(s, e);
            hit = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return hit;
}

static void table_put(table_t *t, uint64_t h, const char *k, size_t kl, uint64_t fp,
                      const uint32_t *ids, size_t n) {
    shard_t *s = &t->s[h % SHARDS];
    size_t cost = kl + n * sizeof(uint32_t) + ENTRY_OVERHEAD;
    if (cost > s->budget)
        return;
    entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->key = malloc(kl ? kl : 1);
    e->ids = malloc(n ? n * sizeof(uint32_t) : 1);
    if (!e->key || !e->ids) {
        entry_free(e);
        return;
    }
    memcpy(e->key, k, kl);
    if (n)
        memcpy(e->ids, ids, n * sizeof(uint32_t));
    e->klen = kl;
    e->nids = n;
    e->h = h;
    e->fp = fp;
    e->cost = cost;
    pthread_mutex_lock(&s->mu);
    /* replace an equal key */
    for (entry_t *o = s->buckets[(h >> 8) % BUCKETS]; o; o = o->hnext) {
        if (o->h == h && o->klen == kl && memcmp(o->key, k, kl) == 0) {
            hash_unlink(s, o);
            lru_unlink(s, o);
            s->bytes -= o->cost;
            entry_free(o);
            break;
        }
    }
    while (s->tail && s->bytes + cost > s->budget) {
        entry_t *v = s->tail;
        hash_unlink(s, v);
        lru_unlink(s, v);
        s->bytes -= v->cost;
        entry_free(v);
    }
    e->hnext = s->buckets[(h >> 8) % BUCKETS];
    s->buckets[(h >> 8) % BUCKETS] = e;
    lru_front(s, e);
    s->bytes += cost;
    pthread_mutex_unlock(&s->mu);
}

static size_t table_bytes(table_t *t) {
    size_t b = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&t->s[i].mu);
        b += t->s[i].bytes;
        pthread_mutex_unlock(&t->s[i].mu);
    }
    return b;
}

int smg_tok_cache_new(const smg_tok_t *tok, const smg_tok_cache_opts_t *opts,
                      smg_tok_cache_t **out) {
    smg_tok_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return SMG_ENOMEM;
    c->tok = tok;
    c->opts = *opts;
    table_init(&c->exact, opts->exact_max_bytes);
    table_init(&c->prefix, opts->prefix_max_bytes);
    *out = c;
    return SMG_OK;
}

void smg_tok_cache_free(smg_tok_cache_t *c) {
    if (!c)
        return;
    table_free(&c->exact);
    table_free(&c->prefix);
    free(c);
}

void smg_tok_cache_stats(smg_tok_cache_t *c, smg_tok_cache_stats_t *st) {
    st->exact_hits = atomic_load(&c->exact_hits);
    st->exact_misses = atomic_load(&c->exact_misses);
    st->prefix_hits = atomic_load(&c->prefix_hits);
    st->prefix_misses = atomic_load(&c->prefix_misses);
    st->prefix_reused_bytes = (size_t)atomic_load(&c->prefix_reused);
    st->exact_bytes = table_bytes(&c->exact);
    st->prefix_bytes = table_bytes(&c->prefix);
}

static bool cut_after(const smg_tok_t *tok, uint32_t id) {
    if (id == SMG__TOK_NONE || !(tok->id_flags[id] & SMG__TOK_F_SPECIAL))
        return false;
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id == id && (tok->added[i].rstrip || tok->added[i].single_word))
            return false;
    return true;
}

/* Encode valid text (no post-processor) through the prefix cache. */
static int encode_prefix(smg_tok_cache_t *c, const char *text, size_t len, smg_tok_ids_t *out) {
    const smg_tok_t *tok = c->tok;
    smg__tok_segs_t segs = {0};
    size_t *ends = NULL;
    uint64_t *fps = NULL;
    int rc = smg__tok_added_split(tok, &tok->trie_raw, text, len, &segs);
    if (rc)
        goto done;
    ends = calloc(segs.n + 1, sizeof *ends);
    fps = calloc(segs.n + 1, sizeof *fps);
    if (!ends || !fps) {
        rc = SMG_ENOMEM;
        goto done;
    }
    uint64_t fp = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < segs.n; i++) {
        uint32_t t3[3] = {segs.v[i].s, segs.v[i].e, segs.v[i].id};
        fp = smg_hash64(t3, sizeof t3, fp);
        fps[i] = fp;
    }
    /* longest cached cut point */
    size_t from = 0, start_len = out->len;
    for (size_t i = segs.n; i-- > 0;) {
        if (!cut_after(tok, segs.v[i].id) || segs.v[i].e == len)
            continue;
        size_t kl = segs.v[i].e;
        uint64_t h = smg_hash64(text, kl, 0x7072);
        if (table_get(&c->prefix, h, text, kl, fps[i], out, &rc)) {
            if (rc)
                goto done;
            from = i + 1;
            atomic_fetch_add(&c->prefix_hits, 1);
            atomic_fetch_add(&c->prefix_reused, kl);
            break;
        }
    }
    if (from == 0)
        atomic_fetch_add(&c->prefix_misses, 1);
    if ((rc = smg__tok_encode_segs(tok, text, &segs, from, segs.n, out, ends)))
        goto done;
    /* remember the last two cut points of this text */
    int stored = 0;
    for (size_t i = segs.n; i-- > from && stored < 2;) {
        if (!cut_after(tok, segs.v[i].id) || segs.v[i].e == len)
            continue;
        size_t kl = segs.v[i].e;
        if (ends[i] > start_len)
            table_put(&c->prefix, smg_hash64(text, kl, 0x7072), text, kl, fps[i],
                      out->ids + start_len, ends[i] - start_len);
        stored++;
    }
done:
    free(segs.v);
    free(ends);
    free(fps);
    return rc;
}

int smg_tok_encode_cached(const smg_tok_t *tok, smg_tok_cache_t *c, const char *text, size_t len,
                          bool add_special, smg_tok_ids_t *out) {
    if (!c || len < c->opts.min_text_bytes || (!c->exact.on && !c->prefix.on))
        return smg_tok_encode(tok, text, len, add_special, out);
    if (len > SMG_TOK_MAX_TEXT_BYTES)
        return SMG_ETOOBIG;
    SMG_BUG_ON(c->tok != tok);
    int rc = SMG_OK;
    uint64_t h = smg_hash64(text, len, add_special ? 1 : 2);
    if (c->exact.on) {
        if (table_get(&c->exact, h, text, len, add_special, out, &rc)) {
            atomic_fetch_add(&c->exact_hits, 1);
            return rc;
        }
        atomic_fetch_add(&c->exact_misses, 1);
    }
    size_t start = out->len;
    if (!c->prefix.on) {
        rc = smg_tok_encode(tok, text, len, add_special, out);
    } else {
        smg_buf_t fixed;
        smg_buf_init(&fixed, 0);
        const char *t = text;
        size_t tl = len;
        if (!smg__tok_utf8_valid(text, len)) {
            if ((rc = smg__tok_utf8_lossy(text, len, &fixed))) {
                smg_buf_free(&fixed);
                return rc;
            }
            t = smg_buf_str(&fixed).ptr;
            tl = fixed.len;
        }
        smg_tok_ids_t mine = {0};
        rc = encode_prefix(c, t, tl, &mine);
        smg_buf_free(&fixed);
        if (!rc && add_special && tok->post)
            rc = smg__tok_post_process(tok->post, &mine);
        if (!rc)
            rc = smg__tok_ids_append(out, mine.ids, mine.len);
        smg_tok_ids_free(&mine);
    }
    if (!rc && c->exact.on)
        table_put(&c->exact, h, text, len, add_special, out->ids ? out->ids + start : NULL,
                  out->len - start);
    return rc;
}
