/* libFuzzer target: arbitrary bytes through the HTTP/1.1 request parser of
 * the server (http_server_parse.c), without sockets. The first byte picks
 * the read size the bytes arrive in; requests that parse are checked (views
 * inside the read buffer, limits honoured) and released as if answered. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_server_int.h"

static void noop_handler(smg_http_req_t *req, void *ctx) {
    (void)req;
    (void)ctx;
}

static smg_http_server_t *server(void) {
    static smg_http_server_t *srv;
    if (!srv) {
        smg_http_server_config_t cfg;
        smg_http_server_config_default(&cfg);
        cfg.max_header_bytes = 2048;
        cfg.max_headers = 16;
        cfg.max_body_bytes = 4096;
        srv = smg_http_server_new(&cfg, noop_handler, NULL);
        if (!srv)
            abort();
    }
    return srv;
}

static void check_view(const smg__http_conn_t *c, smg_str_t s) {
    if (s.len == 0)
        return;
    if (s.ptr < c->rbuf || s.ptr + s.len > c->rbuf + c->rpos)
        abort(); /* a view escaped the parsed bytes */
}

static void check_request(const smg__http_conn_t *c) {
    const smg_http_req_t *r = &c->req;
    const smg_http_server_config_t *cfg = &c->srv->cfg;
    if (r->nheaders > cfg->max_headers || r->body.len > cfg->max_body_bytes)
        abort();
    check_view(c, r->url);
    if (r->path.ptr != NULL && r->path.len && !(r->path.len == 1 && r->path.ptr[0] == '/'))
        check_view(c, r->path);
    check_view(c, r->query);
    for (size_t i = 0; i < r->nheaders; i++) {
        check_view(c, r->headers[i].name);
        check_view(c, r->headers[i].value);
        if (r->headers[i].name.len == 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    smg_http_server_t *srv = server();
    size_t step = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    smg__http_conn_t *c = calloc(1, sizeof *c);
    smg__http_conn_parse_init(c, srv);
    smg__http_conn_set_rbuf(c, malloc(srv->rblock));
    size_t off = 0;
    int requests = 0;
    while (off < size || c->rpos < c->rlen) {
        size_t room = srv->rcap - c->rlen;
        size_t n = size - off < step ? size - off : step;
        if (n > room)
            n = room;
        memcpy(c->rbuf + c->rlen, data + off, n);
        c->rlen += n;
        off += n;
        smg__parse_result_t r = smg__http_parse(c);
        if (r == SMG__PARSE_ERROR) {
            if (c->err_status < 400 || c->err_status > 599 || !c->err_msg)
                abort();
            break;
        }
        if (r == SMG__PARSE_REQUEST) {
            check_request(c);
            requests++;
            if (!c->req.keep_alive)
                break;
            smg__http_next_request(c);
            continue;
        }
        if (c->rlen == srv->rcap)
            abort(); /* the buffer filled without a verdict: limits are wrong */
        if (off >= size)
            break;
    }
    (void)requests;
    smg__http_conn_parse_free(c);
    free(c->rbuf);
    free(c);
    return 0;
}
