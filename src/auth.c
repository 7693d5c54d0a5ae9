/* SPDX-License-Identifier: Apache-2.0
 * Client authentication (nats-server's auth.go without JWTs and operators),
 * and the check of connected clients after a reload (reload.go). */
#include "auth.h"

#include <crypt.h>
#include <string.h>
#include <strings.h>

#include "account.h"
#include "authpool.h"
#include "common.h"
#include "conn.h"
#include "log.h"
#include "mem.h"
#include "nkey.h"
#include "opts.h"
#include "server.h"
#include "tls.h"
#include "util.h"

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

/* The configured user with this name (not an nkey user), or NULL. */
static const struct opts_user *auth_find_user(const struct opts *o, const char *name)
{
    for (size_t i = 0; name && i < o->n_users; i++)
        if (o->users[i].user && !o->users[i].nkey && strcmp(o->users[i].user, name) == 0)
            return &o->users[i];
    return NULL;
}

bool auth_nonce_required(const struct opts *o)
{
    for (size_t i = 0; i < o->n_users; i++)
        if (o->users[i].nkey)
            return true;
    return false;
}

void auth_log_violation(struct server *s, const struct conn *c)
{
    const struct opts *o = server_opts(s);
    const struct proto_connect *co = &c->opts;
    if (auth_nonce_required(o))
        CONN_LOG(LOG_LEVEL_ERROR, c, "authentication error - Nkey \"%s\"",
                 co->nkey ? co->nkey : "");
    else if (o->n_users > 0)
        CONN_LOG(LOG_LEVEL_ERROR, c, "authentication error - User \"%s\"",
                 co->user ? co->user : "");
    else
        CONN_LOG(LOG_LEVEL_ERROR, c, "authentication error");
}

/* The configured nkey user, or NULL. */
static const struct opts_user *auth_find_nkey(const struct opts *o, const char *nkey)
{
    for (size_t i = 0; i < o->n_users; i++)
        if (o->users[i].nkey && strcmp(o->users[i].nkey, nkey) == 0)
            return &o->users[i];
    return NULL;
}

/* A user restricted to other connection types (WEBSOCKET, MQTT, LEAFNODE...)
 * may not connect as a plain client (connectionTypeAllowed). */
static bool auth_conn_type_allowed(const struct opts_user *u)
{
    if (u->connection_types.n == 0)
        return true;
    for (size_t i = 0; i < u->connection_types.n; i++)
        if (strcmp(u->connection_types.v[i], "STANDARD") == 0)
            return true;
    return false;
}

/* A password check: at once on this thread, or (async, a bcrypt hash) by
 * the password pool, which may leave it pending. */
static enum auth_result auth_pw(struct conn *c, bool async, const char *configured,
                                const char *given)
{
    if (!async || !configured || !auth_is_bcrypt(configured) || !c->s->authpool)
        return auth_password_ok(configured, given) ? AUTH_OK : AUTH_FAIL;
    struct authpool *pool = c->s->authpool;
    switch (authpool_check(pool, c, configured, given)) {
    case AUTHPOOL_OK:
        return AUTH_OK;
    case AUTHPOOL_PENDING:
        return AUTH_PENDING;
    case AUTHPOOL_BAD:
    default:
        return AUTH_FAIL;
    }
}

