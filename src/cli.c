/* SPDX-License-Identifier: Apache-2.0
 * Command-line flags: one table row per flag name, Go flag-package parsing, and
 * the merge over file options that nats-server's ConfigureOptions performs. */
#include "cli.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "mem.h"
#include "opts.h"
#include "util.h"

enum cli_type {
    CLI_BOOL = 0,
    CLI_INT,
    CLI_INT64,
    CLI_STRING,
};

/* What a flag does beyond storing its value at .off in struct opts. */
enum cli_action {
    CLI_STORE = 0,
    CLI_CONFIG,      /* -c */
    CLI_CHECK,       /* -t */
    CLI_SIGNAL,      /* -sl */
    CLI_VERSION,     /* -v */
    CLI_HELP,        /* -h */
    CLI_TLS_HELP,    /* --help_tls */
    CLI_DV,          /* debug and trace */
    CLI_VV,          /* trace and verbose trace */
    CLI_DVV,         /* all three */
    CLI_CLUSTER,     /* cluster listen URL */
    CLI_ROUTES,      /* comma-separated route URLs */
    CLI_TLS,         /* --tls */
    CLI_TLS_VERIFY,  /* --tlsverify */
    CLI_TLS_FILE,    /* --tlscert, --tlskey, --tlscacert: string at .off */
    CLI_UNSUPPORTED, /* JetStream flags: recorded for a warning */
};

#define CLI_NO_OFF SIZE_MAX

struct cli_flag {
    const char *name;
    enum cli_type type;
    enum cli_action action;
    size_t off; /* into struct opts, for CLI_STORE and CLI_TLS_FILE */
};

#define OFF(field) offsetof(struct opts, field)

/* Every name nats-server 2.9.10 defines, each alias its own row, as Go's flag
 * package sees them. */
