/* smg-sim inference routes: deterministic text, SSE streams with TTFT/ITL
 * timers and backpressure, embeddings, rerank, classify, tokenize. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"
#include "sim.h"

const char *const sim_words[] = {
    "the",  "of",   "and",   "to",   "in",    "is",   "that", "it",    "for",  "on",    "with",
    "as",   "was",  "at",    "by",   "an",    "be",   "this", "from",  "or",   "have",  "not",
    "are",  "but",  "had",   "they", "which", "one",  "you",  "were",  "her",  "all",   "she",
    "there", "would", "their", "we", "him",   "been", "has",  "when",  "who",  "will",  "more",
    "no",   "if",   "out",   "so",   "said",  "what", "up",   "its",   "about", "into", "than",
    "them", "can",  "only",  "other", "new",  "some", "could", "time", "these",
};
const size_t sim_nwords = sizeof sim_words / sizeof sim_words[0];

#define SIM_MAX_TOKENS 100000
#define SIM_MAX_ITEMS 4096

/* ------------------------------------------------------------------------ */
/* Prompt walking: word count (the toy tokenizer) and a seed.               */

typedef struct {
    uint64_t h;
    long words;
} prompt_t;

static void walk_text(prompt_t *p, const char *s, size_t n) {
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        bool sp = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';
        if (!sp && !in)
            p->words++;
        in = !sp;
    }
    p->h = smg_hash64(s, n, p->h);
}

static void walk(prompt_t *p, json_t *v, int depth) {
    if (!v || depth > 16)
        return;
    if (json_is_string(v)) {
        walk_text(p, json_string_value(v), json_string_length(v));
    } else if (json_is_integer(v)) {
        long long x = json_integer_value(v);
        p->words++;
        p->h = smg_hash64(&x, sizeof x, p->h);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) walk(p, e, depth + 1);
    } else if (json_is_object(v)) {
        walk(p, json_object_get(v, "text"), depth + 1);
        walk(p, json_object_get(v, "content"), depth + 1);
    }
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static const char *next_word(uint64_t *rng) {
    return sim_words[(rng_next(rng) >> 33) % sim_nwords];
}

/* ------------------------------------------------------------------------ */
/* Jobs: one per request that waits (timers, streams, hang).                */

typedef enum { K_CHAT, K_COMPL, K_GEN, K_RESP, K_MSG } kind_t;

typedef struct {
    sim_t *s;
    smg_http_req_t *req; /* NULL once released */
    kind_t kind;
    bool stream, include_usage, started;
    long n, i, prompt_tokens;
    uint64_t rng;
    unsigned long seq;
    long created;
    uv_timer_t timer;
    smg_buf_t text; /* generated so far */
    smg_buf_t out;  /* event under construction */
    sim_headers_t hs;
} job_t;

static void die_cb(uv_timer_t *t) {
    (void)t;
    fprintf(stderr, "smg-sim: --die-after reached, exiting\n");
    _exit(3);
}

void sim_request_done(sim_t *s, bool aborted) {
    atomic_fetch_sub_explicit(&s->in_flight, 1, memory_order_relaxed);
    if (aborted) {
        atomic_fetch_add_explicit(&s->aborted, 1, memory_order_relaxed);
        return;
    }
    long done = atomic_fetch_add_explicit(&s->completed, 1, memory_order_relaxed) + 1;
    long die = atomic_load(&s->die_after);
    if (die > 0 && done >= die) {
        static atomic_bool armed;
        smg_loop_t *l = smg_loop_current();
        if (l && !atomic_exchange(&armed, true)) {
            static uv_timer_t t; /* the process ends: never closed */
            uv_timer_init(smg_loop_uv(l), &t);
            uv_timer_start(&t, die_cb, 20, 0); /* lets the last response leave */
        }
    }
}

static void job_free_cb(uv_handle_t *h) {
    job_t *j = h->data;
    smg_buf_free(&j->text);
    smg_buf_free(&j->out);
    free(j);
}

/* The request was released by the caller: account and free (deferred). */
static void job_finish(job_t *j, bool aborted) {
    j->req = NULL;
    sim_request_done(j->s, aborted);
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, job_free_cb);
}

static void job_abort_cb(smg_http_req_t *req, void *arg) {
    job_t *j = arg;
    (void)smg_http_stream_end(req); /* only releases after an abort */
    job_finish(j, true);
}

static job_t *job_new(sim_t *s, smg_http_req_t *req, kind_t kind) {
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->s = s;
    j->req = req;
    j->kind = kind;
    j->created = (long)time(NULL);
    j->seq = atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed) + 1;
    smg_buf_init(&j->text, 0);
    smg_buf_init(&j->out, 0);
    uv_timer_init(smg_loop_uv(req->loop), &j->timer);
    j->timer.data = j;
    smg_http_on_abort(req, job_abort_cb, j);
    return j;
}

