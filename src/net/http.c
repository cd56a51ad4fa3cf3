#include "net/http.h"

smg_str_t smg_http_header_get(const smg_http_header_t *h, size_t n, smg_str_t name) {
    for (size_t i = 0; i < n; i++)
        if (smg_str_eq_nocase(h[i].name, name))
            return h[i].value;
    return SMG_STR_NULL;
}

const char *smg_http_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 424: return "Failed Dependency";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

bool smg_http_is_hop_by_hop(smg_str_t name) {
    static const smg_str_t hop[] = {
        SMG_STR("connection"), SMG_STR("keep-alive"), SMG_STR("proxy-connection"),
        SMG_STR("te"),         SMG_STR("trailer"),    SMG_STR("transfer-encoding"),
        SMG_STR("upgrade"),    SMG_STR("content-length"),
    };
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (smg_str_eq_nocase(name, hop[i]))
            return true;
    return false;
}
