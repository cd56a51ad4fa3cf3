/* Streaming stop matcher (see stop.h). The pending text ("jail") only ever
 * holds a possible stop-string prefix plus the newest chunk, so each feed
 * scans O(chunk + longest stop) bytes per stop string. */
#include "token/stop.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define MAX_CHUNK (64u << 20)

struct smg_stop_s {
    smg_stop_str_t *strs;
    size_t nstr, maxlen;
    smg_stop_id_t *ids;
    size_t nid;
    smg_buf_t jail, out;
    bool stopped;
};

void smg_stop_free(smg_stop_t *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->nstr; i++)
        free((void *)s->strs[i].ptr);
    free(s->strs);
    free(s->ids);
    smg_buf_free(&s->jail);
    smg_buf_free(&s->out);
    free(s);
}

int smg_stop_new(const smg_stop_str_t *strs, size_t nstr, const smg_stop_id_t *ids, size_t nid,
                 unsigned flags, smg_stop_t **out) {
    *out = NULL;
    if (nstr > SMG_STOP_MAX_COUNT || nid > SMG_STOP_MAX_COUNT)
        return SMG_EINVAL;
    for (size_t i = 0; i < nstr; i++)
        if (!strs[i].len || strs[i].len > SMG_STOP_MAX_LEN || !strs[i].ptr)
            return SMG_EINVAL;
    smg_stop_t *s = calloc(1, sizeof *s);
    if (!s)
        return SMG_ENOMEM;
    smg_buf_init(&s->jail, MAX_CHUNK + 2 * SMG_STOP_MAX_LEN);
    smg_buf_init(&s->out, MAX_CHUNK + 2 * SMG_STOP_MAX_LEN);
    s->strs = nstr ? calloc(nstr, sizeof *s->strs) : NULL;
    s->ids = nid ? calloc(nid, sizeof *s->ids) : NULL;
    if ((nstr && !s->strs) || (nid && !s->ids)) {
        smg_stop_free(s);
        return SMG_ENOMEM;
    }
    for (size_t i = 0; i < nstr; i++) {
        char *p = malloc(strs[i].len);
        if (!p) {
            smg_stop_free(s);
            return SMG_ENOMEM;
        }
        memcpy(p, strs[i].ptr, strs[i].len);
        s->strs[i] = (smg_stop_str_t){p, strs[i].len, strs[i].visible || (flags & SMG_STOP_ALL_VISIBLE)};
        s->nstr = i + 1;
        if (strs[i].len > s->maxlen)
            s->maxlen = strs[i].len;
    }
    for (size_t i = 0; i < nid; i++)
        s->ids[i] = (smg_stop_id_t){ids[i].id, ids[i].visible || (flags & SMG_STOP_ALL_VISIBLE)};
    s->nid = nid;
    *out = s;
    return SMG_OK;
}

void smg_stop_reset(smg_stop_t *s) {
    smg_buf_reset(&s->jail);
    smg_buf_reset(&s->out);
    s->stopped = false;
}

static void result(smg_stop_t *s, smg_stop_result_t *r, int sstr, int sid) {
    r->emit = s->out.ptr ? s->out.ptr : "";
    r->emit_len = s->out.len;
    r->stopped = s->stopped;
    r->stop_str = sstr;
    r->stop_id = sid;
}

/* Move jail[0..n) to the output. */
static int emit(smg_stop_t *s, size_t n) {
    int rc = smg_buf_append(&s->out, s->jail.ptr, n);
    if (rc)
        return rc;
    smg_buf_consume(&s->jail, n);
    return SMG_OK;
}

/* Bytes at the end of p[0..n) that start an incomplete UTF-8 sequence. */
static size_t utf8_incomplete_tail(const char *p, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)p[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

int smg_stop_feed(smg_stop_t *s, const char *text, size_t len, int64_t token_id,
                  smg_stop_result_t *r) {
    smg_buf_reset(&s->out);
    if (s->stopped) {
        result(s, r, -1, -1);
        return SMG_OK;
    }
    if (len > MAX_CHUNK)
        return SMG_ETOOBIG;
    int rc;
    if (token_id >= 0) {
        for (size_t i = 0; i < s->nid; i++) {
            if ((int64_t)s->ids[i].id != token_id)
                continue;
            if ((rc = emit(s, s->jail.len)))
                return rc;
            if (s->ids[i].visible && (rc = smg_buf_append(&s->out, text, len)))
                return rc;
            s->stopped = true;
            result(s, r, -1, (int)i);
            return SMG_OK;
        }
    }
    size_t old = s->jail.len;
    if ((rc = smg_buf_append(&s->jail, text, len)))
        return rc;
    const char *j = s->jail.ptr;
    size_t n = s->jail.len;
    /* earliest-ending occurrence among matches that end in the new text */
    size_t best_end = SIZE_MAX, best_start = 0;
    int best = -1;
    for (size_t i = 0; i < s->nstr; i++) {
        size_t L = s->strs[i].len;
        if (L > n)
            continue;
        size_t from = old + 1 > L ? old + 1 - L : 0;
        for (size_t st = from; st + L <= n; st++) {
            if (st + L >= best_end && !(st + L == best_end && st < best_start))
                break;
            if (memcmp(j + st, s->strs[i].ptr, L) == 0) {
                best_end = st + L;
                best_start = st;
                best = (int)i;
                break;
            }
        }
    }
    if (best >= 0) {
        size_t keep = s->strs[best].visible ? best_end : best_start;
        if ((rc = emit(s, keep)))
            return rc;
        smg_buf_reset(&s->jail);
        s->stopped = true;
        result(s, r, best, -1);
        return SMG_OK;
    }
    /* hold back the longest suffix that is a proper prefix of a stop string */
    size_t hold = 0;
    for (size_t i = 0; i < s->nstr; i++) {
        size_t L = s->strs[i].len;
        size_t k = L - 1 < n ? L - 1 : n;
        for (; k > hold; k--) {
            if (memcmp(j + n - k, s->strs[i].ptr, k) == 0) {
                hold = k;
                break;
            }
        }
    }
    size_t inc = utf8_incomplete_tail(j, n);
    if (inc > hold)
        hold = inc;
    if ((rc = emit(s, n - hold)))
        return rc;
    result(s, r, -1, -1);
    return SMG_OK;
}

int smg_stop_finish(smg_stop_t *s, smg_stop_result_t *r) {
    smg_buf_reset(&s->out);
    if (!s->stopped) {
        int rc = emit(s, s->jail.len);
        if (rc)
            return rc;
    }
    result(s, r, -1, -1);
    return SMG_OK;
}