/* ------------------------------------------------------------------------ */
/* Bodies                                                                   */

static int put_model(smg_buf_t *b, sim_t *s) {
    int rc = smg_buf_append_byte(b, '"');
    if (!rc)
        rc = smg_buf_append_json_escaped(b, smg_str_c(s->model));
    if (!rc)
        rc = smg_buf_append_byte(b, '"');
    return rc;
}

static int put_str(smg_buf_t *b, smg_str_t v) {
    int rc = smg_buf_append_byte(b, '"');
    if (!rc)
        rc = smg_buf_append_json_escaped(b, v);
    if (!rc)
        rc = smg_buf_append_byte(b, '"');
    return rc;
}

static int put_usage(smg_buf_t *b, long p, long n) {
    return smg_buf_appendf(b, "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld}",
                           p, n, p + n);
}

/* The whole (non-streamed) body of a generation. */
static int build_full(job_t *j, smg_buf_t *b) {
    sim_t *s = j->s;
    smg_str_t text = smg_buf_str(&j->text);
    int rc = 0;
    switch (j->kind) {
    case K_CHAT:
        rc = smg_buf_appendf(b, "{\"id\":\"chatcmpl-sim-%lu\",\"object\":\"chat.completion\","
                                "\"created\":%ld,\"model\":", j->seq, j->created);
        rc = rc ? rc : put_model(b, s);
        rc = rc ? rc : smg_buf_append_c(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                                           "\"assistant\",\"content\":");
        rc = rc ? rc : put_str(b, text);
        rc = rc ? rc : smg_buf_append_c(b, "},\"logprobs\":null,\"finish_reason\":\"length\"}],"
                                           "\"usage\":");
        rc = rc ? rc : put_usage(b, j->prompt_tokens, j->n);
        rc = rc ? rc : smg_buf_append_byte(b, '}');
        break;
    case K_COMPL:
        rc = smg_buf_appendf(b, "{\"id\":\"cmpl-sim-%lu\",\"object\":\"text_completion\","
                                "\"created\":%ld,\"model\":", j->seq, j->created);
        rc = rc ? rc : put_model(b, s);
        rc = rc ? rc : smg_buf_append_c(b, ",\"choices\":[{\"index\":0,\"text\":");
        rc = rc ? rc : put_str(b, text);
        rc = rc ? rc : smg_buf_append_c(b, ",\"logprobs\":null,\"finish_reason\":\"length\"}],"
                                           "\"usage\":");
        rc = rc ? rc : put_usage(b, j->prompt_tokens, j->n);
        rc = rc ? rc : smg_buf_append_byte(b, '}');
        break;
    case K_GEN:
        rc = smg_buf_append_c(b, "{\"text\":");
        rc = rc ? rc : put_str(b, text);
        rc = rc ? rc : smg_buf_appendf(b, ",\"meta_info\":{\"id\":\"sim-%lu\",\"prompt_tokens\":%ld,"
                                          "\"completion_tokens\":%ld,\"cached_tokens\":0,"
                                          "\"finish_reason\":{\"type\":\"length\",\"length\":%ld}}}",
                                       j->seq, j->prompt_tokens, j->n, j->n);
        break;
    case K_RESP:
        rc = smg_buf_appendf(b, "{\"id\":\"resp_sim%lu\",\"object\":\"response\",\"created_at\":%ld,"
                                "\"status\":\"completed\",\"incomplete_details\":null,\"model\":",
                             j->seq, j->created);
        rc = rc ? rc : put_model(b, s);
        rc = rc ? rc : smg_buf_appendf(b, ",\"output\":[{\"type\":\"message\",\"id\":\"msg_sim%lu\","
                                          "\"status\":\"completed\",\"role\":\"assistant\","
                                          "\"content\":[{\"type\":\"output_text\",\"text\":",
                                       j->seq);
        rc = rc ? rc : put_str(b, text);
        rc = rc ? rc : smg_buf_appendf(b, ",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":%ld,"
                                          "\"output_tokens\":%ld,\"total_tokens\":%ld}}",
                                       j->prompt_tokens, j->n, j->prompt_tokens + j->n);
        break;
    case K_MSG:
        rc = smg_buf_appendf(b, "{\"id\":\"msg_sim%lu\",\"type\":\"message\",\"role\":\"assistant\","
                                "\"model\":", j->seq);
        rc = rc ? rc : put_model(b, s);
        rc = rc ? rc : smg_buf_append_c(b, ",\"content\":[{\"type\":\"text\",\"text\":");
        rc = rc ? rc : put_str(b, text);
        rc = rc ? rc : smg_buf_appendf(b, "}],\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,"
                                          "\"usage\":{\"input_tokens\":%ld,\"output_tokens\":%ld}}",
                                       j->prompt_tokens, j->n);
        break;
    }
    return rc;
}

