/* SPDX-License-Identifier: Apache-2.0
 * The account table: built from the options, then updated by reloads by
 * name (accounts kept, added, flagged removed and brought back), with the
 * import tables replaced whole and the replaced ones handed back. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "conf.h"
#include "opts.h"

static struct opts *opts_of(const char *text)
{
    struct conf_doc *doc = NULL;
    struct conf_error err;
    cr_assert_eq(conf_parse_string(text, strlen(text), "t.conf", &doc, &err), 0, "%s", err.msg);
    struct opts *o = calloc(1, sizeof(*o));
    opts_init(o);
    struct opts_diag d = {0};
    int rc = opts_apply_conf(o, conf_root(doc), &d);
    cr_assert_eq(rc, 0, "%s", d.errors.n ? d.errors.v[0] : "?");
    opts_diag_free(&d);
    conf_free(doc);
    return o;
}

static void opts_drop(struct opts *o)
{
    opts_free(o);
    free(o);
}

struct retired {
    struct account_imports *v[16];
    size_t n;
};

static void retire(void *arg, struct account_imports *old)
{
    struct retired *r = arg;
    cr_assert_lt(r->n, 16);
    r->v[r->n++] = old;
}

static void retired_free(struct retired *r)
{
    for (size_t i = 0; i < r->n; i++)
        account_imports_free(r->v[i]);
    r->n = 0;
}

static const char *CONF1 = "accounts {\n"
                           "  A: { exports: [ {stream: \"ev.>\"} ] }\n"
                           "  B: { imports: [ {stream: {account: A, subject: \"ev.>\"}} ] }\n"
                           "}\n";
static const char *CONF2 = "accounts {\n"
                           "  A: { exports: [ {stream: \"ev.>\"}, {service: \"svc\"} ] }\n"
                           "  C: { imports: [ {stream: {account: A, subject: \"ev.>\"}},\n"
                           "                  {service: {account: A, subject: \"svc\"}} ] }\n"
                           "}\n";

Test(account, build_and_find)
{
    struct opts *o = opts_of(CONF1);
    struct account_table t;
    account_table_build(&t, o);
    cr_assert_eq(t.n, 4); /* $G, A, B, $SYS */
    struct account *a = account_table_find(&t, "A");
    struct account *b = account_table_find(&t, "B");
    cr_assert(a && b && t.gacc && t.sysacc);
    cr_assert_str_eq(t.v[0]->name, ACCOUNT_GLOBAL);
    cr_assert(account_has_streams_out(a));
    cr_assert_not(account_has_streams_out(b));
    cr_assert_not(account_has_services_in(b));
    cr_assert_eq(account_imports(a)->n_streams_out, 1);
    cr_assert_eq(account_imports(a)->streams_out[0].importer, b);
    cr_assert_null(account_table_find(&t, "C"));
    account_table_free(&t);
    opts_drop(o);
}

Test(account, reload_by_name)
{
    struct opts *o1 = opts_of(CONF1), *o2 = opts_of(CONF2);
    struct account_table t;
    account_table_build(&t, o1);
    struct account *a = account_table_find(&t, "A");
    struct account *b = account_table_find(&t, "B");
    struct account_imports *a_imp = account_imports(a);
    struct retired r = {0};

    cr_assert_eq(account_table_check(&t, o2, NULL, 0), 0);
    account_table_update(&t, o2, retire, &r);
    cr_assert_eq(t.n, 5); /* C appended, B kept but flagged */
    cr_assert_eq(account_table_find(&t, "A"), a, "A keeps its object");
    cr_assert_null(account_table_find(&t, "B"));
    cr_assert(account_is_removed(b));
    struct account *c = account_table_find(&t, "C");
    cr_assert_not_null(c);
    cr_assert_eq(r.n, 1, "A's old tables are handed back");
    cr_assert_eq(r.v[0], a_imp);
    cr_assert_eq(account_imports(a)->streams_out[0].importer, c);
    cr_assert(account_has_services_in(c));
    cr_assert_eq(account_imports(c)->services_in[0].exporter, a);
    cr_assert_not(account_is_removed(t.gacc));
    cr_assert_not(account_is_removed(t.sysacc));
    retired_free(&r);

    account_table_update(&t, o1, retire, &r);
    cr_assert_eq(t.n, 5);
    cr_assert_eq(account_table_find(&t, "B"), b, "B comes back as the same object");
    cr_assert_null(account_table_find(&t, "C"));
    cr_assert_not(account_has_services_in(c));
    cr_assert_eq(r.n, 2); /* A's and C's */
    retired_free(&r);

    account_table_free(&t);
    opts_drop(o1);
    opts_drop(o2);
}

Test(account, capacity)
{
    struct opts *o1 = opts_of("");
    struct account_table t;
    account_table_build(&t, o1);
    size_t n = t.cap + 1;
    size_t size = 32 + n * 24;
    char *text = malloc(size);
    size_t used = (size_t)snprintf(text, size, "accounts {\n");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, size - used, "  A%zu: {}\n", i);
    snprintf(text + used, size - used, "}\n");
    struct opts *big = opts_of(text);
    char err[256];
    cr_assert_eq(account_table_check(&t, big, err, sizeof(err)), -1);
    cr_assert(strstr(err, "config reload not supported for accounts") != NULL, "%s", err);
    free(text);
    account_table_free(&t);
    opts_drop(o1);
    opts_drop(big);
}

/* An options text with accounts prefix0 .. prefix(n-1), and one more called
 * extra when it is not NULL. Heap; the caller frees it. */
