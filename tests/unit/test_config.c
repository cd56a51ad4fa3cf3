/* Table-driven configuration: command line, YAML file, errors, help, dump; smg's table. */
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"
#include "gateway/options.h"
#include "unit.h"

/* ---- a test table covering every type ------------------------------------------------------- */

typedef struct {
    bool flag;
    int64_t count;
    int64_t bytes;
    double ratio;
    char *name;
    char *token;
    smg_strlist_t urls;
    smg_strlist_t paths;
    int mode;
    char *config;
    bool help;
} tcfg_t;

#define T(f) offsetof(tcfg_t, f)
static const smg_opt_t ttab[] = {
    {.name = "flag", .type = SMG_OPT_BOOL, .offset = T(flag), .help = "A flag."},
    {.name = "count", .type = SMG_OPT_INT, .offset = T(count), .def = "7", .min = 1, .max = 100,
     .help = "A count.", .section = "Numbers"},
    {.name = "bytes", .type = SMG_OPT_SIZE, .offset = T(bytes), .def = "1KiB", .min = 0,
     .max = (int64_t)1 << 40, .section = "Numbers", .help = "A size."},
    {.name = "ratio", .type = SMG_OPT_DOUBLE, .offset = T(ratio), .def = "1.5", .dmin = 0.5,
     .dmax = 2, .section = "Numbers", .help = "A ratio."},
    {.name = "name", .type = SMG_OPT_STRING, .offset = T(name), .def = "anon", .help = "A name."},
    {.name = "token", .type = SMG_OPT_STRING, .offset = T(token), .flags = SMG_OPTF_SECRET,
     .help = "A secret."},
    {.name = "urls", .type = SMG_OPT_STRLIST, .offset = T(urls), .def = "u1 u2",
     .metavar = "URL...", .help = "Some URLs."},
    {.name = "path", .type = SMG_OPT_STRLIST, .offset = T(paths), .flags = SMG_OPTF_REPEATABLE,
     .help = "A path, repeatable."},
    {.name = "mode", .type = SMG_OPT_ENUM, .offset = T(mode), .def = "fast",
     .choices = "slow|fast|auto", .help = "A mode."},
    {.name = "config", .type = SMG_OPT_STRING, .offset = T(config),
     .flags = SMG_OPTF_CLI_ONLY | SMG_OPTF_CONFIG_FILE, .metavar = "FILE", .help = "File."},
    {.name = "help", .type = SMG_OPT_BOOL, .offset = T(help),
     .flags = SMG_OPTF_CLI_ONLY | SMG_OPTF_EXIT, .help = "Help."},
};
#define NT (sizeof ttab / sizeof ttab[0])

static char err[512];

/* Parse a NULL-terminated argument list (argv[0] added). */
static int parse_args(tcfg_t *c, const char *const *args) {
    char *argv[64];
    int argc = 0;
    argv[argc++] = "prog";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    memset(c, 0, sizeof *c);
    err[0] = 0;
    return smg_config_parse(ttab, NT, c, argc, argv, err, sizeof err);
}
#define PARSE(c, ...) parse_args((c), (const char *const[]){__VA_ARGS__, NULL})

/* Expect a parse failure with exactly this message. */
#define EXPECT_FAIL(msg, ...)                                                                      \
    do {                                                                                           \
        tcfg_t c_;                                                                                 \
        EXPECT_EQ_INT(PARSE(&c_, __VA_ARGS__), SMG_EINVAL);                                        \
        EXPECT_EQ_STR(err, msg);                                                                   \
        smg_config_free(ttab, NT, &c_);                                                            \
    } while (0)

static char tmpfile_path[64];
static const char *write_tmp(const char *text, size_t len) {
    snprintf(tmpfile_path, sizeof tmpfile_path, "/tmp/smg-test-config-XXXXXX");
    int fd = mkstemp(tmpfile_path);
    EXPECT(fd >= 0);
    EXPECT_EQ_INT(write(fd, text, len), (long long)len);
    close(fd);
    return tmpfile_path;
}

