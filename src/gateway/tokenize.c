/* Local tokenize/detokenize routes. Request and response shapes follow the
 * reference (SGLang-compatible):
 *   POST /v1/tokenize   {"model"?, "prompt": str | [str], "add_special_tokens"?: true}
 *                    -> {"tokens": [int] | [[int]], "count": int | [int], "max_model_len": int}
 *   POST /v1/tokenize   {"model"?, "messages": [...], "tools"?, "add_generation_prompt"?: true,
 *                        "chat_template_kwargs"?, "add_special_tokens"?: false}
 *                    -> the same, for the prompt the model's chat template renders (as
 *                       SGLang and vLLM accept; a template error is a 400 naming the line)
 *   POST /v1/detokenize {"model"?, "tokens": [int] | [[int]], "skip_special_tokens"?: true}
 *                    -> {"text": str | [str]}
 * Encoding runs on the request's loop thread; a prompt is at most
 * --max-payload-size bytes and the tokenizer's own cap (SMG_TOK_MAX_TEXT_BYTES). */
#include "gateway/tokenize.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "token/chat_template.h"
#include "token/tok_tokenizer.h"

/* Batch requests are capped so one request cannot hold a loop for long. */
#define SMG_TOK_MAX_BATCH 1024

struct smg_gw_tok_s {
    char *model; /* NULL: any model */
    char *dir;
    smg_tok_t *tok;
    smg_chat_template_t *chat; /* NULL when the model ships none */
    long long max_model_len;
};

static long long read_max_len(const char *dir, const smg_tok_t *tok) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t e;
    json_t *cfg = json_load_file(path, 0, &e);
    long long v = 0;
    json_t *m = cfg ? json_object_get(cfg, "max_position_embeddings") : NULL;
    if (json_is_integer(m) && json_integer_value(m) > 0)
        v = json_integer_value(m);
    json_decref(cfg);
    if (v)
        return v;
    const smg_tok_config_t *tc = smg_tok_config(tok);
    json_t *tj = tc ? (json_t *)tc->json : NULL;
    json_t *ml = tj ? json_object_get(tj, "model_max_length") : NULL;
    if (json_is_number(ml)) {
        double d = json_number_value(ml);
        if (d > 0 && d < 1e12)
            v = (long long)d;
    }
    return v;
}

int smg_gw_tokenizers_load(smg_gw_t *gw, const smg_strlist_t *paths, char *err, size_t errlen) {
    if (!paths->len)
        return SMG_OK;
    gw->toks = calloc(paths->len, sizeof *gw->toks);
    if (!gw->toks)
        return SMG_ENOMEM;
    for (size_t i = 0; i < paths->len; i++) {
        const char *spec = paths->items[i];
        const char *eq = strchr(spec, '=');
        struct smg_gw_tok_s *t = &gw->toks[gw->ntoks];
        t->model = eq ? smg_str_dup(smg_str(spec, (size_t)(eq - spec))) : NULL;
        t->dir = strdup(eq ? eq + 1 : spec);
        if ((eq && !t->model) || !t->dir) {
            free(t->model);
            free(t->dir);
            return SMG_ENOMEM;
        }
        gw->ntoks++;
        if (eq && eq == spec) {
            snprintf(err, errlen, "--tokenizer-path: '%s' has an empty model name", spec);
            return SMG_EINVAL;
        }
        for (size_t k = 0; k + 1 < gw->ntoks; k++) {
            const char *a = gw->toks[k].model, *b = t->model;
            if ((!a && !b) || (a && b && strcmp(a, b) == 0)) {
                snprintf(err, errlen, "--tokenizer-path: two tokenizers for %s%s%s",
                         b ? "model '" : "any model", b ? b : "", b ? "'" : "");
                return SMG_EINVAL;
            }
        }
        char why[512];
        int rc = smg_tok_load_dir(t->dir, &t->tok, why, sizeof why);
        if (rc != SMG_OK) {
            snprintf(err, errlen, "--tokenizer-path %s: %s", spec, why);
            return rc == SMG_ENOMEM ? SMG_ENOMEM : SMG_EINVAL;
        }
        t->max_model_len = read_max_len(t->dir, t->tok);
        const smg_tok_config_t *tc = smg_tok_config(t->tok);
        if (tc && tc->json) {
            smg_jinja_err_t jerr = {0};
            rc = smg_chat_template_from_config(tc->json, NULL, 0, &t->chat, &jerr);
            if (rc == SMG_ENOTFOUND) {
                t->chat = NULL;
            } else if (rc != SMG_OK) {
                snprintf(err, errlen, "--tokenizer-path %s: chat template: line %d: %s", spec,
                         jerr.line, jerr.msg);
                return rc == SMG_ENOMEM ? SMG_ENOMEM : SMG_EINVAL;
            }
        }
        SMG_INFO("tokenizer for %s loaded from %s (vocabulary %u, max_model_len %lld)",
                 t->model ? t->model : "any model", t->dir, smg_tok_vocab_size(t->tok),
                 t->max_model_len);
    }
    return SMG_OK;
}

