/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the options layer: defaults, every key's type and bounds
 * errors, tls/cluster/gateway messages with their positions (the expected
 * texts were taken from nats-server 2.9.10 -t on the same input), startup
 * validation, and the certificate checks of a tls block. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "opts.h"
#include "opts_internal.h"

static struct opts o;
static struct opts_diag d;
static struct conf_doc *doc;

static void opts_t_setup(void)
{
    memset(&d, 0, sizeof(d));
    doc = NULL;
    opts_init(&o);
}

static void opts_t_teardown(void)
{
    opts_free(&o);
    opts_diag_free(&d);
    conf_free(doc);
    doc = NULL;
}

TestSuite(opts, .init = opts_t_setup, .fini = opts_t_teardown);

/* Parse text as file "t.conf" and apply it to the fresh o. */
static int opts_t_load(const char *text)
{
    struct conf_error e;
    memset(&e, 0, sizeof(e));
    conf_free(doc);
    doc = NULL;
    int rc = conf_parse_string(text, strlen(text), "t.conf", &doc, &e);
    cr_assert_eq(rc, 0, "parse of [%s] failed: %s", text, e.msg);
    return opts_apply_conf(&o, conf_root(doc), &d);
}

/* Warnings then errors, as nats-server prints them. */
static const char *opts_t_diag(size_t i)
{
    if (i < d.warnings.n)
        return d.warnings.v[i];
    i -= d.warnings.n;
    return i < d.errors.n ? d.errors.v[i] : NULL;
}

struct opts_case {
    const char *conf;
    const char *want[2];
};

static void opts_t_run_cases(const struct opts_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        opts_free(&o);
        opts_diag_free(&d);
        opts_t_load(c[i].conf);
        size_t got = d.warnings.n + d.errors.n;
        size_t want = c[i].want[1] ? 2 : 1;
        cr_expect_eq(got, want, "[%s]: %zu diagnostics, first: %s", c[i].conf, got,
                     got ? opts_t_diag(0) : "(none)");
        for (size_t j = 0; j < want && j < got; j++)
            cr_expect_str_eq(opts_t_diag(j), c[i].want[j], "[%s]", c[i].conf);
    }
}

