/* Chat templates: load a model's template and special tokens from
 * tokenizer_config.json, map an OpenAI chat request to template variables
 * the way the reference gateway does, and render the prompt.
 *
 * A loaded smg_chat_template_t is immutable and may be shared by threads.
 * docs/chat-templates.md describes the mapping rules. */
#ifndef SMG_TOKEN_CHAT_TEMPLATE_H
#define SMG_TOKEN_CHAT_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/buf.h"
#include "core/status.h"
#include "token/jinja.h"

typedef struct smg_chat_template_s smg_chat_template_t;

/* Load from a parsed tokenizer_config.json. `chat_template` is a string, or a
 * list of {"name", "template"} where "default" is used, and "tool_use" when
 * the request has tools. bos/eos/unk/pad tokens may be strings or
 * {"content": ...} objects. `override_src` (may be NULL) replaces the
 * config's template. Returns SMG_OK; SMG_ENOTFOUND when the config has no
 * template (and no override); SMG_EPARSE with err set when a template does
 * not parse; SMG_EINVAL for a malformed chat_template field. */
SMG_MUST_CHECK int smg_chat_template_from_config(const json_t *config, const char *override_src,
                                                 size_t override_len, smg_chat_template_t **out,
                                                 smg_jinja_err_t *err);

/* Read DIR/tokenizer_config.json and call smg_chat_template_from_config. */
SMG_MUST_CHECK int smg_chat_template_load(const char *dir, const char *override_src,
                                          size_t override_len, smg_chat_template_t **out,
                                          smg_jinja_err_t *err);
void smg_chat_template_free(smg_chat_template_t *ct);

enum {
    /* Every top-level request key other than messages/tools/documents/
     * add_generation_prompt/chat_template_kwargs becomes a template variable
     * (the CLI input format). Without it only reasoning_effort, tool_choice
     * and response_format are forwarded, as the reference gateway does. */
    SMG_CHAT_EXTRA_KEYS = 1 << 0,
    /* Force add_generation_prompt=true. */
    SMG_CHAT_ADD_GENERATION_PROMPT = 1 << 1,
};

/* Build the template variables for `request` (an OpenAI chat request
 * object). On success *ctx_out is a new reference the caller releases with
 * json_decref. Fails with SMG_EINVAL (message in err) on a malformed request:
 * messages missing or not a list, a message that is not an object. */
SMG_MUST_CHECK int smg_chat_template_context(const smg_chat_template_t *ct, const json_t *request,
                                             unsigned flags, json_t **ctx_out,
                                             smg_jinja_err_t *err);

/* Build the context and render it (appending to out). Errors as
 * smg_chat_template_context and smg_jinja_render; a template error (status
 * SMG_EINVAL/SMG_ELIMIT/SMG_ETOOBIG with err->line) is a 400 for the request. */
SMG_MUST_CHECK int smg_chat_template_render(const smg_chat_template_t *ct, const json_t *request,
                                            unsigned flags, const smg_jinja_limits_t *lim,
                                            smg_buf_t *out, smg_jinja_err_t *err);

/* The template the request would use (tool_use when tools are given and the
 * config names one), for callers that render a prepared context. */
const smg_jinja_tmpl_t *smg_chat_template_pick(const smg_chat_template_t *ct, bool has_tools);

/* Special token text from the config ("bos_token", ...), or NULL. */
const char *smg_chat_template_special(const smg_chat_template_t *ct, const char *name);

#endif
