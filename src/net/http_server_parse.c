/* Request parsing for the HTTP/1.1 server: http-parser callbacks that record
 * views into the connection's read buffer, the limits (head size, header
 * count, body size), smuggling guards and the split of the target into path
 * and query. No sockets here, so the fuzzer drives it directly. */
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "net/http_server_int.h"

enum { LAST_NONE = 0, LAST_FIELD = 1, LAST_VALUE = 2 };

static int fail(smg__http_conn_t *c, int status, const char *msg) {
    if (!c->err_status) {
        c->err_status = status;
        c->err_msg = msg;
    }
    return -1;
}

static void finish_header(smg__http_conn_t *c) {
    if (c->nhdrs)
        c->hdrs[c->nhdrs - 1].value = smg_str_trim(c->hdrs[c->nhdrs - 1].value);
}

static int on_url(http_parser *p, const char *at, size_t len) {
    smg__http_conn_t *c = p->data;
    if (!c->req.url.ptr)
        c->req.url = smg_str(at, len);
    else /* the same target continued in a later read: contiguous bytes */
        c->req.url.len = (size_t)(at + len - c->req.url.ptr);
    return 0;
}

/* RFC 9110 §5.6.2 tchar. http-parser lets spaces through in field names. */
static bool is_token(const char *p, size_t n) {
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  (ch && memchr(extra, ch, sizeof extra - 1));
        if (!ok)
            return false;
    }
    return true;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
    smg__http_conn_t *c = p->data;
    if (c->head_done)
        return 0; /* trailers of a chunked body: ignored */
    if (!is_token(at, len))
        return fail(c, 400, "invalid character in a request header name");
    if (c->last_cb == LAST_FIELD) {
        smg_http_header_t *h = &c->hdrs[c->nhdrs - 1];
        h->name.len = (size_t)(at + len - h->name.ptr);
        return 0;
    }
    finish_header(c);
    if (c->nhdrs >= c->srv->cfg.max_headers)
        return fail(c, 431, "too many request headers");
    c->hdrs[c->nhdrs++] = (smg_http_header_t){smg_str(at, len), SMG_STR("")};
    c->last_cb = LAST_FIELD;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    smg__http_conn_t *c = p->data;
    if (c->head_done)
        return 0;
    smg_http_header_t *h = &c->hdrs[c->nhdrs - 1];
    if (memchr(at, '\n', len) || memchr(at, '\r', len))
        return fail(c, 400, "obsolete line folding in a request header");
    if (c->last_cb == LAST_VALUE) {
        /* A continuation that does not follow the previous bytes is an
         * obsolete line fold (RFC 9112 §5.2): rejected. */
        if (at != h->value.ptr + h->value.len)
            return fail(c, 400, "obsolete line folding in a request header");
        h->value.len += len;
        return 0;
    }
    h->value = smg_str(at, len);
    c->last_cb = LAST_VALUE;
    return 0;
}

static void split_target(smg_http_req_t *r) {
    smg_str_t u = r->url;
    size_t start = 0;
    if (u.len && u.ptr[0] != '/' && u.ptr[0] != '*') {
        /* absolute-form: skip "scheme://authority" */
        size_t k = smg_str_find(u, SMG_STR("://"));
        if (k != (size_t)-1) {
            start = k + 3;
            while (start < u.len && u.ptr[start] != '/' && u.ptr[start] != '?' &&
                   u.ptr[start] != '#')
                start++;
        }
    }
    size_t q = start;
    while (q < u.len && u.ptr[q] != '?' && u.ptr[q] != '#')
        q++;
    r->path = start < q ? smg_str(u.ptr + start, q - start) : SMG_STR("/");
    r->query = smg_str(u.ptr + q, 0);
    if (q < u.len && u.ptr[q] == '?') {
        size_t e = q + 1;
        while (e < u.len && u.ptr[e] != '#')
            e++;
        r->query = smg_str(u.ptr + q + 1, e - q - 1);
    }
}