static const struct opts_case opts_cases_top[] = {
    {"port: \"abc\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"port: {a: 1}",
     {"t.conf:1:0: interface conversion: interface {} is map[string]interface {}, not int64",
      NULL}},
    {"port: [1 ]",
     {"t.conf:1:0: interface conversion: interface {} is []interface {}, not int64", NULL}},
    {"port: 1.5", {"t.conf:1:0: interface conversion: interface {} is float64, not int64", NULL}},
    {"port: true", {"t.conf:1:0: interface conversion: interface {} is bool, not int64", NULL}},
    {"port: 2020-01-01T00:00:00Z",
     {"t.conf:1:0: interface conversion: interface {} is time.Time, not int64", NULL}},
    {"debug: 1", {"t.conf:1:0: interface conversion: interface {} is int64, not bool", NULL}},
    {"trace_verbose: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not bool", NULL}},
    {"host: 1", {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"net: 1", {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"client_advertise: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"server_name: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"http_base_path: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"log_file: true",
     {"t.conf:1:0: interface conversion: interface {} is bool, not string", NULL}},
    {"logfile: true", {"t.conf:1:0: interface conversion: interface {} is bool, not string", NULL}},
    {"pid_file: 1", {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"ports_file_dir: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"remote_syslog: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"syslog: \"x\"", {"t.conf:1:0: interface conversion: interface {} is string, not bool", NULL}},
    {"logtime: 1", {"t.conf:1:0: interface conversion: interface {} is int64, not bool", NULL}},
    {"no_header_support: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not bool", NULL}},
    {"disable_sublist_cache: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not bool", NULL}},
    {"no_sublist_cache: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not bool", NULL}},
    {"allow_non_tls: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not bool", NULL}},
    {"no_system_account: 1",
     {"t.conf:1:0: interface conversion: interface {} is int64, not bool", NULL}},
    {"no_sys_acc: 1", {"t.conf:1:0: interface conversion: interface {} is int64, not bool", NULL}},
    {"no_auth_user: 5",
     {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"max_payload: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"max_pending: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"max_control_line: 1.0",
     {"t.conf:1:0: interface conversion: interface {} is float64, not int64", NULL}},
    {"max_connections: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"max_conn: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"max_subscriptions: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"max_subs: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"max_traced_msg_len: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"ping_max: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"prof_port: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"http_port: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"monitor_port: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"https_port: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"log_size_limit: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"logfile_size_limit: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"connect_error_reports: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"reconnect_error_reports: \"x\"",
     {"t.conf:1:0: interface conversion: interface {} is string, not int64", NULL}},
    {"max_payload: 3000000000", {"t.conf:1:0: max_payload value is too big", NULL}},
    {"MAX_PAYLOAD: 3000000000", {"t.conf:1:0: MAX_PAYLOAD value is too big", NULL}},
    {"max_control_line: 2147483648", {"t.conf:1:0: max_control_line value is too big", NULL}},
    {"max_sub_tokens: 0", {"t.conf:1:0: max_sub_tokens value can not be negative", NULL}},
    {"max_sub_tokens: 256", {"t.conf:1:0: max_sub_tokens value is too big", NULL}},
    {"max_subscription_tokens: -1",
     {"t.conf:1:0: max_subscription_tokens value can not be negative", NULL}},
    {"listen: true", {"t.conf:1:0: expected port or host:port, got bool", NULL}},
    {"listen: \"abc\"", {"t.conf:1:0: could not parse address string \"abc\"", NULL}},
    {"listen: \"a:b\"", {"t.conf:1:0: could not parse port \"b\"", NULL}},
    {"listen: \"a:b:1\"", {"t.conf:1:0: could not parse address string \"a:b:1\"", NULL}},
    {"http: \"abc\"", {"t.conf:1:0: could not parse address string \"abc\"", NULL}},
    {"https: 1.5", {"t.conf:1:0: expected port or host:port, got float64", NULL}},
    {"ping_interval: \"abc\"",
     {"t.conf:1:0: error parsing ping_interval: time: invalid duration \"abc\"", NULL}},
    {"ping_interval: 5",
     {"t.conf:1:0: invalid use of field \"ping_interval\": ping_interval should be converted to a "
      "duration",
      NULL}},
    {"ping_interval: 1.5",
     {"t.conf:1:0: invalid use of field \"ping_interval\": ping_interval should be converted to a "
      "duration",
      "t.conf:1:0: interface conversion: interface {} is float64, not int64"}},
    {"write_deadline: \"5\"",
     {"t.conf:1:0: error parsing write_deadline: time: missing unit in duration \"5\"", NULL}},
    {"write_deadline: \"5x\"",
     {"t.conf:1:0: error parsing write_deadline: time: unknown unit \"x\" in duration \"5x\"",
      NULL}},
    {"write_deadline: 10",
     {"t.conf:1:0: invalid use of field \"write_deadline\": write_deadline should be converted to "
      "a duration",
      NULL}},
    {"lame_duck_duration: \"10s\"",
     {"t.conf:1:0: invalid lame_duck_duration of 10s, minimum is 30 seconds", NULL}},
    {"lame_duck_duration: 60",
     {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"lame_duck_duration: \"x\"",
     {"t.conf:1:0: error parsing lame_duck_duration: time: invalid duration \"x\"", NULL}},
    {"lame_duck_grace_period: \"-1s\"",
     {"t.conf:1:0: invalid lame_duck_grace_period, needs to be positive", NULL}},
    {"lame_duck_grace_period: \"1h-\"",
     {"t.conf:1:0: error parsing lame_duck_grace_period: time: unknown unit \"h-\" in duration "
      "\"1h-\"",
      NULL}},
    {"server_tags: [a, 1 ]",
     {"t.conf:1:0: error parsing tags: unsupported type *conf.token where string is expected",
      NULL}},
    {"server_tags: 5", {"t.conf:1:0: error parsing tags: unsupported type int64", NULL}},
    {"system_account: 5", {"t.conf:1:0: system account name must be a string", NULL}},
    {"system: 5", {"t.conf:1:0: system account name must be a string", NULL}},
    {"foo: 1", {"t.conf:1:0: unknown field \"foo\"", NULL}},
    {"port: 1\nFoo_Bar: 2", {"t.conf:2:1: unknown field \"Foo_Bar\"", NULL}},
    {"leafnodes: 5", {"t.conf:1:0: Expected map to define a leafnode, got int64", NULL}},
    {"leaf: [1 ]", {"t.conf:1:0: Expected map to define a leafnode, got []interface {}", NULL}},
    {"jetstream: 5",
     {"t.conf:1:0: Expected map, bool or string to define JetStream, got int64", NULL}},
    {"jetstream: \"foo\"",
     {"t.conf:1:0: Expected 'enabled' or 'disabled' for string value, got 'foo'", NULL}},
    {"websocket: 5", {"t.conf:1:0: Expected websocket to be a map, got int64", NULL}},
    {"ws: 5", {"t.conf:1:0: Expected websocket to be a map, got int64", NULL}},
    {"mqtt: 5", {"t.conf:1:0: Expected mqtt to be a map, got int64", NULL}},
    {"mappings: 5",
     {"t.conf:1:0: interface conversion: interface {} is int64, not map[string]interface {}",
      NULL}},
    {"store_dir: 5", {"t.conf:1:0: interface conversion: interface {} is int64, not string", NULL}},
    {"operator: 5", {"t.conf:1:0: error parsing operators: unsupported type int64", NULL}},
    {"resolver: 5", {"t.conf:1:0: error parsing operator resolver, wrong type int64", NULL}},
    {"trusted: 5", {"t.conf:1:0: error parsing trusted: unsupported type int64", NULL}},
    {"ocsp: 5", {"t.conf:1:0: error parsing ocsp config: unsupported type int64", NULL}},
    {"default_js_domain: 5",
     {"t.conf:1:0: error default_js_domain config: unsupported type int64", NULL}},
    {"resolver_preload: 5",
     {"t.conf:1:0: preload should be a map of account_public_key:account_jwt", NULL}},
    {"resolver_pinned_accounts: 5",
     {"t.conf:1:0: error parsing resolver_pinned_accounts: unsupported type int64", NULL}},
    {"resolver_tls: 5",
     {"t.conf:1:0: interface conversion: interface {} is int64, not map[string]interface {}",
      NULL}},
};

static const struct opts_case opts_cases_tls[] = {
    {"tls: 5",
     {"t.conf:1:0: interface conversion: interface {} is int64, not map[string]interface {}",
      NULL}},
    {"tls: {foo: 1}", {"t.conf:1:6: error parsing tls config, unknown field [\"foo\"]", NULL}},
    {"tls {cert_file: 1}",
     {"t.conf:1:5: error parsing tls config, expected 'cert_file' to be filename", NULL}},
    {"tls {key_file: 1}",
     {"t.conf:1:5: error parsing tls config, expected 'key_file' to be filename", NULL}},
    {"tls {ca_file: 1}",
     {"t.conf:1:5: error parsing tls config, expected 'ca_file' to be filename", NULL}},
    {"tls {cert_file: \"a.pem\"}", {"t.conf:1:0: missing 'key_file' in TLS configuration", NULL}},
    {"tls {key_file: \"a.pem\"}", {"t.conf:1:0: missing 'cert_file' in TLS configuration", NULL}},
    {"tls {cert_file: \"nope.pem\", key_file: \"b.pem\"}",
     {"t.conf:1:0: error parsing X509 certificate/key pair: open nope.pem: no such file or "
      "directory",
      NULL}},
    {"tls {verify: 1}",
     {"t.conf:1:5: error parsing tls config, expected 'verify' to be a boolean", NULL}},
    {"tls {insecure: \"x\"}",
     {"t.conf:1:5: error parsing tls config, expected 'insecure' to be a boolean", NULL}},
    {"tls {verify_and_map: 1}",
     {"t.conf:1:5: error parsing tls config, expected 'verify_and_map' to be a boolean", NULL}},
    {"tls {verify_cert_and_check_known_urls: 1}",
     {"t.conf:1:5: error parsing tls config, expected 'verify_cert_and_check_known_urls' to be a "
      "boolean",
      NULL}},
    {"tls {verify_cert_and_check_known_urls: true}",
     {"t.conf:1:5: verify_cert_and_check_known_urls not supported in this context", NULL}},
    {"tls {cipher_suites: []}",
     {"t.conf:1:5: error parsing tls config, 'cipher_suites' cannot be empty", NULL}},
    {"tls {cipher_suites: [\"foo\"]}", {"t.conf:1:22: unrecognized cipher foo", NULL}},
    {"tls {cipher_suites: \"foo\"}",
     {"t.conf:1:5: interface conversion: interface {} is string, not []interface {}", NULL}},
    {"tls {cipher_suites: [1 ]}",
     {"t.conf:1:21: interface conversion: interface {} is int64, not string", NULL}},
    {"tls {curve_preferences: []}",
     {"t.conf:1:5: error parsing tls config, 'curve_preferences' cannot be empty", NULL}},
    {"tls {curve_preferences: [\"x\"]}", {"t.conf:1:26: unrecognized curve preference x", NULL}},
    {"tls {timeout: \"x\"}",
     {"t.conf:1:5: error parsing tls config, 'timeout' time: invalid duration \"x\"", NULL}},
    {"tls {timeout: true}", {"t.conf:1:5: error parsing tls config, 'timeout' wrong type", NULL}},
    {"tls {connection_rate_limit: 1.5}",
     {"t.conf:1:5: error parsing tls config, 'connection_rate_limit' wrong type", NULL}},
    {"tls {pinned_certs: 5}",
     {"t.conf:1:5: error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded "
      "sha256 of DER encoded SubjectPublicKeyInfo",
      NULL}},
    {"tls {pinned_certs: [\"abc\"]}",
     {"t.conf:1:21: error parsing tls config, 'pinned_certs' key abc does not look like "
      "hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
      NULL}},
    {"tls {pinned_certs: [1 ]}",
     {"t.conf:1:20: interface conversion: interface {} is int64, not string", NULL}},
    {"tls {ca_file: \"nope.pem\"}", {"t.conf:1:0: open nope.pem: no such file or directory", NULL}},
    {"tls {ca_file: \"/tmp\"}", {"t.conf:1:0: read /tmp: is a directory", NULL}},
};

static const struct opts_case opts_cases_cluster[] = {
    {"cluster: 5", {"t.conf:1:0: Expected map to define cluster, got int64", NULL}},
    {"cluster: [1 ]", {"t.conf:1:0: Expected map to define cluster, got []interface {}", NULL}},
    {"cluster {pool_size: 3}", {"t.conf:1:9: unknown field \"pool_size\"", NULL}},
    {"cluster {name: 5}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not string", NULL}},
    {"cluster {port: \"x\"}",
     {"t.conf:1:9: interface conversion: interface {} is string, not int64", NULL}},
    {"cluster {host: 5}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not string", NULL}},
    {"cluster {net: 5}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not string", NULL}},
    {"cluster {listen: \"a\"}", {"t.conf:1:9: could not parse address string \"a\"", NULL}},
    {"cluster {listen: true}", {"t.conf:1:9: expected port or host:port, got bool", NULL}},
    {"cluster {advertise: 5}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not string", NULL}},
    {"cluster {cluster_advertise: 5}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not string", NULL}},
    {"cluster {no_advertise: 1}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not bool", NULL}},
    {"cluster {connect_retries: \"x\"}",
     {"t.conf:1:9: interface conversion: interface {} is string, not int64", NULL}},
    {"cluster {routes: \"nats://a:1\"}",
     {"t.conf:1:9: interface conversion: interface {} is string, not []interface {}", NULL}},
    {"cluster {routes: [1 ]}",
     {"t.conf:1:18: interface conversion: interface {} is int64, not string", NULL}},
    {"cluster {routes: [\"nats://a:1\", \"nats://a:1\"]}",
     {"t.conf:1:33: invalid use of field \"nats://a:1\": Duplicate route entry detected", NULL}},
    {"cluster {routes: [\"nats://a b:1\"]}",
     {"t.conf:1:19: error parsing route url [\"nats://a b:1\"]", NULL}},
    {"cluster {routes: [\"://x\"]}", {"t.conf:1:19: error parsing route url [\"://x\"]", NULL}},
    {"cluster {routes: [\"%zz\"]}", {"t.conf:1:19: error parsing route url [\"%zz\"]", NULL}},
    {"cluster {routes: [\"nats://a:b\"]}",
     {"t.conf:1:19: error parsing route url [\"nats://a:b\"]", NULL}},
    {"cluster {routes: [\"nats://[::1\"]}",
     {"t.conf:1:19: error parsing route url [\"nats://[::1\"]", NULL}},
    {"cluster {tls: 5}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not map[string]interface {}",
      NULL}},
    {"cluster {tls: {foo: 1}}",
     {"t.conf:1:15: error parsing tls config, unknown field [\"foo\"]", NULL}},
    {"cluster {tls: {cert_file: \"a.pem\"}}",
     {"t.conf:1:9: missing 'key_file' in TLS configuration", NULL}},
};

