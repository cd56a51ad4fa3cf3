/* Chat templates: config loading and the OpenAI request -> template
 * variables mapping (after the reference gateway's chat_template.rs). */
#include "token/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

static const char *SPECIAL_NAMES[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
#define NSPECIAL (sizeof SPECIAL_NAMES / sizeof SPECIAL_NAMES[0])

struct smg_chat_template_s {
    smg_jinja_tmpl_t *dflt;
    smg_jinja_tmpl_t *tool_use; /* may be NULL */
    char *special[NSPECIAL];    /* NULL when absent */
};

static void set_err(smg_jinja_err_t *err, const char *msg) {
    if (err) {
        err->line = 0;
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
}

void smg_chat_template_free(smg_chat_template_t *ct) {
    if (!ct)
        return;
    smg_jinja_free(ct->dflt);
    smg_jinja_free(ct->tool_use);
    for (size_t i = 0; i < NSPECIAL; i++)
        free(ct->special[i]);
    free(ct);
}

static int parse_one(const char *src, size_t len, smg_jinja_tmpl_t **out, smg_jinja_err_t *err) {
    return smg_jinja_parse(src, len, out, err);
}

int smg_chat_template_from_config(const json_t *config, const char *override_src,
                                  size_t override_len, smg_chat_template_t **out,
                                  smg_jinja_err_t *err) {
    *out = NULL;
    if (err) {
        err->line = 0;
        err->msg[0] = '\0';
    }
    smg_chat_template_t *ct = calloc(1, sizeof *ct);
    if (!ct)
        return SMG_ENOMEM;
    int rc = SMG_OK;
    if (override_src) {
        rc = parse_one(override_src, override_len, &ct->dflt, err);
    } else {
        const json_t *tpl = config ? json_object_get(config, "chat_template") : NULL;
        if (!tpl || json_is_null(tpl)) {
            set_err(err, "tokenizer_config.json has no chat_template");
            rc = SMG_ENOTFOUND;
        } else if (json_is_string(tpl)) {
            rc = parse_one(json_string_value(tpl), json_string_length(tpl), &ct->dflt, err);
        } else if (json_is_array(tpl)) {
            size_t i;
            json_t *e;
            json_array_foreach(tpl, i, e) {
                const json_t *nm = json_object_get(e, "name"), *src = json_object_get(e, "template");
                if (!json_is_string(nm) || !json_is_string(src)) {
                    set_err(err, "chat_template list entries must be {name, template} strings");
                    rc = SMG_EINVAL;
                    break;
                }
                smg_jinja_tmpl_t **slot = NULL;
                if (strcmp(json_string_value(nm), "default") == 0)
                    slot = &ct->dflt;
                else if (strcmp(json_string_value(nm), "tool_use") == 0)
                    slot = &ct->tool_use;
                if (!slot || *slot)
                    continue;
                rc = parse_one(json_string_value(src), json_string_length(src), slot, err);
                if (rc)
                    break;
            }
            if (!rc && !ct->dflt) {
                set_err(err, "chat_template list has no \"default\" template");
                rc = SMG_ENOTFOUND;
            }
        } else {
            set_err(err, "chat_template must be a string or a list of {name, template}");
            rc = SMG_EINVAL;
        }
    }
    for (size_t i = 0; !rc && config && i < NSPECIAL; i++) {
        const json_t *v = json_object_get(config, SPECIAL_NAMES[i]);
        if (json_is_object(v))
            v = json_object_get(v, "content");
        if (json_is_string(v)) {
            ct->special[i] = strdup(json_string_value(v));
            if (!ct->special[i])
                rc = SMG_ENOMEM;
        }
    }
    if (rc) {
        smg_chat_template_free(ct);
        return rc;
    }
    *out = ct;
    return SMG_OK;
}

int smg_chat_template_load(const char *dir, const char *override_src, size_t override_len,
                           smg_chat_template_t **out, smg_jinja_err_t *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_error_t je;
    json_t *cfg = json_load_file(path, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &je);
    if (!cfg) {
        if (err) {
            err->line = 0;
            snprintf(err->msg, sizeof err->msg, "cannot read %.120s: %.100s", path, je.text);
        }
        return SMG_EIO;
    }
    int rc = smg_chat_template_from_config(cfg, override_src, override_len, out, err);
    json_decref(cfg);
    return rc;
}

const smg_jinja_tmpl_t *smg_chat_template_pick(const smg_chat_template_t *ct, bool has_tools) {
    return has_tools && ct->tool_use ? ct->tool_use : ct->dflt;
}

const char *smg_chat_template_special(const smg_chat_template_t *ct, const char *name) {
    for (size_t i = 0; i < NSPECIAL; i++)
        if (strcmp(SPECIAL_NAMES[i], name) == 0)
            return ct->special[i];
    return NULL;
}

/* ---- request mapping ------------------------------------------------------ */

static int fail(smg_jinja_err_t *err, const char *msg) {
    set_err(err, msg);
    return SMG_EINVAL;
}

/* Content parts -> what the template expects. */
static json_t *map_content(const json_t *content, bool as_list) {
    if (!json_is_array(content))
        return json_incref((json_t *)content);
    if (as_list) {
        json_t *out = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(content, i, p) {
            const char *type = json_string_value(json_object_get(p, "type"));
            if (!type) {
                json_array_append(out, p);
                continue;
            }
            if (strcmp(type, "text") == 0) {
                json_t *t = json_object();
                json_object_set_new(t, "type", json_string("text"));
                json_t *txt = json_object_get(p, "text");
                json_object_set_new(t, "text", txt ? json_incref(txt) : json_string(""));
                json_array_append_new(out, t);
            } else if (strcmp(type, "image_url") == 0 || strcmp(type, "image") == 0) {
                json_array_append_new(out, json_pack("{s:s}", "type", "image"));
            } else if (strcmp(type, "video_url") == 0 || strcmp(type, "video") == 0) {
                json_array_append_new(out, json_pack("{s:s}", "type", "video"));
            } else if (strcmp(type, "input_audio") == 0 || strcmp(type, "audio_url") == 0 ||
                       strcmp(type, "audio") == 0) {
                json_array_append_new(out, json_pack("{s:s}", "type", "audio"));
            } else {
                json_array_append(out, p);
            }
        }
        return out;
    }
    /* string templates: text parts joined with "\n"; media parts are dropped */
    smg_buf_t b;
    smg_buf_init(&b, 0);
    size_t i, n = 0;
    json_t *p;
    json_array_foreach(content, i, p) {
        const char *type = json_string_value(json_object_get(p, "type"));
        const json_t *txt = json_object_get(p, "text");
        if (type && strcmp(type, "text") == 0 && json_is_string(txt)) {
            if ((n++ && smg_buf_append_byte(&b, '\n')) ||
                smg_buf_append(&b, json_string_value(txt), json_string_length(txt))) {
                smg_buf_free(&b);
                return NULL;
            }
        }
    }
    json_t *s = json_stringn(b.ptr ? b.ptr : "", b.len);
    smg_buf_free(&b);
    return s;
}

static json_t *map_tool_calls(const json_t *calls) {
    if (!json_is_array(calls))
        return json_incref((json_t *)calls);
    json_t *out = json_array();
    size_t i;
    json_t *tc;
    json_array_foreach(calls, i, tc) {
        json_t *fn = json_object_get(tc, "function");
        json_t *args = fn ? json_object_get(fn, "arguments") : NULL;
        if (!json_is_string(args)) {
            json_array_append(out, tc);
            continue;
        }
        json_t *parsed = json_loadb(json_string_value(args), json_string_length(args),
                                    JSON_DECODE_ANY, NULL);
        if (!json_is_object(parsed)) {
            json_decref(parsed);
            json_array_append(out, tc);
            continue;
        }
        json_t *tc2 = json_copy(tc), *fn2 = json_copy(fn);
        json_object_set_new(fn2, "arguments", parsed);
        json_object_set_new(tc2, "function", fn2);
        json_array_append_new(out, tc2);
    }
    return out;
}

static bool is_reserved(const char *k) {
    static const char *r[] = {"messages", "tools", "documents", "add_generation_prompt",
                              "chat_template_kwargs"};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (strcmp(k, r[i]) == 0)
            return true;
    return false;
}

int smg_chat_template_context(const smg_chat_template_t *ct, const json_t *req, unsigned flags,
                              json_t **ctx_out, smg_jinja_err_t *err) {
    *ctx_out = NULL;
    if (err) {
        err->line = 0;
        err->msg[0] = '\0';
    }
    if (!json_is_object(req))
        return fail(err, "request must be a JSON object");
    const json_t *msgs = json_object_get(req, "messages");
    if (!json_is_array(msgs))
        return fail(err, "'messages' must be a list");
    const json_t *tools = json_object_get(req, "tools");
    bool has_tools = json_is_array(tools) && json_array_size(tools) > 0;
    const smg_jinja_tmpl_t *t = smg_chat_template_pick(ct, has_tools);
    bool as_list = smg_jinja_uses_content_list(t);

    json_t *ctx = json_object(), *out_msgs = json_array();
    json_object_set_new(ctx, "messages", out_msgs);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m)) {
            json_decref(ctx);
            return fail(err, "each message must be a JSON object");
        }
        json_t *om = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(m, k, v) {
            if (strcmp(k, "content") == 0) {
                json_t *mc = map_content(v, as_list);
                if (!mc) {
                    json_decref(om);
                    json_decref(ctx);
                    return SMG_ENOMEM;
                }
                json_object_set_new(om, k, mc);
            } else if (strcmp(k, "tool_calls") == 0) {
                json_object_set_new(om, k, map_tool_calls(v));
            } else {
                json_object_set(om, k, v);
            }
        }
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_object_get(om, "content") && role && strcmp(role, "assistant") == 0)
            json_object_set_new(om, "content", json_null());
        json_array_append_new(out_msgs, om);
    }
    if (tools && !json_is_null(tools))
        json_object_set(ctx, "tools", (json_t *)tools);
    const json_t *docs = json_object_get(req, "documents");
    if (docs && !json_is_null(docs))
        json_object_set(ctx, "documents", (json_t *)docs);
    const json_t *agp = json_object_get(req, "add_generation_prompt");
    bool gen = (flags & SMG_CHAT_ADD_GENERATION_PROMPT) || json_is_true(agp);
    json_object_set_new(ctx, "add_generation_prompt", json_boolean(gen));
    for (size_t s = 0; s < NSPECIAL; s++)
        if (ct->special[s])
            json_object_set_new(ctx, SPECIAL_NAMES[s], json_string(ct->special[s]));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)req, k, v) {
        if (is_reserved(k))
            continue;
        if ((flags & SMG_CHAT_EXTRA_KEYS) || strcmp(k, "reasoning_effort") == 0 ||
            strcmp(k, "tool_choice") == 0 || strcmp(k, "response_format") == 0)
            json_object_set(ctx, k, v);
    }
    const json_t *kw = json_object_get(req, "chat_template_kwargs");
    if (json_is_object(kw))
        json_object_update(ctx, (json_t *)kw);
    else if (kw && !json_is_null(kw)) {
        json_decref(ctx);
        return fail(err, "'chat_template_kwargs' must be an object");
    }
    *ctx_out = ctx;
    return SMG_OK;
}

int smg_chat_template_render(const smg_chat_template_t *ct, const json_t *req, unsigned flags,
                             const smg_jinja_limits_t *lim, smg_buf_t *out,
                             smg_jinja_err_t *err) {
    json_t *ctx;
    int rc = smg_chat_template_context(ct, req, flags, &ctx, err);
    if (rc)
        return rc;
    const json_t *tools = json_object_get(req, "tools");
    bool has_tools = json_is_array(tools) && json_array_size(tools) > 0;
    rc = smg_jinja_render(smg_chat_template_pick(ct, has_tools), ctx, lim, out, err);
    json_decref(ctx);
    return rc;
}
