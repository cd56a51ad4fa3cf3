/* smg's option table. One entry per option; everything else (flags, YAML keys, --help, the
 * Markdown reference, dumps) is derived from it by core/config.c. */
#include "gateway/options.h"

#include "fleet/worker.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/log.h"

_Static_assert(SMG_LOG_ERROR == 0 && SMG_LOG_TRACE == 4,
               "--log-level choices are indexed like smg_log_level_t");

#define F(field) offsetof(smg_config_t, field)
#define DAY 86400

static const smg_opt_t options[] = {
    /* ---- Server ---- */
    {.name = "host", .type = SMG_OPT_STRING, .offset = F(host), .def = "0.0.0.0",
     .metavar = "ADDR", .section = "Server",
     .help = "Address the OpenAI-compatible API listens on."},
    {.name = "port", .type = SMG_OPT_INT, .offset = F(port), .def = "30000", .min = 0,
     .max = 65535, .metavar = "PORT", .section = "Server",
     .help = "Port the API listens on (0: any free port, printed at start-up)."},
    {.name = "threads", .type = SMG_OPT_INT, .offset = F(threads), .def = "0", .min = 0,
     .max = 64, .metavar = "N", .section = "Server",
     .help = "Data-plane threads, each with its own event loop and listener (0: one per CPU "
             "core). Ours; the reference sizes its runtime with --runtime-worker-threads."},
    {.name = "request-id-headers", .type = SMG_OPT_STRLIST, .offset = F(request_id_headers),
     .def = "x-request-id x-correlation-id x-trace-id request-id", .metavar = "HEADER...",
     .section = "Server",
     .help = "Request headers that carry the request id, first match wins; without one the "
             "gateway generates an id. The id is echoed as x-request-id."},
    {.name = "shutdown-grace-period-secs", .type = SMG_OPT_INT,
     .offset = F(shutdown_grace_period_secs), .def = "180", .min = 0, .max = DAY,
     .metavar = "SECS", .section = "Server",
     .help = "On SIGTERM, how long in-flight requests may run before the process exits."},

    /* ---- Workers ---- */
    {.name = "worker-urls", .type = SMG_OPT_STRLIST, .offset = F(worker_urls),
     .metavar = "URL...", .section = "Workers",
     .help = "Inference engines to route to, as http://host[:port][/base] (https:// and "
             "grpc:// engines come later). Takes every following argument up to the next flag."},

    /* ---- Routing ---- */
    {.name = "policy", .type = SMG_OPT_ENUM, .offset = F(policy), .def = "round_robin",
     .choices = "random|round_robin|power_of_two", .metavar = "POLICY", .section = "Routing",
     .help = "Load-balancing policy. The reference defaults to cache_aware; cache_aware, "
             "least_load, consistent_hashing, prefix_hash, manual and bucket come later, so the "
             "default is round_robin for now."},
    {.name = "retry-max-retries", .type = SMG_OPT_INT, .offset = F(retry_max_retries),
     .def = "1", .min = 0, .max = 16, .metavar = "N", .section = "Routing",
     .help = "Retries on another worker after a failed attempt (connect error, 408, 429, 5xx), "
             "only while no byte has reached the client. Unlike the reference, which counts the "
             "first attempt, this counts retries only."},
    {.name = "disable-retries", .type = SMG_OPT_BOOL, .offset = F(disable_retries),
     .section = "Routing", .help = "Never retry a request."},

    /* ---- Health ---- */
    {.name = "health-check-interval-secs", .type = SMG_OPT_INT,
     .offset = F(health_check_interval_secs), .def = "60", .min = 1, .max = DAY,
     .metavar = "SECS", .section = "Health", .help = "Time between two probes of a worker."},
    {.name = "health-check-timeout-secs", .type = SMG_OPT_INT,
     .offset = F(health_check_timeout_secs), .def = "5", .min = 1, .max = 3600,
     .metavar = "SECS", .section = "Health", .help = "Time a probe may take before it fails."},
    {.name = "health-failure-threshold", .type = SMG_OPT_INT,
     .offset = F(health_failure_threshold), .def = "3", .min = 1, .max = 1000, .metavar = "N",
     .section = "Health", .help = "Consecutive failed probes that mark a worker unhealthy."},
    {.name = "health-success-threshold", .type = SMG_OPT_INT,
     .offset = F(health_success_threshold), .def = "2", .min = 1, .max = 1000, .metavar = "N",
     .section = "Health", .help = "Consecutive good probes that mark a worker healthy again."},
    {.name = "health-check-endpoint", .type = SMG_OPT_STRING, .offset = F(health_check_endpoint),
     .def = "/health", .metavar = "PATH", .section = "Health",
     .help = "Path probed with GET on each HTTP worker; any 2xx is healthy."},
    {.name = "disable-health-check", .type = SMG_OPT_BOOL, .offset = F(disable_health_check),
     .section = "Health", .help = "Do not probe workers; every worker counts as healthy."},

    /* ---- Limits ---- */
    {.name = "request-timeout-secs", .type = SMG_OPT_INT, .offset = F(request_timeout_secs),
     .def = "1800", .min = 1, .max = 7 * DAY, .metavar = "SECS", .section = "Limits",
     .help = "Longest time a request may take end to end, streaming included (504 after it)."},
    {.name = "max-payload-size", .type = SMG_OPT_SIZE, .offset = F(max_payload_size),
     .def = "536870912", .min = 1, .max = (int64_t)16 << 30, .metavar = "BYTES",
     .section = "Limits",
     .help = "Largest request body accepted (413 above). Takes a plain number or a K/M/G "
             "(x1024) suffix."},
    {.name = "max-connections", .type = SMG_OPT_INT, .offset = F(max_connections),
     .def = "65536", .min = 1, .max = 10000000, .metavar = "N", .section = "Limits",
     .help = "Client connections open at once, all threads together; more are refused. Ours."},
    {.name = "keep-alive-timeout-secs", .type = SMG_OPT_INT, .offset = F(keep_alive_timeout_secs),
     .def = "60", .min = 0, .max = DAY, .metavar = "SECS", .section = "Limits",
     .help = "How long an idle client connection stays open (0: close after each response). "
             "Ours."},
    {.name = "header-timeout-secs", .type = SMG_OPT_INT, .offset = F(header_timeout_secs),
     .def = "10", .min = 1, .max = 3600, .metavar = "SECS", .section = "Limits",
     .help = "Time a client has to send the request line and headers (408 after it). Ours."},
    {.name = "max-header-size", .type = SMG_OPT_SIZE, .offset = F(max_header_size),
     .def = "65536", .min = 1024, .max = 16 << 20, .metavar = "BYTES", .section = "Limits",
     .help = "Largest request line plus headers (431 above). Ours."},
    {.name = "max-headers", .type = SMG_OPT_INT, .offset = F(max_headers), .def = "100",
     .min = 1, .max = 10000, .metavar = "N", .section = "Limits",
     .help = "Most header fields in one request (431 above). Ours."},

    /* ---- Security ---- */
    {.name = "api-key", .type = SMG_OPT_STRING, .offset = F(api_key), .metavar = "KEY",
     .section = "Security", .flags = SMG_OPTF_SECRET,
     .help = "Bearer key clients must send (Authorization: Bearer KEY); unset: no auth. Also "
             "guards the admin routes when --admin-api-key is unset."},
    {.name = "admin-api-key", .type = SMG_OPT_STRING, .offset = F(admin_api_key),
     .metavar = "KEY", .section = "Security", .flags = SMG_OPTF_SECRET,
     .help = "Bearer key for the admin routes (workers, flush cache...). Ours; the reference uses "
             "control-plane keys or JWT."},

    /* ---- Observability ---- */
    {.name = "log-level", .type = SMG_OPT_ENUM, .offset = F(log_level), .def = "info",
     .choices = "error|warn|info|debug|trace", .metavar = "LEVEL", .section = "Observability",
     .help = "Least severe log level written to stderr."},
    {.name = "log-json", .type = SMG_OPT_BOOL, .offset = F(log_json), .section = "Observability",
     .help = "Write log lines and the access log as JSON objects."},
    {.name = "prometheus-host", .type = SMG_OPT_STRING, .offset = F(prometheus_host),
     .def = "0.0.0.0", .metavar = "ADDR", .section = "Observability",
     .help = "Address of the Prometheus /metrics listener."},
    {.name = "prometheus-port", .type = SMG_OPT_INT, .offset = F(prometheus_port),
     .def = "29000", .min = 0, .max = 65535, .metavar = "PORT", .section = "Observability",
     .help = "Port of the Prometheus /metrics listener (0: no listener)."},

    /* ---- Tokenizer ---- */
    {.name = "tokenizer-path", .type = SMG_OPT_STRLIST, .offset = F(tokenizer_path),
     .metavar = "[MODEL=]DIR", .section = "Tokenizer", .flags = SMG_OPTF_REPEATABLE,
     .help = "Directory holding tokenizer.json (and tokenizer_config.json for the chat "
             "template), for every model or for MODEL. Repeat the flag for more."},

    /* ---- General ---- */
    {.name = "config", .type = SMG_OPT_STRING, .offset = F(config), .metavar = "FILE",
     .section = "General", .flags = SMG_OPTF_CLI_ONLY | SMG_OPTF_CONFIG_FILE,
     .help = "YAML file of options (keys are the flag names, with - or _); flags on the command "
             "line override it."},
    {.name = "help", .type = SMG_OPT_BOOL, .offset = F(help), .section = "General",
     .flags = SMG_OPTF_CLI_ONLY | SMG_OPTF_EXIT, .help = "Print this help and exit."},
    {.name = "version", .type = SMG_OPT_BOOL, .offset = F(version), .section = "General",
     .flags = SMG_OPTF_CLI_ONLY | SMG_OPTF_EXIT, .help = "Print the version and exit."},
    {.name = "help-markdown", .type = SMG_OPT_BOOL, .offset = F(help_markdown),
     .section = "General", .flags = SMG_OPTF_CLI_ONLY | SMG_OPTF_EXIT | SMG_OPTF_HIDDEN,
     .help = "Print the option reference as Markdown (docs/configuration.md) and exit."},
};