static int on_headers_complete(http_parser *p) {
    smg__http_conn_t *c = p->data;
    smg_http_req_t *r = &c->req;
    const smg_http_server_config_t *cfg = &c->srv->cfg;
    finish_header(c);
    c->head_done = true;
    r->headers = c->hdrs;
    r->nheaders = c->nhdrs;
    r->method_id = (int)p->method;
    r->method = smg_str_c(http_method_str((enum http_method)p->method));
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    r->keep_alive = http_should_keep_alive(p) != 0;
    if (!r->url.ptr)
        r->url = SMG_STR("/");
    split_target(r);

    smg_str_t expect = SMG_STR_NULL;
    int n_te = 0;
    for (size_t i = 0; i < c->nhdrs; i++) {
        smg_str_t n = c->hdrs[i].name;
        if (smg_str_eq_nocase(n, SMG_STR("transfer-encoding"))) {
            n_te++;
            if (!smg_str_eq_nocase(c->hdrs[i].value, SMG_STR("chunked")))
                n_te += 100;
        } else if (n.len == 6 && smg_str_eq_nocase(n, SMG_STR("expect"))) {
            expect = c->hdrs[i].value;
        }
    }
    if (n_te && (p->flags & F_CONTENTLENGTH))
        return fail(c, 400, "request has both Content-Length and Transfer-Encoding");
    if (n_te > 1)
        return fail(c, 501, "unsupported Transfer-Encoding (only chunked is implemented)");
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > cfg->max_body_bytes)
        return fail(c, 413, "request body exceeds the maximum payload size");
    bool has_body = n_te || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
    if (expect.ptr) {
        if (!smg_str_eq_nocase(expect, SMG_STR("100-continue")))
            return fail(c, 417, "unsupported Expect header");
        if (has_body && (r->http_major > 1 || (r->http_major == 1 && r->http_minor >= 1)))
            c->expect_continue = true;
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > 0) {
        /* Reserve what was declared, but at most 1 MiB before bytes arrive:
         * a declared size costs nothing until it is sent. */
        size_t want = p->content_length < (1u << 20) ? (size_t)p->content_length : (1u << 20);
        if (!r->body.ptr && want < SMG__HTTP_BODY_BLOCK && r->body.max >= want) {
            /* the common small body: a recycled block, no allocation */
            char *blk = smg__http_body_block_get(c);
            if (!blk)
                return fail(c, 503, "out of memory for the request body");
            blk[0] = '\0';
            r->body.ptr = blk;
            r->body.cap = SMG__HTTP_BODY_BLOCK;
            r->body.len = 0;
        }
        if (smg_buf_reserve(&r->body, want) != SMG_OK)
            return fail(c, 503, "out of memory for the request body");
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    smg__http_conn_t *c = p->data;
    int rc = smg_buf_append(&c->req.body, at, len);
    if (rc == SMG_ETOOBIG)
        return fail(c, 413, "request body exceeds the maximum payload size");
    if (rc != SMG_OK)
        return fail(c, 503, "out of memory for the request body");
    return 0;
}

static int on_message_complete(http_parser *p) {
    smg__http_conn_t *c = p->data;
    c->msg_done = true;
    http_parser_pause(p, 1); /* one request at a time: resume after release */
    return 0;
}

void smg__http_settings_init(http_parser_settings *s) {
    http_parser_settings_init(s);
    s->on_url = on_url;
    s->on_header_field = on_header_field;
    s->on_header_value = on_header_value;
    s->on_headers_complete = on_headers_complete;
    s->on_body = on_body;
    s->on_message_complete = on_message_complete;
}

static void reset_request(smg__http_conn_t *c) {
    smg_http_req_t *r = &c->req;
    smg_buf_t body = r->body;
    void *peer = (void *)r->peer;
    int peer_port = r->peer_port;
    smg_loop_t *loop = r->loop;
    if (body.cap > SMG__HTTP_BODY_KEEP || body.max != c->srv->cfg.max_body_bytes)
        smg_buf_free(&body);
    smg_buf_reset(&body);
    body.max = c->srv->cfg.max_body_bytes;
    memset(r, 0, sizeof *r);
    r->body = body;
    r->peer = peer;
    r->peer_port = peer_port;
    r->loop = loop;
    r->conn = c;
    r->method = SMG_STR("");
    r->url = SMG_STR_NULL;
    c->nhdrs = 0;
    c->last_cb = LAST_NONE;
    c->head_done = c->msg_done = c->expect_continue = c->continue_sent = false;
    c->err_status = 0;
    c->err_msg = NULL;
    c->body_base = 0;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
}

