/* libFuzzer: bytes -> template parse -> render with a fixed chat context.
 * Must never crash, leak or hang: parse errors and render errors are fine,
 * and the limits below keep every render small and short. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "token/jinja.h"

static json_t *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx) {
        const char *j =
            "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"},"
            "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"hi\"}]},"
            "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\","
            "\"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1}}}]},"
            "{\"role\": \"tool\", \"content\": \"42\"}],"
            "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}],"
            "\"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";
        ctx = json_loads(j, 0, NULL);
    }
    smg_jinja_tmpl_t *t;
    if (smg_jinja_parse((const char *)data, size, &t, NULL) != SMG_OK)
        return 0;
    smg_jinja_limits_t lim;
    smg_jinja_limits_default(&lim);
    lim.max_output = 1 << 20;
    lim.max_iterations = 20000;
    lim.max_memory = 32u << 20;
    lim.now = 1700000000;
    smg_buf_t out;
    smg_buf_init(&out, 0);
    (void)smg_jinja_render(t, ctx, &lim, &out, NULL);
    smg_buf_free(&out);
    smg_jinja_free(t);
    return 0;
}