static const struct opts_case opts_cases_gateway[] = {
    {"gateway: 5", {"t.conf:1:0: Expected gateway to be a map, got int64", NULL}},
    {"gateway: \"x\"", {"t.conf:1:0: Expected gateway to be a map, got string", NULL}},
    {"gateway {foo: 1}", {"t.conf:1:9: unknown field \"foo\"", NULL}},
    {"gateway {name: 5}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not string", NULL}},
    {"gateway {port: \"x\"}",
     {"t.conf:1:9: interface conversion: interface {} is string, not int64", NULL}},
    {"gateway {host: 5}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not string", NULL}},
    {"gateway {listen: \"a\"}", {"t.conf:1:9: could not parse address string \"a\"", NULL}},
    {"gateway {advertise: 5}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not string", NULL}},
    {"gateway {connect_retries: \"x\"}",
     {"t.conf:1:9: interface conversion: interface {} is string, not int64", NULL}},
    {"gateway {reject_unknown: 1}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not bool", NULL}},
    {"gateway {reject_unknown_cluster: 1}",
     {"t.conf:1:9: interface conversion: interface {} is int64, not bool", NULL}},
    {"gateway {tls: {foo: 1}}",
     {"t.conf:1:15: error parsing tls config, unknown field [\"foo\"]", NULL}},
    {"gateway {gateways: 5}", {"Expected gateways field to be an array, got int64", NULL}},
    {"gateway {gateways: {a: 1}}",
     {"Expected gateways field to be an array, got map[string]interface {}", NULL}},
    {"gateway {gateways: [1 ]}",
     {"t.conf:1:20: Expected gateway entry to be a map/struct, got 1", NULL}},
    {"gateway {gateways: [true]}",
     {"t.conf:1:20: Expected gateway entry to be a map/struct, got true", NULL}},
    {"gateway {gateways: [\"x\"]}",
     {"t.conf:1:21: Expected gateway entry to be a map/struct, got x", NULL}},
    {"gateway {gateways: [2.5 ]}",
     {"t.conf:1:20: Expected gateway entry to be a map/struct, got 2.5", NULL}},
    {"gateway {gateways: [{name: \"B\", url: \"nats://a:1\", urls: [\"nats://b:1\", "
     "\"nats://b:1\"]}]}",
     {"t.conf:1:73: invalid use of field \"nats://b:1\": Duplicate gateway entry detected", NULL}},
    {"gateway {gateways: [{name: \"B\", url: \"nats://a b:1\"}]}",
     {"t.conf:1:32: error parsing gateway url [\"nats://a b:1\"]", NULL}},
    {"gateway {gateways: [{name: \"B\", url: 5}]}",
     {"t.conf:1:32: interface conversion: interface {} is int64, not string", NULL}},
    {"gateway {gateways: [{name: \"B\", foo: 5}]}", {"t.conf:1:32: unknown field \"foo\"", NULL}},
    {"gateway {gateways: [{name: 5}]}",
     {"t.conf:1:21: interface conversion: interface {} is int64, not string", NULL}},
    {"gateway {gateways: [{name: \"B\", tls: {foo: 1}}]}",
     {"t.conf:1:38: error parsing tls config, unknown field [\"foo\"]", NULL}},
    {"gateway {gateways: [{name: \"B\", urls: \"x\"}]}",
     {"t.conf:1:32: interface conversion: interface {} is string, not []interface {}", NULL}},
    {"gateway {gateways: [{name: \"B\", urls: [1 ]}]}",
     {"t.conf:1:39: interface conversion: interface {} is int64, not string", NULL}},
    {"gateway {gateways: [{name: \"B\", urls: [\"nats://a b:1\"]}]}",
     {"t.conf:1:40: error parsing gateway url [\"nats://a b:1\"]", NULL}},
    {"gateway {\n  name: \"A\"\n  gateways: [\n    {name: \"B\", url: \"nats://h:1\"}\n    {name: "
     "\"B\", tls: {timeout: \"zz\"}}\n  ]\n}",
     {"t.conf:5:23: error parsing tls config, 'timeout' time: invalid duration \"zz\"", NULL}},
};

Test(opts, cases_top)
{
    opts_t_run_cases(opts_cases_top, sizeof(opts_cases_top) / sizeof(opts_cases_top[0]));
}

Test(opts, cases_tls)
{
    opts_t_run_cases(opts_cases_tls, sizeof(opts_cases_tls) / sizeof(opts_cases_tls[0]));
}

Test(opts, cases_cluster)
{
    opts_t_run_cases(opts_cases_cluster,
                     sizeof(opts_cases_cluster) / sizeof(opts_cases_cluster[0]));
}

Test(opts, cases_gateway)
{
    opts_t_run_cases(opts_cases_gateway,
                     sizeof(opts_cases_gateway) / sizeof(opts_cases_gateway[0]));
}

Test(opts, defaults)
{
    cr_expect_null(o.host, "NULL reads as 0.0.0.0");
    cr_expect_eq(o.port, 4222);
    cr_expect_eq(o.threads, 0);
    cr_expect_null(o.client_advertise);
    cr_expect_null(o.server_name);
    cr_expect_eq(o.server_tags.n, 0);
    cr_expect_null(o.http_host);
    cr_expect_eq(o.http_port, 0);
    cr_expect_eq(o.https_port, 0);
    cr_expect_null(o.http_base_path);
    cr_expect_eq(o.max_payload, 1048576);
    cr_expect_eq(o.max_pending, 64LL * 1024 * 1024);
    cr_expect_eq(o.max_control_line, 4096);
    cr_expect_eq(o.max_connections, 65536);
    cr_expect_eq(o.max_subs, 0);
    cr_expect_eq(o.max_sub_tokens, 0);
    cr_expect_eq(o.max_traced_msg_len, 0);
    cr_expect_eq(o.ping_interval_ns, 120LL * 1000000000LL);
    cr_expect_eq(o.ping_max, 2);
    cr_expect_eq(o.write_deadline_ns, 10LL * 1000000000LL);
    cr_expect_eq(o.lame_duck_duration_ns, 120LL * 1000000000LL);
    cr_expect_eq(o.lame_duck_grace_period_ns, 10LL * 1000000000LL);
    cr_expect_not(o.no_header_support);
    cr_expect_not(o.disable_sublist_cache);
    cr_expect_not(o.debug);
    cr_expect_not(o.trace);
    cr_expect_not(o.trace_verbose);
    cr_expect(o.logtime);
    cr_expect_null(o.log_file);
    cr_expect_eq(o.log_size_limit, 0);
    cr_expect_not(o.syslog);
    cr_expect_null(o.remote_syslog);
    cr_expect_null(o.pid_file);
    cr_expect_null(o.ports_file_dir);
    cr_expect_eq(o.prof_port, 0);
    cr_expect_eq(o.connect_error_reports, 3600);
    cr_expect_eq(o.reconnect_error_reports, 1);
    cr_expect_null(o.username);
    cr_expect_null(o.password);
    cr_expect_null(o.token);
    cr_expect_float_eq(o.auth_timeout, 2.0, 1e-9);
    cr_expect_not(o.auth_timeout_set);
    cr_expect_eq(o.n_users, 0);
    cr_expect_null(o.no_auth_user);
    cr_expect_eq(o.n_accounts, 0);
    cr_expect_null(o.system_account);
    cr_expect_not(o.no_system_account);
    cr_expect_not(o.tls.set);
    cr_expect_float_eq(o.tls.timeout, 2.0, 1e-9);
    cr_expect_not(o.allow_non_tls);
    cr_expect_null(o.cluster.name);
    cr_expect_null(o.cluster.host);
    cr_expect_eq(o.cluster.port, 0);
    cr_expect_eq(o.cluster.routes.n, 0);
    cr_expect_null(o.cluster.perms);
    cr_expect_not(o.cluster.no_advertise);
    cr_expect_eq(o.cluster.connect_retries, 0);
    cr_expect_float_eq(o.cluster.auth_timeout, 2.0, 1e-9);
    cr_expect_null(o.gateway.name);
    cr_expect_eq(o.gateway.port, 0);
    cr_expect_eq(o.gateway.n_gateways, 0);
    cr_expect_not(o.gateway.reject_unknown);
    cr_expect_eq(o.gateway.connect_retries, 0);
    cr_expect_eq(o.unsupported.n, 0);
}

