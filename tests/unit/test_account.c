/* SPDX-License-Identifier: Apache-2.0
 * The account table: built from the options, then updated by reloads by
 * name (accounts kept, added, flagged removed and brought back), with the
 * import tables replaced whole and the replaced ones handed back. */
#include <criterion/criterion.h>
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