const smg_opt_t *smg_options(size_t *n) {
    *n = SMG_ARRAY_LEN(options);
    return options;
}

int smg_options_validate(const smg_config_t *cfg, char *err, size_t errlen) {
    for (size_t i = 0; i < cfg->worker_urls.len; i++) {
        char why[300];
        smg_worker_t *w = smg_worker_new(cfg->worker_urls.items[i], why, sizeof why);
        if (!w) {
            snprintf(err, errlen, "--worker-urls: %s", why);
            return SMG_EINVAL;
        }
        smg_worker_unref(w);
    }
    if (!cfg->health_check_endpoint || cfg->health_check_endpoint[0] != '/') {
        snprintf(err, errlen, "--health-check-endpoint: must start with '/'");
        return SMG_EINVAL;
    }
    if (!cfg->host || !cfg->host[0]) {
        snprintf(err, errlen, "--host: must not be empty");
        return SMG_EINVAL;
    }
    if (!cfg->prometheus_host || !cfg->prometheus_host[0]) {
        snprintf(err, errlen, "--prometheus-host: must not be empty");
        return SMG_EINVAL;
    }
    for (size_t i = 0; i < cfg->request_id_headers.len; i++) {
        const char *h = cfg->request_id_headers.items[i];
        bool ok = h[0] != '\0';
        for (const char *p = h; *p && ok; p++) /* RFC 9110 token characters */
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-.^_`|~", *p);
        if (!ok) {
            snprintf(err, errlen, "--request-id-headers: '%.100s' is not a header name", h);
            return SMG_EINVAL;
        }
    }
    if (cfg->api_key && !cfg->api_key[0]) {
        snprintf(err, errlen, "--api-key: must not be empty");
        return SMG_EINVAL;
    }
    if (cfg->admin_api_key && !cfg->admin_api_key[0]) {
        snprintf(err, errlen, "--admin-api-key: must not be empty");
        return SMG_EINVAL;
    }
    return SMG_OK;
}

void smg_options_free(smg_config_t *cfg) {
    size_t n;
    const smg_opt_t *t = smg_options(&n);
    smg_config_free(t, n, cfg);
}

void smg_options_markdown(FILE *out) {
    size_t n;
    const smg_opt_t *t = smg_options(&n);
    fputs("# Configuration\n\n"
          "<!-- Generated by tools/gen-config-doc.sh (`make docs`) from src/gateway/options.c; "
          "do not edit. -->\n\n"
          "Every option is a command-line flag (`--name value` or `--name=value`) and a key of "
          "the YAML file given to `--config FILE` (the same name, with `-` or `_`). The command "
          "line overrides the file, which overrides the defaults. In the file, numbers and "
          "booleans are plain YAML scalars, lists are YAML sequences, and an unknown key is an "
          "error that names the file and line.\n\n"
          "On the command line a list option takes every following argument up to the next "
          "`--` flag (`--worker-urls http://a:8000 http://b:8000`), and giving it again appends; "
          "`--name=` with nothing after `=` empties it. Options marked \"repeat the flag\" take "
          "one value per occurrence. Sizes take a plain number of bytes or a K, M or G suffix "
          "(x1024). Other options may be given once.\n\n"
          "```yaml\n"
          "# smg.yaml\n"
          "port: 8080\n"
          "worker_urls:\n"
          "  - http://10.0.0.1:8000\n"
          "  - http://10.0.0.2:8000\n"
          "policy: power_of_two\n"
          "max-payload-size: 64MiB\n"
          "log-json: true\n"
          "```\n\n",
          out);
    smg_config_markdown(t, n, out);
}