Test(opts, baseline)
{
    opts_set_baseline(&o);
    cr_expect_str_eq(o.host, "0.0.0.0");
    cr_expect_str_eq(o.http_host, "0.0.0.0");
    cr_expect_eq(o.port, 4222);
    cr_expect_float_eq(o.auth_timeout, 2.0, 1e-9);
    cr_expect_null(o.cluster.host, "no cluster port: no cluster host");
    cr_expect_null(o.cluster.name);
    opts_free(&o);
    cr_assert_eq(opts_t_load("port: 0\nmax_payload: 0\nping_max: 0\nhost: \"\"\n"), 0);
    opts_set_baseline(&o);
    cr_expect_eq(o.port, 4222);
    cr_expect_eq(o.max_payload, 1048576);
    cr_expect_eq(o.ping_max, 2);
    cr_expect_str_eq(o.host, "0.0.0.0");
}

Test(opts, empty_config_is_valid)
{
    cr_expect_eq(opts_t_load(""), 0);
    char err[256];
    cr_expect_eq(opts_validate(&o, err, sizeof(err)), 0, "%s", err);
}

Test(opts, top_level_values)
{
    int rc = opts_t_load("port: 4333\n"
                         "host: \"127.0.0.1\"\n"
                         "client_advertise: \"ca:1\"\n"
                         "server_name: srv1\n"
                         "threads: 8\n"
                         "http_port: 8222\n"
                         "https_port: 8443\n"
                         "http_base_path: \"/mon\"\n"
                         "max_payload: 2MB\n"
                         "max_pending: 100MB\n"
                         "max_control_line: 8192\n"
                         "max_connections: 100\n"
                         "max_subscriptions: 1000\n"
                         "max_sub_tokens: 16\n"
                         "max_traced_msg_len: 64\n"
                         "ping_interval: \"30s\"\n"
                         "ping_max: 5\n"
                         "write_deadline: \"1.5s\"\n"
                         "lame_duck_duration: \"1m30s\"\n"
                         "lame_duck_grace_period: \"5s\"\n"
                         "no_header_support: true\n"
                         "disable_sublist_cache: true\n"
                         "debug: true\n"
                         "logtime: false\n"
                         "log_file: \"/tmp/x.log\"\n"
                         "log_size_limit: 1KB\n"
                         "syslog: true\n"
                         "remote_syslog: \"udp://h:514\"\n"
                         "pid_file: \"/tmp/p\"\n"
                         "ports_file_dir: \"/tmp\"\n"
                         "prof_port: 6060\n"
                         "connect_error_reports: 10\n"
                         "reconnect_error_reports: 20\n"
                         "no_auth_user: bob\n"
                         "system_account: SYS\n"
                         "no_system_account: true\n"
                         "allow_non_tls: true\n"
                         "server_tags: [\"a:1\", b]\n");
    cr_assert_eq(rc, 0, "%s", opts_t_diag(0));
    cr_expect_eq(o.port, 4333);
    cr_expect_str_eq(o.host, "127.0.0.1");
    cr_expect_str_eq(o.client_advertise, "ca:1");
    cr_expect_str_eq(o.server_name, "srv1");
    cr_expect_eq(o.threads, 8);
    cr_expect_eq(o.http_port, 8222);
    cr_expect_eq(o.https_port, 8443);
    cr_expect_str_eq(o.http_base_path, "/mon");
    cr_expect_eq(o.max_payload, 2 * 1024 * 1024);
    cr_expect_eq(o.max_pending, 100LL * 1024 * 1024);
    cr_expect_eq(o.max_control_line, 8192);
    cr_expect_eq(o.max_connections, 100);
    cr_expect_eq(o.max_subs, 1000);
    cr_expect_eq(o.max_sub_tokens, 16);
    cr_expect_eq(o.max_traced_msg_len, 64);
    cr_expect_eq(o.ping_interval_ns, 30LL * 1000000000LL);
    cr_expect_eq(o.ping_max, 5);
    cr_expect_eq(o.write_deadline_ns, 1500000000LL);
    cr_expect_eq(o.lame_duck_duration_ns, 90LL * 1000000000LL);
    cr_expect_eq(o.lame_duck_grace_period_ns, 5LL * 1000000000LL);
    cr_expect(o.no_header_support);
    cr_expect(o.disable_sublist_cache);
    cr_expect(o.debug);
    cr_expect_not(o.logtime);
    cr_expect_str_eq(o.log_file, "/tmp/x.log");
    cr_expect_eq(o.log_size_limit, 1024);
    cr_expect(o.syslog);
    cr_expect_str_eq(o.remote_syslog, "udp://h:514");
    cr_expect_str_eq(o.pid_file, "/tmp/p");
    cr_expect_str_eq(o.ports_file_dir, "/tmp");
    cr_expect_eq(o.prof_port, 6060);
    cr_expect_eq(o.connect_error_reports, 10);
    cr_expect_eq(o.reconnect_error_reports, 20);
    cr_expect_str_eq(o.no_auth_user, "bob");
    cr_expect_str_eq(o.system_account, "SYS");
    cr_expect(o.no_system_account);
    cr_expect(o.allow_non_tls);
    cr_assert_eq(o.server_tags.n, 2);
    cr_expect_str_eq(o.server_tags.v[0], "a:1");
    cr_expect_str_eq(o.server_tags.v[1], "b");
}

/* nats-server's TagList.Add: trimmed, lower case, once, never empty. */
Test(opts, server_tags_normalised)
{
    cr_assert_eq(opts_t_load("server_tags: [\"Az:1\", \" rack:2 \", \"az:1\", \"\", \"RACK:2\"]\n"),
                 0);
    cr_assert_eq(o.server_tags.n, 2);
    cr_expect_str_eq(o.server_tags.v[0], "az:1");
    cr_expect_str_eq(o.server_tags.v[1], "rack:2");
    opts_free(&o);
    opts_init(&o);
    cr_assert_eq(opts_t_load("server_tags: \"CPU:Fast\"\n"), 0);
    cr_assert_eq(o.server_tags.n, 1);
    cr_expect_str_eq(o.server_tags.v[0], "cpu:fast");
}

Test(opts, aliases)
{
    int rc = opts_t_load("net: \"1.2.3.4\"\n"
                         "monitor_port: 9000\n"
                         "max_conn: 7\n"
                         "max_subs: 9\n"
                         "max_subscription_tokens: 3\n"
                         "logfile: \"/tmp/l\"\n"
                         "logfile_size_limit: 5\n"
                         "pidfile: \"/tmp/pp\"\n"
                         "system: SYS2\n"
                         "no_sys_acc: true\n"
                         "no_sublist_cache: true\n"
                         "trace_verbose: true\n");
    cr_assert_eq(rc, 0, "%s", opts_t_diag(0));
    cr_expect_str_eq(o.host, "1.2.3.4");
    cr_expect_eq(o.http_port, 9000);
    cr_expect_eq(o.max_connections, 7);
    cr_expect_eq(o.max_subs, 9);
    cr_expect_eq(o.max_sub_tokens, 3);
    cr_expect_str_eq(o.log_file, "/tmp/l");
    cr_expect_eq(o.log_size_limit, 5);
    cr_expect_str_eq(o.pid_file, "/tmp/pp");
    cr_expect_str_eq(o.system_account, "SYS2");
    cr_expect(o.no_system_account);
    cr_expect(o.disable_sublist_cache);
    cr_expect(o.trace_verbose);
    cr_expect(o.trace, "trace_verbose turns trace on");
}

Test(opts, keys_ignore_case)
{
    cr_assert_eq(opts_t_load("PORT: 1234\nMax_Payload: 100\nCluster { PORT: 6222 }\n"), 0, "%s",
                 opts_t_diag(0));
    cr_expect_eq(o.port, 1234);
    cr_expect_eq(o.max_payload, 100);
    cr_expect_eq(o.cluster.port, 6222);
}

Test(opts, system_account_wins_over_system)
{
    cr_assert_eq(opts_t_load("system: B\nsystem_account: A\n"), 0);
    cr_expect_str_eq(o.system_account, "A");
}

Test(opts, listen_forms)
{
    cr_assert_eq(opts_t_load("listen: \"127.0.0.1:4999\"\n"), 0);
    cr_expect_str_eq(o.host, "127.0.0.1");
    cr_expect_eq(o.port, 4999);
    opts_free(&o);
    cr_assert_eq(opts_t_load("listen: \"[::1]:5000\"\n"), 0);
    cr_expect_str_eq(o.host, "::1");
    cr_expect_eq(o.port, 5000);
    opts_free(&o);
    cr_assert_eq(opts_t_load("listen: 5001\n"), 0);
    cr_expect_eq(o.port, 5001);
    opts_set_baseline(&o);
    cr_expect_str_eq(o.host, "0.0.0.0");
    opts_free(&o);
    cr_assert_eq(opts_t_load("listen: \"h:-1\"\n"), 0);
    cr_expect_eq(o.port, -1);
    opts_free(&o);
    cr_assert_eq(opts_t_load("listen: \":4222\"\n"), 0);
    cr_expect_str_eq(o.host, "");
    opts_free(&o);
    cr_assert_eq(opts_t_load("http: \"localhost:8222\"\nhttps: 8443\n"), 0);
    cr_expect_str_eq(o.http_host, "");
    cr_expect_eq(o.http_port, 8222);
    cr_expect_eq(o.https_port, 8443);
}

