/* Streaming stop matcher over decoded text and token ids.
 *
 * Stop strings and stop token ids are each "visible" (the stop is part of
 * the output) or "hidden" (it is not: OpenAI `stop` strings and a matched EOS
 * are hidden by default). Text arrives in chunks that may split a stop string
 * anywhere; the matcher holds back only what could still be the start of a
 * stop string (the longest suffix of the pending text that is a proper prefix
 * of some stop string) plus an incomplete trailing UTF-8 sequence, so emitted
 * text never splits a multi-byte character.
 *
 * When several stop strings occur, the one that ends first wins (ties: the
 * one starting first, then the lowest index): that is the first one a stream
 * reveals. One matcher per generated sequence; not thread-safe. */
#ifndef SMG_TOKEN_STOP_H
#define SMG_TOKEN_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct smg_stop_s smg_stop_t;

typedef struct smg_stop_str_s {
    const char *ptr; /* copied by smg_stop_new */
    size_t len;      /* > 0 */
    bool visible;
} smg_stop_str_t;

typedef struct smg_stop_id_s {
    uint32_t id;
    bool visible;
} smg_stop_id_t;

enum {
    SMG_STOP_ALL_VISIBLE = 1 << 0, /* no_stop_trim: every stop is visible */
};

typedef struct smg_stop_result_s {
    const char *emit; /* text to pass on; valid until the next call on the matcher */
    size_t emit_len;
    bool stopped;     /* a stop matched: the sequence is over */
    int stop_str;     /* index of the matched stop string, or -1 */
    int stop_id;      /* index of the matched stop id, or -1 */
} smg_stop_result_t;

/* Largest stop string accepted, and most stop strings / ids. */
#define SMG_STOP_MAX_LEN 1024
#define SMG_STOP_MAX_COUNT 256

/* Returns SMG_OK, SMG_EINVAL (an empty or oversized stop string, too many
 * stops) or SMG_ENOMEM. */
SMG_MUST_CHECK int smg_stop_new(const smg_stop_str_t *strs, size_t nstr, const smg_stop_id_t *ids,
                                size_t nid, unsigned flags, smg_stop_t **out);
void smg_stop_free(smg_stop_t *s);
/* Forget pending text and the stopped state (the stops are kept). */
void smg_stop_reset(smg_stop_t *s);

/* Feed the decoded text of one step and its token id (-1 when unknown).
 * After a stop, further feeds emit nothing and report stopped again.
 * Returns SMG_OK or SMG_ENOMEM / SMG_ETOOBIG (chunk larger than 64 MiB). */
SMG_MUST_CHECK int smg_stop_feed(smg_stop_t *s, const char *text, size_t len, int64_t token_id,
                                 smg_stop_result_t *r);
/* End of stream: emit whatever is held (nothing if stopped). */
SMG_MUST_CHECK int smg_stop_finish(smg_stop_t *s, smg_stop_result_t *r);

#endif