static const struct cli_flag cli_flags[] = {
    {"h", CLI_BOOL, CLI_HELP, CLI_NO_OFF},
    {"help", CLI_BOOL, CLI_HELP, CLI_NO_OFF},
    {"help_tls", CLI_BOOL, CLI_TLS_HELP, CLI_NO_OFF},
    {"v", CLI_BOOL, CLI_VERSION, CLI_NO_OFF},
    {"version", CLI_BOOL, CLI_VERSION, CLI_NO_OFF},
    {"c", CLI_STRING, CLI_CONFIG, CLI_NO_OFF},
    {"config", CLI_STRING, CLI_CONFIG, CLI_NO_OFF},
    {"t", CLI_BOOL, CLI_CHECK, CLI_NO_OFF},
    {"sl", CLI_STRING, CLI_SIGNAL, CLI_NO_OFF},
    {"signal", CLI_STRING, CLI_SIGNAL, CLI_NO_OFF},
    {"p", CLI_INT, CLI_STORE, OFF(port)},
    {"port", CLI_INT, CLI_STORE, OFF(port)},
    {"a", CLI_STRING, CLI_STORE, OFF(host)},
    {"addr", CLI_STRING, CLI_STORE, OFF(host)},
    {"net", CLI_STRING, CLI_STORE, OFF(host)},
    {"n", CLI_STRING, CLI_STORE, OFF(server_name)},
    {"name", CLI_STRING, CLI_STORE, OFF(server_name)},
    {"server_name", CLI_STRING, CLI_STORE, OFF(server_name)},
    {"client_advertise", CLI_STRING, CLI_STORE, OFF(client_advertise)},
    {"P", CLI_STRING, CLI_STORE, OFF(pid_file)},
    {"pid", CLI_STRING, CLI_STORE, OFF(pid_file)},
    {"ports_file_dir", CLI_STRING, CLI_STORE, OFF(ports_file_dir)},
    {"m", CLI_INT, CLI_STORE, OFF(http_port)},
    {"http_port", CLI_INT, CLI_STORE, OFF(http_port)},
    {"ms", CLI_INT, CLI_STORE, OFF(https_port)},
    {"https_port", CLI_INT, CLI_STORE, OFF(https_port)},
    {"l", CLI_STRING, CLI_STORE, OFF(log_file)},
    {"log", CLI_STRING, CLI_STORE, OFF(log_file)},
    {"log_size_limit", CLI_INT64, CLI_STORE, OFF(log_size_limit)},
    {"T", CLI_BOOL, CLI_STORE, OFF(logtime)},
    {"logtime", CLI_BOOL, CLI_STORE, OFF(logtime)},
    {"s", CLI_BOOL, CLI_STORE, OFF(syslog)},
    {"syslog", CLI_BOOL, CLI_STORE, OFF(syslog)},
    {"r", CLI_STRING, CLI_STORE, OFF(remote_syslog)},
    {"remote_syslog", CLI_STRING, CLI_STORE, OFF(remote_syslog)},
    {"D", CLI_BOOL, CLI_STORE, OFF(debug)},
    {"debug", CLI_BOOL, CLI_STORE, OFF(debug)},
    {"V", CLI_BOOL, CLI_STORE, OFF(trace)},
    {"trace", CLI_BOOL, CLI_STORE, OFF(trace)},
    {"VV", CLI_BOOL, CLI_VV, CLI_NO_OFF},
    {"DV", CLI_BOOL, CLI_DV, CLI_NO_OFF},
    {"DVV", CLI_BOOL, CLI_DVV, CLI_NO_OFF},
    {"max_traced_msg_len", CLI_INT, CLI_STORE, OFF(max_traced_msg_len)},
    {"user", CLI_STRING, CLI_STORE, OFF(username)},
    {"pass", CLI_STRING, CLI_STORE, OFF(password)},
    {"auth", CLI_STRING, CLI_STORE, OFF(token)},
    {"tls", CLI_BOOL, CLI_TLS, CLI_NO_OFF},
    {"tlsverify", CLI_BOOL, CLI_TLS_VERIFY, CLI_NO_OFF},
    {"tlscert", CLI_STRING, CLI_TLS_FILE, OFF(tls.cert_file)},
    {"tlskey", CLI_STRING, CLI_TLS_FILE, OFF(tls.key_file)},
    {"tlscacert", CLI_STRING, CLI_TLS_FILE, OFF(tls.ca_file)},
    {"routes", CLI_STRING, CLI_ROUTES, CLI_NO_OFF},
    {"cluster", CLI_STRING, CLI_CLUSTER, CLI_NO_OFF},
    {"cluster_listen", CLI_STRING, CLI_CLUSTER, CLI_NO_OFF},
    {"cluster_name", CLI_STRING, CLI_STORE, OFF(cluster.name)},
    {"cluster_advertise", CLI_STRING, CLI_STORE, OFF(cluster.advertise)},
    {"no_advertise", CLI_BOOL, CLI_STORE, OFF(cluster.no_advertise)},
    {"connect_retries", CLI_INT, CLI_STORE, OFF(cluster.connect_retries)},
    {"profile", CLI_INT, CLI_STORE, OFF(prof_port)},
    {"js", CLI_BOOL, CLI_UNSUPPORTED, CLI_NO_OFF},
    {"jetstream", CLI_BOOL, CLI_UNSUPPORTED, CLI_NO_OFF},
    {"sd", CLI_STRING, CLI_UNSUPPORTED, CLI_NO_OFF},
    {"store_dir", CLI_STRING, CLI_UNSUPPORTED, CLI_NO_OFF},
};

