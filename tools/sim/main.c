/* smg-sim entry point: flags, loop threads, signals. See docs/sim.md. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/http_server.h"
#include "net/loop.h"
#include "sim.h"

#define SIM_MAX_THREADS 64

static void usage(FILE *f) {
    fputs("usage: smg-sim --model NAME [--host H] [--port P] [knobs]\n"
          "  --host H              listen address (default 127.0.0.1)\n"
          "  --port P              listen port, 0 = any free port (default 30000)\n"
          "  --model NAME          served model id (default sim-model)\n"
          "  --threads N           loop threads (default 1)\n"
          "  --ttft-ms MS          delay before the first token\n"
          "  --itl-ms MS           delay between stream chunks\n"
          "  --fail-rate R         fraction 0..1 of inference requests that fail\n"
          "  --fail-status CODE    status of those failures (default 500)\n"
          "  --hang                accept inference requests and never answer\n"
          "  --die-after N         exit(3) after N completed inference requests\n"
          "  --health-status CODE  status of GET /health (default 200)\n"
          "  --response-bytes N    pad non-stream chat bodies to about N bytes\n"
          "  --embedding-dim N     embedding vector size (default 8)\n"
          "  --max-payload-size N  request body cap in bytes (default 512 MiB)\n"
          "  --log-level L         error|warn|info|debug|trace (default warn)\n",
          f);
}

static bool parse_num(const char *s, double *out) {
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static smg_loop_t loops[SIM_MAX_THREADS];
static int nloops = 1;
static uv_signal_t sigs[2];

static void on_signal(uv_signal_t *h, int signum) {
    (void)signum;
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&sigs[i], NULL);
    for (int i = 0; i < nloops; i++)
        smg_loop_stop(&loops[i]);
    (void)h;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *model = "sim-model";
    double port = 30000, threads = 1, max_payload = 512.0 * 1024 * 1024;
    struct {
        const char *name;
        double value;
    } knobs[16];
    int nk = 0;
    smg_log_configure(SMG_LOG_WARN, false);
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *arg = argv[i], *val = NULL;
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "smg-sim: unexpected argument '%s'\n", arg);
            usage(stderr);
            return 2;
        }
        const char *eq = strchr(arg, '=');
        size_t nl = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (nl >= sizeof name) {
            fprintf(stderr, "smg-sim: unknown flag '%s'\n", arg);
            return 2;
        }
        memcpy(name, arg + 2, nl);
        name[nl] = 0;
        if (strcmp(name, "help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(name, "hang") == 0 && !eq) {
            knobs[nk].name = "hang";
            knobs[nk++].value = 1;
            continue;
        }
        val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "smg-sim: --%s needs a value\n", name);
            return 2;
        }
        double d;
        if (strcmp(name, "host") == 0) {
            host = val;
        } else if (strcmp(name, "model") == 0 || strcmp(name, "model-id") == 0) {
            model = val;
        } else if (strcmp(name, "log-level") == 0) {
            int lvl = smg_log_level_parse(smg_str_c(val));
            if (lvl < 0) {
                fprintf(stderr, "smg-sim: bad --log-level '%s'\n", val);
                return 2;
            }
            smg_log_configure(lvl, false);
        } else if (!parse_num(val, &d)) {
            fprintf(stderr, "smg-sim: --%s: '%s' is not a number\n", name, val);
            return 2;
        } else if (strcmp(name, "port") == 0) {
            if (d < 0 || d > 65535 || d != (int)d) {
                fprintf(stderr, "smg-sim: --port must be 0..65535\n");
                return 2;
            }
            port = d;
        } else if (strcmp(name, "threads") == 0) {
            if (d < 1 || d > SIM_MAX_THREADS || d != (int)d) {
                fprintf(stderr, "smg-sim: --threads must be 1..%d\n", SIM_MAX_THREADS);
                return 2;
            }
            threads = d;
        } else if (strcmp(name, "max-payload-size") == 0) {
            if (d < 1) {
                fprintf(stderr, "smg-sim: --max-payload-size must be positive\n");
                return 2;
            }
            max_payload = d;
        } else if (nk < 16) {
            static char names[16][64];
            memcpy(names[nk], name, nl + 1);
            knobs[nk].name = names[nk];
            knobs[nk++].value = d;
        } else {
            fprintf(stderr, "smg-sim: too many flags\n");
            return 2;
        }
    }
    static sim_t sim;
    sim_init(&sim, model);
    for (int k = 0; k < nk; k++) {
        if (!sim_set_knob(&sim, knobs[k].name, knobs[k].value)) {
            fprintf(stderr, "smg-sim: unknown flag or value out of range: --%s\n", knobs[k].name);
            return 2;
        }
    }
    smg_http_server_config_t cfg;
    smg_http_server_config_default(&cfg);
    cfg.host = host;
    cfg.port = (int)port;
    cfg.max_body_bytes = (uint64_t)max_payload;
    sim.write_high_watermark = cfg.write_high_watermark;
    smg_http_server_t *srv = smg_http_server_new(&cfg, sim_handle, &sim);
    if (!srv)
        return 1;
    nloops = (int)threads;
    for (int i = 0; i < nloops; i++) {
        if (smg_loop_init(&loops[i], i) != SMG_OK || smg_http_server_listen(srv, &loops[i]) != SMG_OK)
            return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < 2; i++) {
        uv_signal_init(smg_loop_uv(&loops[0]), &sigs[i]);
        uv_signal_start(&sigs[i], on_signal, i == 0 ? SIGTERM : SIGINT);
    }
    printf("smg-sim listening on %s:%d\n", host, smg_http_server_port(srv));
    fflush(stdout);
    for (int i = 1; i < nloops; i++)
        if (smg_loop_start_thread(&loops[i]) != SMG_OK)
            return 1;
    smg_loop_run_here(&loops[0]);
    for (int i = 1; i < nloops; i++)
        smg_loop_join(&loops[i]);
    smg_http_server_free(srv);
    sim_free(&sim);
    return 0;
}
