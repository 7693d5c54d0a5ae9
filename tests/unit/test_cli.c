/* SPDX-License-Identifier: Apache-2.0
 * Command-line parsing: Go flag-package forms, nats-server's error texts, and
 * flags laid over options read from a file. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "opts.h"

#define ARGV(...)          ((char *[]){"natsd", __VA_ARGS__, NULL})
#define ARGC(...)          ((int)(sizeof((char *[]){"natsd", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(c, err, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (c), (err), sizeof(err))

/* Options as a file gives them, then the flags of argv over them. */
static void apply_over(const char *conf_text, struct cli *c, struct opts *o)
{
    opts_init(o);
    if (conf_text) {
        struct conf_doc *doc;
        struct conf_error cerr;
        struct opts_diag d = {0};
        cr_assert_eq(conf_parse_string(conf_text, strlen(conf_text), "t.conf", &doc, &cerr), 0,
                     "%s", cerr.msg);
        cr_assert_eq(opts_apply_conf(o, conf_root(doc), &d), 0);
        opts_diag_free(&d);
        conf_free(doc);
    }
    char err[512];
    cr_assert_eq(cli_apply(c, o, err, sizeof(err)), 0, "%s", err);
}

Test(cli, no_arguments)
{
    struct cli c;
    char err[256];
    char *argv[] = {"natsd", NULL};
    cr_assert_eq(cli_parse(1, argv, &c, err, sizeof(err)), CLI_OK);
    cr_assert_eq(c.n_given, 0);
    cr_assert_null(c.config_file);
    cr_assert_not(c.check_config);
    cli_free(&c);
}

Test(cli, single_and_double_dash_are_the_same)
{
    const char *forms[][2] = {
        {"-p", "4333"}, {"--p", "4333"}, {"-port", "4333"}, {"--port", "4333"}};
    for (size_t i = 0; i < 4; i++) {
        struct cli c;
        struct opts o;
        char err[256];
        char *argv[] = {"natsd", (char *)forms[i][0], (char *)forms[i][1], NULL};
        cr_assert_eq(cli_parse(3, argv, &c, err, sizeof(err)), CLI_OK, "%s", forms[i][0]);
        apply_over(NULL, &c, &o);
        cr_assert_eq(o.port, 4333, "%s", forms[i][0]);
        opts_free(&o);
        cli_free(&c);
    }
}

Test(cli, equals_form)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "-p=5000", "--addr=127.0.0.1", "-n=srv"), CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert_eq(o.port, 5000);
    cr_assert_str_eq(o.host, "127.0.0.1");
    cr_assert_str_eq(o.server_name, "srv");
    opts_free(&o);
    cli_free(&c);
}

Test(cli, config_and_check)
{
    struct cli c;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "-t", "--config", "/tmp/x.conf"), CLI_OK);
    cr_assert(c.check_config);
    cr_assert_str_eq(c.config_file, "/tmp/x.conf");
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "-c", "a.conf", "-config", "b.conf"), CLI_OK);
    cr_assert_str_eq(c.config_file, "b.conf", "the last -c wins");
    cli_free(&c);
}

Test(cli, unknown_flag)
{
    struct cli c;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "--bogus"), CLI_USAGE);
    cr_assert_str_eq(err, "flag provided but not defined: -bogus");
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "-bogus=1"), CLI_USAGE);
    cr_assert_str_eq(err, "flag provided but not defined: -bogus");
    cli_free(&c);
}

Test(cli, bad_values)
{
    struct cli c;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "-p", "abc"), CLI_USAGE);
    cr_assert_str_eq(err, "invalid value \"abc\" for flag -p: parse error");
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "--port=99999999999"), CLI_USAGE);
    cr_assert_str_eq(err, "invalid value \"99999999999\" for flag -port: value out of range");
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "-D=maybe"), CLI_USAGE);
    cr_assert_str_eq(err, "invalid boolean value \"maybe\" for -D: parse error");
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "-p"), CLI_USAGE);
    cr_assert_str_eq(err, "flag needs an argument: -p");
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "---p"), CLI_USAGE);
    cr_assert_str_eq(err, "bad flag syntax: ---p");
    cli_free(&c);
}

Test(cli, go_integer_prefixes)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "-p", "0x10", "-m", "010", "--log_size_limit", "0b1_0"), CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert_eq(o.port, 16);
    cr_assert_eq(o.http_port, 8);
    cr_assert_eq(o.log_size_limit, 2);
    opts_free(&o);
    cli_free(&c);
}

Test(cli, bool_flags_take_no_separate_value)
{
    struct cli c;
    char err[256];
    /* "false" is the first non-flag word: parsing stops there and it is an
     * unrecognized command */
    cr_assert_eq(PARSE(&c, err, "-D", "false"), CLI_FATAL);
    cr_assert_str_eq(err, "unrecognized command: \"false\"");
    cli_free(&c);
}