static enum auth_result auth_check_credentials(struct server *s, struct conn *c,
                                               const struct opts_user **user, bool async)
{
    const struct opts *o = server_opts(s);
    const struct proto_connect *co = &c->opts;
    bool no_creds = !co->user && !co->auth_token && !co->nkey && !co->jwt;
    *user = NULL;
    if (o->tls.verify_and_map && o->n_users > 0 && !co->nkey)
        /* the certificate names the user */
        return auth_tls_map_user(s, c, user) ? AUTH_OK : AUTH_FAIL;
    if (no_creds && o->no_auth_user) {
        /* bound to the no_auth_user, which must exist (checked at start) */
        *user = auth_find_user(o, o->no_auth_user);
        return *user ? AUTH_OK : AUTH_FAIL;
    }
    if (co->nkey && auth_nonce_required(o)) {
        /* the client signed the nonce of our INFO with its key
         * (processClientOrLeafAuthentication's nkey branch) */
        const struct opts_user *u = auth_find_nkey(o, co->nkey);
        if (!u || !co->sig || !c->nonce[0] ||
            !nkey_verify(co->nkey, c->nonce, strlen(c->nonce), co->sig))
            return AUTH_FAIL;
        *user = u;
        return AUTH_OK;
    }
    if (o->token)
        return co->auth_token && auth_equal(o->token, co->auth_token) ? AUTH_OK : AUTH_FAIL;
    if (o->username) {
        if (!co->user || !auth_equal(o->username, co->user))
            return AUTH_FAIL;
        return auth_pw(c, async, o->password, co->pass);
    }
    const struct opts_user *u = auth_find_user(o, co->user);
    if (!u)
        return AUTH_FAIL;
    enum auth_result r = auth_pw(c, async, u->password, co->pass);
    if (r == AUTH_OK)
        *user = u;
    return r;
}

static enum auth_result auth_check_user(struct server *s, struct conn *c,
                                        const struct opts_user **user, bool async)
{
    enum auth_result r = auth_check_credentials(s, c, user, async);
    if (r != AUTH_OK)
        return r;
    if (*user && !auth_conn_type_allowed(*user)) {
        CONN_LOG(LOG_LEVEL_DEBUG, c, "Connection type not allowed");
        *user = NULL;
        return AUTH_FAIL;
    }
    return AUTH_OK;
}

bool auth_check_client_user(struct server *s, struct conn *c, const struct opts_user **user)
{
    return auth_check_user(s, c, user, false) == AUTH_OK;
}

enum auth_result auth_connect_client(struct server *s, struct conn *c,
                                     const struct opts_user **user)
{
    return auth_check_user(s, c, user, true);
}

enum auth_result auth_connect_password(struct conn *c, const char *configured, const char *given)
{
    return auth_pw(c, true, configured, given);
}

bool auth_check_client(struct server *s, struct conn *c)
{
    const struct opts_user *u;
    return auth_check_client_user(s, c, &u);
}

/* --- tls verify_and_map (checkClientTLSCertSubject's callback in auth.go) */

struct auth_tls_map {
    const struct opts *o;
    const struct opts_user *found;
};

static bool auth_tls_map_cb(void *arg, const char *name, enum tls_id_kind kind)
{
    struct auth_tls_map *m = arg;
    (void)kind;
    for (size_t i = 0; i < m->o->n_users; i++) {
        const struct opts_user *u = &m->o->users[i];
        if (u->user && strcmp(u->user, name) == 0) {
            m->found = u;
            return true;
        }
    }
    return false;
}

bool auth_tls_map_user(struct server *s, struct conn *c, const struct opts_user **user)
{
    const struct opts *o = server_opts(s);
    struct auth_tls_map m = {.o = o, .found = NULL};
    if (!tls_peer_identities(c, auth_tls_map_cb, &m)) {
        /* a configured user that is the certificate's DN, maybe reordered */
        for (size_t i = 0; !m.found && i < o->n_users; i++)
            if (o->users[i].user && tls_peer_dn_matches(c, o->users[i].user))
                m.found = &o->users[i];
    }
    if (!m.found)
        return false;
    if (c->opts.user && c->opts.user[0])
        NLOG_WARN("User \"%s\" found in connect proto, but user required from cert", c->opts.user);
    free(c->opts.user); /* identified as the certificate's user from now on */
    c->opts.user = xstrdup(m.found->user);
    *user = m.found;
    return true;
}

/* --- routes and gateways (isRouterAuthorized, isGatewayAuthorized) */

struct auth_peer_map {
    const char *user;
    bool map;
    const struct strlist *const *lists;
    size_t nlists;
};

/* dnsAltNameMatches for one URL: dns is a DNS SAN, lower-cased here. */
static bool auth_dns_names_url(const char *dns, const char *url)
{
    struct util_url u;
    if (util_url_parse(url, &u) != 0)
        return false;
    bool ok = false;
    const char *h = u.host ? u.host : "";
    const char *d = dns;
    /* a left-most "*" label stands for exactly one label of the host */
    if (d[0] == '*' && d[1] == '.') {
        const char *dot = strchr(h, '.');
        if (dot) {
            d += 1;
            h = dot;
        } else {
            d = NULL;
        }
    } else if (d[0] == '*' && d[1] == '\0') {
        ok = h[0] && !strchr(h, '.');
        d = NULL;
    }
    if (d)
        ok = strcasecmp(d, h) == 0;
    util_url_free(&u);
    return ok;
}