void smg__http_conn_parse_init(smg__http_conn_t *c, smg_http_server_t *srv) {
    c->srv = srv;
    c->hdrs = NULL;
    smg_buf_init(&c->req.body, srv->cfg.max_body_bytes);
    c->req.peer = c->peer;
    c->peer[0] = '\0';
    reset_request(c);
}

void smg__http_conn_parse_free(smg__http_conn_t *c) {
    smg_buf_free(&c->req.body);
}

void smg__http_next_request(smg__http_conn_t *c) {
    size_t left = c->rlen - c->rpos;
    if (left && c->rpos)
        memmove(c->rbuf, c->rbuf + c->rpos, left);
    c->rlen = left;
    c->rpos = 0;
    reset_request(c);
}

static smg__parse_result_t map_error(smg__http_conn_t *c, enum http_errno e) {
    switch (e) {
    case HPE_HEADER_OVERFLOW:
        fail(c, 431, "request head too large");
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        fail(c, 400, "request has both Content-Length and Transfer-Encoding, or several "
                     "Content-Length headers");
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        fail(c, 501, "unsupported Transfer-Encoding (only chunked is implemented)");
        break;
    case HPE_INVALID_CONTENT_LENGTH:
        fail(c, 400, "invalid Content-Length");
        break;
    case HPE_INVALID_CHUNK_SIZE:
        fail(c, 400, "invalid chunk size in the request body");
        break;
    case HPE_INVALID_VERSION:
        fail(c, 400, "invalid HTTP version");
        break;
    case HPE_INVALID_METHOD:
        fail(c, 400, "invalid HTTP method");
        break;
    case HPE_INVALID_URL:
        fail(c, 400, "invalid request target");
        break;
    default:
        fail(c, 400, "malformed HTTP request");
        break;
    }
    return SMG__PARSE_ERROR;
}

smg__parse_result_t smg__http_parse(smg__http_conn_t *c) {
    const size_t max_head = c->srv->cfg.max_header_bytes;
    for (;;) {
        if (c->err_status)
            return SMG__PARSE_ERROR;
        if (c->msg_done)
            return SMG__PARSE_REQUEST;
        size_t n = c->rlen - c->rpos;
        if (n == 0)
            break;
        bool head_was_done = c->head_done;
        /* Feed the head no further than the limit, so the limit is exact
         * whatever the read sizes were: a head not complete after
         * max_head bytes is too large. */
        if (!head_was_done && n > max_head - c->rpos)
            n = max_head - c->rpos;
        size_t used = http_parser_execute(&c->parser, &c->srv->settings, c->rbuf + c->rpos, n);
        c->rpos += used;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (c->msg_done) {
            if (c->parser.upgrade) /* Upgrade/CONNECT unsupported: answer, then close */
                c->req.keep_alive = false;
            return SMG__PARSE_REQUEST;
        }
        if (c->err_status)
            return SMG__PARSE_ERROR;
        if (e != HPE_OK)
            return map_error(c, e);
        if (!c->head_done) {
            if (c->rpos >= max_head) {
                fail(c, 431, "request head too large");
                return SMG__PARSE_ERROR;
            }
        } else if (!head_was_done) {
            /* Head complete: body bytes parsed after it were copied out, so
             * the space from here on can be reused for more of the body. */
            c->body_base = c->rpos;
        }
        if (used < n) /* cannot happen without an error; be safe */
            return map_error(c, HPE_UNKNOWN);
    }
    if (c->head_done)
        c->rlen = c->rpos = c->body_base;
    return SMG__PARSE_MORE;
}