static const char cli_usage_text[] =
    "\n"
    "Usage: natsd [options]\n"
    "\n"
    "Server Options:\n"
    "    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)\n"
    "    -p, --port <port>                Use port for clients (default: 4222)\n"
    "    -n, --name\n"
    "        --server_name <server_name>  Server name (default: auto)\n"
    "    -P, --pid <file>                 File to store PID\n"
    "    -m, --http_port <port>           Use port for http monitoring\n"
    "    -ms,--https_port <port>          Use port for https monitoring\n"
    "    -c, --config <file>              Configuration file\n"
    "    -t                               Test configuration and exit\n"
    "    -sl,--signal <signal>[=<pid>]    Send signal to natsd process (ldm, stop, quit, term, "
    "reopen, reload)\n"
    "                                     <pid> can be either a PID (e.g. 1) or the path to a "
    "PID file (e.g. /var/run/natsd.pid)\n"
    "        --client_advertise <string>  Client URL to advertise to other servers\n"
    "        --ports_file_dir <dir>       Creates a ports file in the specified directory "
    "(<executable_name>_<pid>.ports).\n"
    "\n"
    "Logging Options:\n"
    "    -l, --log <file>                 File to redirect log output\n"
    "    -T, --logtime                    Timestamp log entries (default: true)\n"
    "    -s, --syslog                     Log to syslog\n"
    "    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)\n"
    "    -D, --debug                      Enable debugging output\n"
    "    -V, --trace                      Trace the raw protocol\n"
    "    -VV                              Verbose trace (traces system account as well)\n"
    "    -DV                              Debug and trace\n"
    "    -DVV                             Debug and verbose trace (traces system account as "
    "well)\n"
    "        --log_size_limit <limit>     Logfile size limit (default: auto)\n"
    "        --max_traced_msg_len <len>   Maximum printable length for traced messages "
    "(default: unlimited)\n"
    "\n"
    "JetStream Options (accepted for compatibility; natsd has no JetStream):\n"
    "    -js, --jetstream                 Enable JetStream functionality\n"
    "    -sd, --store_dir <dir>           Set the storage directory\n"
    "\n"
    "Authorization Options:\n"
    "        --user <user>                User required for connections\n"
    "        --pass <password>            Password required for connections\n"
    "        --auth <token>               Authorization token required for connections\n"
    "\n"
    "TLS Options:\n"
    "        --tls                        Enable TLS, do not verify clients (default: false)\n"
    "        --tlscert <file>             Server certificate file\n"
    "        --tlskey <file>              Private key for server certificate\n"
    "        --tlsverify                  Enable TLS, verify client certificates\n"
    "        --tlscacert <file>           Client certificate CA for verification\n"
    "\n"
    "Cluster Options:\n"
    "        --routes <rurl-1, rurl-2>    Routes to solicit and connect\n"
    "        --cluster <cluster-url>      Cluster URL for solicited routes\n"
    "        --cluster_name <string>      Cluster Name, if not set one will be dynamically "
    "generated\n"
    "        --no_advertise <bool>        Do not advertise known cluster information to "
    "clients\n"
    "        --cluster_advertise <string> Cluster URL to advertise to other servers\n"
    "        --connect_retries <number>   For implicit routes, number of connect retries\n"
    "        --cluster_listen <url>       Cluster url from which members can solicit routes\n"
    "\n"
    "Profiling Options:\n"
    "        --profile <port>             Profiling HTTP port\n"
    "\n"
    "Common Options:\n"
    "    -h, --help                       Show this message\n"
    "    -v, --version                    Show version\n"
    "        --help_tls                   TLS help\n";

const char *cli_usage(void)
{
    return cli_usage_text;
}

static const struct cli_flag *cli_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(cli_flags); i++)
        if (strlen(cli_flags[i].name) == len && memcmp(cli_flags[i].name, name, len) == 0)
            return &cli_flags[i];
    return NULL;
}

/* strconv.ParseBool's spellings. */
static int cli_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* strconv.ParseInt(s, 0, bits): an optional sign, then 0x/0o/0b/0 prefixes,
 * underscores allowed only after a prefix. Returns 0, -1 (syntax), -2 (range). */