static char *accounts_text(const char *prefix, size_t n, const char *extra)
{
    size_t size = 64 + n * (strlen(prefix) + 32) + (extra ? strlen(extra) + 16 : 0);
    char *text = malloc(size);
    size_t used = (size_t)snprintf(text, size, "accounts {\n");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, size - used, "  %s%zu: {}\n", prefix, i);
    if (extra)
        used += (size_t)snprintf(text + used, size - used, "  %s: {}\n", extra);
    snprintf(text + used, size - used, "}\n");
    return text;
}

/* Every account is found by its name as a protocol argument gives it (not
 * NUL-terminated, any length), and nothing else is: not a prefix, not a
 * longer name, not a removed account. */
Test(account, find_by_name_index)
{
    char longname[301];
    memset(longname, 'L', 300);
    longname[300] = '\0';
    char *text = accounts_text("ACC", 500, longname);
    struct opts *o = opts_of(text);
    free(text);
    struct account_table t;
    account_table_build(&t, o);
    cr_assert_eq(t.n, 503); /* $G, 500, the long one, $SYS */
    char buf[64];
    for (size_t i = 0; i < 500; i++) {
        int n = snprintf(buf, sizeof(buf), "ACC%zu trailing", i);
        size_t len = (size_t)n - strlen(" trailing");
        struct account *a = account_table_find_n(&t, buf, len);
        cr_assert_not_null(a, "%.*s", (int)len, buf);
        cr_assert_eq(a->name_len, len);
        cr_assert(memcmp(a->name, buf, len) == 0);
        cr_assert_eq(account_table_find(&t, a->name), a);
    }
    cr_assert_null(account_table_find_n(&t, "ACC", 3), "a prefix of names");
    cr_assert_null(account_table_find_n(&t, "ACC5000", 7));
    cr_assert_null(account_table_find_n(&t, "ACC1 ", 5));
    cr_assert_null(account_table_find_n(&t, "", 0));
    cr_assert_eq(account_table_find_n(&t, "$G", 2), t.gacc);
    cr_assert_eq(account_table_find_n(&t, "$SYS", 4), t.sysacc);
    /* a name of 256 bytes or more was never found before the index */
    struct account *l = account_table_find_n(&t, longname, 300);
    cr_assert_not_null(l);
    cr_assert_str_eq(l->name, longname);
    cr_assert_null(account_table_find_n(&t, longname, 299));

    /* a reload drops ACC250..ACC499 and the long one, adds NEW0..NEW99 */
    text = accounts_text("ACC", 250, NULL);
    struct opts *o2 = opts_of(text);
    free(text);
    struct retired r = {0};
    account_table_update(&t, o2, NULL, &r);
    opts_drop(o2);
    for (size_t i = 0; i < 500; i++) {
        int n = snprintf(buf, sizeof(buf), "ACC%zu", i);
        cr_assert_eq(account_table_find_n(&t, buf, (size_t)n) != NULL, i < 250, "%s", buf);
    }
    cr_assert_null(account_table_find_n(&t, longname, 300));
    text = accounts_text("NEW", 100, "ACC499");
    struct opts *o3 = opts_of(text);
    free(text);
    account_table_update(&t, o3, NULL, &r);
    opts_drop(o3);
    for (size_t i = 0; i < 100; i++) {
        int n = snprintf(buf, sizeof(buf), "NEW%zu", i);
        struct account *a = account_table_find_n(&t, buf, (size_t)n);
        cr_assert_not_null(a, "%s", buf);
        cr_assert_str_eq(a->name, buf);
    }
    cr_assert_null(account_table_find(&t, "ACC0"));
    cr_assert_not_null(account_table_find(&t, "ACC499"), "back, as the same object");
    cr_assert_eq(t.n, 603);
    account_table_free(&t);
    opts_drop(o);
}

struct finder {
    const struct account_table *t;
    atomic_bool *stop;
    long found, wrong;
};

static void *finder_run(void *arg)
{
    struct finder *f = arg;
    char buf[32];
    long round = 0;
    while (!atomic_load(f->stop) || round < 10) {
        for (int i = 0; i < 200; i++) {
            int n = snprintf(buf, sizeof(buf), "R%d", i);
            struct account *a = account_table_find_n(f->t, buf, (size_t)n);
            if (a && (a->name_len != (size_t)n || memcmp(a->name, buf, (size_t)n) != 0))
                f->wrong++;
            f->found += a != NULL;
        }
        if (account_table_find_n(f->t, "R0", 2) == NULL)
            f->wrong++; /* configured in every generation */
        round++;
    }
    return NULL;
}

/* Readers on other threads look names up while reloads add and drop
 * accounts: each lookup returns the account of that name or nothing, and an
 * account configured all along is always there (no lock: run under TSan
 * too). */
Test(account, find_while_reloading)
{
    char *text = accounts_text("R", 1, NULL);
    struct opts *o = opts_of(text);
    free(text);
    struct account_table t;
    account_table_build(&t, o);
    atomic_bool stop = false;
    struct finder f[2] = {{&t, &stop, 0, 0}, {&t, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, finder_run, &f[i]);
    for (size_t gen = 1; gen <= 40; gen++) {
        text = accounts_text("R", gen % 2 ? 5 * gen : 1, NULL);
        struct opts *og = opts_of(text);
        free(text);
        account_table_update(&t, og, NULL, NULL);
        opts_drop(og);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(f[i].wrong, 0);
        cr_assert_gt(f[i].found, 0);
    }
    account_table_free(&t);
    opts_drop(o);
}
