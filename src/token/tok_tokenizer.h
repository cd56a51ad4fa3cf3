/* Hugging Face–compatible tokenizers (tokenizer.json) and tiktoken rank files.
 *
 * Contract: for every model this library loads, encode() gives the same ids as
 * Hugging Face `tokenizers` (Rust, 0.22) and decode() the same text, byte for
 * byte. A component we do not implement makes the load fail with
 * SMG_EUNSUPPORTED and a message naming the component type and the file; it is
 * never silently skipped.
 *
 * Threads: a loaded smg_tok_t is immutable; encode/decode/lookup may run on
 * many threads at once. Per-thread scratch (regex match data, a bounded word
 * cache) lives in thread-local storage and is released by
 * smg_tok_thread_cleanup() (optional; call it before a worker thread exits).
 *
 * Input text: bytes. Invalid UTF-8 is first replaced by U+FFFD exactly as
 * Rust's String::from_utf8_lossy / the WHATWG decoder do (one U+FFFD per
 * maximal invalid subpart), which is what a JS string passed to the Hugging
 * Face Node binding contains, so ids match for such input too.
 *
 * Errors: functions return SMG_OK or a negative smg_status_t. Loaders fill an
 * error message buffer (`err`, `errlen`; may be NULL) with a human sentence. */
#ifndef SMG_TOKEN_TOK_TOKENIZER_H
#define SMG_TOKEN_TOK_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/str.h"

typedef struct smg_tok_s smg_tok_t;

/* Hard limits on what a loader accepts (files are outside input). */
#define SMG_TOK_MAX_FILE_BYTES ((size_t)256 << 20) /* one JSON / rank file */
#define SMG_TOK_MAX_VOCAB 4000000u                 /* ids are < this */
#define SMG_TOK_MAX_TOKEN_BYTES 4096u              /* one vocab / added token */
#define SMG_TOK_MAX_TEXT_BYTES ((size_t)64 << 20)  /* one encode() input */

/* An id sequence owned by the caller: free with smg_tok_ids_free(). */
typedef struct {
    uint32_t *ids;
    size_t len;
    size_t cap;
} smg_tok_ids_t;

void smg_tok_ids_free(smg_tok_ids_t *ids);

/* ---- loading ----------------------------------------------------------- */

/* Load a model directory: DIR/tokenizer.json (required unless a single
 * *.tiktoken file is there), DIR/tokenizer_config.json, DIR/config.json and
 * DIR/generation_config.json when present (EOS ids: the union of theirs and
 * the config's eos_token). On failure *out is NULL and err says which file and
 * which component. The result is freed with smg_tok_free(). */
SMG_MUST_CHECK int smg_tok_load_dir(const char *dir, smg_tok_t **out, char *err, size_t errlen);

/* Load from tokenizer.json bytes (`name` is used in messages). No config. */
SMG_MUST_CHECK int smg_tok_load_json(const char *json, size_t len, const char *name,
                                     smg_tok_t **out, char *err, size_t errlen);

/* Which pre-tokenizer regex a tiktoken rank file is used with. */
typedef enum {
    SMG_TOK_TIKTOKEN_CL100K = 1,
    SMG_TOK_TIKTOKEN_O200K = 2,
} smg_tok_tiktoken_kind_t;

/* Load a tiktoken rank file ("<base64 token> <rank>" per line) with the
 * cl100k_base or o200k_base regex and special tokens. */
SMG_MUST_CHECK int smg_tok_load_tiktoken(const char *data, size_t len, smg_tok_tiktoken_kind_t kind,
                                         const char *name, smg_tok_t **out, char *err,
                                         size_t errlen);

void smg_tok_free(smg_tok_t *tok);

/* Release this thread's scratch (regex match data, word cache). */
void smg_tok_thread_cleanup(void);

/* ---- encode / decode --------------------------------------------------- */

/* Encode `len` bytes of text. add_special: apply the post-processor's special
 * tokens (e.g. BOS), as HF's add_special_tokens. Appends to *out (which the
 * caller initialises to zeros or reuses). Fails with SMG_ETOOBIG past
 * SMG_TOK_MAX_TEXT_BYTES, SMG_ENOMEM, or SMG_EINVAL when the text cannot be
 * tokenized (a character with no vocab entry, no byte fallback and no unk). */
SMG_MUST_CHECK int smg_tok_encode(const smg_tok_t *tok, const char *text, size_t len,
                                  bool add_special, smg_tok_ids_t *out);

/* Decode ids to text (NUL-terminated heap string in *out, length in *outlen).
 * skip_special drops special added tokens. Unknown ids are skipped, as HF
 * does. The caller frees *out. */
SMG_MUST_CHECK int smg_tok_decode(const smg_tok_t *tok, const uint32_t *ids, size_t n,
                                  bool skip_special, char **out, size_t *outlen);

/* ---- vocabulary -------------------------------------------------------- */

/* Id of a token string (added tokens first, then the model's vocab);
 * false when absent. */
bool smg_tok_token_to_id(const smg_tok_t *tok, smg_str_t token, uint32_t *id);
/* The token string of an id as stored in the file (e.g. "Ġthe"); a view into
 * the tokenizer, valid until smg_tok_free(). SMG_STR_NULL when unknown. */