void smg_gw_tokenizers_free(smg_gw_t *gw) {
    for (size_t i = 0; i < gw->ntoks; i++) {
        free(gw->toks[i].model);
        free(gw->toks[i].dir);
        if (gw->toks[i].tok)
            smg_tok_free(gw->toks[i].tok);
        if (gw->toks[i].chat)
            smg_chat_template_free(gw->toks[i].chat);
    }
    free(gw->toks);
    gw->toks = NULL;
    gw->ntoks = 0;
}

bool smg_gw_tokenize_local(const smg_gw_t *gw) {
    return gw->ntoks > 0;
}

static const struct smg_gw_tok_s *find_tok(const smg_gw_t *gw, const char *model) {
    const struct smg_gw_tok_s *any = NULL;
    for (size_t i = 0; i < gw->ntoks; i++) {
        if (!gw->toks[i].model)
            any = &gw->toks[i];
        else if (model && strcmp(gw->toks[i].model, model) == 0)
            return &gw->toks[i];
    }
    return any;
}

/* Parse the body and find the tokenizer; answers the client on failure. */
static json_t *parse_body(smg_gw_t *gw, smg_http_req_t *req, const char *reqid,
                          const struct smg_gw_tok_s **tok) {
    json_error_t e;
    json_t *root = json_loadb(req->body.ptr ? req->body.ptr : "", req->body.len, 0, &e);
    if (!root) {
        smg_gw_error(req, SMG_API_OPENAI, 400, "invalid_json", NULL, reqid,
                     "invalid JSON body: %s (line %d, column %d)", e.text, e.line, e.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        smg_gw_error(req, SMG_API_OPENAI, 400, "invalid_request", NULL, reqid,
                     "request body must be a JSON object");
        json_decref(root);
        return NULL;
    }
    json_t *m = json_object_get(root, "model");
    if (m && !json_is_string(m) && !json_is_null(m)) {
        smg_gw_error(req, SMG_API_OPENAI, 400, "invalid_request", "model", reqid,
                     "'model' must be a string");
        json_decref(root);
        return NULL;
    }
    const char *model = json_is_string(m) ? json_string_value(m) : NULL;
    *tok = find_tok(gw, model);
    if (!*tok) {
        smg_gw_error(req, SMG_API_OPENAI, 404, "model_not_found", "model", reqid,
                     "no tokenizer is loaded for model `%.200s`", model ? model : "default");
        json_decref(root);
        return NULL;
    }
    return root;
}

static int bool_field(json_t *root, const char *key, bool def, bool *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return SMG_OK;
    }
    if (!json_is_boolean(v))
        return SMG_EINVAL;
    *out = json_is_true(v);
    return SMG_OK;
}

static int append_ids(smg_buf_t *b, const smg_tok_ids_t *ids) {
    int rc = smg_buf_append_byte(b, '[');
    for (size_t i = 0; !rc && i < ids->len; i++)
        rc = smg_buf_appendf(b, i ? ",%u" : "%u", ids->ids[i]);
    return rc ? rc : smg_buf_append_byte(b, ']');
}

/* Encode texts[0..n) and answer {"tokens","count","max_model_len"}: single
 * values when !batch, lists otherwise. `what` names the input in errors. */
