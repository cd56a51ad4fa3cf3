/* Differential fuzz of the hot-path JSON scanner against jansson: both must
 * agree on validity (except where jansson refuses numbers it cannot store,
 * which are valid JSON), and the scanner must never read out of bounds. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "api/json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const want[] = {"model", "stream", "messages"};
    smg_json_field_t f[3];
    smg_json_scan_info_t info;
    int rc = smg_json_scan_top(smg_str((const char *)data, size), want, 3, f, &info);
    json_error_t err;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (rc == SMG_OK) {
        for (int i = 0; i < 3; i++) {
            if (f[i].type == SMG_JSON_STRING) {
                smg_buf_t b;
                smg_buf_init(&b, 0);
                if (smg_json_unescape(f[i].raw, &b) != SMG_OK)
                    __builtin_trap();
                if (j && json_is_object(j)) {
                    json_t *v = json_object_get(j, want[i]);
                    if (!json_is_string(v) || json_string_length(v) != b.len ||
                        memcmp(json_string_value(v), smg_buf_str(&b).ptr, b.len) != 0)
                        __builtin_trap();
                }
                smg_buf_free(&b);
            }
        }
        /* jansson also refuses "\u0000" inside an object key (valid JSON) */
        if (!j && !strstr(err.text, "too big") && !strstr(err.text, "overflow") &&
            !strstr(err.text, "depth") && !strstr(err.text, "NUL byte in object key"))
            __builtin_trap();
    } else if (j) {
        /* scanner rejected what jansson accepted: only the nesting cap may differ,
         * and jansson stops at a NUL byte after the value (its lexer treats NUL as
         * the end of input); bodies with trailing NULs are invalid JSON. */
        if (strcmp(info.error, "nesting too deep") != 0 && !memchr(data, 0, size))
            __builtin_trap();
    }
    json_decref(j);
    return 0;
}
