/* Jinja engine: one check per construct, the oracle's whitespace rules,
 * error messages with template lines, and the render limits. Expected
 * strings are what @huggingface/jinja (or Jinja2 where the oracle lacks the
 * feature) produces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/jinja.h"
#include "unit.h"

static char RESULT[8192];

/* Render src with ctx (JSON text or NULL); returns the output, or
 * "ERR<line>: message" on a parse/render error. */
static const char *R2(const char *src, const char *ctx, const smg_jinja_limits_t *lim) {
    smg_jinja_tmpl_t *t;
    smg_jinja_err_t err;
    int rc = smg_jinja_parse(src, strlen(src), &t, &err);
    if (rc) {
        snprintf(RESULT, sizeof RESULT, "ERR%d: %s", err.line, err.msg);
        return RESULT;
    }
    json_t *j = ctx ? json_loads(ctx, 0, NULL) : NULL;
    if (ctx && !j) {
        snprintf(RESULT, sizeof RESULT, "bad test context");
        smg_jinja_free(t);
        return RESULT;
    }
    smg_buf_t out;
    smg_buf_init(&out, 0);
    rc = smg_jinja_render(t, j, lim, &out, &err);
    if (rc)
        snprintf(RESULT, sizeof RESULT, "ERR%d: %s", err.line, err.msg);
    else
        snprintf(RESULT, sizeof RESULT, "%s", out.ptr ? out.ptr : "");
    smg_buf_free(&out);
    json_decref(j);
    smg_jinja_free(t);
    return RESULT;
}
#define R(src, ctx) R2(src, ctx, NULL)

TEST(jinja_text_and_output) {
    EXPECT_EQ_STR(R("hello", NULL), "hello");
    EXPECT_EQ_STR(R("a{{ 1 + 2 }}b", NULL), "a3b");
    EXPECT_EQ_STR(R("{{ x }}", "{\"x\": \"v\"}"), "v");
    EXPECT_EQ_STR(R("{# comment #}x", NULL), "x");
    EXPECT_EQ_STR(R("{{ none }}{{ undefined_name }}|", NULL), "|");
    EXPECT_EQ_STR(R("{{ true }} {{ False }} {{ 1.0 }} {{ 2.5 }} {{ 7 // 2 }} {{ 7 / 2 }}", NULL),
                  "true false 1.0 2.5 3 3.5");
    EXPECT_EQ_STR(R("{{ [1, 'a', none] }} {{ {'k': [true]} }}", NULL), "[1, \"a\", null] {\"k\": [true]}");
    EXPECT_EQ_STR(R("line\n", NULL), "line"); /* one trailing newline is dropped */
}

TEST(jinja_whitespace_control) {
    EXPECT_EQ_STR(R("a  {{- 'x' -}}  b", NULL), "axb");
    EXPECT_EQ_STR(R("a\n  {%- if true %}x{% endif %}", NULL), "ax");
    /* trim_blocks: newline after a block tag is removed */
    EXPECT_EQ_STR(R("{% if true %}\nyes\n{% endif %}\nafter", NULL), "yes\nafter");
    /* lstrip_blocks: indentation before a block tag is removed, not before {{ */
    EXPECT_EQ_STR(R("x\n    {% if true %}y{% endif %}\n  {{ 'z' }}", NULL), "x\ny  z");
    EXPECT_EQ_STR(R("a {#- c -#} b", NULL), "ab");
}

TEST(jinja_if_elif_else) {
    const char *t = "{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %}";
    EXPECT_EQ_STR(R(t, "{\"n\": 1}"), "one");
    EXPECT_EQ_STR(R(t, "{\"n\": 2}"), "two");
    EXPECT_EQ_STR(R(t, "{\"n\": 5}"), "many");
    EXPECT_EQ_STR(R("{% if [] %}a{% else %}b{% endif %}{% if {'a':1} %}c{% endif %}", NULL), "bc");
}