/* Apply a YAML text on top of defaults; returns the status, message in err. */
static int yaml(tcfg_t *c, const char *text) {
    memset(c, 0, sizeof *c);
    err[0] = 0;
    EXPECT_EQ_INT(smg_config_defaults(ttab, NT, c, err, sizeof err), SMG_OK);
    return smg_config_apply_yaml(ttab, NT, c, "f.yaml", text, strlen(text), err, sizeof err);
}
#define EXPECT_YAML_FAIL(text, msg)                                                                \
    do {                                                                                           \
        tcfg_t c_;                                                                                 \
        EXPECT_EQ_INT(yaml(&c_, text), SMG_EINVAL);                                                \
        EXPECT_EQ_STR(err, msg);                                                                   \
        smg_config_free(ttab, NT, &c_);                                                            \
    } while (0)

TEST(defaults_apply) {
    tcfg_t c;
    EXPECT_EQ_INT(PARSE(&c, "--flag=false"), SMG_OK);
    EXPECT(!c.flag);
    EXPECT_EQ_INT(c.count, 7);
    EXPECT_EQ_INT(c.bytes, 1024);
    EXPECT_EQ_DBL(c.ratio, 1.5, 0);
    EXPECT_EQ_STR(c.name, "anon");
    EXPECT(c.token == NULL);
    EXPECT_EQ_INT(c.urls.len, 2);
    EXPECT_EQ_STR(c.urls.items[1], "u2");
    EXPECT_EQ_INT(c.paths.len, 0);
    EXPECT_EQ_INT(c.mode, 1);
    smg_config_free(ttab, NT, &c);
    smg_config_free(ttab, NT, &c); /* twice is harmless */
    EXPECT(c.name == NULL && c.urls.items == NULL && c.urls.len == 0);
}

TEST(command_line_forms) {
    tcfg_t c;
    EXPECT_EQ_INT(PARSE(&c, "--flag", "--count", "9", "--bytes=2MiB", "--ratio", "0.75",
                        "--name=x=y", "--urls", "a", "b", "c", "--mode", "auto", "--path", "p1",
                        "--path=m=p2", "--token", "s3cret"),
                  SMG_OK);
    EXPECT_EQ_STR(err, "");
    EXPECT(c.flag);
    EXPECT_EQ_INT(c.count, 9);
    EXPECT_EQ_INT(c.bytes, 2 << 20);
    EXPECT_EQ_DBL(c.ratio, 0.75, 0);
    EXPECT_EQ_STR(c.name, "x=y");
    EXPECT_EQ_INT(c.urls.len, 3); /* the command line replaces the default list */
    EXPECT_EQ_STR(c.urls.items[0], "a");
    EXPECT_EQ_STR(c.urls.items[2], "c");
    EXPECT_EQ_INT(c.mode, 2);
    EXPECT_EQ_INT(c.paths.len, 2);
    EXPECT_EQ_STR(c.paths.items[1], "m=p2");
    EXPECT_EQ_STR(c.token, "s3cret");
    smg_config_free(ttab, NT, &c);
}

TEST(lists_append_and_clear) {
    tcfg_t c;
    EXPECT_EQ_INT(PARSE(&c, "--urls", "a", "--flag", "--urls", "b", "c"), SMG_OK);
    EXPECT_EQ_INT(c.urls.len, 3);
    EXPECT_EQ_STR(c.urls.items[2], "c");
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(PARSE(&c, "--urls="), SMG_OK);
    EXPECT_EQ_INT(c.urls.len, 0);
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(PARSE(&c, "--urls=a", "b"), SMG_OK);
    EXPECT_EQ_INT(c.urls.len, 2);
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(PARSE(&c, "--flag=yes", "--bytes", "0", "--count", "+100"), SMG_OK);
    EXPECT(c.flag);
    EXPECT_EQ_INT(c.count, 100);
    smg_config_free(ttab, NT, &c);
}