int smg_options_load(smg_config_t *cfg, int argc, char **argv, int *exit_code) {
    size_t n;
    const smg_opt_t *t = smg_options(&n);
    char err[512];
    int rc = smg_config_parse(t, n, cfg, argc, argv, err, sizeof err);
    if (rc == SMG_OK)
        rc = smg_options_validate(cfg, err, sizeof err);
    if (rc == SMG_OK)
        return SMG_OK;
    if (rc == SMG_CONFIG_EXIT) {
        if (cfg->help) {
            printf("Usage: smg [OPTIONS]\n"
                   "       smg tokenize|detokenize|chat-template ... (see smg tokenize --help)\n\n"
                   "smg is a model gateway: one OpenAI-compatible endpoint in front of many\n"
                   "inference engines. Every option can also be set in the YAML file given to\n"
                   "--config, under the same name.\n\n");
            smg_config_help(t, n, stdout);
        } else if (cfg->version) {
            printf("smg %s\n", SMG_VERSION);
        } else if (cfg->help_markdown) {
            smg_options_markdown(stdout);
        }
        fflush(stdout);
        *exit_code = 0;
    } else if (rc == SMG_ENOMEM) {
        fprintf(stderr, "smg: out of memory while reading the configuration\n");
        *exit_code = 1;
    } else {
        fprintf(stderr, "smg: %s\n", err[0] ? err : smg_status_str(rc));
        fprintf(stderr, "Try 'smg --help' for the list of options.\n");
        *exit_code = 2;
    }
    smg_options_free(cfg);
    return rc == SMG_CONFIG_EXIT ? SMG_CONFIG_EXIT : (rc ? rc : SMG_EINVAL);
}