TEST(jinja_for_loop_variables) {
    EXPECT_EQ_STR(R("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}"
                    "{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};"
                    "{% endfor %}",
                    "{\"xs\": [\"a\", \"b\"]}"),
                  "10truefalse221;21falsetrue210;");
    EXPECT_EQ_STR(R("{% for x in xs %}{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }},{% endfor %}",
                    "{\"xs\": [1, 2, 3]}"),
                  "-1-2,1-2-3,2-3-,");
    EXPECT_EQ_STR(R("{% for x in [] %}a{% else %}empty{% endfor %}", NULL), "empty");
    EXPECT_EQ_STR(R("{% for x in range(6) if x is odd %}{{ x }}{% endfor %}", NULL), "135");
    EXPECT_EQ_STR(R("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
                    "{\"d\": {\"b\": 1, \"a\": 2}}"),
                  "b=1;a=2;");
    EXPECT_EQ_STR(R("{% for k in d %}{{ k }}{% endfor %}", "{\"d\": {\"x\": 1, \"y\": 2}}"), "xy");
    EXPECT_EQ_STR(R("{% for x in range(10) %}{% if x == 3 %}{% break %}{% endif %}{% if x is odd %}"
                    "{% continue %}{% endif %}{{ x }}{% endfor %}",
                    NULL),
                  "02");
    /* a set inside a loop does not leak out of it */
    EXPECT_EQ_STR(R("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", NULL), "1");
}

TEST(jinja_set_namespace_and_block_set) {
    EXPECT_EQ_STR(R("{% set a, b = 1, 2 %}{{ a }}{{ b }}", NULL), "12");
    EXPECT_EQ_STR(R("{% set ns = namespace(n=0) %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}"
                    "{% endfor %}{{ ns.n }}",
                    NULL),
                  "6");
    EXPECT_EQ_STR(R("{% set s %}in {{ 'block' }}{% endset %}[{{ s }}]", NULL), "[in block]");
    EXPECT_EQ_STR(R("{% set l = [] %}{% set _ = l.append(1) %}{% set _ = l.append(2) %}{{ l }}", NULL),
                  "[1, 2]");
}

TEST(jinja_macro_call_filter_block) {
    EXPECT_EQ_STR(R("{% macro m(a, b='d') %}<{{ a }}|{{ b }}>{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}", NULL),
                  "<1|d><2|3>");
    EXPECT_EQ_STR(R("{% macro w() %}[{{ caller() }}]{% endmacro %}{% call w() %}inner{% endcall %}", NULL),
                  "[inner]");
    EXPECT_EQ_STR(R("{% macro w() %}{{ caller(5) }}{% endmacro %}{% call(x) w() %}x={{ x }}{% endcall %}", NULL),
                  "x=5");
    EXPECT_EQ_STR(R("{% filter upper %}abc{{ 'd' }}{% endfilter %}", NULL), "ABCD");
    EXPECT_EQ_STR(R("{% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}", NULL),
                  "[1, 2]{\"k\": 3}");
}

TEST(jinja_expressions) {
    EXPECT_EQ_STR(R("{{ 2 ** 10 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }}", NULL),
                  "1024 -4 2 7 9");
    EXPECT_EQ_STR(R("{{ 'a' ~ 1 ~ true }} {{ 'x' + 'y' }} {{ 'ab' * 3 }}", NULL), "a1true xy ababab");
    EXPECT_EQ_STR(R("{{ 'b' in 'abc' }}{{ 2 in [1,2] }}{{ 'k' in {'k':1} }}{{ 3 not in [1] }}", NULL),
                  "truetruetruetrue");
    EXPECT_EQ_STR(R("{{ 'y' if x else 'n' }}{{ 'only' if x }}|", "{\"x\": false}"), "n|");
    EXPECT_EQ_STR(R("{{ not x and y or z }}", "{\"x\": false, \"y\": 0, \"z\": \"z\"}"), "z");
    EXPECT_EQ_STR(R("{{ s[1:3] }}{{ s[::-1] }}{{ s[-2:] }}{{ l[1:] }}{{ l[::2] }}",
                    "{\"s\": \"hello\", \"l\": [1,2,3,4]}"),
                  "elollehlo[2, 3, 4][1, 3]");
    EXPECT_EQ_STR(R("{{ m.a.b }}{{ m['a']['b'] }}{{ l[0] }}{{ l[-1] }}{{ l[9] }}|",
                    "{\"m\": {\"a\": {\"b\": 7}}, \"l\": [1, 2]}"),
                  "7712|");
    EXPECT_EQ_STR(R("{{ 'a\\tb\\n\\x41\\u00e9' }}", NULL), "a\tb\nA\xc3\xa9");
    EXPECT_EQ_STR(R("{{ 1 < 2 }}{{ 'a' < 'b' }}{{ 2 >= 3 }}{{ 1 == 1.0 }}{{ 'a' != 'a' }}", NULL),
                  "truetruefalsetruefalse");
    EXPECT_EQ_STR(R("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b', 'd') }}{{ {'a':1}.keys() }}"
                    "{{ {'a':1}.values() }}",
                    NULL),
                  "1d[\"a\"][1]");
}