static int cli_parse_int(const char *s, int bits, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    int base = 10;
    bool prefixed = false;
    if (p[0] == '0' && p[1] != '\0') {
        prefixed = true;
        switch (p[1]) {
        case 'x':
        case 'X':
            base = 16;
            p += 2;
            break;
        case 'o':
        case 'O':
            base = 8;
            p += 2;
            break;
        case 'b':
        case 'B':
            base = 2;
            p += 2;
            break;
        default:
            base = 8;
            p += 1;
            break;
        }
    }
    if (*p == '\0')
        return -1;
    uint64_t limit = bits == 32 ? (neg ? 0x80000000ULL : 0x7fffffffULL)
                                : (neg ? 0x8000000000000000ULL : 0x7fffffffffffffffULL);
    uint64_t v = 0;
    bool range = false;
    for (; *p; p++) {
        if (*p == '_' && prefixed)
            continue;
        int d;
        if (isdigit((unsigned char)*p))
            d = *p - '0';
        else if (isalpha((unsigned char)*p))
            d = tolower((unsigned char)*p) - 'a' + 10;
        else
            return -1;
        if (d >= base)
            return -1;
        if (v > (limit - (uint64_t)d) / (uint64_t)base)
            range = true;
        else
            v = v * (uint64_t)base + (uint64_t)d;
    }
    if (range)
        return -2;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static void cli_give(struct cli *c, const struct cli_flag *f, const char *value)
{
    c->given = xrealloc(c->given, (c->n_given + 1) * sizeof(*c->given));
    c->given[c->n_given].flag = f;
    c->given[c->n_given].value = xstrdup(value);
    c->n_given++;
}

static void cli_quote(const char *s, char *buf, size_t size)
{
    util_go_quote(s, strlen(s), buf, size);
}

/* Record one flag and its value, checking the value as the flag package does. */
static enum cli_result cli_take(struct cli *c, const struct cli_flag *f, const char *value,
                                char *err, size_t errsize)
{
    char q[512];
    if (f->type == CLI_BOOL) {
        bool b;
        if (cli_parse_bool(value, &b) != 0) {
            cli_quote(value, q, sizeof(q));
            snprintf(err, errsize, "invalid boolean value %s for -%s: parse error", q, f->name);
            return CLI_USAGE;
        }
        value = b ? "true" : "false";
    } else if (f->type == CLI_INT || f->type == CLI_INT64) {
        int64_t v;
        /* int flags land in a C int: a value past it is out of range, not truncated */
        int rc = cli_parse_int(value, f->type == CLI_INT ? 32 : 64, &v);
        if (rc != 0) {
            cli_quote(value, q, sizeof(q));
            snprintf(err, errsize, "invalid value %s for flag -%s: %s", q, f->name,
                     rc == -2 ? "value out of range" : "parse error");
            return CLI_USAGE;
        }
    }
    switch (f->action) {
    case CLI_HELP:
        c->show_help = strcmp(value, "true") == 0;
        break;
    case CLI_TLS_HELP:
        c->show_tls_help = strcmp(value, "true") == 0;
        break;
    case CLI_VERSION:
        c->show_version = strcmp(value, "true") == 0;
        break;
    case CLI_CHECK:
        c->check_config = strcmp(value, "true") == 0;
        break;
    case CLI_CONFIG:
        free(c->config_file);
        c->config_file = xstrdup(value);
        break;
    case CLI_SIGNAL:
        free(c->signal);
        c->signal = xstrdup(value);
        break;
    default:
        cli_give(c, f, value);
        break;
    }
    return CLI_OK;
}

enum cli_result cli_parse(int argc, char **argv, struct cli *c, char *err, size_t errsize)
{
    memset(c, 0, sizeof(*c));
    int i = 1;
    while (i < argc) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            break; /* the first non-flag word ends the flags */
        i++;
        const char *name = a + 1;
        if (name[0] == '-') {
            name++;
            if (name[0] == '\0')
                break; /* "--" ends the flags and is consumed */
        }
        if (name[0] == '-' || name[0] == '=') {
            snprintf(err, errsize, "bad flag syntax: %s", a);
            return CLI_USAGE;
        }
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_flag *f = cli_lookup(name, nlen);
        if (!f) {
            snprintf(err, errsize, "flag provided but not defined: -%.*s", (int)nlen, name);
            return CLI_USAGE;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (f->type == CLI_BOOL) {
            value = "true";
        } else if (i < argc) {
            value = argv[i++];
        } else {
            snprintf(err, errsize, "flag needs an argument: -%s", f->name);
            return CLI_USAGE;
        }
        enum cli_result rc = cli_take(c, f, value, err, errsize);
        if (rc != CLI_OK)
            return rc;
    }
    if (c->show_version || c->show_help || c->show_tls_help)
        return CLI_OK;
    if (i < argc) {
        /* Only the words "version" and "help" may follow the flags. */
        if (strcasecmp(argv[i], "version") == 0) {
            c->show_version = true;
        } else if (strcasecmp(argv[i], "help") == 0) {
            c->show_help = true;
        } else {
            char q[512];
            cli_quote(argv[i], q, sizeof(q));
            snprintf(err, errsize, "unrecognized command: %s", q);
            return CLI_FATAL;
        }
    }
    return CLI_OK;
}

bool cli_was_given(const struct cli *c, const char *name)
{
    for (size_t i = 0; i < c->n_given; i++)
        if (strcmp(c->given[i].flag->name, name) == 0)
            return true;
    return false;
}

static void cli_store(const struct cli_flag *f, const char *value, struct opts *o)
{
    char *base = (char *)o + f->off;
    int64_t v = 0;
    switch (f->type) {
    case CLI_BOOL:
        *(bool *)base = strcmp(value, "true") == 0;
        break;
    case CLI_INT:
        (void)cli_parse_int(value, 64, &v);
        *(int *)base = (int)v;
        break;
    case CLI_INT64:
        (void)cli_parse_int(value, 64, &v);
        *(int64_t *)base = v;
        break;
    case CLI_STRING: {
        char **s = (char **)base;
        free(*s);
        *s = value[0] ? xstrdup(value) : NULL;
        break;
    }
    }
}

/* --cluster nats://[user:pass@]host:port, ":-1" meaning a random port; an empty
 * value turns clustering off (as overrideCluster). */
static int cli_apply_cluster(const char *value, struct opts *o, char *err, size_t errsize)
{
    if (!value[0]) {
        o->cluster.port = 0;
        return 0;
    }
    /* ":-1" is no URL port: parse with ":0" and put the -1 back */
    char buf[1024];
    size_t n = strlen(value);
    bool random_port = n >= 3 && strcmp(value + n - 3, ":-1") == 0;
    snprintf(buf, sizeof(buf), "%.*s%s", (int)(random_port ? n - 3 : n), value,
             random_port ? ":0" : "");
    struct util_url u;
    if (util_url_parse(buf, &u) != 0) {
        snprintf(err, errsize, "parse %s: invalid URL", value);
        return -1;
    }
    int rc = -1;
    int64_t port;
    if (!u.host || !u.port) {
        snprintf(err, errsize, "address %s: missing port in address", u.host ? u.host : "");
        goto out;
    }
    if (util_atoi64(u.port, &port) != 0 || port > 65535) {
        snprintf(err, errsize, "expected integer");
        goto out;
    }
    if (u.user && !u.password) {
        snprintf(err, errsize, "expected cluster password to be set");
        goto out;
    }
    free(o->cluster.host);
    o->cluster.host = xstrdup(u.host);
    o->cluster.port = random_port ? -1 : (int)port;
    free(o->cluster.username);
    free(o->cluster.password);
    o->cluster.username = u.user ? xstrdup(u.user) : NULL;
    o->cluster.password = u.password ? xstrdup(u.password) : NULL;
    rc = 0;
out:
    util_url_free(&u);
    return rc;
}

/* --routes "url1, url2": split on commas, spaces trimmed (RoutesFromStr). */
static void cli_apply_routes(const char *value, struct opts *o)
{
    strlist_free(&o->cluster.routes);
    const char *p = value;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (e > s) {
            char *r = xstrndup(s, (size_t)(e - s));
            strlist_push(&o->cluster.routes, r);
            free(r);
        }
        if (!comma)
            break;
        p = comma + 1;
    }
}