static void encode_and_respond(smg_http_req_t *req, const char *reqid,
                               const struct smg_gw_tok_s *t, const smg_str_t *texts, size_t n,
                               bool batch, bool add_special, const char *param,
                               const char *what) {
    smg_buf_t out, counts;
    smg_buf_init(&out, 0);
    smg_buf_init(&counts, 0);
    int rc = smg_buf_append_c(&out, batch ? "{\"tokens\":[" : "{\"tokens\":");
    rc = rc ? rc : smg_buf_append_c(&counts, batch ? "[" : "");
    int enc_rc = SMG_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        smg_tok_ids_t ids = {0};
        enc_rc = smg_tok_encode(t->tok, texts[i].ptr ? texts[i].ptr : "", texts[i].len,
                                add_special, &ids);
        if (enc_rc) {
            smg_tok_ids_free(&ids);
            break;
        }
        rc = i ? smg_buf_append_byte(&out, ',') : SMG_OK;
        rc = rc ? rc : append_ids(&out, &ids);
        rc = rc ? rc : smg_buf_appendf(&counts, i ? ",%zu" : "%zu", ids.len);
        smg_tok_ids_free(&ids);
    }
    if (enc_rc || rc) {
        int st = enc_rc == SMG_ETOOBIG ? 413 : (enc_rc == SMG_EINVAL ? 400 : 503);
        smg_gw_error(req, SMG_API_OPENAI, st, "tokenize_failed", param, reqid,
                     "could not tokenize the %s: %s", what, smg_status_str(enc_rc ? enc_rc : rc));
    } else {
        rc = smg_buf_append_c(&out, batch ? "],\"count\":" : ",\"count\":");
        rc = rc ? rc : smg_buf_append_str(&out, smg_buf_str(&counts));
        rc = rc ? rc : smg_buf_appendf(&out, "%s,\"max_model_len\":%lld}", batch ? "]" : "",
                                       t->max_model_len);
        if (rc)
            smg_gw_error(req, SMG_API_OPENAI, 503, "overloaded", NULL, reqid, "out of memory");
        else
            smg_gw_json(req, 200, reqid, smg_buf_str(&out));
    }
    smg_buf_free(&out);
    smg_buf_free(&counts);
}

/* Render the chat template for a request with messages, then tokenize. */
static void tokenize_messages(smg_http_req_t *req, const char *reqid,
                              const struct smg_gw_tok_s *t, json_t *root) {
    bool add_special;
    if (bool_field(root, "add_special_tokens", false, &add_special)) {
        smg_gw_error(req, SMG_API_OPENAI, 400, "invalid_request", "add_special_tokens", reqid,
                     "'add_special_tokens' must be a boolean");
        return;
    }
    if (!t->chat) {
        smg_gw_error(req, SMG_API_OPENAI, 400, "no_chat_template", "messages", reqid,
                     "this model's tokenizer has no chat template; send 'prompt' instead");
        return;
    }
    json_t *agp = json_object_get(root, "add_generation_prompt");
    unsigned flags = (!agp || json_is_null(agp)) ? SMG_CHAT_ADD_GENERATION_PROMPT : 0;
    smg_buf_t prompt;
    smg_buf_init(&prompt, 0);
    smg_jinja_err_t jerr = {0};
    int rc = smg_chat_template_render(t->chat, root, flags, NULL, &prompt, &jerr);
    if (rc == SMG_ENOMEM) {
        smg_gw_error(req, SMG_API_OPENAI, 503, "overloaded", NULL, reqid, "out of memory");
    } else if (rc) {
        if (jerr.line)
            smg_gw_error(req, SMG_API_OPENAI, 400, "chat_template_error", "messages", reqid,
                         "chat template error at line %d: %s", jerr.line, jerr.msg);
        else
            smg_gw_error(req, SMG_API_OPENAI, 400, "invalid_request", "messages", reqid, "%s",
                         jerr.msg[0] ? jerr.msg : smg_status_str(rc));
    } else {
        smg_str_t text = smg_buf_str(&prompt);
        encode_and_respond(req, reqid, t, &text, 1, false, add_special, "messages",
                           "rendered prompt");
    }
    smg_buf_free(&prompt);
}