Test(opts, durations)
{
    cr_assert_eq(opts_t_load("ping_interval: \"1h30m\"\nwrite_deadline: \"500ms\"\n"), 0);
    cr_expect_eq(o.ping_interval_ns, 5400LL * 1000000000LL);
    cr_expect_eq(o.write_deadline_ns, 500000000LL);
    cr_expect_eq(d.warnings.n, 0);
    opts_free(&o);
    /* an integer means seconds, with nats-server's warning (fatal under -t) */
    cr_assert_eq(opts_t_load("ping_interval: 1m\n"), 0);
    cr_expect_eq(o.ping_interval_ns, 1000000LL * 1000000000LL);
    cr_assert_eq(d.warnings.n, 1);
    cr_expect_str_eq(d.warnings.v[0], "t.conf:1:0: invalid use of field \"ping_interval\": "
                                      "ping_interval should be converted to a duration");
    opts_diag_free(&d);
    opts_free(&o);
    cr_assert_eq(opts_t_load("write_deadline: \"-5s\"\n"), 0);
    cr_expect_eq(o.write_deadline_ns, -5000000000LL);
    opts_free(&o);
    cr_assert_eq(opts_t_load("write_deadline: \".5s\"\n"), 0);
    cr_expect_eq(o.write_deadline_ns, 500000000LL);
}

Test(opts, unknown_keys_and_variables)
{
    /* a key only used as a variable is not an unknown field */
    cr_expect_eq(opts_t_load("pp = 4555\nport: $pp\n"), 0, "%s", opts_t_diag(0));
    cr_expect_eq(o.port, 4555);
    opts_free(&o);
    cr_expect_eq(opts_t_load("unused = 5\nport: 1\n"), -1);
    cr_assert_eq(d.errors.n, 1);
    cr_expect_str_eq(d.errors.v[0], "t.conf:1:0: unknown field \"unused\"");
    opts_diag_free(&d);
    opts_free(&o);
    cr_expect_eq(opts_t_load("cluster {\n  p = 6333\n  port: $p\n}\n"), 0, "%s", opts_t_diag(0));
    cr_expect_eq(o.cluster.port, 6333);
    opts_free(&o);
    cr_expect_eq(opts_t_load("gateway {\n  bad: 1\n}\n"), -1);
    cr_expect_str_eq(d.errors.v[0], "t.conf:2:3: unknown field \"bad\"");
}

Test(opts, several_errors_reported)
{
    cr_expect_eq(opts_t_load("port: \"x\"\nfoo: 1\nping_interval: 5\n"), -1);
    cr_expect_eq(d.errors.n, 2);
    cr_expect_eq(d.warnings.n, 1);
}

Test(opts, threads_bounds)
{
    cr_expect_eq(opts_t_load("threads: 1024\n"), 0);
    cr_expect_eq(o.threads, 1024);
    opts_free(&o);
    cr_expect_eq(opts_t_load("threads: 1025\n"), -1);
    cr_expect_str_eq(d.errors.v[0], "t.conf:1:0: threads value is too big");
    opts_diag_free(&d);
    opts_free(&o);
    cr_expect_eq(opts_t_load("threads: -1\n"), -1);
    cr_expect_str_eq(d.errors.v[0], "t.conf:1:0: threads value can not be negative");
    opts_diag_free(&d);
    opts_free(&o);
    cr_expect_eq(opts_t_load("threads: \"4\"\n"), -1);
    cr_expect_str_eq(d.errors.v[0],
                     "t.conf:1:0: interface conversion: interface {} is string, not int64");
}

Test(opts, bounds_edges)
{
    cr_expect_eq(opts_t_load("max_payload: 2147483647\nmax_sub_tokens: 255\n"), 0);
    cr_expect_eq(o.max_payload, 2147483647);
    cr_expect_eq(o.max_sub_tokens, 255);
    opts_free(&o);
    cr_expect_eq(opts_t_load("max_sub_tokens: 1\nlame_duck_duration: \"30s\"\n"
                             "lame_duck_grace_period: \"0s\"\n"),
                 0);
    cr_expect_eq(o.lame_duck_duration_ns, 30LL * 1000000000LL);
}

Test(opts, unsupported_blocks_recorded)
{
    /* natsd opens no leaf node, websocket or MQTT listener and has no
     * JetStream: these are accepted, noted and warned about at start */
    int rc =
        opts_t_load("leafnodes { port: 7422, authorization { user: a, password: b } }\n"
                    "jetstream: enabled\n"
                    "websocket { port: 8080, authorization { token: t } }\n"
                    "ws { port: 8081 }\n"
                    "mqtt { port: 1883 }\n"
                    "store_dir: \"/tmp/js\"\n"
                    "ocsp: false\n"
                    "default_js_domain: {}\n"
                    "mappings: {}\n"
                    "accounts { A { jetstream: enabled, mappings: {a: b}, limits: {max_leafs: 1,"
                    " max_conn: -1} } }\n");
    cr_assert_eq(rc, 0, "%s", opts_t_diag(0));
    /* ocsp is decided, and noted, once the whole file is read */
    const char *want[] = {"leafnodes", "jetstream",         "websocket", "mqtt",
                          "store_dir", "default_js_domain", "mappings",  "ocsp"};
    cr_assert_eq(o.unsupported.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < o.unsupported.n; i++)
        cr_expect_str_eq(o.unsupported.v[i], want[i]);
}

#define OPTS_T_WHY_OP                                                                              \
    " is not supported by natsd and cannot be ignored: operator mode (JWT accounts and users) is " \
    "not implemented, and without it clients would connect with no authentication"

/* Operator mode and account limits would not be enforced: each is an error
 * naming the key as written, where it was written. */
static const struct opts_case opts_cases_refused[] = {
    {"operator: \"op.jwt\"", {"t.conf:1:0: option \"operator\"" OPTS_T_WHY_OP, NULL}},
    {"port: 4222\nroot_operators: \"op.jwt\"",
     {"t.conf:2:1: option \"root_operators\"" OPTS_T_WHY_OP, NULL}},
    {"trusted: \"OBYEOZQ46VZMFMNETBAW2H6VGDSOBLP67VUEZJ5LPR3PIZBWWRIY4UI4\"",
     {"t.conf:1:0: option \"trusted\"" OPTS_T_WHY_OP, NULL}},
    {"trusted_keys: []", {"t.conf:1:0: option \"trusted_keys\"" OPTS_T_WHY_OP, NULL}},
    {"resolver: MEMORY", {"t.conf:1:0: option \"resolver\"" OPTS_T_WHY_OP, NULL}},
    {"account_resolver: {type: full, dir: \"/tmp\"}",
     {"t.conf:1:0: option \"account_resolver\"" OPTS_T_WHY_OP, NULL}},
    {"resolver_tls: {}", {"t.conf:1:0: option \"resolver_tls\"" OPTS_T_WHY_OP, NULL}},
    {"resolver_preload: {}", {"t.conf:1:0: option \"resolver_preload\"" OPTS_T_WHY_OP, NULL}},
    {"resolver_pinned_accounts: []",
     {"t.conf:1:0: option \"resolver_pinned_accounts\"" OPTS_T_WHY_OP, NULL}},
    {"Operator: \"a\"\nresolver: MEMORY",
     {"t.conf:1:0: option \"Operator\"" OPTS_T_WHY_OP,
      "t.conf:2:1: option \"resolver\"" OPTS_T_WHY_OP}},
    /* the shape is checked first, with nats-server's text */
    {"operator: 5", {"t.conf:1:0: error parsing operators: unsupported type int64", NULL}},
    {"accounts { A { limits: {max_connections: 10} } }",
     {"t.conf:1:24: option \"max_connections\" in the limits of account \"A\" is not supported "
      "by natsd and cannot be ignored: account limits are not implemented, so the account's "
      "clients would not be held to it",
      NULL}},
    {"accounts { B { limits: {max_subs: 0} } }",
     {"t.conf:1:24: option \"max_subs\" in the limits of account \"B\" is not supported by natsd "
      "and cannot be ignored: account limits are not implemented, so the account's clients "
      "would not be held to it",
      NULL}},
    {"accounts { C { limits: {max_pay: 512} } }",
     {"t.conf:1:24: option \"max_pay\" in the limits of account \"C\" is not supported by natsd "
      "and cannot be ignored: account limits are not implemented, so the account's clients "
      "would not be held to it",
      NULL}},
    {"ocsp: {mode: bogus}",
     {"t.conf:1:0: error parsing ocsp config: unsupported ocsp mode string", NULL}},
    {"max_control_line: -1", {"t.conf:1:0: max_control_line value can not be negative", NULL}},
    {"max_control_line: -2147483648",
     {"t.conf:1:0: max_control_line value can not be negative", NULL}},
};