static void gen_text(job_t *j) {
    for (long i = 0; i < j->n; i++) {
        if (smg_buf_append_c(&j->text, next_word(&j->rng)) || smg_buf_append_byte(&j->text, ' '))
            return;
    }
    long want = atomic_load(&j->s->response_bytes);
    if (want > 0 && j->kind == K_CHAT) {
        /* Pad the content so the whole body is about `want` bytes. */
        long overhead = 240 + (long)strlen(j->s->model);
        while ((long)j->text.len + overhead < want) {
            if (smg_buf_append_c(&j->text, next_word(&j->rng)) ||
                smg_buf_append_byte(&j->text, ' '))
                return;
        }
    }
}

static void respond_full(job_t *j) {
    smg_http_req_t *req = j->req;
    gen_text(j);
    smg_buf_t b;
    smg_buf_init(&b, 0);
    if (build_full(j, &b) != SMG_OK) {
        smg_buf_free(&b);
        sim_error(req, 500, "out of memory building the response", "server_error",
                  j->kind == K_MSG);
        return;
    }
    (void)smg_http_respond(req, 200, j->hs.h, j->hs.n, smg_buf_str(&b));
    smg_buf_free(&b);
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                  */

/* Write j->out as one SSE event; false when the client went away. */
static bool flush_event(job_t *j) {
    int rc = smg_http_stream_write(j->req, smg_buf_str(&j->out));
    smg_buf_reset(&j->out);
    return rc == SMG_OK && j->req != NULL;
}

static int ev_begin(job_t *j, const char *event) {
    smg_buf_reset(&j->out);
    if (event)
        return smg_buf_appendf(&j->out, "event: %s\ndata: ", event);
    return smg_buf_append_c(&j->out, "data: ");
}

static int ev_end(job_t *j) {
    return smg_buf_append_c(&j->out, "\n\n");
}

static int chunk_head(job_t *j) {
    smg_buf_t *b = &j->out;
    int rc;
    if (j->kind == K_CHAT)
        rc = smg_buf_appendf(b, "{\"id\":\"chatcmpl-sim-%lu\",\"object\":\"chat.completion.chunk\","
                                "\"created\":%ld,\"model\":", j->seq, j->created);
    else
        rc = smg_buf_appendf(b, "{\"id\":\"cmpl-sim-%lu\",\"object\":\"text_completion\","
                                "\"created\":%ld,\"model\":", j->seq, j->created);
    return rc ? rc : put_model(b, j->s);
}

static bool emit_prologue(job_t *j) {
    smg_buf_t *b = &j->out;
    int rc = 0;
    switch (j->kind) {
    case K_CHAT:
        rc = ev_begin(j, NULL);
        rc = rc ? rc : chunk_head(j);
        rc = rc ? rc : smg_buf_append_c(b, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                                           "\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                                           "\"finish_reason\":null}]");
        rc = rc ? rc : smg_buf_append_c(b, j->include_usage ? ",\"usage\":null}" : "}");
        break;
    case K_RESP:
        rc = ev_begin(j, "response.created");
        rc = rc ? rc : smg_buf_appendf(b, "{\"type\":\"response.created\",\"response\":{\"id\":"
                                          "\"resp_sim%lu\",\"object\":\"response\",\"created_at\":"
                                          "%ld,\"status\":\"in_progress\",\"model\":",
                                       j->seq, j->created);
        rc = rc ? rc : put_model(b, j->s);
        rc = rc ? rc : smg_buf_append_c(b, ",\"output\":[]}}");
        break;
    case K_MSG:
        rc = ev_begin(j, "message_start");
        rc = rc ? rc : smg_buf_appendf(b, "{\"type\":\"message_start\",\"message\":{\"id\":"
                                          "\"msg_sim%lu\",\"type\":\"message\",\"role\":"
                                          "\"assistant\",\"model\":", j->seq);
        rc = rc ? rc : put_model(b, j->s);
        rc = rc ? rc : smg_buf_appendf(b, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":"
                                          "null,\"usage\":{\"input_tokens\":%ld,\"output_tokens\":"
                                          "0}}}\n\nevent: content_block_start\ndata: {\"type\":"
                                          "\"content_block_start\",\"index\":0,\"content_block\":"
                                          "{\"type\":\"text\",\"text\":\"\"}}",
                                       j->prompt_tokens);
        break;
    default:
        return true;
    }
    rc = rc ? rc : ev_end(j);
    return rc == 0 && flush_event(j);
}

static bool emit_token(job_t *j) {
    const char *w = next_word(&j->rng);
    char tok[32];
    int tl = snprintf(tok, sizeof tok, "%s ", w);
    smg_str_t t = smg_str(tok, (size_t)tl);
    if (smg_buf_append_str(&j->text, t))
        return false;
    smg_buf_t *b = &j->out;
    int rc = 0;
    switch (j->kind) {
    case K_CHAT:
        rc = ev_begin(j, NULL);
        rc = rc ? rc : chunk_head(j);
        rc = rc ? rc : smg_buf_append_c(b, ",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
        rc = rc ? rc : put_str(b, t);
        rc = rc ? rc : smg_buf_append_c(b, "},\"logprobs\":null,\"finish_reason\":null}]");
        rc = rc ? rc : smg_buf_append_c(b, j->include_usage ? ",\"usage\":null}" : "}");
        break;
    case K_COMPL:
        rc = ev_begin(j, NULL);
        rc = rc ? rc : chunk_head(j);
        rc = rc ? rc : smg_buf_append_c(b, ",\"choices\":[{\"index\":0,\"text\":");
        rc = rc ? rc : put_str(b, t);
        rc = rc ? rc : smg_buf_append_c(b, ",\"logprobs\":null,\"finish_reason\":null}]");
        rc = rc ? rc : smg_buf_append_c(b, j->include_usage ? ",\"usage\":null}" : "}");
        break;
    case K_GEN: /* SGLang streams the cumulative text */
        rc = ev_begin(j, NULL);
        rc = rc ? rc : smg_buf_append_c(b, "{\"text\":");
        rc = rc ? rc : put_str(b, smg_buf_str(&j->text));
        rc = rc ? rc : smg_buf_appendf(b, ",\"meta_info\":{\"id\":\"sim-%lu\",\"prompt_tokens\":%ld,"
                                          "\"completion_tokens\":%ld,\"finish_reason\":null}}",
                                       j->seq, j->prompt_tokens, j->i + 1);
        break;
    case K_RESP:
        rc = ev_begin(j, "response.output_text.delta");
        rc = rc ? rc : smg_buf_appendf(b, "{\"type\":\"response.output_text.delta\",\"item_id\":"
                                          "\"msg_sim%lu\",\"output_index\":0,\"content_index\":0,"
                                          "\"delta\":", j->seq);
        rc = rc ? rc : put_str(b, t);
        rc = rc ? rc : smg_buf_append_byte(b, '}');
        break;
    case K_MSG:
        rc = ev_begin(j, "content_block_delta");
        rc = rc ? rc : smg_buf_append_c(b, "{\"type\":\"content_block_delta\",\"index\":0,"
                                           "\"delta\":{\"type\":\"text_delta\",\"text\":");
        rc = rc ? rc : put_str(b, t);
        rc = rc ? rc : smg_buf_append_c(b, "}}");
        break;
    }
    rc = rc ? rc : ev_end(j);
    return rc == 0 && flush_event(j);
}

static bool emit_epilogue(job_t *j) {
    smg_buf_t *b = &j->out;
    int rc = 0;
    switch (j->kind) {
    case K_CHAT:
    case K_COMPL:
        rc = ev_begin(j, NULL);
        rc = rc ? rc : chunk_head(j);
        rc = rc ? rc : smg_buf_append_c(b, j->kind == K_CHAT
                                               ? ",\"choices\":[{\"index\":0,\"delta\":{},"
                                                 "\"logprobs\":null,\"finish_reason\":\"length\"}]"
                                               : ",\"choices\":[{\"index\":0,\"text\":\"\","
                                                 "\"logprobs\":null,\"finish_reason\":\"length\"}]");
        rc = rc ? rc : smg_buf_append_c(b, j->include_usage ? ",\"usage\":null}\n\n" : "}\n\n");
        if (j->include_usage) {
            rc = rc ? rc : smg_buf_append_c(b, "data: ");
            rc = rc ? rc : chunk_head(j);
            rc = rc ? rc : smg_buf_append_c(b, ",\"choices\":[],\"usage\":");
            rc = rc ? rc : put_usage(b, j->prompt_tokens, j->n);
            rc = rc ? rc : smg_buf_append_c(b, "}\n\n");
        }
        rc = rc ? rc : smg_buf_append_c(b, "data: [DONE]\n\n");
        break;
    case K_GEN:
        rc = ev_begin(j, NULL);
        rc = rc ? rc : smg_buf_append_c(b, "{\"text\":");
        rc = rc ? rc : put_str(b, smg_buf_str(&j->text));
        rc = rc ? rc : smg_buf_appendf(b, ",\"meta_info\":{\"id\":\"sim-%lu\",\"prompt_tokens\":%ld,"
                                          "\"completion_tokens\":%ld,\"cached_tokens\":0,"
                                          "\"finish_reason\":{\"type\":\"length\",\"length\":%ld}}}"
                                          "\n\ndata: [DONE]\n\n",
                                       j->seq, j->prompt_tokens, j->n, j->n);
        break;
    case K_RESP:
        rc = ev_begin(j, "response.output_text.done");
        rc = rc ? rc : smg_buf_appendf(b, "{\"type\":\"response.output_text.done\",\"item_id\":"
                                          "\"msg_sim%lu\",\"output_index\":0,\"content_index\":0,"
                                          "\"text\":", j->seq);
        rc = rc ? rc : put_str(b, smg_buf_str(&j->text));
        rc = rc ? rc : smg_buf_append_c(b, "}\n\nevent: response.completed\ndata: "
                                           "{\"type\":\"response.completed\",\"response\":");
        rc = rc ? rc : build_full(j, b);
        rc = rc ? rc : smg_buf_append_c(b, "}\n\n");
        break;
    case K_MSG:
        rc = ev_begin(j, "content_block_stop");
        rc = rc ? rc : smg_buf_appendf(b, "{\"type\":\"content_block_stop\",\"index\":0}\n\n"
                                          "event: message_delta\ndata: {\"type\":\"message_delta\","
                                          "\"delta\":{\"stop_reason\":\"max_tokens\","
                                          "\"stop_sequence\":null},\"usage\":{\"output_tokens\":"
                                          "%ld}}\n\nevent: message_stop\ndata: {\"type\":"
                                          "\"message_stop\"}\n\n",
                                       j->n);
        break;
    }
    return rc == 0 && flush_event(j);
}

static void tick(job_t *j);
static void tick_timer_cb(uv_timer_t *t);

static void drain_cb(smg_http_req_t *req, void *arg) {
    (void)req;
    tick(arg);
}

static void tick(job_t *j) {
    if (!j->req)
        return;
    if (!j->started) {
        j->started = true;
        if (!emit_prologue(j))
            goto gone;
    }
    int itl = atomic_load_explicit(&j->s->itl_ms, memory_order_relaxed);
    while (j->i < j->n) {
        if (!emit_token(j))
            goto gone;
        j->i++;
        if (itl > 0 && j->i < j->n) {
            uv_timer_start(&j->timer, tick_timer_cb, (uint64_t)itl, 0);
            return;
        }
        if (smg_http_stream_pending(j->req) > j->s->write_high_watermark) {
            smg_http_on_drain(j->req, drain_cb, j);
            return;
        }
    }
    if (!emit_epilogue(j))
        goto gone;
    (void)smg_http_stream_end(j->req);
    job_finish(j, false);
    return;
gone:
    /* The client went away during a write: the abort callback has released
     * the request and finished the job already, unless the failure was ours
     * (out of memory): then end here. */
    if (j->req) {
        (void)smg_http_stream_end(j->req);
        job_finish(j, false);
    }
}

static void timer_cb(uv_timer_t *t) {
    job_t *j = t->data;
    if (!j->req)
        return;
    if (j->stream) {
        tick(j);
        return;
    }
    respond_full(j);
    job_finish(j, false);
}

static void tick_timer_cb(uv_timer_t *t) {
    tick(t->data);
}

/* ------------------------------------------------------------------------ */
/* Non-generation routes                                                    */

static void respond_buf(smg_http_req_t *req, smg_buf_t *b, int rc) {
    sim_headers_t hs;
    sim_headers(&hs, req, "application/json");
    if (rc)
        sim_error(req, 500, "out of memory building the response", "server_error", false);
    else
        (void)smg_http_respond(req, 200, hs.h, hs.n, smg_buf_str(b));
}

/* Items of an embeddings/classify input: a string, an array of strings, an
 * array of token ids, or an array of arrays of token ids. */
static size_t input_items(json_t *input, json_t **items, size_t max) {
    if (json_is_string(input)) {
        items[0] = input;
        return 1;
    }
    if (!json_is_array(input) || json_array_size(input) == 0)
        return 0;
    if (json_is_integer(json_array_get(input, 0))) {
        items[0] = input;
        return 1;
    }
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(input, i, e) {
        if (n == max || !(json_is_string(e) || json_is_array(e)))
            return 0;
        items[n++] = e;
    }
    return n;
}

static void route_embeddings(sim_t *s, smg_http_req_t *req, json_t *root) {
    static _Thread_local json_t *items[SIM_MAX_ITEMS];
    size_t n = input_items(json_object_get(root, "input"), items, SIM_MAX_ITEMS);
    if (n == 0) {
        sim_error(req, 400, "'input' must be a non-empty string or array", "invalid_request_error",
                  false);
        return;
    }
    int dim = atomic_load(&s->embedding_dim);
    json_t *d = json_object_get(root, "dimensions");
    if (json_is_integer(d) && json_integer_value(d) > 0 && json_integer_value(d) <= 65536)
        dim = (int)json_integer_value(d);
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = smg_buf_append_c(&b, "{\"object\":\"list\",\"data\":[");
    long ptoks = 0;
    double *v = malloc(sizeof *v * (size_t)dim);
    if (!v)
        rc = SMG_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        prompt_t p = {0x5eed, 0};
        walk(&p, items[i], 0);
        ptoks += p.words;
        uint64_t r = p.h;
        double norm = 0;
        for (int k = 0; k < dim; k++) {
            v[k] = (double)(rng_next(&r) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
            norm += v[k] * v[k];
        }
        norm = sqrt(norm) > 0 ? sqrt(norm) : 1;
        rc = smg_buf_appendf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":[",
                             i ? "," : "", i);
        for (int k = 0; k < dim && !rc; k++)
            rc = smg_buf_appendf(&b, "%s%.6f", k ? "," : "", v[k] / norm);
        rc = rc ? rc : smg_buf_append_c(&b, "]}");
    }
    free(v);
    rc = rc ? rc : smg_buf_append_c(&b, "],\"model\":");
    rc = rc ? rc : put_model(&b, s);
    rc = rc ? rc : smg_buf_appendf(&b, ",\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}}",
                                   ptoks, ptoks);
    respond_buf(req, &b, rc);
    smg_buf_free(&b);
}

static double score_of(uint64_t h) {
    return (double)(h >> 11) / 9007199254740992.0;
}

typedef struct {
    size_t index;
    double score;
    json_t *doc;
} scored_t;

static int by_score_desc(const void *a, const void *b) {
    double x = ((const scored_t *)a)->score, y = ((const scored_t *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void route_rerank(sim_t *s, smg_http_req_t *req, json_t *root) {
    json_t *q = json_object_get(root, "query"), *docs = json_object_get(root, "documents");
    if (!json_is_string(q) || !json_is_array(docs) || json_array_size(docs) > SIM_MAX_ITEMS) {
        sim_error(req, 400, "'query' (string) and 'documents' (array) are required",
                  "invalid_request_error", false);
        return;
    }
    size_t n = json_array_size(docs);
    scored_t *sc = calloc(n ? n : 1, sizeof *sc);
    if (!sc) {
        sim_error(req, 500, "out of memory", "server_error", false);
        return;
    }
    prompt_t qp = {0, 0};
    walk(&qp, q, 0);
    long toks = qp.words;
    for (size_t i = 0; i < n; i++) {
        prompt_t p = {qp.h, 0};
        json_t *d = json_array_get(docs, i);
        walk(&p, d, 0);
        toks += p.words;
        sc[i] = (scored_t){i, score_of(p.h * 0x9e3779b97f4a7c15ull), d};
    }
    qsort(sc, n, sizeof *sc, by_score_desc);
    json_t *tn = json_object_get(root, "top_n");
    size_t top = n;
    if (json_is_integer(tn) && json_integer_value(tn) >= 0 && (size_t)json_integer_value(tn) < n)
        top = (size_t)json_integer_value(tn);
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = smg_buf_appendf(&b, "{\"id\":\"rerank-sim-%lu\",\"model\":",
                             atomic_fetch_add(&s->seq, 1) + 1);
    rc = rc ? rc : put_model(&b, s);
    rc = rc ? rc : smg_buf_append_c(&b, ",\"results\":[");
    for (size_t i = 0; i < top && !rc; i++) {
        rc = smg_buf_appendf(&b, "%s{\"index\":%zu,\"relevance_score\":%.6f,\"document\":",
                             i ? "," : "", sc[i].index, sc[i].score);
        json_t *doc = json_is_string(sc[i].doc) ? json_pack("{s:O}", "text", sc[i].doc)
                                                : json_incref(sc[i].doc);
        char *dj = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_decref(doc);
        rc = rc ? rc : smg_buf_append_c(&b, dj ? dj : "null");
        free(dj);
        rc = rc ? rc : smg_buf_append_byte(&b, '}');
    }
    rc = rc ? rc : smg_buf_appendf(&b, "],\"usage\":{\"total_tokens\":%ld}}", toks);
    free(sc);
    respond_buf(req, &b, rc);
    smg_buf_free(&b);
}

static void route_classify(sim_t *s, smg_http_req_t *req, json_t *root) {
    static _Thread_local json_t *items[SIM_MAX_ITEMS];
    size_t n = input_items(json_object_get(root, "input"), items, SIM_MAX_ITEMS);
    if (n == 0) {
        sim_error(req, 400, "'input' must be a non-empty string or array", "invalid_request_error",
                  false);
        return;
    }
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = smg_buf_appendf(&b, "{\"id\":\"classify-sim-%lu\",\"object\":\"list\",\"created\":%ld,"
                                 "\"model\":",
                             atomic_fetch_add(&s->seq, 1) + 1, (long)time(NULL));
    rc = rc ? rc : put_model(&b, s);
    rc = rc ? rc : smg_buf_append_c(&b, ",\"data\":[");
    long toks = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        prompt_t p = {0xc1a55, 0};
        walk(&p, items[i], 0);
        toks += p.words;
        double p0 = score_of(p.h);
        rc = smg_buf_appendf(&b, "%s{\"index\":%zu,\"label\":\"LABEL_%d\",\"probs\":[%.6f,%.6f],"
                                 "\"num_classes\":2}",
                             i ? "," : "", i, p0 >= 0.5 ? 0 : 1, p0, 1 - p0);
    }
    rc = rc ? rc : smg_buf_appendf(&b, "],\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld,"
                                        "\"completion_tokens\":0}}",
                                   toks, toks);
    respond_buf(req, &b, rc);
    smg_buf_free(&b);
}

static void route_tokenize(sim_t *s, smg_http_req_t *req, json_t *root) {
    (void)s;
    json_t *t = json_object_get(root, "prompt");
    if (!t)
        t = json_object_get(root, "text");
    if (!json_is_string(t)) {
        sim_error(req, 400, "'prompt' must be a string", "invalid_request_error", false);
        return;
    }
    const char *p = json_string_value(t);
    size_t len = json_string_length(t), count = 0;
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc = smg_buf_append_c(&b, "{\"tokens\":[");
    for (size_t i = 0; i < len && !rc;) {
        while (i < len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r'))
            i++;
        size_t st = i;
        while (i < len && !(p[i] == ' ' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r'))
            i++;
        if (i == st)
            break;
        size_t id = sim_nwords; /* <unk> */
        for (size_t w = 0; w < sim_nwords; w++)
            if (strlen(sim_words[w]) == i - st && memcmp(sim_words[w], p + st, i - st) == 0)
                id = w;
        rc = smg_buf_appendf(&b, "%s%zu", count++ ? "," : "", id);
    }
    rc = rc ? rc : smg_buf_appendf(&b, "],\"count\":%zu,\"max_model_len\":32768}", count);
    respond_buf(req, &b, rc);
    smg_buf_free(&b);
}

static void route_detokenize(sim_t *s, smg_http_req_t *req, json_t *root) {
    (void)s;
    json_t *t = json_object_get(root, "tokens");
    if (!json_is_array(t)) {
        sim_error(req, 400, "'tokens' must be an array of integers", "invalid_request_error",
                  false);
        return;
    }
    smg_buf_t text;
    smg_buf_init(&text, 0);
    size_t i;
    json_t *e;
    int rc = 0;
    json_array_foreach(t, i, e) {
        if (!json_is_integer(e) || json_integer_value(e) < 0) {
            smg_buf_free(&text);
            sim_error(req, 400, "'tokens' must be an array of non-negative integers",
                      "invalid_request_error", false);
            return;
        }
        json_int_t id = json_integer_value(e);
        if (i && !rc)
            rc = smg_buf_append_byte(&text, ' ');
        if (!rc)
            rc = smg_buf_append_c(&text, id < (json_int_t)sim_nwords ? sim_words[id] : "<unk>");
    }
    smg_buf_t b;
    smg_buf_init(&b, 0);
    rc = rc ? rc : smg_buf_append_c(&b, "{\"prompt\":");
    rc = rc ? rc : put_str(&b, smg_buf_str(&text));
    rc = rc ? rc : smg_buf_append_byte(&b, '}');
    respond_buf(req, &b, rc);
    smg_buf_free(&b);
    smg_buf_free(&text);
}

/* ------------------------------------------------------------------------ */
/* Entry                                                                    */

static long max_tokens_of(json_t *root, sim_route_t r, bool *bad) {
    json_t *v = NULL;
    switch (r) {
    case SIM_R_CHAT:
        v = json_object_get(root, "max_completion_tokens");
        if (!v || json_is_null(v))
            v = json_object_get(root, "max_tokens");
        break;
    case SIM_R_GENERATE:
        v = json_object_get(json_object_get(root, "sampling_params"), "max_new_tokens");
        break;
    case SIM_R_RESPONSES:
        v = json_object_get(root, "max_output_tokens");
        break;
    default:
        v = json_object_get(root, "max_tokens");
        break;
    }
    if (!v || json_is_null(v))
        return 16;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        *bad = true;
        return 0;
    }
    json_int_t n = json_integer_value(v);
    return n > SIM_MAX_TOKENS ? SIM_MAX_TOKENS : (long)n;
}

static json_t *prompt_of(json_t *root, sim_route_t r) {
    switch (r) {
    case SIM_R_CHAT:
    case SIM_R_MESSAGES:
        return json_object_get(root, "messages");
    case SIM_R_COMPLETIONS:
        return json_object_get(root, "prompt");
    case SIM_R_GENERATE: {
        json_t *t = json_object_get(root, "text");
        return t ? t : json_object_get(root, "input_ids");
    }
    case SIM_R_RESPONSES:
        return json_object_get(root, "input");
    default:
        return NULL;
    }
}

void sim_infer(sim_t *s, smg_http_req_t *req, sim_route_t r, json_t *root) {
    bool anthropic = r == SIM_R_MESSAGES;
    json_t *model = json_object_get(root, "model");
    if (json_is_string(model) && strcmp(json_string_value(model), s->model) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "The model `%.150s` does not exist.", json_string_value(model));
        sim_error(req, 404, msg, "invalid_request_error", anthropic);
        return;
    }
    unsigned ppm = atomic_load_explicit(&s->fail_ppm, memory_order_relaxed);
    if (ppm && smg_rand_below(1000000) < ppm) {
        int st = atomic_load(&s->fail_status);
        atomic_fetch_add(&s->in_flight, 1);
        sim_error(req, st, "simulated failure (--fail-rate)",
                  st >= 500 ? "server_error" : "invalid_request_error", anthropic);
        sim_request_done(s, false);
        return;
    }
    atomic_fetch_add_explicit(&s->in_flight, 1, memory_order_relaxed);
    if (atomic_load(&s->hang)) {
        job_t *j = job_new(s, req, K_CHAT); /* released by the abort callback */
        if (!j) {
            sim_error(req, 500, "out of memory", "server_error", anthropic);
            sim_request_done(s, false);
        }
        return;
    }
    switch (r) {
    case SIM_R_EMBEDDINGS:
        route_embeddings(s, req, root);
        sim_request_done(s, false);
        return;
    case SIM_R_RERANK:
        route_rerank(s, req, root);
        sim_request_done(s, false);
        return;
    case SIM_R_CLASSIFY:
        route_classify(s, req, root);
        sim_request_done(s, false);
        return;
    case SIM_R_TOKENIZE:
        route_tokenize(s, req, root);
        sim_request_done(s, false);
        return;
    case SIM_R_DETOKENIZE:
        route_detokenize(s, req, root);
        sim_request_done(s, false);
        return;
    default:
        break;
    }
    bool bad = false;
    long n = max_tokens_of(root, r, &bad);
    if (bad) {
        sim_error(req, 400, "max tokens must be a non-negative integer", "invalid_request_error",
                  anthropic);
        sim_request_done(s, false);
        return;
    }
    prompt_t p = {0, 0};
    walk(&p, prompt_of(root, r), 0);
    if (r == SIM_R_MESSAGES)
        walk(&p, json_object_get(root, "system"), 0);
    if (r == SIM_R_RESPONSES)
        walk(&p, json_object_get(root, "instructions"), 0);
    kind_t kind = r == SIM_R_CHAT          ? K_CHAT
                  : r == SIM_R_COMPLETIONS ? K_COMPL
                  : r == SIM_R_GENERATE    ? K_GEN
                  : r == SIM_R_RESPONSES   ? K_RESP
                                           : K_MSG;
    job_t *j = job_new(s, req, kind);
    if (!j) {
        sim_error(req, 500, "out of memory", "server_error", anthropic);
        sim_request_done(s, false);
        return;
    }
    j->n = n;
    j->prompt_tokens = p.words;
    j->rng = p.h ? p.h : 1;
    j->stream = json_is_true(json_object_get(root, "stream"));
    j->include_usage =
        json_is_true(json_object_get(json_object_get(root, "stream_options"), "include_usage"));
    int ttft = atomic_load(&s->ttft_ms), itl = atomic_load(&s->itl_ms);
    if (!j->stream) {
        sim_headers(&j->hs, req, "application/json");
        uint64_t delay = (uint64_t)ttft + (uint64_t)itl * (uint64_t)(n > 0 ? n - 1 : 0);
        if (delay) {
            uv_timer_start(&j->timer, timer_cb, delay, 0);
            return;
        }
        respond_full(j);
        job_finish(j, false);
        return;
    }
    sim_headers(&j->hs, req, "text/event-stream");
    j->hs.h[j->hs.n++] = (smg_http_header_t){SMG_STR("Cache-Control"), SMG_STR("no-cache")};
    if (smg_http_stream_start(req, 200, j->hs.h, j->hs.n) != SMG_OK) {
        if (j->req) {
            (void)smg_http_stream_end(req);
            job_finish(j, false);
        }
        return;
    }
    if (ttft > 0) {
        uv_timer_start(&j->timer, tick_timer_cb, (uint64_t)ttft, 0);
        return;
    }
    tick(j);
}