TEST(command_line_errors) {
    EXPECT_FAIL("unknown option --foo", "--foo");
    EXPECT_FAIL("unknown option --cuont (did you mean --count?)", "--cuont", "3");
    EXPECT_FAIL("--count: 101 is out of range 1..100", "--count", "101");
    EXPECT_FAIL("--count: 0 is out of range 1..100", "--count=0");
    EXPECT_FAIL("--count: 99999999999999999999 is out of range 1..100", "--count",
                "99999999999999999999");
    EXPECT_FAIL("--count: expected integer, got '12abc'", "--count", "12abc");
    EXPECT_FAIL("--count: expected integer, got ''", "--count=");
    EXPECT_FAIL("--count: missing value", "--count");
    EXPECT_FAIL("--count: missing value", "--count", "--flag");
    EXPECT_FAIL("--count: given more than once", "--count", "2", "--count", "3");
    EXPECT_FAIL("--ratio: 2.5 is out of range 0.5..2", "--ratio", "2.5");
    EXPECT_FAIL("--ratio: expected number, got 'nan'", "--ratio", "nan");
    EXPECT_FAIL("--ratio: expected number, got '1e999'", "--ratio", "1e999");
    EXPECT_FAIL("--bytes: expected size in bytes (e.g. 1048576 or 1MiB), got '1TiB'", "--bytes",
                "1TiB");
    EXPECT_FAIL("--mode: 'fastest' is not one of slow|fast|auto", "--mode", "fastest");
    EXPECT_FAIL("--flag: expected boolean (true or false), got 'maybe'", "--flag=maybe");
    EXPECT_FAIL("unexpected argument 'stray'", "stray");
    EXPECT_FAIL("unexpected argument 'true'", "--flag", "true");
    EXPECT_FAIL("unexpected argument '-x'", "-x");
    EXPECT_FAIL("--urls: missing value", "--urls");
    EXPECT_FAIL("--path: missing value", "--path", "--flag");
    EXPECT_FAIL("unexpected argument 'b'", "--path", "a", "b");
    EXPECT_FAIL("unknown option --n?a?m?e", "--n\na\x01m\x7f" "e"); /* control bytes never reach the message */
}

