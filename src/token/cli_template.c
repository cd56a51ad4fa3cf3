/* `smg chat-template`: render a model's chat template for requests on stdin.
 *
 *   smg chat-template --tokenizer DIR [--template FILE] [--add-generation-prompt]
 *                     [--jsonl] [--print-context]
 *
 * stdin: a JSON object {"messages": [...], "tools"?: [...],
 * "add_generation_prompt"?: bool, other keys = template variables}.
 * stdout: the rendered prompt, raw (no newline added). --jsonl: one object
 * per input line, one JSON string (or {"error": "..."}) per output line.
 * --print-context prints the mapped template variables instead of rendering
 * (the tests hand them to the reference implementation). --template FILE
 * renders that template source instead of the tokenizer_config one.
 * --bench N (with --jsonl) renders each request N times and prints
 * {"ns": mean nanoseconds per request (mapping + render)} per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/time.h"
#include "token/chat_template.h"
#include "token/cli.h"

#define MAX_INPUT (64u << 20)

static int usage(void) {
    fputs("usage: smg chat-template --tokenizer DIR [--template FILE] [--add-generation-prompt]\n"
          "                         [--jsonl [--bench N]] [--print-context] < request.json\n",
          stderr);
    return 2;
}

static int read_all(FILE *f, smg_buf_t *b) {
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (smg_buf_append(b, tmp, n))
            return -1;
    return ferror(f) ? -1 : 0;
}

static void format_err(char *out, size_t cap, int rc, const smg_jinja_err_t *err) {
    const char *msg = err->msg[0] ? err->msg : smg_status_str(rc);
    if (err->line > 0)
        snprintf(out, cap, "template error at line %d: %s", err->line, msg);
    else
        snprintf(out, cap, "%s", msg);
}

/* One request: 0 ok (result in out), else status with msg filled. */
static int handle(const smg_chat_template_t *ct, const char *p, size_t n, unsigned flags,
                  bool print_ctx, smg_buf_t *out, char *msg, size_t msgcap) {
    json_error_t je;
    json_t *req = json_loadb(p, n, 0, &je);
    if (!req) {
        snprintf(msg, msgcap, "invalid JSON input: %s (line %d)", je.text, je.line);
        return SMG_EPARSE;
    }
    smg_jinja_err_t err;
    int rc;
    if (print_ctx) {
        json_t *ctx;
        rc = smg_chat_template_context(ct, req, flags, &ctx, &err);
        if (!rc) {
            char *s = json_dumps(ctx, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (!s || smg_buf_append_c(out, s))
                rc = SMG_ENOMEM;
            free(s);
            json_decref(ctx);
        }
    } else {
        rc = smg_chat_template_render(ct, req, flags, NULL, out, &err);
    }
    json_decref(req);
    if (rc)
        format_err(msg, msgcap, rc, &err);
    return rc;
}

int smg_cli_chat_template(int argc, char **argv) {
    const char *dir = NULL, *tfile = NULL;
    bool jsonl = false, print_ctx = false;
    unsigned long long bench = 0;
    unsigned flags = SMG_CHAT_EXTRA_KEYS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--template") == 0 && i + 1 < argc)
            tfile = argv[++i];
        else if (strcmp(argv[i], "--add-generation-prompt") == 0)
            flags |= SMG_CHAT_ADD_GENERATION_PROMPT;
        else if (strcmp(argv[i], "--jsonl") == 0)
            jsonl = true;
        else if (strcmp(argv[i], "--print-context") == 0)
            print_ctx = true;
        else if (strcmp(argv[i], "--bench") == 0 && i + 1 < argc &&
                 smg_str_to_u64(smg_str_c(argv[i + 1]), 100000000, &bench) && bench > 0)
            i++;
        else
            return usage();
    }
    if (!dir && !tfile)
        return usage();

    smg_buf_t src;
    smg_buf_init(&src, SMG_JINJA_MAX_SOURCE);
    if (tfile) {
        FILE *f = fopen(tfile, "rb");
        if (!f || read_all(f, &src)) {
            fprintf(stderr, "smg chat-template: cannot read %s\n", tfile);
            if (f)
                fclose(f);
            smg_buf_free(&src);
            return 1;
        }
        fclose(f);
    }
    smg_chat_template_t *ct = NULL;
    smg_jinja_err_t err;
    int rc;
    if (dir) {
        rc = smg_chat_template_load(dir, tfile ? smg_buf_str(&src).ptr : NULL, src.len, &ct, &err);
    } else {
        rc = smg_chat_template_from_config(NULL, smg_buf_str(&src).ptr, src.len, &ct, &err);
    }
    smg_buf_free(&src);
    if (rc) {
        char msg[320];
        format_err(msg, sizeof msg, rc, &err);
        fprintf(stderr, "smg chat-template: %s\n", msg);
        return 1;
    }

    smg_buf_t in, out;
    smg_buf_init(&in, MAX_INPUT);
    smg_buf_init(&out, 0);
    int status = 0;
    if (read_all(stdin, &in)) {
        fputs("smg chat-template: cannot read stdin (or larger than 64 MiB)\n", stderr);
        status = 1;
        goto done;
    }
    char msg[320];
    if (bench && !jsonl) {
        fputs("smg chat-template: --bench needs --jsonl\n", stderr);
        status = 2;
        goto done;
    }
    if (!jsonl) {
        rc = handle(ct, smg_buf_str(&in).ptr, in.len, flags, print_ctx, &out, msg, sizeof msg);
        if (rc) {
            fprintf(stderr, "smg chat-template: %s\n", msg);
            status = 1;
        } else {
            fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout);
        }
        goto done;
    }
    size_t pos = 0;
    while (pos < in.len) {
        const char *line = in.ptr + pos;
        const char *nl = memchr(line, '\n', in.len - pos);
        size_t n = nl ? (size_t)(nl - line) : in.len - pos;
        pos += n + (nl ? 1 : 0);
        smg_str_t t = smg_str_trim(smg_str(line, n));
        if (!t.len)
            continue;
        smg_buf_reset(&out);
        if (bench) {
            uint64_t t0 = smg_now_ns();
            rc = SMG_OK;
            for (unsigned long long k = 0; k < bench && !rc; k++) {
                smg_buf_reset(&out);
                rc = handle(ct, t.ptr, t.len, flags, false, &out, msg, sizeof msg);
            }
            double ns = (double)(smg_now_ns() - t0) / (double)bench;
            if (rc)
                printf("{\"error\":\"bench render failed\"}\n");
            else
                printf("{\"ns\":%.0f,\"bytes\":%zu}\n", ns, out.len);
            continue;
        }
        rc = handle(ct, t.ptr, t.len, flags, print_ctx, &out, msg, sizeof msg);
        json_t *o;
        if (rc)
            o = json_pack("{s:s}", "error", msg);
        else if (print_ctx)
            o = json_loadb(out.ptr, out.len, 0, NULL);
        else
            o = json_stringn(out.ptr ? out.ptr : "", out.len);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (!s) {
            fputs("{\"error\":\"output is not valid UTF-8 or out of memory\"}\n", stdout);
            continue;
        }
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
done:
    fflush(stdout);
    smg_buf_free(&in);
    smg_buf_free(&out);
    smg_chat_template_free(ct);
    return status;
}