TEST(jinja_tests) {
    EXPECT_EQ_STR(R("{{ x is defined }}{{ y is undefined }}{{ n is none }}{{ 's' is string }}"
                    "{{ 1 is number }}{{ 1 is integer }}{{ 1.5 is float }}{{ {} is mapping }}"
                    "{{ [] is iterable }}{{ 'x' is sequence }}{{ true is boolean }}{{ true is true }}"
                    "{{ 0 is false }}{{ 3 is equalto 3 }}{{ 4 is even }}{{ 3 is odd }}"
                    "{{ x is not none }}{{ range is callable }}{{ 9 is divisibleby(3) }}",
                    "{\"x\": 1, \"n\": null}"),
                  "truetruetruetruetruetruetruetruetruetruetruetruefalsetruetruetruetruetruetrue");
}

TEST(jinja_filters) {
    EXPECT_EQ_STR(R("{{ '  x  ' | trim }}|{{ 'ab' | upper }}{{ 'AB' | lower }}{{ 'hello world' | title }}"
                    "{{ 'hELLO' | capitalize }}",
                    NULL),
                  "x|ABabHello WorldHello");
    EXPECT_EQ_STR(R("{{ 'aXbX' | replace('X', '-') }}{{ [1,2,3] | join(',') }}{{ [1,2] | length }}"
                    "{{ 'héé' | length }}{{ [3,1] | first }}{{ [3,1] | last }}{{ {'a':1} | count }}",
                    NULL),
                  "a-b-1,2,323311");
    EXPECT_EQ_STR(R("{{ d | tojson }}", "{\"d\": {\"a\": [1, \"é\", null], \"b\": true}}"),
                  "{\"a\": [1, \"é\", null], \"b\": true}");
    EXPECT_EQ_STR(R("{{ d | tojson(indent=2) }}", "{\"d\": {\"a\": [1], \"b\": {}}}"),
                  "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}");
    EXPECT_EQ_STR(R("{{ 'é' | tojson(ensure_ascii=true) }}{{ {'b':1,'a':2} | tojson(sort_keys=true) }}", NULL),
                  "\"\\u00e9\"{\"a\": 2, \"b\": 1}");
    EXPECT_EQ_STR(R("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", NULL),
                  "a\n  b\n\n  c|  a\n  b");
    EXPECT_EQ_STR(R("{{ d | items | list }}", "{\"d\": {\"a\": 1}}"), "[[\"a\", 1]]");
    EXPECT_EQ_STR(R("{{ l | map(attribute='n') | list }}{{ ['a','b'] | map('upper') | join }}",
                    "{\"l\": [{\"n\": 1}, {\"n\": 2}]}"),
                  "[1, 2]AB");
    EXPECT_EQ_STR(R("{{ [1,2,3,4] | select('even') | list }}{{ [1,2,3] | reject('odd') | list }}", NULL),
                  "[2, 4][2]");
    EXPECT_EQ_STR(R("{{ l | selectattr('ok') | map(attribute='n') | join }}"
                    "{{ l | rejectattr('ok') | map(attribute='n') | join }}"
                    "{{ l | selectattr('n', 'equalto', 2) | length }}",
                    "{\"l\": [{\"n\": 1, \"ok\": true}, {\"n\": 2, \"ok\": false}]}"),
                  "121");
    EXPECT_EQ_STR(R("{{ x | default('d') }}{{ '' | default('e', true) }}{{ 0 | d('z') }}", NULL), "de0");
    EXPECT_EQ_STR(R("{{ '42' | int }}{{ 'x' | int }}{{ 3.9 | int }}{{ '2.5' | float }}{{ 3 | string }}"
                    "{{ 'a' | safe }}",
                    NULL),
                  "42032.53a");
    EXPECT_EQ_STR(R("{{ [3,1,2] | sort }}{{ [3,1,2] | sort(reverse=true) }}{{ ['b','A','a'] | sort }}"
                    "{{ l | sort(attribute='n') | map(attribute='n') | join }}",
                    "{\"l\": [{\"n\": 2}, {\"n\": 1}]}"),
                  "[1, 2, 3][3, 2, 1][\"A\", \"a\", \"b\"]12");
    EXPECT_EQ_STR(R("{{ [1,1,2] | unique | list }}{{ {'b':1,'a':2} | dictsort }}{{ 'a b  c' | wordcount }}"
                    "{{ -3 | abs }}{{ 2.567 | round(2) }}{{ [1,5,2] | max }}{{ [4,2] | min }}{{ [1,2] | sum }}",
                    NULL),
                  "[1, 2][[\"a\", 2], [\"b\", 1]]332.57523");
    EXPECT_EQ_STR(R("{{ '<a & \"b\">' | e }}{{ [1,2] | reverse | list }}", NULL),
                  "&lt;a &amp; &#34;b&#34;&gt;[2, 1]");
}