int cli_apply(const struct cli *c, struct opts *o, char *err, size_t errsize)
{
    bool tls_override = false, tls_disabled = false;
    bool routes_given = false;

    for (size_t i = 0; i < c->n_given; i++) {
        const struct cli_flag *f = c->given[i].flag;
        const char *v = c->given[i].value;
        bool on = strcmp(v, "true") == 0;
        switch (f->action) {
        case CLI_STORE:
            cli_store(f, v, o);
            break;
        case CLI_DV:
            o->debug = o->trace = on;
            break;
        case CLI_VV:
            o->trace = o->trace_verbose = on;
            break;
        case CLI_DVV:
            o->debug = o->trace = o->trace_verbose = on;
            break;
        case CLI_CLUSTER:
            if (cli_apply_cluster(v, o, err, errsize) != 0)
                return -1;
            break;
        case CLI_ROUTES:
            routes_given = v[0] != '\0';
            cli_apply_routes(v, o);
            break;
        case CLI_TLS:
            if (!on) {
                /* -tls=false turns TLS off whatever else was given */
                o->tls.set = false;
                tls_disabled = true;
                tls_override = false;
            } else {
                tls_override = true;
            }
            break;
        case CLI_TLS_VERIFY:
            o->tls.verify = on;
            if (!tls_disabled)
                tls_override = true;
            break;
        case CLI_TLS_FILE:
            cli_store(f, v, o);
            if (!tls_disabled)
                tls_override = true;
            break;
        case CLI_UNSUPPORTED:
            strlist_push(&o->unsupported, f->name);
            break;
        default:
            break;
        }
    }
    if (tls_override) {
        if (!o->tls.cert_file) {
            snprintf(err, errsize, "TLS Server certificate must be present and valid");
            return -1;
        }
        if (!o->tls.key_file) {
            snprintf(err, errsize, "TLS Server private key must be present and valid");
            return -1;
        }
        /* the files are loaded now, as nats-server's overrideTLS does */
        if (opts_tls_check_files(&o->tls, err, errsize) != 0)
            return -1;
        o->tls.set = true;
    }
    if (routes_given && !cli_was_given(c, "cluster") && !cli_was_given(c, "cluster_listen") &&
        !o->cluster.host && o->cluster.port == 0) {
        snprintf(err, errsize, "solicited routes require cluster capabilities, e.g. --cluster");
        return -1;
    }
    return 0;
}