Test(cli, positional_words)
{
    struct cli c;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "version"), CLI_OK);
    cr_assert(c.show_version);
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "-p", "1", "HELP"), CLI_OK);
    cr_assert(c.show_help);
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "foo"), CLI_FATAL);
    cr_assert_str_eq(err, "unrecognized command: \"foo\"");
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "--", "-p"), CLI_FATAL, "after -- nothing is a flag");
    cr_assert_str_eq(err, "unrecognized command: \"-p\"");
    cli_free(&c);
}

Test(cli, version_and_help_flags)
{
    struct cli c;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "-v"), CLI_OK);
    cr_assert(c.show_version);
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "--help"), CLI_OK);
    cr_assert(c.show_help);
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "--help_tls"), CLI_OK);
    cr_assert(c.show_tls_help);
    cli_free(&c);
}

Test(cli, flags_override_the_file)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "-p", "5555", "-a", "127.0.0.1", "-D"), CLI_OK);
    apply_over("port: 4444\nnet: 0.0.0.0\ndebug: false\nserver_name: kept\n", &c, &o);
    cr_assert_eq(o.port, 5555);
    cr_assert_str_eq(o.host, "127.0.0.1");
    cr_assert(o.debug);
    cr_assert_str_eq(o.server_name, "kept", "what no flag names stays as the file says");
    opts_free(&o);
    cli_free(&c);
}

Test(cli, explicit_false_overrides_the_file)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "-T=false", "--debug=false"), CLI_OK);
    apply_over("logtime: true\ndebug: true\n", &c, &o);
    cr_assert_not(o.logtime);
    cr_assert_not(o.debug);
    opts_free(&o);
    cli_free(&c);
}

Test(cli, combined_log_flags)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "-DV"), CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert(o.debug && o.trace && !o.trace_verbose);
    opts_free(&o);
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "-VV"), CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert(!o.debug && o.trace && o.trace_verbose);
    opts_free(&o);
    cli_free(&c);
    cr_assert_eq(PARSE(&c, err, "-DVV"), CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert(o.debug && o.trace && o.trace_verbose);
    opts_free(&o);
    cli_free(&c);
}

Test(cli, auth_and_logging_flags)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "--user", "u", "--pass", "p", "--auth", "tok", "-l", "/tmp/l.log",
                       "-P", "/tmp/p.pid", "-m", "8222", "-ms", "8443", "--max_traced_msg_len",
                       "64", "--client_advertise", "h:1", "--ports_file_dir", "/tmp", "-r",
                       "udp://127.0.0.1:514", "-s", "--profile", "6060"),
                 CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert_str_eq(o.username, "u");
    cr_assert_str_eq(o.password, "p");
    cr_assert_str_eq(o.token, "tok");
    cr_assert_str_eq(o.log_file, "/tmp/l.log");
    cr_assert_str_eq(o.pid_file, "/tmp/p.pid");
    cr_assert_eq(o.http_port, 8222);
    cr_assert_eq(o.https_port, 8443);
    cr_assert_eq(o.max_traced_msg_len, 64);
    cr_assert_str_eq(o.client_advertise, "h:1");
    cr_assert_str_eq(o.ports_file_dir, "/tmp");
    cr_assert_str_eq(o.remote_syslog, "udp://127.0.0.1:514");
    cr_assert(o.syslog);
    cr_assert_eq(o.prof_port, 6060);
    opts_free(&o);
    cli_free(&c);
}

Test(cli, cluster_url_with_credentials)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "--cluster", "nats://ru:rp@127.0.0.1:6222", "--cluster_name", "C1",
                       "--routes", " nats://127.0.0.1:6223 , nats://127.0.0.1:6224,",
                       "--no_advertise", "--connect_retries", "3", "--cluster_advertise", "x:1"),
                 CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert_str_eq(o.cluster.host, "127.0.0.1");
    cr_assert_eq(o.cluster.port, 6222);
    cr_assert_str_eq(o.cluster.username, "ru");
    cr_assert_str_eq(o.cluster.password, "rp");
    cr_assert_str_eq(o.cluster.name, "C1");
    cr_assert_eq(o.cluster.routes.n, 2);
    cr_assert_str_eq(o.cluster.routes.v[0], "nats://127.0.0.1:6223");
    cr_assert_str_eq(o.cluster.routes.v[1], "nats://127.0.0.1:6224");
    cr_assert(o.cluster.no_advertise);
    cr_assert_eq(o.cluster.connect_retries, 3);
    cr_assert_str_eq(o.cluster.advertise, "x:1");
    opts_free(&o);
    cli_free(&c);
}