void smg_gw_tokenize(smg_gw_t *gw, smg_http_req_t *req, const char *reqid) {
    const struct smg_gw_tok_s *t;
    json_t *root = parse_body(gw, req, reqid, &t);
    if (!root)
        return;
    if (json_object_get(root, "messages")) {
        if (json_object_get(root, "prompt"))
            smg_gw_error(req, SMG_API_OPENAI, 400, "invalid_request", NULL, reqid,
                         "exactly one of 'prompt' or 'messages' must be given");
        else
            tokenize_messages(req, reqid, t, root);
        json_decref(root);
        return;
    }
    bool add_special;
    json_t *prompt = json_object_get(root, "prompt");
    const char *bad = NULL;
    if (bool_field(root, "add_special_tokens", true, &add_special))
        bad = "'add_special_tokens' must be a boolean";
    else if (!json_is_string(prompt) && !json_is_array(prompt))
        bad = "'prompt' is required: a string or an array of strings";
    else if (json_is_array(prompt) && json_array_size(prompt) > SMG_TOK_MAX_BATCH)
        bad = "'prompt' has more than 1024 strings";
    for (size_t i = 0; !bad && json_is_array(prompt) && i < json_array_size(prompt); i++)
        if (!json_is_string(json_array_get(prompt, i)))
            bad = "'prompt' must be a string or an array of strings";
    if (bad) {
        smg_gw_error(req, SMG_API_OPENAI, 400, "invalid_request", NULL, reqid, "%s", bad);
        json_decref(root);
        return;
    }
    bool batch = json_is_array(prompt);
    size_t n = batch ? json_array_size(prompt) : 1;
    smg_str_t one, *texts = batch ? calloc(n ? n : 1, sizeof *texts) : &one;
    if (!texts) {
        smg_gw_error(req, SMG_API_OPENAI, 503, "overloaded", NULL, reqid, "out of memory");
        json_decref(root);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *js = batch ? json_array_get(prompt, i) : prompt;
        texts[i] = smg_str(json_string_value(js), json_string_length(js));
    }
    encode_and_respond(req, reqid, t, texts, n, batch, add_special, "prompt", "prompt");
    if (batch)
        free(texts);
    json_decref(root);
}

/* Read a JSON array of token ids; false when it is not one. */
static bool read_ids(json_t *arr, smg_tok_ids_t *ids) {
    size_t n = json_array_size(arr);
    ids->ids = malloc((n ? n : 1) * sizeof *ids->ids);
    if (!ids->ids)
        return false;
    ids->cap = n ? n : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > (json_int_t)UINT32_MAX)
            return false;
        ids->ids[ids->len++] = (uint32_t)json_integer_value(v);
    }
    return true;
}

void smg_gw_detokenize(smg_gw_t *gw, smg_http_req_t *req, const char *reqid) {
    const struct smg_gw_tok_s *t;
    json_t *root = parse_body(gw, req, reqid, &t);
    if (!root)
        return;
    bool skip;
    json_t *tokens = json_object_get(root, "tokens");
    const char *bad = NULL;
    if (bool_field(root, "skip_special_tokens", true, &skip))
        bad = "'skip_special_tokens' must be a boolean";
    else if (!json_is_array(tokens))
        bad = "'tokens' is required: an array of token ids or an array of such arrays";
    bool batch = !bad && json_array_size(tokens) > 0 && json_is_array(json_array_get(tokens, 0));
    if (!bad && batch && json_array_size(tokens) > SMG_TOK_MAX_BATCH)
        bad = "'tokens' has more than 1024 sequences";
    size_t n = bad ? 0 : (batch ? json_array_size(tokens) : 1);
    smg_buf_t out;
    smg_buf_init(&out, 0);
    int rc = smg_buf_append_c(&out, batch ? "{\"text\":[" : "{\"text\":");
    for (size_t i = 0; !bad && !rc && i < n; i++) {
        json_t *seq = batch ? json_array_get(tokens, i) : tokens;
        smg_tok_ids_t ids = {0};
        if (!json_is_array(seq) || !read_ids(seq, &ids)) {
            smg_tok_ids_free(&ids);
            bad = "'tokens' must hold non-negative integer ids (a list, or a list of lists)";
            break;
        }
        char *text = NULL;
        size_t tlen = 0;
        rc = smg_tok_decode(t->tok, ids.ids, ids.len, skip, &text, &tlen);
        smg_tok_ids_free(&ids);
        rc = rc ? rc : (i ? smg_buf_append_byte(&out, ',') : SMG_OK);
        rc = rc ? rc : smg_buf_append_json_string(&out, smg_str(text, tlen));
        free(text);
    }
    rc = rc ? rc : smg_buf_append_c(&out, batch ? "]}" : "}");
    if (bad)
        smg_gw_error(req, SMG_API_OPENAI, 400, "invalid_request", "tokens", reqid, "%s", bad);
    else if (rc)
        smg_gw_error(req, SMG_API_OPENAI, 503, "overloaded", NULL, reqid, "out of memory");
    else
        smg_gw_json(req, 200, reqid, smg_buf_str(&out));
    smg_buf_free(&out);
    json_decref(root);
}