void cli_free(struct cli *c)
{
    for (size_t i = 0; i < c->n_given; i++)
        free(c->given[i].value);
    NFREE(c->given);
    c->n_given = 0;
    NFREE(c->config_file);
    NFREE(c->signal);
}

/* The pids of other processes named natsd, found through /proc (what pgrep
 * does for nats-server). */
static size_t cli_find_pids(pid_t *pids, size_t max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    pid_t self = getpid();
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == self)
            continue;
        char path[64], comm[64] = {0};
        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f) && strcmp(comm, "natsd\n") == 0 && n < max)
            pids[n++] = (pid_t)pid;
        fclose(f);
    }
    closedir(d);
    return n;
}

int cli_send_signal(const char *spec, char *err, size_t errsize)
{
    static const struct {
        const char *cmd;
        int sig;
    } cmds[] = {
        {"stop", SIGKILL},  {"quit", SIGINT}, {"reopen", SIGUSR1},
        {"reload", SIGHUP}, {"ldm", SIGUSR2}, {"term", SIGTERM},
    };
    char cmd[64] = "", pidstr[64] = "";
    const char *eq = strchr(spec, '=');
    if (eq && strchr(eq + 1, '=')) {
        snprintf(err, errsize, "invalid signal parameters: [%s]", strchr(eq + 1, '=') + 1);
        return -1;
    }
    snprintf(cmd, sizeof(cmd), "%.*s", (int)(eq ? (size_t)(eq - spec) : strlen(spec)), spec);

    pid_t pid = 0;
    if (eq) {
        /* A readable file holds the pid; otherwise the text is the pid. */
        const char *arg = eq + 1;
        FILE *f = fopen(arg, "r");
        if (f) {
            size_t n = fread(pidstr, 1, sizeof(pidstr) - 1, f);
            pidstr[n] = '\0';
            fclose(f);
        } else {
            snprintf(pidstr, sizeof(pidstr), "%s", arg);
        }
        int64_t v;
        if (util_atoi64(pidstr, &v) != 0 || v > INT_MAX || v < INT_MIN) {
            snprintf(err, errsize, "invalid pid: %s", pidstr);
            return -1;
        }
        pid = (pid_t)v;
    } else {
        pid_t pids[16];
        size_t n = cli_find_pids(pids, ARRAY_LEN(pids));
        if (n == 0) {
            snprintf(err, errsize, "no natsd processes running");
            return -1;
        }
        if (n > 1) {
            size_t off = (size_t)snprintf(err, errsize, "multiple natsd processes running:");
            for (size_t i = 0; i < n && off < errsize; i++)
                off += (size_t)snprintf(err + off, errsize - off, "\n%d", (int)pids[i]);
            return -1;
        }
        pid = pids[0];
    }
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
        if (strcmp(cmd, cmds[i].cmd) != 0)
            continue;
        if (kill(pid, cmds[i].sig) != 0) {
            snprintf(err, errsize, "%s", strerror(errno));
            err[0] = (char)tolower((unsigned char)err[0]);
            return -1;
        }
        return 0;
    }
    char q[128];
    cli_quote(cmd, q, sizeof(q));
    snprintf(err, errsize, "unknown signal %s", q);
    return -1;
}