Test(opts, cases_refused)
{
    opts_t_run_cases(opts_cases_refused,
                     sizeof(opts_cases_refused) / sizeof(opts_cases_refused[0]));
}

Test(opts, max_control_line_zero_is_the_default)
{
    cr_assert_eq(opts_t_load("max_control_line: 0\n"), 0, "%s", opts_t_diag(0));
    opts_set_baseline(&o);
    cr_expect_eq(o.max_control_line, OPTS_DEFAULT_MAX_CONTROL_LINE);
}

Test(opts, reloadable)
{
    cr_expect(opts_key_reloadable("debug"));
    cr_expect(opts_key_reloadable("TRACE"));
    cr_expect(opts_key_reloadable("max_payload"));
    cr_expect(opts_key_reloadable("authorization"));
    cr_expect(opts_key_reloadable("tls"));
    cr_expect(opts_key_reloadable("logfile"));
    cr_expect_not(opts_key_reloadable("port"));
    cr_expect_not(opts_key_reloadable("listen"));
    cr_expect_not(opts_key_reloadable("gateway"));
    cr_expect_not(opts_key_reloadable("threads"));
    cr_expect_not(opts_key_reloadable("nope"));
    cr_expect(opts_key_known("leaf"));
    cr_expect(opts_key_known("Max_Conn"));
    cr_expect_not(opts_key_known("pool_size"));
}

/* ---- cluster ----------------------------------------------------------- */

Test(opts, cluster_values)
{
    int rc = opts_t_load("cluster {\n"
                         "  name: C1\n"
                         "  listen: \"127.0.0.1:6222\"\n"
                         "  advertise: \"adv:6222\"\n"
                         "  no_advertise: true\n"
                         "  connect_retries: 3\n"
                         "  authorization { user: ru, password: rp, timeout: 0.5 }\n"
                         "  routes: [\"nats://ru:rp@127.0.0.1:6223\", \"nats://h2:6224\"]\n"
                         "}\n");
    cr_assert_eq(rc, 0, "%s", opts_t_diag(0));
    cr_expect_str_eq(o.cluster.name, "C1");
    cr_expect_str_eq(o.cluster.host, "127.0.0.1");
    cr_expect_eq(o.cluster.port, 6222);
    cr_expect_str_eq(o.cluster.advertise, "adv:6222");
    cr_expect(o.cluster.no_advertise);
    cr_expect_eq(o.cluster.connect_retries, 3);
    cr_expect_str_eq(o.cluster.username, "ru");
    cr_expect_str_eq(o.cluster.password, "rp");
    cr_expect_float_eq(o.cluster.auth_timeout, 0.5, 1e-9);
    cr_expect(o.cluster.auth_timeout_set);
    cr_assert_eq(o.cluster.routes.n, 2);
    cr_expect_str_eq(o.cluster.routes.v[0], "nats://ru:rp@127.0.0.1:6223");
    cr_expect_str_eq(o.cluster.routes.v[1], "nats://h2:6224");
}

Test(opts, cluster_aliases_and_baseline)
{
    cr_assert_eq(opts_t_load("cluster { net: \"10.0.0.1\", cluster_advertise: \"x:1\" }\n"), 0);
    cr_expect_str_eq(o.cluster.host, "10.0.0.1");
    cr_expect_str_eq(o.cluster.advertise, "x:1");
    opts_free(&o);
    cr_assert_eq(opts_t_load("cluster { port: -1 }\n"), 0);
    cr_expect_null(o.cluster.host);
    opts_set_baseline(&o);
    cr_expect_str_eq(o.cluster.host, "0.0.0.0");
    cr_expect_float_eq(o.cluster.auth_timeout, 2.0, 1e-9);
}

Test(opts, cluster_duplicate_route_dropped)
{
    cr_expect_eq(
        opts_t_load("cluster {routes: [\"nats://a:1\", \"nats://a:1\", \"nats://b:1\"]}\n"), 0);
    cr_expect_eq(d.warnings.n, 1);
    cr_assert_eq(o.cluster.routes.n, 2);
    cr_expect_str_eq(o.cluster.routes.v[1], "nats://b:1");
}

Test(opts, cluster_permissions)
{
    cr_expect_eq(opts_t_load("cluster {permissions: {import: \"a.>\", export: [\"b\"]}}\n"), 0,
                 "%s", opts_t_diag(0));
    cr_assert_not_null(o.cluster.perms);
    opts_free(&o);
    opts_diag_free(&d);
    cr_expect_eq(opts_t_load("cluster {authorization: {user: a, password: b, permissions: "
                             "{import: \"a\"}}}\n"),
                 0);
    cr_assert_eq(d.warnings.n, 1);
    cr_expect_str_eq(d.warnings.v[0],
                     "t.conf:1:9: invalid use of field \"authorization\": setting \"permissions\" "
                     "within cluster authorization block is deprecated");
    cr_expect_not_null(o.cluster.perms);
    opts_free(&o);
    opts_diag_free(&d);
    cr_expect_eq(opts_t_load("cluster {permissions: {import: \"a\", allow_responses: true}}\n"),
                 -1);
    cr_assert_eq(d.errors.n, 1);
    cr_expect_str_eq(d.errors.v[0],
                     "t.conf:1:9: Cluster permissions do not support dynamic responses");
}

Test(opts, cluster_and_gateway_auth_restrictions)
{
    cr_expect_eq(opts_t_load("cluster {authorization: {users: []}}\n"), -1);
    cr_expect_str_eq(d.errors.v[0],
                     "t.conf:1:9: Cluster authorization does not allow multiple users");
    opts_free(&o);
    opts_diag_free(&d);
    cr_expect_eq(opts_t_load("gateway {authorization: {token: x}}\n"), -1);
    cr_expect_str_eq(d.errors.v[0], "t.conf:1:9: Gateway authorization does not support tokens");
}

/* ---- gateway ----------------------------------------------------------- */

