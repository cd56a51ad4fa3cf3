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

/* Emit what ids [read_off, cut) add to the text of ids [0, read_off), unless
 * it would end in U+FFFD (an incomplete character) and !force. On emission
 * the window slides: ids before read_off are dropped, read_off = cut. */
static int emit(smg_tok_stream_t *s, size_t cut, bool force, const char **text, size_t *len) {
    *text = "";
    *len = 0;
    free(s->out);
    s->out = NULL;
    char *pre = NULL, *full = NULL;
    size_t pl = 0, fl = 0;
    int rc = smg_tok_decode(s->tok, s->ids.ids, s->read_off, s->skip, &pre, &pl);
    if (!rc)
        rc = smg_tok_decode(s->tok, s->ids.ids, cut, s->skip, &full, &fl);
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
        size_t drop = s->read_off;
        memmove(s->ids.ids, s->ids.ids + drop, (s->ids.len - drop) * sizeof(uint32_t));
        s->ids.len -= drop;
        s->read_off = cut - drop;
    }
    free(pre);
    free(full);
    return SMG_OK;
}

/* True when decoding [0,c) and [c,len) separately gives the text of [0,len):
 * a cut between whole characters. */
static int clean_cut(smg_tok_stream_t *s, size_t c, bool *clean) {
    char *a = NULL, *b = NULL, *w = NULL;
    size_t al, bl, wl;
    int rc = smg_tok_decode(s->tok, s->ids.ids, c, s->skip, &a, &al);
    if (!rc)
        rc = smg_tok_decode(s->tok, s->ids.ids + c, s->ids.len - c, s->skip, &b, &bl);
    if (!rc)
        rc = smg_tok_decode(s->tok, s->ids.ids, s->ids.len, s->skip, &w, &wl);
    *clean = !rc && al + bl == wl && !memcmp(w, a, al) && !memcmp(w + al, b, bl);
    free(a);
    free(b);
    free(w);
    return rc;
}

int smg_tok_stream_step(smg_tok_stream_t *s, uint32_t id, const char **text, size_t *textlen) {
    *text = "";
    *textlen = 0;
    int rc = smg__tok_ids_push(&s->ids, id);
    if (rc)
        return rc;
    if (s->ids.len >= SMG_TOK_STREAM_MAX_WINDOW) {
        /* A window that never completes (a long run of invalid bytes): emit
         * up to the last cut between whole characters. */
        for (size_t c = s->ids.len - 1; c > s->read_off && c + 8 >= s->ids.len; c--) {
            bool clean;
            if ((rc = clean_cut(s, c, &clean)))
                return rc;
            if (clean)
                return emit(s, c, true, text, textlen);
        }
        if (s->ids.len >= 4 * SMG_TOK_STREAM_MAX_WINDOW)
            return emit(s, s->ids.len, true, text, textlen);
    }
    /* ByteFallback turns a whole run of byte pieces into U+FFFD when the run
     * is not valid UTF-8, so a run is held back until it ends. */
    if (id < s->tok->vocab_size && (s->tok->id_flags[id] & SMG__TOK_F_BYTE))
        return SMG_OK;
    return emit(s, s->ids.len, false, text, textlen);
}

int smg_tok_stream_finish(smg_tok_stream_t *s, const char **text, size_t *textlen) {
    return emit(s, s->ids.len, true, text, textlen);
}