TEST(value_may_start_with_dashes_after_equals) {
    tcfg_t c;
    EXPECT_EQ_INT(PARSE(&c, "--name=--odd", "--count", "-5"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "--count: -5 is out of range 1..100");
    EXPECT_EQ_STR(c.name, "--odd");
    smg_config_free(ttab, NT, &c);
}

TEST(help_action_wins_over_bad_arguments) {
    tcfg_t c;
    EXPECT_EQ_INT(PARSE(&c, "--count", "1000", "--help", "--bogus"), SMG_CONFIG_EXIT);
    EXPECT(c.help);
    EXPECT_EQ_INT(c.count, 7);
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(PARSE(&c, "--count", "9", "--help=true"), SMG_CONFIG_EXIT);
    EXPECT(c.help);
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(PARSE(&c, "--help=false", "--count", "9"), SMG_OK);
    EXPECT(!c.help);
    EXPECT_EQ_INT(c.count, 9);
    smg_config_free(ttab, NT, &c);
}

TEST(yaml_all_types) {
    tcfg_t c;
    EXPECT_EQ_INT(yaml(&c, "# comment\n"
                           "flag: true\n"
                           "count: 42\n"
                           "bytes: \"3KiB\"\n"
                           "ratio: 1.25\n"
                           "name: 'quoted: yes'\n"
                           "urls:\n  - http://a\n  - http://b\n"
                           "path: [x, y]\n"
                           "mode: slow\n"
                           "token: ~\n"),
                  SMG_OK);
    EXPECT_EQ_STR(err, "");
    EXPECT(c.flag);
    EXPECT_EQ_INT(c.count, 42);
    EXPECT_EQ_INT(c.bytes, 3072);
    EXPECT_EQ_DBL(c.ratio, 1.25, 0);
    EXPECT_EQ_STR(c.name, "quoted: yes");
    EXPECT_EQ_INT(c.urls.len, 2);
    EXPECT_EQ_STR(c.urls.items[1], "http://b");
    EXPECT_EQ_INT(c.paths.len, 2);
    EXPECT_EQ_INT(c.mode, 0);
    EXPECT(c.token == NULL);
    smg_config_free(ttab, NT, &c);
    /* underscores, a scalar for a list, null for a list and a string, empty documents */
    EXPECT_EQ_INT(yaml(&c, "urls: one\nname:\n"), SMG_OK);
    EXPECT_EQ_INT(c.urls.len, 1);
    EXPECT(c.name == NULL);
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(yaml(&c, "urls: []\n"), SMG_OK);
    EXPECT_EQ_INT(c.urls.len, 0);
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(yaml(&c, ""), SMG_OK);
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(yaml(&c, "# nothing\n---\n...\n"), SMG_OK);
    EXPECT_EQ_INT(c.count, 7);
    smg_config_free(ttab, NT, &c);
}

TEST(yaml_errors_name_file_and_line) {
    EXPECT_YAML_FAIL("count: 1\nbogus: 2\n", "f.yaml:2: unknown option 'bogus'");
    EXPECT_YAML_FAIL("cuont: 2\n", "f.yaml:1: unknown option 'cuont' (did you mean count?)");
    EXPECT_YAML_FAIL("\n\ncount: abc\n", "f.yaml:3: count: expected integer, got 'abc'");
    EXPECT_YAML_FAIL("count: \"5\"\n",
                     "f.yaml:1: count: expected integer, got the quoted string '5'");
    EXPECT_YAML_FAIL("count: 500\n", "f.yaml:1: count: 500 is out of range 1..100");
    EXPECT_YAML_FAIL("flag: 'true'\n",
                     "f.yaml:1: flag: expected boolean, got the quoted string 'true'");
    EXPECT_YAML_FAIL("count: [1]\n", "f.yaml:1: count: expected integer, got a list");
    EXPECT_YAML_FAIL("name: {a: 1}\n", "f.yaml:1: name: expected string, got a mapping");
    EXPECT_YAML_FAIL("count:\n", "f.yaml:1: count: expected integer, got null");
    EXPECT_YAML_FAIL("urls:\n  - a\n  - [b]\n",
                     "f.yaml:3: urls: expected a list of strings, got a list inside");
    EXPECT_YAML_FAIL("count: 1\ncount: 2\n", "f.yaml:2: 'count' is already set on line 1");
    EXPECT_YAML_FAIL("name: a\nname_: b\n", "f.yaml:2: unknown option 'name_' (did you mean name?)");
    EXPECT_YAML_FAIL("x: &a 1\n", "f.yaml:1: unknown option 'x'");
    EXPECT_YAML_FAIL("count: &a 1\nratio: *a\n", "f.yaml:2: ratio: YAML aliases are not supported");
    EXPECT_YAML_FAIL("- a\n- b\n", "f.yaml:1: expected a mapping of option names to values");
    EXPECT_YAML_FAIL("count: 1\n---\ncount: 2\n", "f.yaml:2: only one YAML document is allowed");
    EXPECT_YAML_FAIL("config: other.yaml\n", "f.yaml:1: 'config' is only valid on the command line");
    EXPECT_YAML_FAIL("help: true\n", "f.yaml:1: 'help' is only valid on the command line");
    EXPECT_YAML_FAIL("name: \"a\\0b\"\n", "f.yaml:1: name: value contains a NUL byte");
    EXPECT_YAML_FAIL("? [a]\n: 1\n", "f.yaml:1: expected an option name, got a list");
    EXPECT_YAML_FAIL("count: 1\n- a\n", "f.yaml:2: YAML syntax error: did not find expected key");
    EXPECT_YAML_FAIL("count: 1\nname: a\n  x: 2\n",
                     "f.yaml:3: YAML syntax error: mapping values are not allowed in this context");
    EXPECT_YAML_FAIL("name: \"unterminated\n",
                     "f.yaml:2: YAML syntax error: found unexpected end of stream");
}

TEST(yaml_bounds) {
    /* deep nesting is refused early, without recursion */
    static char deep[200001];
    memcpy(deep, "urls: ", 6);
    size_t k = 6;
    for (int i = 0; i < 100000 - 4; i++)
        deep[k++] = '[';
    deep[k] = 0;
    tcfg_t c;
    EXPECT_EQ_INT(yaml(&c, deep), SMG_EINVAL);
    EXPECT_EQ_STR(err, "f.yaml:1: urls: expected a list of strings, got a list inside");
    smg_config_free(ttab, NT, &c);
    /* more than 1 MiB is refused before parsing */
    size_t big = SMG_CONFIG_MAX_FILE + 1;
    char *text = malloc(big);
    memset(text, '#', big);
    memset(&c, 0, sizeof c);
    EXPECT_EQ_INT(smg_config_apply_yaml(ttab, NT, &c, "big.yaml", text, big, err, sizeof err),
                  SMG_EINVAL);
    EXPECT_EQ_STR(err, "big.yaml: file is larger than 1048576 bytes");
    /* and the same through --config */
    const char *p = write_tmp(text, big);
    char want[128];
    snprintf(want, sizeof want, "%s: file is larger than 1048576 bytes", p);
    EXPECT_EQ_INT(PARSE(&c, "--config", p), SMG_EINVAL);
    EXPECT_EQ_STR(err, want);
    smg_config_free(ttab, NT, &c);
    unlink(p);
    free(text);
}

TEST(config_file_then_command_line) {
    const char *text = "count: 50\nname: from-file\nurls: [f1, f2]\nflag: true\n";
    const char *p = write_tmp(text, strlen(text));
    tcfg_t c;
    EXPECT_EQ_INT(PARSE(&c, "--count", "60", "--config", p, "--urls", "c1"), SMG_OK);
    EXPECT_EQ_INT(c.count, 60);            /* the command line wins */
    EXPECT_EQ_STR(c.name, "from-file");    /* the file fills the rest */
    EXPECT(c.flag);
    EXPECT_EQ_INT(c.urls.len, 1);          /* a list on the command line replaces the file's */
    EXPECT_EQ_STR(c.urls.items[0], "c1");
    EXPECT_EQ_STR(c.config, p);
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(PARSE(&c, "--config=" "/nonexistent/smg.yaml"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "/nonexistent/smg.yaml: cannot open: No such file or directory");
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(PARSE(&c, "--config", p, "--config", p), SMG_EINVAL);
    EXPECT_EQ_STR(err, "--config: given more than once");
    smg_config_free(ttab, NT, &c);
    EXPECT_EQ_INT(PARSE(&c, "--config", "/tmp"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "/tmp: cannot read: Is a directory");
    smg_config_free(ttab, NT, &c);
    unlink(p);
}

TEST(dump_hides_secrets_and_reads_back) {
    tcfg_t c, d;
    EXPECT_EQ_INT(PARSE(&c, "--name", "we\"ird\\ \n", "--urls", "a", "b c", "--token", "s3cret",
                        "--ratio", "0.6", "--mode", "auto"),
                  SMG_OK);
    smg_buf_t b;
    smg_buf_init(&b, 0);
    EXPECT_EQ_INT(smg_config_dump(ttab, NT, &c, &b), SMG_OK);
    EXPECT_EQ_STR(b.ptr, "flag: false\n"
                         "count: 7\n"
                         "bytes: 1024\n"
                         "ratio: 0.6\n"
                         "name: \"we\\\"ird\\\\ \\n\"\n"
                         "token: \"<hidden>\"\n"
                         "urls: [\"a\", \"b c\"]\n"
                         "path: []\n"
                         "mode: \"auto\"\n");
    EXPECT(strstr(b.ptr, "s3cret") == NULL);
    /* read back: equal except the secret */
    EXPECT_EQ_INT(yaml(&d, b.ptr), SMG_OK);
    EXPECT_EQ_STR(d.name, c.name);
    EXPECT_EQ_DBL(d.ratio, c.ratio, 0);
    EXPECT_EQ_INT(d.urls.len, 2);
    EXPECT_EQ_STR(d.urls.items[1], "b c");
    EXPECT_EQ_INT(d.mode, 2);
    EXPECT_EQ_STR(d.token, "<hidden>");
    smg_buf_free(&b);
    smg_config_free(ttab, NT, &c);
    smg_config_free(ttab, NT, &d);
}

static char *capture(void (*fn)(FILE *)) {
    static char *text; /* static: open_memstream keeps their address until fclose */
    static size_t len;
    text = NULL;
    len = 0;
    FILE *f = open_memstream(&text, &len);
    fn(f);
    fclose(f);
    return text;
}
static void ttab_help(FILE *f) {
    smg_config_help(ttab, NT, f);
}
static void ttab_markdown(FILE *f) {
    smg_config_markdown(ttab, NT, f);
}

TEST(dump_escapes_what_yaml_would_fold) {
    tcfg_t c, d;
    const char *odd = "a\xC2\x85" "b\xE2\x80\xA8" "c\xEF\xBB\xBF" "d\t\x7f" "e\xC3\xA9";
    EXPECT_EQ_INT(PARSE(&c, "--name", odd), SMG_OK);
    smg_buf_t b;
    smg_buf_init(&b, 0);
    EXPECT_EQ_INT(smg_config_dump(ttab, NT, &c, &b), SMG_OK);
    EXPECT(strstr(b.ptr, "name: \"a\\u0085b\\u2028c\\uFEFFd\\u0009\\u007Fe\xC3\xA9\"\n") != NULL);
    EXPECT_EQ_INT(yaml(&d, b.ptr), SMG_OK);
    EXPECT_EQ_STR(d.name, odd);
    smg_buf_free(&b);
    smg_config_free(ttab, NT, &c);
    smg_config_free(ttab, NT, &d);
}

TEST(help_text) {
    char *h = capture(ttab_help);
    const char *first = "Other:\n  --flag\n          A flag.\n";
    EXPECT(strncmp(h, first, strlen(first)) == 0);
    EXPECT(strstr(h, "Numbers:\n  --count N\n          A count. Range: 1..100. [default: 7]\n"));
    EXPECT(strstr(h, "  --mode NAME\n          A mode. One of: slow|fast|auto. [default: fast]\n"));
    EXPECT(strstr(h, "  --urls URL...\n          Some URLs. [default: u1 u2]\n"));
    EXPECT(strstr(h, "  --ratio X\n          A ratio. Range: 0.5..2. [default: 1.5]\n"));
    /* sections appear once each */
    EXPECT(strstr(strstr(h, "Other:") + 1, "Other:") == NULL);
    free(h);
    char *m = capture(ttab_markdown);
    EXPECT(strstr(m, "## Numbers\n\n| Flag | Type | Default | Description |\n|---|---|---|---|\n"
                     "| `--count N` | integer, 1..100 | `7` | A count. |\n"));
    EXPECT(strstr(m, "| `--mode NAME` | one of `slow\\|fast\\|auto` | `fast` | A mode. |\n"));
    EXPECT(strstr(m, "| `--token STR` | string |  | A secret. Secret: never printed. |\n"));
    EXPECT(strstr(m, "| `--path STR` | list of strings (repeat the flag) |  | A path, repeatable. |\n"));
    free(m);
}

/* ---- smg's table ------------------------------------------------------------------------------ */

static int smg_parse(smg_config_t *c, const char *const *args) {
    char *argv[64];
    int argc = 0;
    argv[argc++] = "smg";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    memset(c, 0, sizeof *c);
    size_t n;
    const smg_opt_t *t = smg_options(&n);
    int rc = smg_config_parse(t, n, c, argc, argv, err, sizeof err);
    if (rc == SMG_OK)
        rc = smg_options_validate(c, err, sizeof err);
    return rc;
}
#define SMG_PARSE(c, ...) smg_parse((c), (const char *const[]){__VA_ARGS__, NULL})

TEST(smg_defaults_match_the_reference) {
    smg_config_t c;
    EXPECT_EQ_INT(smg_parse(&c, (const char *const[]){NULL}), SMG_OK);
    EXPECT_EQ_STR(c.host, "0.0.0.0");
    EXPECT_EQ_INT(c.port, 30000);
    EXPECT_EQ_INT(c.worker_urls.len, 0);
    EXPECT_EQ_INT(c.policy, SMG_POLICY_ROUND_ROBIN);
    EXPECT_EQ_STR(c.prometheus_host, "0.0.0.0");
    EXPECT_EQ_INT(c.prometheus_port, 29000);
    EXPECT_EQ_INT(c.request_timeout_secs, 1800);
    EXPECT_EQ_INT(c.max_payload_size, 536870912);
    EXPECT_EQ_INT(c.health_check_interval_secs, 60);
    EXPECT_EQ_INT(c.health_check_timeout_secs, 5);
    EXPECT_EQ_INT(c.health_failure_threshold, 3);
    EXPECT_EQ_INT(c.health_success_threshold, 2);
    EXPECT_EQ_STR(c.health_check_endpoint, "/health");
    EXPECT(!c.disable_health_check);
    EXPECT(c.api_key == NULL && c.admin_api_key == NULL);
    EXPECT_EQ_INT(c.log_level, 2); /* info */
    EXPECT(!c.log_json);
    EXPECT_EQ_INT(c.threads, 0);
    EXPECT_EQ_INT(c.shutdown_grace_period_secs, 180);
    EXPECT_EQ_INT(c.max_connections, 65536);
    EXPECT_EQ_INT(c.keep_alive_timeout_secs, 60);
    EXPECT_EQ_INT(c.header_timeout_secs, 10);
    EXPECT_EQ_INT(c.max_header_size, 65536);
    EXPECT_EQ_INT(c.max_headers, 100);
    EXPECT_EQ_INT(c.request_id_headers.len, 4);
    EXPECT_EQ_STR(c.request_id_headers.items[0], "x-request-id");
    EXPECT_EQ_STR(c.request_id_headers.items[3], "request-id");
    EXPECT(!c.disable_retries);
    EXPECT_EQ_INT(c.retry_max_retries, 1);
    EXPECT_EQ_INT(c.tokenizer_path.len, 0);
    smg_options_free(&c);
}

TEST(smg_reference_style_command_line) {
    smg_config_t c;
    EXPECT_EQ_INT(SMG_PARSE(&c, "--worker-urls", "http://127.0.0.1:8000", "http://10.0.0.2:9000/v2",
                            "--policy", "power_of_two", "--port", "0", "--log-level", "debug",
                            "--log-json", "--api-key", "k1", "--tokenizer-path", "/m/a",
                            "--tokenizer-path", "llama=/m/b", "--disable-health-check",
                            "--max-payload-size", "1M"),
                  SMG_OK);
    EXPECT_EQ_STR(err, "");
    EXPECT_EQ_INT(c.worker_urls.len, 2);
    EXPECT_EQ_STR(c.worker_urls.items[1], "http://10.0.0.2:9000/v2");
    EXPECT_EQ_INT(c.policy, SMG_POLICY_POWER_OF_TWO);
    EXPECT_EQ_INT(c.port, 0);
    EXPECT_EQ_INT(c.log_level, 3);
    EXPECT(c.log_json && c.disable_health_check);
    EXPECT_EQ_STR(c.api_key, "k1");
    EXPECT_EQ_INT(c.tokenizer_path.len, 2);
    EXPECT_EQ_STR(c.tokenizer_path.items[1], "llama=/m/b");
    EXPECT_EQ_INT(c.max_payload_size, 1 << 20);
    smg_options_free(&c);
}

TEST(smg_errors) {
    smg_config_t c;
    EXPECT_EQ_INT(SMG_PARSE(&c, "--port", "70000"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "--port: 70000 is out of range 0..65535");
    smg_options_free(&c);
    EXPECT_EQ_INT(SMG_PARSE(&c, "--policy", "cache_aware"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "--policy: 'cache_aware' is not one of random|round_robin|power_of_two");
    smg_options_free(&c);
    EXPECT_EQ_INT(SMG_PARSE(&c, "--worker-urls", "localhost:8000"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "--worker-urls: worker url must start with http://: localhost:8000");
    smg_options_free(&c);
    EXPECT_EQ_INT(SMG_PARSE(&c, "--worker-urls", "grpc://10.0.0.2:9000"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "--worker-urls: only http:// workers are supported in this version: "
                       "grpc://10.0.0.2:9000");
    smg_options_free(&c);
    EXPECT_EQ_INT(SMG_PARSE(&c, "--health-check-endpoint", "health"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "--health-check-endpoint: must start with '/'");
    smg_options_free(&c);
    EXPECT_EQ_INT(SMG_PARSE(&c, "--api-key="), SMG_EINVAL);
    EXPECT_EQ_STR(err, "--api-key: must not be empty");
    smg_options_free(&c);
    EXPECT_EQ_INT(SMG_PARSE(&c, "--request-id-headers", "x id"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "--request-id-headers: 'x id' is not a header name");
    smg_options_free(&c);
    EXPECT_EQ_INT(SMG_PARSE(&c, "--worker-url", "http://a"), SMG_EINVAL);
    EXPECT_EQ_STR(err, "unknown option --worker-url (did you mean --worker-urls?)");
    smg_options_free(&c);
}

TEST(smg_table_is_well_formed) {
    size_t n;
    const smg_opt_t *t = smg_options(&n);
    EXPECT(n >= 33);
    for (size_t i = 0; i < n; i++) {
        EXPECT(t[i].help && t[i].help[0] && t[i].section);
        for (const char *p = t[i].name; *p; p++)
            EXPECT((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
        for (size_t j = 0; j < i; j++) {
            EXPECT(strcmp(t[i].name, t[j].name) != 0);
            EXPECT(t[i].offset != t[j].offset);
        }
    }
    /* every flag of the brief exists */
    const char *need[] = {"host", "port", "worker-urls", "policy", "prometheus-host",
                          "prometheus-port", "request-timeout-secs", "max-payload-size",
                          "health-check-interval-secs", "health-check-timeout-secs",
                          "health-failure-threshold", "health-success-threshold",
                          "health-check-endpoint", "disable-health-check", "api-key",
                          "admin-api-key", "log-level", "log-json", "threads", "config",
                          "shutdown-grace-period-secs", "max-connections",
                          "keep-alive-timeout-secs", "header-timeout-secs", "max-header-size",
                          "max-headers", "request-id-headers",
                          "disable-retries", "retry-max-retries", "tokenizer-path",
                          "help", "version", "help-markdown"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (!smg_config_find(t, n, need[i], strlen(need[i])))
            fprintf(stderr, "  missing option %s\n", need[i]);
        EXPECT(smg_config_find(t, n, need[i], strlen(need[i])) != NULL);
    }
    const smg_opt_t *ak = smg_config_find(t, n, "api_key", 7);
    EXPECT(ak && (ak->flags & SMG_OPTF_SECRET));
}

TEST(smg_yaml_file) {
    const char *text = "port: 8080\n"
                       "worker_urls:\n  - http://10.0.0.1:8000\n  - http://10.0.0.2:8000\n"
                       "policy: random\n"
                       "max-payload-size: 64MiB\n"
                       "log_json: true\n"
                       "admin-api-key: \"adm\"\n";
    const char *p = write_tmp(text, strlen(text));
    smg_config_t c;
    EXPECT_EQ_INT(SMG_PARSE(&c, "--config", p, "--port", "9090"), SMG_OK);
    EXPECT_EQ_INT(c.port, 9090);
    EXPECT_EQ_INT(c.worker_urls.len, 2);
    EXPECT_EQ_INT(c.policy, SMG_POLICY_RANDOM);
    EXPECT_EQ_INT(c.max_payload_size, 64 << 20);
    EXPECT(c.log_json);
    EXPECT_EQ_STR(c.admin_api_key, "adm");
    smg_buf_t b;
    smg_buf_init(&b, 0);
    size_t n;
    const smg_opt_t *t = smg_options(&n);
    EXPECT_EQ_INT(smg_config_dump(t, n, &c, &b), SMG_OK);
    EXPECT(strstr(b.ptr, "admin-api-key: \"<hidden>\"\n") != NULL);
    EXPECT(strstr(b.ptr, "adm\"") == NULL);
    EXPECT(strstr(b.ptr, "policy: \"random\"\n") != NULL);
    EXPECT(strstr(b.ptr, "config:") == NULL);
    smg_buf_free(&b);
    smg_options_free(&c);
    unlink(p);
}

TEST(smg_options_load_exit_codes) {
    smg_config_t c = {0};
    int code = -1;
    char *v[] = {"smg", "--version", NULL};
    EXPECT_EQ_INT(smg_options_load(&c, 2, v, &code), SMG_CONFIG_EXIT);
    EXPECT_EQ_INT(code, 0);
    EXPECT(c.host == NULL); /* freed */
    char *bad[] = {"smg", "--port", "x", NULL};
    code = -1;
    EXPECT(smg_options_load(&c, 3, bad, &code) != SMG_OK);
    EXPECT_EQ_INT(code, 2);
    char *good[] = {"smg", "--port", "1", NULL};
    EXPECT_EQ_INT(smg_options_load(&c, 3, good, &code), SMG_OK);
    EXPECT_EQ_INT(c.port, 1);
    smg_options_free(&c);
}

static void smg_markdown(FILE *f) {
    smg_options_markdown(f);
}

TEST(docs_configuration_md_is_current) {
    /* docs/configuration.md is `make docs` output; regenerate it when the table changes. */
    char *gen = capture(smg_markdown);
    size_t gl = strlen(gen);
    while (gl && gen[gl - 1] == '\n') /* the generator script prints it through $(...) */
        gen[--gl] = 0;
    FILE *f = fopen("docs/configuration.md", "r");
    if (!f) {
        fprintf(stderr, "  docs/configuration.md not found (run from the repository root)\n");
        EXPECT(f != NULL);
        free(gen);
        return;
    }
    char *doc = malloc(1 << 20);
    size_t dl = fread(doc, 1, (1 << 20) - 1, f);
    fclose(f);
    doc[dl] = 0;
    EXPECT(dl == gl + 1 && doc[gl] == '\n' && memcmp(doc, gen, gl) == 0);
    free(doc);
    free(gen);
}