static bool auth_peer_map_cb(void *arg, const char *name, enum tls_id_kind kind)
{
    const struct auth_peer_map *m = arg;
    if (!name[0])
        return false;
    if (kind == TLS_ID_DNS)
        for (size_t i = 0; i < m->nlists; i++)
            for (size_t k = 0; k < m->lists[i]->n; k++)
                if (auth_dns_names_url(name, m->lists[i]->v[k]))
                    return true;
    return m->map && m->user && strcmp(m->user, name) == 0;
}

bool auth_tls_peer_ok(struct conn *c, const char *user, bool map,
                      const struct strlist *const *lists, size_t nlists)
{
    struct auth_peer_map m = {.user = user, .map = map, .lists = lists, .nlists = nlists};
    return tls_peer_identities(c, auth_peer_map_cb, &m);
}

/* --- reload (reloadAuthorization) */

/* The user the client named when it authenticated: its nkey, its user name
 * (the one its certificate mapped to with verify_and_map), or the
 * no_auth_user it was bound to. NULL when it named none. */
static const struct opts_user *auth_named_user(const struct opts *o, const struct conn *c,
                                               const struct opts *old, bool *named)
{
    const struct proto_connect *co = &c->opts;
    *named = true;
    if (co->nkey)
        return auth_find_nkey(o, co->nkey);
    if (co->user && co->user[0])
        return auth_find_user(o, co->user);
    bool no_creds = !co->auth_token && !co->jwt;
    if (no_creds && old->no_auth_user)
        return auth_find_user(o, old->no_auth_user);
    *named = false;
    return NULL;
}

/* clientHasMovedToDifferentAccount, with natsd's exception (auth.h). */
static bool auth_has_moved(const struct opts *o, const struct conn *c, const struct opts *old)
{
    if (account_is_removed(c->acc))
        return true;
    if (o->n_users == 0)
        return false; /* judged by its credentials instead */
    bool named;
    const struct opts_user *u = auth_named_user(o, c, old, &named);
    if (!named)
        return false;
    if (!u)
        return true; /* the user no longer exists */
    const char *acc = u->account ? u->account : ACCOUNT_GLOBAL;
    return strcmp(acc, c->acc->name) != 0;
}

/* The client's users-list user still authenticates as it did: same name,
 * same configured bcrypt hash, nothing else in the way. Spares a bcrypt
 * per client on every reload (tens of milliseconds each on a worker). */
static const struct opts_user *auth_same_hash(const struct opts *o, const struct conn *c,
                                              const struct opts *old)
{
    const struct proto_connect *co = &c->opts;
    if (co->nkey || !co->user || o->tls.verify_and_map || o->username || o->token)
        return NULL;
    const struct opts_user *u = auth_find_user(o, co->user);
    const struct opts_user *p = auth_find_user(old, co->user);
    if (!u || !p || !u->password || !p->password || !auth_is_bcrypt(u->password) ||
        strcmp(u->password, p->password) != 0 || !auth_conn_type_allowed(u))
        return NULL;
    return u;
}

enum auth_recheck auth_recheck_client(struct server *s, struct conn *c, const struct opts *old,
                                      const struct opts_user **user)
{
    const struct opts *o = server_opts(s);
    *user = NULL;
    if (auth_has_moved(o, c, old))
        return AUTH_RECHECK_MOVED;
    if (!auth_required(o))
        return AUTH_RECHECK_KEEP; /* no auth: the client keeps what it has */
    const struct opts_user *u = auth_same_hash(o, c, old);
    if (!u && !auth_check_client_user(s, c, &u))
        return AUTH_RECHECK_DENIED;
    *user = u;
    return u ? AUTH_RECHECK_REBIND : AUTH_RECHECK_KEEP;
}