Test(opts, gateway_seed_example)
{
    int rc = opts_t_load(
        "gateway {\n  name: \"A\"\n  listen: \"localhost:7222\"\n"
        "  authorization { user: gwu, password: gwp }\n"
        "  gateways: [ {name: \"A\", url: \"nats://gwu:gwp@localhost:7222\"}, {name: \"B\", url: "
        "\"nats://gwu:gwp@localhost:7333\"}, {name: \"C\", url: "
        "\"nats://gwu:gwp@localhost:7444\"}, "
        "]\n}\n");
    cr_assert_eq(rc, 0, "%s", opts_t_diag(0));
    cr_expect_eq(d.warnings.n, 0);
    const struct opts_gateway *g = &o.gateway;
    cr_expect_str_eq(g->name, "A");
    cr_expect_str_eq(g->host, "localhost");
    cr_expect_eq(g->port, 7222);
    cr_expect_str_eq(g->username, "gwu");
    cr_expect_str_eq(g->password, "gwp");
    cr_assert_eq(g->n_gateways, 3);
    const char *names[] = {"A", "B", "C"};
    const char *urls[] = {"nats://gwu:gwp@localhost:7222", "nats://gwu:gwp@localhost:7333",
                          "nats://gwu:gwp@localhost:7444"};
    for (size_t i = 0; i < 3; i++) {
        cr_expect_str_eq(g->gateways[i].name, names[i]);
        cr_assert_eq(g->gateways[i].urls.n, 1);
        cr_expect_str_eq(g->gateways[i].urls.v[0], urls[i]);
        cr_expect_not(g->gateways[i].tls.set);
    }
    char err[256];
    opts_set_baseline(&o);
    cr_expect_eq(opts_validate(&o, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(o.cluster.name, "A", "the cluster takes the gateway name");
}

Test(opts, gateway_values)
{
    int rc = opts_t_load("gateway {\n"
                         "  name: G\n"
                         "  host: \"127.0.0.1\"\n"
                         "  port: -1\n"
                         "  advertise: \"adv:1\"\n"
                         "  connect_retries: 4\n"
                         "  reject_unknown_cluster: true\n"
                         "  gateways: [\n"
                         "    {name: B, urls: [\"nats://b1:1\", \"nats://b2:1\"]}\n"
                         "    {name: C, url: \"nats://c1:1\", urls: [\"nats://c2:1\"]}\n"
                         "    {name: D, urls: [\"nats://d1:1\"], url: \"nats://d2:1\"}\n"
                         "  ]\n"
                         "}\n");
    cr_assert_eq(rc, 0, "%s", opts_t_diag(0));
    const struct opts_gateway *g = &o.gateway;
    cr_expect_str_eq(g->host, "127.0.0.1");
    cr_expect_eq(g->port, -1);
    cr_expect_str_eq(g->advertise, "adv:1");
    cr_expect_eq(g->connect_retries, 4);
    cr_expect(g->reject_unknown);
    cr_assert_eq(g->n_gateways, 3);
    cr_expect_eq(g->gateways[0].urls.n, 2);
    /* urls replaces what url added; url after urls appends */
    cr_assert_eq(g->gateways[1].urls.n, 1);
    cr_expect_str_eq(g->gateways[1].urls.v[0], "nats://c2:1");
    cr_assert_eq(g->gateways[2].urls.n, 2);
    cr_expect_str_eq(g->gateways[2].urls.v[1], "nats://d2:1");
    opts_free(&o);
    cr_assert_eq(opts_t_load("gateway { reject_unknown: true }\n"), 0);
    cr_expect(o.gateway.reject_unknown);
}

Test(opts, gateway_duplicate_url_warning)
{
    cr_expect_eq(opts_t_load("gateway {gateways: [{name: \"B\", urls: [\"nats://b:1\", "
                             "\"nats://b:1\"]}]}\n"),
                 0);
    cr_assert_eq(d.warnings.n, 1);
    cr_expect_str_eq(d.warnings.v[0], "t.conf:1:54: invalid use of field \"nats://b:1\": "
                                      "Duplicate gateway entry detected");
    cr_expect_eq(o.gateway.gateways[0].urls.n, 1);
}

static int opts_t_validate(const char *text, char *err, size_t size)
{
    opts_free(&o);
    opts_diag_free(&d);
    cr_assert_eq(opts_t_load(text), 0, "[%s]: %s", text, opts_t_diag(0));
    opts_set_baseline(&o);
    err[0] = '\0';
    return opts_validate(&o, err, size);
}

Test(opts, validate_messages)
{
    static const struct {
        const char *conf, *err;
    } cases[] = {
        {"gateway { listen: \"127.0.0.1:7222\" }", "gateway has no name"},
        {"gateway { name: A, host: \"127.0.0.1\" }",
         "gateway \"A\" has no port specified (select -1 for random port)"},
        {"gateway { name: A, port: 7222, gateways: [{url: \"nats://h:1\"}] }",
         "gateway in the list 0 has no name"},
        {"gateway { name: A, port: 7222, gateways: [{name: B, url: \"nats://h:1\"}, {url: "
         "\"nats://h:2\"}] }",
         "gateway in the list 1 has no name"},
        {"gateway { name: A, port: 7222, gateways: [{name: B}] }", "gateway \"B\" has no URL"},
        {"gateway { name: A, port: 7222 }\ncluster { name: B, port: 6222 }",
         "cluster name conflicts between cluster and gateway definitions"},
        {"max_payload: 2000\nmax_pending: 1000",
         "max_payload (2000) cannot be higher than max_pending (1000)"},
        {"lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"30s\"",
         "lame duck grace period (30s) should be strictly lower than lame duck duration (30s)"},
        {"lame_duck_duration: \"1m\"\nlame_duck_grace_period: \"1m30s\"",
         "lame duck grace period (1m30s) should be strictly lower than lame duck duration "
         "(1m0s)"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(opts_t_validate(cases[i].conf, err, sizeof(err)), -1, "[%s]", cases[i].conf);
        cr_expect_str_eq(err, cases[i].err, "[%s]", cases[i].conf);
    }
    cr_expect_eq(
        opts_t_validate("gateway { name: A, port: 7222 }\ncluster { name: A }", err, sizeof(err)),
        0, "%s", err);
    cr_expect_eq(opts_t_validate("max_payload: 1000\nmax_pending: 1000", err, sizeof(err)), 0, "%s",
                 err);
}

/* ---- tls files --------------------------------------------------------- */

static char opts_t_dir[256];

static void opts_t_write_key(EVP_PKEY *k, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", opts_t_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static void opts_t_write_cert(EVP_PKEY *k, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", opts_t_dir, name);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    cr_assert(X509_sign(x, k, EVP_sha256()) > 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
}

static void opts_t_write(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", opts_t_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* cert.pem/key.pem (EC P-256), key2.pem (another EC key), rsa.pem, junk.pem */
static void opts_t_make_certs(void)
{
    snprintf(opts_t_dir, sizeof(opts_t_dir), "/tmp/natsd-opts-%d", (int)getpid());
    mkdir(opts_t_dir, 0700);
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *k3 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    cr_assert(k1 && k2 && k3);
    opts_t_write_key(k1, "key.pem");
    opts_t_write_cert(k1, "cert.pem");
    opts_t_write_key(k2, "key2.pem");
    opts_t_write_key(k3, "rsa.pem");
    opts_t_write("junk.pem", "junk\n");
    opts_t_write("bad.pem", "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n");
    opts_t_write("badkey.pem",
                 "-----BEGIN RSA PRIVATE KEY-----\naGVsbG8=\n-----END RSA PRIVATE KEY-----\n");
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
}

static void opts_t_rm_certs(void)
{
    const char *files[] = {"key.pem",  "cert.pem", "key2.pem",  "rsa.pem",
                           "junk.pem", "bad.pem",  "badkey.pem"};
    char path[512];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", opts_t_dir, files[i]);
        unlink(path);
    }
    rmdir(opts_t_dir);
}

static const char *opts_t_tls_err(const char *cert, const char *key, const char *ca)
{
    static char err[1024];
    struct opts_tls t;
    char c[512], k[512], a[512];
    memset(&t, 0, sizeof(t));
    if (cert) {
        snprintf(c, sizeof(c), "%s/%s", opts_t_dir, cert);
        t.cert_file = c;
    }
    if (key) {
        snprintf(k, sizeof(k), "%s/%s", opts_t_dir, key);
        t.key_file = k;
    }
    if (ca) {
        snprintf(a, sizeof(a), "%s/%s", opts_t_dir, ca);
        t.ca_file = a;
    }
    err[0] = '\0';
    if (opts_tls_check_files(&t, err, sizeof(err)) == 0)
        return NULL;
    return err;
}

Test(opts, tls_files)
{
    opts_t_make_certs();
    static const char pfx[] = "error parsing X509 certificate/key pair: ";
    struct {
        const char *cert, *key, *ca, *err;
    } cases[] = {
        {"cert.pem", "key.pem", NULL, NULL},
        {"cert.pem", "key.pem", "cert.pem", NULL},
        {NULL, NULL, "cert.pem", NULL},
        {"cert.pem", "key2.pem", NULL, "tls: private key does not match public key"},
        {"cert.pem", "rsa.pem", NULL, "tls: private key type does not match public key type"},
        {"junk.pem", "key.pem", NULL, "tls: failed to find any PEM data in certificate input"},
        {"key.pem", "key.pem", NULL,
         "tls: failed to find certificate PEM data in certificate input, but did find a private "
         "key; PEM inputs may have been switched"},
        {"cert.pem", "junk.pem", NULL, "tls: failed to find any PEM data in key input"},
        {"cert.pem", "cert.pem", NULL,
         "tls: found a certificate rather than a key in the PEM for the private key"},
        {"bad.pem", "key.pem", NULL, "x509: malformed certificate"},
        {"cert.pem", "badkey.pem", NULL, "tls: failed to parse private key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = opts_t_tls_err(cases[i].cert, cases[i].key, cases[i].ca);
        if (cases[i].err == NULL) {
            cr_expect_null(got, "case %zu: %s", i, got);
            continue;
        }
        char want[512];
        snprintf(want, sizeof(want), "%s%s", pfx, cases[i].err);
        cr_expect_not_null(got, "case %zu", i);
        if (got)
            cr_expect_str_eq(got, want, "case %zu", i);
    }
    const char *got = opts_t_tls_err("cert.pem", "nokey.pem", NULL);
    char want[800];
    snprintf(want, sizeof(want), "%sopen %s/nokey.pem: no such file or directory", pfx, opts_t_dir);
    cr_expect_str_eq(got, want);
    got = opts_t_tls_err(NULL, NULL, "junk.pem");
    cr_expect_str_eq(got, "failed to parse root ca certificate");
    got = opts_t_tls_err("cert.pem", NULL, NULL);
    cr_expect_str_eq(got, "missing 'key_file' in TLS configuration");
    opts_t_rm_certs();
}

/* cert.pem's key in a certificate that carries OCSP Must-Staple. */
static void opts_t_write_must_staple(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/key.pem", opts_t_dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(k);
    snprintf(path, sizeof(path), "%s/%s", opts_t_dir, name);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 2);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_tlsfeature, "status_request");
    cr_assert_not_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    cr_assert(X509_sign(x, k, EVP_sha256()) > 0);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* nats-server runs OCSP for a certificate with ocsp mode always, and with
 * auto or must (an ocsp key of true or a map, or no ocsp key at all) when the
 * certificate is Must-Staple: it staples and watches the status and requires
 * staples from routes and gateways. natsd refuses exactly those cases; in
 * the others OCSP does nothing, and a given ocsp key is only noted. */
Test(opts, ocsp_refused_when_nats_server_would_staple)
{
    opts_t_make_certs();
    opts_t_write_must_staple("must.pem");
    char plain[1200], must[1200], ca_only[600], path[600];
    snprintf(plain, sizeof(plain), "{cert_file: \"%s/cert.pem\", key_file: \"%s/key.pem\"}",
             opts_t_dir, opts_t_dir);
    snprintf(must, sizeof(must), "{cert_file: \"%s/must.pem\", key_file: \"%s/key.pem\"}",
             opts_t_dir, opts_t_dir);
    snprintf(ca_only, sizeof(ca_only), "{ca_file: \"%s/cert.pem\"}", opts_t_dir);
    snprintf(path, sizeof(path), "%s/must.pem", opts_t_dir);
    cr_assert(opts_tls_must_staple(path));
    snprintf(path, sizeof(path), "%s/cert.pem", opts_t_dir);
    cr_assert_not(opts_tls_must_staple(path));
    cr_assert_not(opts_tls_must_staple("/nonexistent.pem"));

    const char *why = " is not supported by natsd and cannot be ignored: OCSP stapling is not "
                      "implemented, so the certificate's revocation status would not be checked "
                      "and routes and gateways would not have to staple theirs (ocsp: false "
                      "turns OCSP off)";
    enum { NOTED = 0, REFUSED_KEY, REFUSED_CERT, SILENT };
    const char *remote = "gateway { name: A, port: -1, gateways: [{name: B, url: \"nats://h:1\", "
                         "tls: %s}] }";
    struct {
        const char *ocsp, *block; /* block: where the tls block goes */
        const char *tls;
        int want;
    } cases[] = {
        {"ocsp: true", "tls: %s", plain, NOTED},
        {"ocsp: {}", "tls: %s", plain, NOTED},
        {"ocsp: {mode: must}", "cluster { port: -1, tls: %s }", plain, NOTED},
        {"ocsp: {mode: always}", "cluster { port: -1, tls: %s }", plain, REFUSED_KEY},
        {"OCSP: {mode: Always}", "gateway { name: A, port: -1, tls: %s }", plain, REFUSED_KEY},
        {"ocsp: {mode: always}", remote, ca_only, NOTED},
        {"ocsp: {mode: always}", "port: 4222 # %s", plain, NOTED},
        {"ocsp: true", "tls: %s", must, REFUSED_KEY},
        {"ocsp: {mode: must}", remote, must, REFUSED_KEY},
        {"ocsp: {mode: auto}", "gateway { name: A, port: -1, tls: %s }", must, REFUSED_KEY},
        {"# no ocsp", "tls: %s", must, REFUSED_CERT},
        {"# no ocsp", "cluster { port: -1, tls: %s }", must, REFUSED_CERT},
        {"# no ocsp", "tls: %s", plain, SILENT},
        {"ocsp: false", "tls: %s", must, NOTED},
        {"ocsp: {mode: never}", "cluster { port: -1, tls: %s }", must, NOTED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char block[2000], text[2200], want[2048];
        snprintf(block, sizeof(block), cases[i].block, cases[i].tls);
        snprintf(text, sizeof(text), "%s\n%s\n", cases[i].ocsp, block);
        opts_free(&o);
        opts_diag_free(&d);
        int rc = opts_t_load(text);
        if (cases[i].want == NOTED || cases[i].want == SILENT) {
            cr_expect_eq(rc, 0, "[%s]: %s", text, opts_t_diag(0));
            size_t n = cases[i].want == NOTED ? 1 : 0;
            cr_expect(o.unsupported.n == n && (n == 0 || strcmp(o.unsupported.v[0], "ocsp") == 0),
                      "[%s]: %zu noted", text, o.unsupported.n);
            continue;
        }
        if (cases[i].want == REFUSED_KEY)
            snprintf(want, sizeof(want), "t.conf:1:0: option \"%.4s\"%s", cases[i].ocsp, why);
        else
            snprintf(want, sizeof(want), "the OCSP Must-Staple certificate \"%s/must.pem\"%s",
                     opts_t_dir, why);
        cr_expect_eq(rc, -1, "[%s] accepted", text);
        cr_expect_eq(d.errors.n, 1, "[%s]", text);
        if (d.errors.n == 1)
            cr_expect_str_eq(d.errors.v[0], want, "[%s]", text);
    }
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/must.pem", opts_t_dir);
    unlink(p2);
    opts_t_rm_certs();
}

Test(opts, tls_block_values)
{
    opts_t_make_certs();
    char text[2048];
    snprintf(text, sizeof(text),
             "tls {\n"
             "  cert_file: \"%s/cert.pem\"\n"
             "  key_file: \"%s/key.pem\"\n"
             "  ca_file: \"%s/cert.pem\"\n"
             "  verify_and_map: true\n"
             "  cipher_suites: [\"TLS_AES_128_GCM_SHA256\", "
             "\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]\n"
             "  curve_preferences: [\"X25519\", \"CurveP256\"]\n"
             "  timeout: \"1500ms\"\n"
             "  connection_rate_limit: 10\n"
             "  pinned_certs: [\"%s\"]\n"
             "}\n"
             "cluster { tls { verify_cert_and_check_known_urls: true, timeout: 3 } }\n"
             "gateway { tls { insecure: true, timeout: 0.25 } }\n",
             opts_t_dir, opts_t_dir, opts_t_dir,
             "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789");
    int rc = opts_t_load(text);
    opts_t_rm_certs();
    cr_assert_eq(rc, 0, "%s", opts_t_diag(0));
    cr_expect(o.tls.set);
    cr_expect(o.tls.verify);
    cr_expect(o.tls.verify_and_map);
    cr_expect_eq(o.tls.cipher_suites.n, 2);
    cr_expect_eq(o.tls.curve_preferences.n, 2);
    cr_expect_float_eq(o.tls.timeout, 1.5, 1e-9);
    cr_expect_eq(o.tls.connection_rate_limit, 10);
    cr_assert_eq(o.tls.pinned_certs.n, 1);
    cr_expect_str_eq(o.tls.pinned_certs.v[0],
                     "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    cr_expect(o.cluster.tls.set);
    cr_expect(o.cluster.tls.verify);
    cr_expect(o.cluster.tls.verify_cert_and_check_known_urls);
    cr_expect_float_eq(o.cluster.tls.timeout, 3.0, 1e-9);
    cr_expect(o.gateway.tls.insecure);
    cr_expect_float_eq(o.gateway.tls.timeout, 0.25, 1e-9);
    opts_set_baseline(&o);
    cr_expect_float_eq(o.auth_timeout, 2.5, 1e-9, "tls timeout + 1");
}

Test(opts, tls_parse_internal_api)
{
    cr_assert_eq(opts_t_load("x = { verify: true }\nport: 1\n"), -1);
    /* opts_parse_tls is also reachable directly (opts_auth.c, leaf code) */
    const struct conf_value *v = conf_map_get(conf_root(doc), "x");
    cr_assert_not_null(v);
    struct opts_tls t;
    memset(&t, 0, sizeof(t));
    struct opts_diag dd = {0};
    cr_expect_eq(opts_parse_tls(v, &t, &dd), 0);
    cr_expect(t.verify);
    opts_tls_free(&t);
    opts_diag_free(&dd);
}

Test(opts, load_file)
{
    char path[256];
    snprintf(path, sizeof(path), "/tmp/natsd-opts-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("port: 4999\nmax_payload: 1KB\n", f);
    fclose(f);
    int rc = opts_load_file(&o, path, &d);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", opts_t_diag(0));
    cr_expect_eq(o.port, 4999);
    cr_expect_eq(o.max_payload, 1024);
    cr_expect_str_eq(o.config_file, path);
    opts_free(&o);
    cr_expect_eq(opts_load_file(&o, "/nonexistent/natsd.conf", &d), -1);
    cr_assert_eq(d.errors.n, 1);
    cr_expect_str_eq(d.errors.v[0], "open /nonexistent/natsd.conf: no such file or directory");
}
