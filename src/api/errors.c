#include "api/errors.h"

const char *smg_api_error_type(smg_api_flavor_t flavor, int status) {
    if (flavor == SMG_API_ANTHROPIC) {
        switch (status) {
        case 400: case 405: case 415: case 422: return "invalid_request_error";
        case 401: return "authentication_error";
        case 403: return "permission_error";
        case 404: return "not_found_error";
        case 413: return "request_too_large";
        case 429: return "rate_limit_error";
        case 503: case 529: return "overloaded_error";
        case 504: return "timeout_error";
        default: return status >= 500 ? "api_error" : "invalid_request_error";
        }
    }
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "invalid_request_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static int append_str_or_null(smg_buf_t *out, const char *s) {
    return s ? smg_buf_append_json_string(out, smg_str_c(s)) : smg_buf_append_c(out, "null");
}

int smg_api_error_body(smg_buf_t *out, smg_api_flavor_t flavor, int status, const char *code,
                       const char *param, const char *message) {
    const char *type = smg_api_error_type(flavor, status);
    int rc;
    if (flavor == SMG_API_ANTHROPIC) {
        rc = smg_buf_appendf(out, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":", type);
        rc = rc ? rc : append_str_or_null(out, message ? message : "");
        return rc ? rc : smg_buf_append_c(out, "}}");
    }
    rc = smg_buf_append_c(out, "{\"error\":{\"message\":");
    rc = rc ? rc : append_str_or_null(out, message ? message : "");
    rc = rc ? rc : smg_buf_appendf(out, ",\"type\":\"%s\",\"param\":", type);
    rc = rc ? rc : append_str_or_null(out, param);
    rc = rc ? rc : smg_buf_append_c(out, ",\"code\":");
    rc = rc ? rc : append_str_or_null(out, code);
    return rc ? rc : smg_buf_append_c(out, "}}");
}
