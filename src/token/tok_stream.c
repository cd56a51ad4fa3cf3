/* Incremental detokenization: decode a window of ids (from prefix_off) and
 * emit only what the newest ids add, once it is complete UTF-8 (does not end
 * in U+FFFD). Ids before the window are dropped, so memory stays bounded by
 * the window, not by the stream length. */
#include <stdlib.h>
#include <string.h>

#include "token/tok_internal.h"

struct smg_tok_stream_s {
    const smg_tok_t *tok;
    bool skip;
    smg_tok_ids_t ids; /* ids[0] is the window start (prefix_off) */
    size_t read_off;   /* ids before this are already emitted */
    char *out;         /* last emitted text (owned) */
};

int smg_tok_stream_new(const smg_tok_t *tok, bool skip_special, smg_tok_stream_t **out) {
    smg_tok_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return SMG_ENOMEM;
    s->tok = tok;
    s->skip = skip_special;
    *out = s;
    return SMG_OK;
}

void smg_tok_stream_free(smg_tok_stream_t *s) {
    if (!s)
        return;
    smg_tok_ids_free(&s->ids);
    free(s->out);
    free(s);
}

static bool ends_incomplete(const char *t, size_t n) {
    return n >= 3 && memcmp(t + n - 3, "\xEF\xBF\xBD", 3) == 0;
}

/* Text the ids after read_off add; *complete false when held back. */
static int diff(smg_tok_stream_t *s, bool force, const char **text, size_t *len) {
    *text = "";
    *len = 0;
    free(s->out);
    s->out = NULL;
    char *pre = NULL, *full = NULL;
    size_t pl = 0, fl = 0;
    int rc = smg_tok_decode(s->tok, s->ids.ids, s->read_off, s->skip, &pre, &pl);
    if (!rc)
        rc = smg_tok_decode(s->tok, s->ids.ids, s->ids.len, s->skip, &full, &fl);
    if (rc) {
        free(pre);
        free(full);
        return rc;
    }
    if (fl > pl && (force || !ends_incomplete(full, fl))) {
        memmove(full, full + pl, fl - pl);
        full[fl - pl] = 0;
        s->out = full;
        *text = full;
        *len = fl - pl;
        full = NULL;
        /* slide the window: the new prefix starts at the old read offset */
        size_t drop = s->read_off;
        memmove(s->ids.ids, s->ids.ids + drop, (s->ids.len - drop) * sizeof(uint32_t));
        s->ids.len -= drop;
        s->read_off = s->ids.len;
    }
    free(pre);
    free(full);
    return SMG_OK;
}

int smg_tok_stream_step(smg_tok_stream_t *s, uint32_t id, const char **text, size_t *textlen) {
    *text = "";
    *textlen = 0;
    int rc = smg__tok_ids_push(&s->ids, id);
    if (rc)
        return rc;
    /* A window that never completes (a long run of invalid bytes) is
     * flushed as is at SMG_TOK_STREAM_MAX_WINDOW ids, U+FFFD included. */
    bool force = s->ids.len >= SMG_TOK_STREAM_MAX_WINDOW;
    /* ByteFallback turns a whole run of byte pieces into U+FFFD when the run
     * is not valid UTF-8, so a run is held back until it ends. */
    if (!force && id < s->tok->vocab_size && (s->tok->id_flags[id] & SMG__TOK_F_BYTE))
        return SMG_OK;
    return diff(s, force, text, textlen);
}

int smg_tok_stream_finish(smg_tok_stream_t *s, const char **text, size_t *textlen) {
    return diff(s, true, text, textlen);
}