Test(cli, cluster_random_port_and_errors)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "--cluster_listen", "nats://127.0.0.1:-1"), CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert_eq(o.cluster.port, -1);
    opts_free(&o);
    cli_free(&c);

    cr_assert_eq(PARSE(&c, err, "--cluster", "nats://ru@127.0.0.1:6222"), CLI_OK);
    opts_init(&o);
    cr_assert_eq(cli_apply(&c, &o, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "expected cluster password to be set");
    opts_free(&o);
    cli_free(&c);
}

Test(cli, routes_need_a_cluster)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "--routes", "nats://127.0.0.1:6223"), CLI_OK);
    opts_init(&o);
    cr_assert_eq(cli_apply(&c, &o, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "solicited routes require cluster capabilities, e.g. --cluster");
    opts_free(&o);
    cli_free(&c);

    /* a cluster block in the file is enough */
    cr_assert_eq(PARSE(&c, err, "--routes", "nats://127.0.0.1:6223"), CLI_OK);
    apply_over("cluster { listen: 127.0.0.1:6222 }\n", &c, &o);
    cr_assert_eq(o.cluster.routes.n, 1);
    opts_free(&o);
    cli_free(&c);
}

Test(cli, tls_flags)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "--tlsverify"), CLI_OK);
    opts_init(&o);
    cr_assert_eq(cli_apply(&c, &o, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "TLS Server certificate must be present and valid");
    opts_free(&o);
    cli_free(&c);

    cr_assert_eq(PARSE(&c, err, "--tls", "--tlscert", "c.pem"), CLI_OK);
    opts_init(&o);
    cr_assert_eq(cli_apply(&c, &o, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "TLS Server private key must be present and valid");
    opts_free(&o);
    cli_free(&c);

    /* the files are loaded, as nats-server does: a missing one is an error */
    cr_assert_eq(
        PARSE(&c, err, "--tlscert", "/nonexistent/c.pem", "--tlskey", "/nonexistent/k.pem"),
        CLI_OK);
    opts_init(&o);
    cr_assert_eq(cli_apply(&c, &o, err, sizeof(err)), -1);
    cr_assert(strstr(err, "error parsing X509 certificate/key pair: open /nonexistent/c.pem") !=
                  NULL,
              "%s", err);
    opts_free(&o);
    cli_free(&c);

    /* real files, made with the openssl command */
    char dir[] = "/tmp/natsd-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[1024], cert[256], key[256];
    snprintf(cert, sizeof(cert), "%s/c.pem", dir);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-keyout %s -out %s >/dev/null 2>&1",
             key, cert);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(
        PARSE(&c, err, "--tlscert", cert, "--tlskey", key, "--tlscacert", cert, "--tlsverify"),
        CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert(o.tls.set);
    cr_assert(o.tls.verify);
    cr_assert_str_eq(o.tls.cert_file, cert);
    cr_assert_str_eq(o.tls.key_file, key);
    cr_assert_str_eq(o.tls.ca_file, cert);
    opts_free(&o);
    cli_free(&c);
    unlink(cert);
    unlink(key);
    rmdir(dir);

    /* -tls=false turns TLS off even with files given */
    cr_assert_eq(PARSE(&c, err, "--tls=false", "--tlscert", "c.pem"), CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert_not(o.tls.set);
    opts_free(&o);
    cli_free(&c);
}

Test(cli, jetstream_flags_are_recorded_as_unsupported)
{
    struct cli c;
    struct opts o;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "-js", "--store_dir", "/tmp/js"), CLI_OK);
    apply_over(NULL, &c, &o);
    cr_assert_eq(o.unsupported.n, 2);
    cr_assert_str_eq(o.unsupported.v[0], "js");
    cr_assert_str_eq(o.unsupported.v[1], "store_dir");
    opts_free(&o);
    cli_free(&c);
}

Test(cli, signal_errors)
{
    char err[512];
    cr_assert_eq(cli_send_signal("reload=notapid", err, sizeof(err)), -1);
    cr_assert_str_eq(err, "invalid pid: notapid");
    cr_assert_eq(cli_send_signal("reload=1=2", err, sizeof(err)), -1);
    cr_assert_str_eq(err, "invalid signal parameters: [2]");
    cr_assert_eq(cli_send_signal("bogus=1", err, sizeof(err)), -1);
    cr_assert_str_eq(err, "unknown signal \"bogus\"");
}

Test(cli, signal_reaches_a_process)
{
    /* The child inherits SIGHUP blocked, so the signal waits for its
     * sigwaitinfo() however soon it is sent. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &old);
    pid_t child = fork();
    cr_assert_neq(child, -1);
    if (child == 0) {
        int sig = sigwaitinfo(&set, NULL);
        _exit(sig == SIGHUP ? 7 : 1);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    char spec[64], err[256];
    snprintf(spec, sizeof(spec), "reload=%d", (int)child);
    cr_assert_eq(cli_send_signal(spec, err, sizeof(err)), 0, "%s", err);
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 7);
}