TEST(jinja_string_methods) {
    EXPECT_EQ_STR(R("[{{ '  a  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\na'.lstrip('\\n') }}]"
                    "[{{ 'a  '.rstrip() }}]",
                    NULL),
                  "[a][a][a][a]");
    EXPECT_EQ_STR(R("{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a,b,c'.split(',', 1) }}", NULL),
                  "[\"a\", \"b\", \"\", \"c\"][\"a\", \"b\"][\"a\", \"b,c\"]");
    EXPECT_EQ_STR(R("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'bc')) }}{{ 'Ab'.upper() }}"
                    "{{ 'Ab'.lower() }}{{ 'aXa'.replace('a', 'b') }}{{ 'aaa'.count('a') }}"
                    "{{ 'abc'.find('c') }}{{ 'ab cd'.title() }}",
                    NULL),
                  "truetrueABabbXb32Ab Cd");
    EXPECT_EQ_STR(R("{{ '{} and {}'.format(1, 'x') }}|{{ '{1}{0}'.format('a', 'b') }}|"
                    "{{ '{n}!'.format(n=3) }}|{{ '{{}}'.format() }}",
                    NULL),
                  "1 and x|ba|3!|{}");
    /* the qwen3 idiom */
    EXPECT_EQ_STR(R("{{ c.split('</think>')[-1].lstrip('\\n') }}|"
                    "{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
                    "{\"c\": \"<think>\\nwhy\\n</think>\\n\\nanswer\"}"),
                  "answer|why");
}

TEST(jinja_globals) {
    EXPECT_EQ_STR(R("{{ range(3) }}{{ range(1, 7, 2) }}{{ range(3, 0, -1) }}", NULL),
                  "[0, 1, 2][1, 3, 5][3, 2, 1]");
    EXPECT_EQ_STR(R("{{ dict(a=1) }}{{ namespace(x=1).x }}", NULL), "{\"a\": 1}1");
    smg_jinja_limits_t lim;
    smg_jinja_limits_default(&lim);
    lim.now = 86400 * 365; /* 1971-01-01 */
    setenv("TZ", "UTC", 1);
    EXPECT_EQ_STR(R2("{{ strftime_now('%Y-%m-%d') }}", NULL, &lim), "1971-01-01");
}

TEST(jinja_errors_name_the_line) {
    EXPECT_EQ_STR(R("line1\n{{ raise_exception('boom: ' ~ 3) }}", NULL), "ERR2: boom: 3");
    EXPECT_EQ_STR(R("a\nb\n{% if x %}\nunterminated", NULL),
                  "ERR4: unexpected end of template, expected '{% endif %}'");
    EXPECT_EQ_STR(R("ok\n{{ x | nosuchfilter }}", NULL), "ERR2: unknown filter 'nosuchfilter'");
    EXPECT_EQ_STR(R("\n\n{{ x is nosuchtest }}", NULL), "ERR3: unknown test 'nosuchtest'");
    EXPECT_EQ_STR(R("{{ 'a'.nosuchmethod() }}", NULL), "ERR1: unknown method 'nosuchmethod' for string");
    EXPECT_EQ_STR(R("\n{{ 1 + }}", NULL), "ERR2: unexpected '}}' '}}'");
    EXPECT_EQ_STR(R("{% frobnicate %}", NULL), "ERR1: unknown statement 'frobnicate'");
    EXPECT_EQ_STR(R("{{ 'x' - 1 }}", NULL), "ERR1: unsupported operand types for '-': string and integer");
    EXPECT_EQ_STR(R("{{ 'unterminated }}", NULL), "ERR1: unexpected end of input in a string literal");
    EXPECT_EQ_STR(R("{% set x = 1 %}{% set x.y = 2 %}", NULL),
                  "ERR1: cannot assign attribute 'y' on a integer (only namespace() objects)");
    EXPECT_EQ_STR(R("{{ 1 / 0 }}", NULL), "ERR1: division by zero");
    EXPECT_EQ_STR(R("{% break %}", NULL), "ERR1: 'break' outside of a loop");
    EXPECT_EQ_STR(R("{{ undefined_fn() }}", NULL), "ERR1: 'undefined_fn' is undefined, not a function");
}

