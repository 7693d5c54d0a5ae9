/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the CONNECT JSON decoder and the authorization
 * decision after it: proto_connect_parse onto the defaults, then
 * auth_check_client_user against a users list (plain and bcrypt passwords,
 * a no_auth_user), and the permissions of the user found checked with the
 * decoded name and user as subjects. Nothing may crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "common.h"
#include "conn.h"
#include "mem.h"
#include "opts.h"
#include "perms.h"
#include "proto.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct opts fz_opts;
static struct server fz_srv;

static void fz_setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    opts_init(&fz_opts);
    fz_opts.n_users = 2;
    fz_opts.users = xcalloc(2, sizeof(struct opts_user));
    fz_opts.users[0].user = xstrdup("a");
    fz_opts.users[0].password = xstrdup("a");
    struct opts_perms *p = xcalloc(1, sizeof(*p));
    p->publish.set = true;
    p->publish.allow_set = true;
    strlist_push(&p->publish.allow, "foo.>");
    strlist_push(&p->publish.deny, "foo.secret");
    p->subscribe.set = true;
    strlist_push(&p->subscribe.allow, "foo.*");
    strlist_push(&p->subscribe.allow, "q g1");
    strlist_push(&p->subscribe.deny, "foo.private");
    p->allow_responses = true;
    p->resp_max = 1;
    fz_opts.users[0].perms = p;
    fz_opts.users[1].user = xstrdup("bc");
    /* bcrypt("s3cr3t"), cost 4 */
    fz_opts.users[1].password =
        xstrdup("$2b$04$dSTVRjSr6qiC6nTvkxUpku3DzMHI6dCUPtpyxI.cy7NEhdP0Mxdna");
    atomic_store(&fz_srv.opts, &fz_opts);
}

static void fz_perms(struct perms_conn *pc, const char *s)
{
    if (!pc || !s)
        return;
    size_t n = strlen(s);
    (void)perms_pub_check(pc, s, n);
    (void)perms_can_subscribe(pc, s, n, "g1", 2);
    (void)perms_can_subscribe(pc, s, n, NULL, 0);
    perms_reply_track_locked(pc, s, n, 1);
    (void)perms_reply_use_locked(pc, s, n, 2);
    (void)perms_deliver_denied(pc, s, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_setup();
    struct conn *c = xcalloc(1, sizeof(*c));
    proto_connect_defaults(&c->opts);
    if (proto_connect_parse((const char *)data, size, &c->opts) == 0) {
        const struct opts_user *u = NULL;
        /* bcrypt is slow: only when the input names that user */
        bool slow = c->opts.user && strcmp(c->opts.user, "bc") == 0;
        if (!slow || size < 256) {
            bool ok = auth_check_client_user(&fz_srv, c, &u);
            NASSERT(!ok || !u || u == &fz_opts.users[0] || u == &fz_opts.users[1]);
        }
        struct perms_conn *pc = perms_conn_new(fz_opts.users[0].perms);
        fz_perms(pc, c->opts.user);
        fz_perms(pc, c->opts.name);
        fz_perms(pc, c->opts.auth_token);
        perms_conn_free(pc);
    }
    proto_connect_free(&c->opts);
    free(c);
    return 0;
}