smg_str_t smg_tok_id_to_token(const smg_tok_t *tok, uint32_t id);
/* Largest id + 1 over the vocab and added tokens. */
uint32_t smg_tok_vocab_size(const smg_tok_t *tok);
/* True for ids of added tokens marked special. */
bool smg_tok_is_special(const smg_tok_t *tok, uint32_t id);
/* EOS ids (config union), sorted, no duplicates. View valid until free. */
const uint32_t *smg_tok_eos_ids(const smg_tok_t *tok, size_t *n);
/* The config's bos/eos/unk/pad token ids; false when not configured. */
bool smg_tok_bos_id(const smg_tok_t *tok, uint32_t *id);
bool smg_tok_eos_id(const smg_tok_t *tok, uint32_t *id);
bool smg_tok_unk_id(const smg_tok_t *tok, uint32_t *id);
bool smg_tok_pad_id(const smg_tok_t *tok, uint32_t *id);

/* ---- tokenizer_config.json --------------------------------------------- */

typedef struct {
    const char *name;     /* "default" for a single string template */
    const char *template; /* the Jinja source */
} smg_tok_chat_template_t;

/* Parsed tokenizer_config.json; every string is owned by the config (or the
 * tokenizer that holds it). NULL fields are absent. `json` is the whole object
 * as a jansson json_t pointer (borrowed; typed void so this header needs no
 * jansson). */
typedef struct smg_tok_config_s {
    char *bos_token, *eos_token, *unk_token, *pad_token;
    bool add_bos_token, add_eos_token;
    bool has_add_bos_token, has_add_eos_token;
    smg_tok_chat_template_t *chat_templates;
    size_t n_chat_templates;
    void *json;
} smg_tok_config_t;

/* Parse tokenizer_config.json bytes. Special token fields may be strings or
 * {"content": ...} objects; chat_template a string or a list of
 * {name, template}. Free with smg_tok_config_free(). */
SMG_MUST_CHECK int smg_tok_config_parse(const char *json, size_t len, const char *name,
                                        smg_tok_config_t **out, char *err, size_t errlen);
/* Read DIR/tokenizer_config.json; SMG_ENOTFOUND when absent. */
SMG_MUST_CHECK int smg_tok_config_load_dir(const char *dir, smg_tok_config_t **out, char *err,
                                           size_t errlen);
void smg_tok_config_free(smg_tok_config_t *cfg);
/* The config a tokenizer was loaded with (NULL when none); owned by tok. */
const smg_tok_config_t *smg_tok_config(const smg_tok_t *tok);
/* Template by name (NULL name: "default", else the only one); NULL if none. */
const char *smg_tok_config_chat_template(const smg_tok_config_t *cfg, const char *name);

/* ---- streaming detokenization ------------------------------------------ */

typedef struct smg_tok_stream_s smg_tok_stream_t;

/* Memory per stream is bounded: a window of ids that has not produced
 * complete text after this many ids is emitted up to its last cut between
 * whole characters (U+FFFD included); past 4x this many it is emitted as is. */
#define SMG_TOK_STREAM_MAX_WINDOW 256

/* A decoder for one generation stream. Borrows tok (must outlive it). */
SMG_MUST_CHECK int smg_tok_stream_new(const smg_tok_t *tok, bool skip_special,
                                      smg_tok_stream_t **out);
/* Feed one id. Sets *text and *textlen to a view (valid until the next call on
 * this stream) of the newly completed text; empty while a UTF-8 character or a
 * run of byte-fallback pieces is incomplete. */
SMG_MUST_CHECK int smg_tok_stream_step(smg_tok_stream_t *s, uint32_t id, const char **text,
                                       size_t *textlen);
/* End of stream: the text still held back (possibly with U+FFFD), so that the
 * concatenation of every step and finish equals smg_tok_decode() of all ids. */
SMG_MUST_CHECK int smg_tok_stream_finish(smg_tok_stream_t *s, const char **text, size_t *textlen);
void smg_tok_stream_free(smg_tok_stream_t *s);

/* ---- encode caches ----------------------------------------------------- */

typedef struct smg_tok_cache_s smg_tok_cache_t;

typedef struct {
    size_t exact_max_bytes;  /* exact-match cache budget; 0 disables it */
    size_t prefix_max_bytes; /* prefix cache budget; 0 disables it */
    size_t min_text_bytes;   /* texts shorter than this bypass the caches */
} smg_tok_cache_opts_t;

typedef struct {
    uint64_t exact_hits, exact_misses, prefix_hits, prefix_misses;
    size_t exact_bytes, prefix_bytes, prefix_reused_bytes;
} smg_tok_cache_stats_t;

/* A cache for one tokenizer (lock-striped; shared by threads). Off unless
 * created and passed to smg_tok_encode_cached(). Memory stays within the
 * budgets (LRU eviction). */
SMG_MUST_CHECK int smg_tok_cache_new(const smg_tok_t *tok, const smg_tok_cache_opts_t *opts,
                                     smg_tok_cache_t **out);
void smg_tok_cache_free(smg_tok_cache_t *c);
void smg_tok_cache_stats(smg_tok_cache_t *c, smg_tok_cache_stats_t *st);
/* As smg_tok_encode(), through the cache: same ids, always. */
SMG_MUST_CHECK int smg_tok_encode_cached(const smg_tok_t *tok, smg_tok_cache_t *cache,
                                         const char *text, size_t len, bool add_special,
                                         smg_tok_ids_t *out);

#endif
