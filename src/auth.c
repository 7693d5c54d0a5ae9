/* SPDX-License-Identifier: Apache-2.0
 * Client authentication (nats-server's auth.go, the parts without accounts). */
#include "auth.h"

#include <crypt.h>
#include <string.h>

#include "common.h"
#include "conn.h"
#include "mem.h"
#include "opts.h"
#include "server.h"

bool auth_required(const struct opts *o)
{
    return o->token || o->username || o->n_users > 0;
}

double auth_timeout_secs(const struct server *s)
{
    const struct opts *o = server_opts(s);
    if (o->auth_timeout_set && o->auth_timeout > 0)
        return o->auth_timeout;
    if (o->tls.set)
        return o->tls.timeout + 1.0;
    return OPTS_DEFAULT_AUTH_TIMEOUT;
}

static bool auth_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    size_t n = la < lb ? la : lb;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool auth_is_bcrypt(const char *s)
{
    return strncmp(s, "$2a$", 4) == 0 || strncmp(s, "$2b$", 4) == 0 || strncmp(s, "$2x$", 4) == 0 ||
           strncmp(s, "$2y$", 4) == 0;
}

bool auth_password_ok(const char *configured, const char *given)
{
    if (!configured)
        configured = "";
    if (!given)
        given = "";
    if (!auth_is_bcrypt(configured))
        return auth_equal(configured, given);
    /* crypt_r's data is large (~32 KB): heap, not a worker's stack */
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *h = crypt_r(given, configured, cd);
    bool ok = h && h[0] != '*' && auth_equal(h, configured);
    free(cd);
    return ok;
}

bool auth_check_client(struct server *s, struct conn *c)
{
    const struct opts *o = server_opts(s);
    const struct proto_connect *co = &c->opts;
    bool no_creds = !co->user && !co->auth_token && !co->nkey && !co->jwt;
    if (no_creds && o->no_auth_user) {
        /* bound to the no_auth_user, which must exist (checked at start) */
        for (size_t i = 0; i < o->n_users; i++)
            if (o->users[i].user && strcmp(o->users[i].user, o->no_auth_user) == 0)
                return true;
        return false;
    }
    if (o->token)
        return co->auth_token && auth_equal(o->token, co->auth_token);
    if (o->username)
        return co->user && auth_equal(o->username, co->user) &&
               auth_password_ok(o->password, co->pass);
    for (size_t i = 0; i < o->n_users; i++) {
        const struct opts_user *u = &o->users[i];
        if (u->user && co->user && strcmp(u->user, co->user) == 0)
            return auth_password_ok(u->password, co->pass);
    }
    return false;
}