TEST(jinja_limits_are_clean_errors) {
    smg_jinja_limits_t lim;
    smg_jinja_limits_default(&lim);
    lim.max_iterations = 1000;
    EXPECT_EQ_STR(R2("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", NULL, &lim),
                  "ERR1: loop iteration limit reached (1000)");
    EXPECT_EQ_STR(R("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL),
                  "ERR1: macro call depth limit reached (64)");
    lim.max_output = 100;
    lim.max_iterations = 1000000;
    EXPECT_EQ_STR(R2("{% for i in range(1000) %}xxxxxxxx{% endfor %}", NULL, &lim),
                  "ERR1: rendered output larger than 100 bytes");
    /* growth by doubling a namespace string: the memory cap stops it */
    smg_jinja_limits_default(&lim);
    lim.max_memory = 1 << 20;
    EXPECT(strncmp(R2("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                      "{% endfor %}",
                      NULL, &lim),
                   "ERR1: render memory limit", 25) == 0);
    /* deep nesting in the source is refused at parse time */
    char deep[2000];
    size_t k = 0;
    k += (size_t)snprintf(deep + k, sizeof deep - k, "{{ ");
    for (int i = 0; i < 600; i++)
        deep[k++] = '(';
    deep[k++] = '1';
    for (int i = 0; i < 600; i++)
        deep[k++] = ')';
    deep[k] = '\0';
    snprintf(deep + k, sizeof deep - k, " }}");
    EXPECT(strncmp(R(deep, NULL), "ERR1: template nested too deeply", 31) == 0);
}

TEST(jinja_render_error_leaves_output_untouched) {
    smg_jinja_tmpl_t *t;
    smg_jinja_err_t err;
    const char *src = "partial{{ raise_exception('no') }}";
    EXPECT_EQ_INT(smg_jinja_parse(src, strlen(src), &t, &err), SMG_OK);
    smg_buf_t out;
    smg_buf_init(&out, 0);
    EXPECT(smg_buf_append_c(&out, "keep") == SMG_OK);
    EXPECT_EQ_INT(smg_jinja_render(t, NULL, NULL, &out, &err), SMG_EINVAL);
    EXPECT_EQ_MEM(out.ptr, out.len, "keep");
    EXPECT_EQ_STR(err.msg, "no");
    smg_buf_free(&out);
    smg_jinja_free(t);
}

TEST(jinja_content_format_detection) {
    const char *list_tpls[] = {"{% for p in message.content %}{% endfor %}",
                               "{{ m['content'][0]['text'] }}", "{{ message.content | length }}",
                               "{% for c in content if c.type == 'text' %}{% endfor %}"};
    for (size_t i = 0; i < sizeof list_tpls / sizeof list_tpls[0]; i++) {
        smg_jinja_tmpl_t *t;
        EXPECT_EQ_INT(smg_jinja_parse(list_tpls[i], strlen(list_tpls[i]), &t, NULL), SMG_OK);
        EXPECT(smg_jinja_uses_content_list(t));
        smg_jinja_free(t);
    }
    const char *s = "{{ message['content'] | trim }}{% for m in messages %}{{ m.content }}{% endfor %}";
    smg_jinja_tmpl_t *t;
    EXPECT_EQ_INT(smg_jinja_parse(s, strlen(s), &t, NULL), SMG_OK);
    EXPECT(!smg_jinja_uses_content_list(t));
    smg_jinja_free(t);
}
