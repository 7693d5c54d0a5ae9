/* SPDX-License-Identifier: Apache-2.0
 * The system account's internal client: the request services of
 * nats-server 2.9.10's events.go answered by this server.
 *
 * Other modules add their own services with sysacc_subscribe
 * (sysacc_int.h). The server's request services are here:
 *   $SYS.REQ.SERVER.PING                 statsz
 *   $SYS.REQ.SERVER.PING.<NAME>          every server answers
 *   $SYS.REQ.SERVER.<server id>.<NAME>   this server only
 * with NAME one of STATSZ VARZ SUBSZ CONNZ ROUTEZ GATEWAYZ LEAFZ ACCOUNTZ
 * JSZ HEALTHZ. A request's body is JSON: the endpoint's own options, which
 * become the HTTP endpoint's query parameters, and the filter options (name,
 * cluster, host, tags, domain) that decide whether this server answers at
 * all. The answer is {"server": {...}, "data": <the HTTP endpoint's JSON>}
 * (statsz: {"server": {...}, "statsz": {...}}), or {"server": {...},
 * "error": {"code": ..., "description": ...}}. */
#include "sysacc.h"
#include "sysacc_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "account.h"
#include "client.h"
#include "common.h"
#include "conn.h"
#include "deliver.h"
#include "gateway.h"
#include "log.h"
#include "mem.h"
#include "monitor.h"
#include "opts.h"
#include "proto.h"
#include "route.h"
#include "sbuf.h"
#include "server.h"
#include "sublist.h"
#include "worker.h"

/* Requests waiting for the system thread at most; past it a request is
 * dropped (its requester times out), so a flood costs bounded memory. */
#define SYSACC_MAX_QUEUED 65536

/* How an option of a request body becomes a query parameter. */
enum sysacc_opt_type {
    SYSACC_STR,         /* string, as is */
    SYSACC_SORT,        /* string (server.SortOpt) */
    SYSACC_BOOL,        /* "true" / "false" */
    SYSACC_INT,         /* decimal */
    SYSACC_U64,         /* decimal, not negative */
    SYSACC_STATE,       /* server.ConnState 0, 1, 2: "open", "closed", "all" */
    SYSACC_SUBS,        /* bool: subs=1 */
    SYSACC_SUBS_DETAIL, /* bool: subs=detail */
};

struct sysacc_opt {
    const char *json;  /* its name in the request body */
    const char *param; /* the query parameter */
    enum sysacc_opt_type type;
};

struct sysacc_endpoint {
    const char *name;   /* the subject's last token */
    const char *gotype; /* nats-server's options type, for error texts */
    const struct sysacc_opt *opts;
    size_t nopts;
};

static const struct sysacc_opt sysacc_connz_opts[] = {
    {"sort", "sort", SYSACC_SORT},
    {"auth", "auth", SYSACC_BOOL},
    {"subscriptions", "subs", SYSACC_SUBS},
    {"subscriptions_detail", "subs", SYSACC_SUBS_DETAIL},
    {"offset", "offset", SYSACC_INT},
    {"limit", "limit", SYSACC_INT},
    {"cid", "cid", SYSACC_U64},
    {"mqtt_client", "mqtt_client", SYSACC_STR},
    {"state", "state", SYSACC_STATE},
    {"user", "user", SYSACC_STR},
    {"acc", "acc", SYSACC_STR},
    {"filter_subject", "filter_subject", SYSACC_STR},
};
static const struct sysacc_opt sysacc_routez_opts[] = {
    {"subscriptions", "subs", SYSACC_SUBS},
    {"subscriptions_detail", "subs", SYSACC_SUBS_DETAIL},
};
static const struct sysacc_opt sysacc_subsz_opts[] = {
    {"offset", "offset", SYSACC_INT},       {"limit", "limit", SYSACC_INT},
    {"subscriptions", "subs", SYSACC_BOOL}, {"account", "acc", SYSACC_STR},
    {"test", "test", SYSACC_STR},
};
static const struct sysacc_opt sysacc_gatewayz_opts[] = {
    {"name", "gw_name", SYSACC_STR},
    {"accounts", "accs", SYSACC_BOOL},
    {"account_name", "acc_name", SYSACC_STR},
};
static const struct sysacc_opt sysacc_leafz_opts[] = {
    {"subscriptions", "subs", SYSACC_BOOL},
    {"account", "acc", SYSACC_STR},
};
static const struct sysacc_opt sysacc_accountz_opts[] = {
    {"account", "acc", SYSACC_STR},
};
static const struct sysacc_opt sysacc_jsz_opts[] = {
    {"account", "acc", SYSACC_STR},      {"accounts", "accounts", SYSACC_BOOL},
    {"streams", "streams", SYSACC_BOOL}, {"consumer", "consumers", SYSACC_BOOL},
    {"config", "config", SYSACC_BOOL},   {"leader_only", "leader-only", SYSACC_BOOL},
    {"offset", "offset", SYSACC_INT},    {"limit", "limit", SYSACC_INT},
};
static const struct sysacc_opt sysacc_healthz_opts[] = {
    {"js-enabled-only", "js-enabled-only", SYSACC_BOOL},
    {"js-server-only", "js-server-only", SYSACC_BOOL},
};

#define SYSACC_EP(n, t, o)                                                                         \
    {                                                                                              \
        n, t, o, ARRAY_LEN(o)                                                                      \
    }

/* STATSZ first: it is answered by the statsz handler, not an endpoint. */
static const struct sysacc_endpoint sysacc_endpoints[] = {
    {"STATSZ", "StatszEventOptions", NULL, 0},
    {"VARZ", "VarzEventOptions", NULL, 0},
    SYSACC_EP("SUBSZ", "SubszEventOptions", sysacc_subsz_opts),
    SYSACC_EP("CONNZ", "ConnzEventOptions", sysacc_connz_opts),
    SYSACC_EP("ROUTEZ", "RoutezEventOptions", sysacc_routez_opts),
    SYSACC_EP("GATEWAYZ", "GatewayzEventOptions", sysacc_gatewayz_opts),
    SYSACC_EP("LEAFZ", "LeafzEventOptions", sysacc_leafz_opts),
    SYSACC_EP("ACCOUNTZ", "AccountzEventOptions", sysacc_accountz_opts),
    SYSACC_EP("JSZ", "JszEventOptions", sysacc_jsz_opts),
    SYSACC_EP("HEALTHZ", "HealthzEventOptions", sysacc_healthz_opts),
};

#define SYSACC_NEP ARRAY_LEN(sysacc_endpoints)

/* --- publishing */

/* A message to publish, on its way to a worker. */
struct sysacc_out {
    struct worker_post post; /* first */
    char *subject;
    char *reply;
    char *data;
    size_t len;
};

static void sysacc_out_free(struct sysacc_out *o)
{
    free(o->subject);
    free(o->reply);
    free(o->data);
    free(o);
}

static void sysacc_out_run(struct worker *w, struct worker_post *p)
{
    struct sysacc_out *o = (struct sysacc_out *)p;
    struct server *s = w->s;
    struct sysacc *sa = s->sys;
    if (sa && !atomic_load(&s->shutting_down)) {
        char tok[24];
        int n = snprintf(tok, sizeof(tok), "%zu", o->len);
        struct deliver_msg m = {
            .subject = o->subject,
            .subject_len = strlen(o->subject),
            .reply = o->reply,
            .reply_len = o->reply ? strlen(o->reply) : 0,
            .total_tok = tok,
            .total_tok_len = (size_t)n,
            .total_len = o->len,
            .payload = o->data,
        };
        deliver_local(w, NULL, sa->acc, &m);
    }
    sysacc_out_free(o);
}

void sysacc_publish(struct server *s, const char *subject, const char *reply, const char *data,
                    size_t len)
{
    struct sysacc *sa = s->sys;
    if (!sa || s->nworkers == 0)
        return;
    struct sysacc_out *o = xcalloc(1, sizeof(*o));
    o->post.fn = sysacc_out_run;
    o->subject = xstrdup(subject);
    o->reply = reply ? xstrdup(reply) : NULL;
    o->data = xmalloc(len + 1);
    memcpy(o->data, data, len);
    o->data[len] = '\0';
    o->len = len;
    atomic_fetch_add(&sa->seq, 1);
    unsigned k = atomic_fetch_add(&sa->next_worker, 1) % (unsigned)s->nworkers;
    worker_post(s->workers[k], &o->post);
}

void sysacc_reply(struct sysacc *sa, const char *subject, const char *key, const char *data,
                  int code, const char *desc)
{
    size_t len;
    uint64_t seq = atomic_load(&sa->seq) + 1;
    char *txt = monitor_api_reply(sa->s, seq, key, data, code, desc, &len);
    sysacc_publish(sa->s, subject, NULL, txt, len);
    free(txt);
}

/* --- request bodies */

static const char *sysacc_json_type(const cJSON *v)
{
    if (cJSON_IsBool(v))
        return "bool";
    if (cJSON_IsNumber(v))
        return "number";
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsArray(v))
        return "array";
    return "object";
}

/* A request's decoded options: the query parameters, and the filter. */
struct sysacc_req {
    char *kv[64]; /* name, value pairs (values owned) */
    size_t nkv;
    const char *f_name, *f_cluster, *f_host, *f_domain;
    const cJSON *f_tags;
    char err[512]; /* set: the body is refused with this text */
};

static void sysacc_req_free(struct sysacc_req *rq)
{
    for (size_t i = 0; i < rq->nkv; i++)
        free(rq->kv[2 * i + 1]);
}

static void sysacc_req_set(struct sysacc_req *rq, const char *param, char *val)
{
    for (size_t i = 0; i < rq->nkv; i++) {
        if (strcmp(rq->kv[2 * i], param) == 0) {
            free(rq->kv[2 * i + 1]);
            rq->kv[2 * i + 1] = val;
            return;
        }
    }
    if (2 * rq->nkv + 1 >= ARRAY_LEN(rq->kv)) {
        free(val);
        return;
    }
    rq->kv[2 * rq->nkv] = (char *)param;
    rq->kv[2 * rq->nkv + 1] = val;
    rq->nkv++;
}

static void sysacc_type_err(struct sysacc_req *rq, const struct sysacc_endpoint *ep,
                            const char *field, const cJSON *v, const char *gotype)
{
    snprintf(rq->err, sizeof(rq->err),
             "json: cannot unmarshal %s into Go struct field %s.%s of type %s", sysacc_json_type(v),
             ep->gotype, field, gotype);
}

/* One option of the endpoint's own. Returns false on a refused value. */
static bool sysacc_opt_decode(struct sysacc_req *rq, const struct sysacc_endpoint *ep,
                              const struct sysacc_opt *o, const cJSON *v)
{
    char buf[32];
    switch (o->type) {
    case SYSACC_STR:
    case SYSACC_SORT:
        if (!cJSON_IsString(v)) {
            sysacc_type_err(rq, ep, o->json, v,
                            o->type == SYSACC_SORT ? "server.SortOpt" : "string");
            return false;
        }
        sysacc_req_set(rq, o->param, xstrdup(v->valuestring));
        return true;
    case SYSACC_BOOL:
    case SYSACC_SUBS:
    case SYSACC_SUBS_DETAIL:
        if (!cJSON_IsBool(v)) {
            sysacc_type_err(rq, ep, o->json, v, "bool");
            return false;
        }
        if (o->type == SYSACC_BOOL)
            sysacc_req_set(rq, o->param, xstrdup(cJSON_IsTrue(v) ? "true" : "false"));
        else if (cJSON_IsTrue(v))
            sysacc_req_set(rq, o->param, xstrdup(o->type == SYSACC_SUBS ? "1" : "detail"));
        return true;
    case SYSACC_INT:
    case SYSACC_U64:
    case SYSACC_STATE: {
        const char *gt = o->type == SYSACC_INT   ? "int"
                         : o->type == SYSACC_U64 ? "uint64"
                                                 : "server.ConnState";
        double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
        if (!cJSON_IsNumber(v) || d != (double)(int64_t)d || (o->type == SYSACC_U64 && d < 0)) {
            sysacc_type_err(rq, ep, o->json, v, gt);
            return false;
        }
        if (o->type == SYSACC_STATE) {
            static const char *const states[] = {"open", "closed", "all"};
            /* another number is no state nats-server knows: it lists the
             * open connections, as for 0 */
            int64_t st = (int64_t)d;
            sysacc_req_set(rq, o->param, xstrdup(st >= 0 && st <= 2 ? states[st] : "open"));
            return true;
        }
        snprintf(buf, sizeof(buf), "%lld", (long long)d);
        sysacc_req_set(rq, o->param, xstrdup(buf));
        return true;
    }
    }
    return true;
}

static bool sysacc_filter_str(struct sysacc_req *rq, const struct sysacc_endpoint *ep,
                              const cJSON *root, const char *name, const char **out)
{
    const cJSON *v = cJSON_GetObjectItem(root, name);
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v)) {
        sysacc_type_err(rq, ep, name, v, "string");
        return false;
    }
    *out = v->valuestring;
    return true;
}

/* Decode body into rq as Go's json.Unmarshal into the endpoint's options
 * (unknown fields ignored, names matched without case). Returns false with
 * rq->err set when Go refuses it. root is kept for the filter's strings. */
static bool sysacc_decode(struct sysacc_req *rq, const struct sysacc_endpoint *ep, const char *body,
                          size_t len, cJSON **root)
{
    *root = cJSON_ParseWithLength(body, len);
    if (!*root) {
        size_t i = 0;
        while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
            i++;
        if (i < len && !strchr("{[\"-0123456789tfn", body[i]))
            snprintf(rq->err, sizeof(rq->err),
                     "invalid character '%c' looking for beginning of value", body[i]);
        else
            snprintf(rq->err, sizeof(rq->err), "unexpected end of JSON input");
        return false;
    }
    if (cJSON_IsNull(*root))
        return true;
    if (!cJSON_IsObject(*root)) {
        snprintf(rq->err, sizeof(rq->err),
                 "json: cannot unmarshal %s into Go value of type server.%s",
                 sysacc_json_type(*root), ep->gotype);
        return false;
    }
    for (size_t i = 0; i < ep->nopts; i++) {
        const cJSON *v = cJSON_GetObjectItem(*root, ep->opts[i].json);
        if (v && !cJSON_IsNull(v) && !sysacc_opt_decode(rq, ep, &ep->opts[i], v))
            return false;
    }
    if (!sysacc_filter_str(rq, ep, *root, "server_name", &rq->f_name) ||
        !sysacc_filter_str(rq, ep, *root, "cluster", &rq->f_cluster) ||
        !sysacc_filter_str(rq, ep, *root, "host", &rq->f_host) ||
        !sysacc_filter_str(rq, ep, *root, "domain", &rq->f_domain))
        return false;
    const cJSON *tags = cJSON_GetObjectItem(*root, "tags");
    if (tags && !cJSON_IsNull(tags)) {
        const cJSON *t;
        bool ok = cJSON_IsArray(tags);
        cJSON_ArrayForEach(t, tags) ok = ok && cJSON_IsString(t);
        if (!ok) {
            sysacc_type_err(rq, ep, "tags", tags, "[]string");
            return false;
        }
        rq->f_tags = tags;
    }
    return true;
}

/* nats-server's filterRequest: true when this server must not answer. */
static bool sysacc_filtered(struct server *s, const struct sysacc_req *rq)
{
    const struct opts *o = server_opts(s);
    if (rq->f_name && rq->f_name[0] && !strstr(s->name, rq->f_name))
        return true;
    const char *host = o->host && o->host[0] ? o->host : OPTS_DEFAULT_HOST;
    if (rq->f_host && rq->f_host[0] && !strstr(host, rq->f_host))
        return true;
    if (rq->f_cluster && rq->f_cluster[0]) {
        char cluster[256];
        if (!server_cluster_name(s, cluster, sizeof(cluster)))
            cluster[0] = '\0';
        if (!strstr(cluster, rq->f_cluster))
            return true;
    }
    if (rq->f_tags) {
        const cJSON *t;
        cJSON_ArrayForEach(t, rq->f_tags)
        {
            bool found = false;
            for (size_t i = 0; i < o->server_tags.n && !found; i++)
                found = strcasecmp(o->server_tags.v[i], t->valuestring) == 0;
            if (!found)
                return true;
        }
    }
    /* no JetStream here: no domain */
    if (rq->f_domain && rq->f_domain[0])
        return true;
    return false;
}

/* --- the handlers (system thread) */

static void sysacc_statsz(struct sysacc *sa, const struct sysacc_job *j, const void *arg)
{
    (void)arg;
    struct server *s = sa->s;
    char bcast[128];
    const char *reply = j->reply;
    if (!reply) {
        /* no reply: the answer goes out as the periodic event would */
        snprintf(bcast, sizeof(bcast), "$SYS.SERVER.%s.STATSZ", s->id);
        reply = bcast;
    }
    if (j->body_len > 0) {
        struct sysacc_req rq = {0};
        cJSON *root = NULL;
        bool ok = sysacc_decode(&rq, &sysacc_endpoints[0], j->body, j->body_len, &root);
        bool skip = ok && sysacc_filtered(s, &rq);
        if (!ok)
            sysacc_reply(sa, reply, NULL, NULL, 400, rq.err);
        cJSON_Delete(root);
        sysacc_req_free(&rq);
        if (!ok || skip)
            return;
    }
    size_t len;
    char *st = monitor_statsz(s, &len);
    if (st)
        sysacc_reply(sa, reply, "statsz", st, 0, NULL);
    free(st);
}

static void sysacc_endpoint(struct sysacc *sa, const struct sysacc_job *j, const void *arg)
{
    const struct sysacc_endpoint *ep = arg;
    struct server *s = sa->s;
    if (!j->reply)
        return;
    struct sysacc_req rq = {0};
    cJSON *root = NULL;
    if (j->body_len > 0) {
        if (!sysacc_decode(&rq, ep, j->body, j->body_len, &root)) {
            sysacc_reply(sa, j->reply, NULL, NULL, 400, rq.err);
            goto done;
        }
        if (sysacc_filtered(s, &rq))
            goto done;
    }
    char *out;
    size_t len;
    int status = monitor_request(s, ep->name, (const char *const *)rq.kv, rq.nkv, &out, &len);
    if (status == 200) {
        sysacc_reply(sa, j->reply, "data", out, 0, NULL);
    } else if (status > 0) {
        /* the endpoint refused an option: nats-server reports its error
         * beside a null data */
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
            out[--len] = '\0';
        sysacc_reply(sa, j->reply, "data", "null", 500, out ? out : "");
    }
    free(out);
done:
    cJSON_Delete(root);
    sysacc_req_free(&rq);
}

void sysacc_answer(struct sysacc *sa, const struct sysacc_job *j, const char *endpoint,
                   const char *const *extra, size_t nextra, const char *pick, const char *fail)
{
    const struct sysacc_endpoint *ep = NULL;
    for (size_t i = 0; i < SYSACC_NEP && !ep; i++)
        if (strcmp(sysacc_endpoints[i].name, endpoint) == 0)
            ep = &sysacc_endpoints[i];
    if (!ep || !j->reply)
        return;
    struct sysacc_req rq = {0};
    cJSON *root = NULL;
    char *out = NULL;
    if (j->body_len > 0) {
        if (!sysacc_decode(&rq, ep, j->body, j->body_len, &root)) {
            sysacc_reply(sa, j->reply, NULL, NULL, 400, rq.err);
            goto done;
        }
        if (sysacc_filtered(sa->s, &rq))
            goto done;
    }
    if (fail) {
        sysacc_reply(sa, j->reply, "data", "null", 500, fail);
        goto done;
    }
    for (size_t i = 0; i < nextra; i++)
        sysacc_req_set(&rq, extra[2 * i], xstrdup(extra[2 * i + 1]));
    size_t len;
    int status = monitor_request(sa->s, ep->name, (const char *const *)rq.kv, rq.nkv, &out, &len);
    if (status == 200 && pick) {
        cJSON *d = cJSON_ParseWithLength(out, len);
        cJSON *v = d ? cJSON_GetObjectItemCaseSensitive(d, pick) : NULL;
        char *txt = v ? cJSON_PrintUnformatted(v) : NULL;
        sysacc_reply(sa, j->reply, "data", txt ? txt : "null", 0, NULL);
        cJSON_free(txt);
        cJSON_Delete(d);
    } else if (status == 200) {
        sysacc_reply(sa, j->reply, "data", out, 0, NULL);
    } else if (status > 0) {
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
            out[--len] = '\0';
        sysacc_reply(sa, j->reply, "data", "null", 500, out ? out : "");
    }
done:
    free(out);
    cJSON_Delete(root);
    sysacc_req_free(&rq);
}

static void sysacc_job_free(struct sysacc_job *j)
{
    free(j->subject);
    free(j->reply);
    free(j->body);
    free(j);
}

static void *sysacc_main(void *arg)
{
    struct sysacc *sa = arg;
    pthread_mutex_lock(&sa->mu);
    for (;;) {
        while (!sa->head && !sa->stopping)
            pthread_cond_wait(&sa->cv, &sa->mu);
        if (sa->stopping)
            break;
        struct sysacc_job *j = sa->head;
        sa->head = j->next;
        if (!sa->head)
            sa->tail = NULL;
        sa->nqueued--;
        pthread_mutex_unlock(&sa->mu);
        const struct sysacc_svc *svc = &sa->svcs[j->svc];
        svc->fn(sa, j, svc->arg);
        sysacc_job_free(j);
        pthread_mutex_lock(&sa->mu);
    }
    pthread_mutex_unlock(&sa->mu);
    return NULL;
}

/* --- the message path */

bool sysacc_deliver(struct worker *w, struct csub *cs, const struct deliver_msg *m)
{
    struct sysacc *sa = w->s->sys;
    if (!sa)
        return false;
    /* the sid is the index of the service; the slot was filled before
     * the subscription went into the sublist, whose lock orders the two */
    size_t svc = 0;
    const char *sid = csub_sid(cs);
    for (uint32_t i = 0; i < cs->sid_len; i++)
        svc = svc * 10 + (size_t)(sid[i] - '0');
    if (svc >= SYSACC_MAX_SVCS || !sa->svcs[svc].fn)
        return false;
    struct sysacc_job *j = xcalloc(1, sizeof(*j));
    j->svc = svc;
    j->subject = xstrndup(m->subject, m->subject_len);
    if (m->reply)
        j->reply = xstrndup(m->reply, m->reply_len);
    j->body_len = m->total_len - m->hdr_len;
    j->body = xmalloc(j->body_len + 1);
    memcpy(j->body, m->payload + m->hdr_len, j->body_len);
    j->body[j->body_len] = '\0';
    pthread_mutex_lock(&sa->mu);
    bool take = !sa->stopping && sa->nqueued < SYSACC_MAX_QUEUED;
    if (take) {
        if (sa->tail)
            sa->tail->next = j;
        else
            sa->head = j;
        sa->tail = j;
        sa->nqueued++;
        pthread_cond_signal(&sa->cv);
    }
    pthread_mutex_unlock(&sa->mu);
    if (!take) {
        sysacc_job_free(j);
        return false;
    }
    w->n_out_msgs++;
    w->n_out_bytes += m->total_len;
    return true;
}

/* --- life cycle */

int sysacc_subscribe(struct sysacc *sa, const char *subject, sysacc_handler fn, const void *arg)
{
    if (sa->nsvcs >= SYSACC_MAX_SVCS) {
        NLOG_ERROR("Error setting up internal tracking: too many system subscriptions (%s)",
                   subject);
        return -1;
    }
    char sid[16];
    int sl = snprintf(sid, sizeof(sid), "%zu", sa->nsvcs);
    size_t n = strlen(subject);
    struct csub *cs = xcalloc(1, sizeof(*cs) + n + (size_t)sl);
    memcpy(cs->data, subject, n);
    memcpy(cs->data + n, sid, (size_t)sl);
    cs->sub.subject = cs->data;
    cs->sub.subject_len = (uint32_t)n;
    cs->sid_len = (uint32_t)sl;
    cs->sub.owner = sa->conn;
    cs->sub.qweight = 1;
    struct sysacc_svc *svc = &sa->svcs[sa->nsvcs];
    svc->cs = cs;
    svc->fn = fn;
    svc->arg = arg;
    if (sublist_insert(sa->acc->sl, &cs->sub) != 0) {
        NLOG_ERROR("Error setting up internal tracking: invalid subject %s", subject);
        memset(svc, 0, sizeof(*svc));
        free(cs);
        return -1;
    }
    sa->nsvcs++;
    route_sub_changed(sa->s, sa->acc, &cs->sub, 1);
    gateway_sub_changed(sa->s, sa->acc, &cs->sub, 1);
    return 0;
}

int sysacc_start(struct server *s)
{
    const char *name = monitor_system_account(s);
    if (!name)
        return 0;
    struct account *acc = account_table_find(s->accounts, name);
    if (!acc) {
        NLOG_WARN("System account %s not found: no system services", name);
        return 0;
    }
    struct sysacc *sa = xcalloc(1, sizeof(*sa));
    sa->s = s;
    sa->acc = acc;
    pthread_mutex_init(&sa->mu, NULL);
    pthread_cond_init(&sa->cv, NULL);
    struct conn *c = xcalloc(1, sizeof(*c));
    c->s = s;
    c->kind = CONN_KIND_SYSTEM;
    c->cid = atomic_fetch_add(&s->next_cid, 1) + 1;
    c->acc = acc;
    proto_connect_defaults(&c->opts);
    c->opts.echo = false;
    c->headers = true;
    pthread_mutex_init(&c->out_mu, NULL); /* never taken on the message path */
    sa->conn = c;
    s->sys = sa;

    char subj[256];
    sysacc_subscribe(sa, "$SYS.REQ.SERVER.PING", sysacc_statsz, NULL);
    for (size_t i = 0; i < SYSACC_NEP; i++) {
        sysacc_handler fn = i == 0 ? sysacc_statsz : sysacc_endpoint;
        snprintf(subj, sizeof(subj), "$SYS.REQ.SERVER.PING.%s", sysacc_endpoints[i].name);
        sysacc_subscribe(sa, subj, fn, &sysacc_endpoints[i]);
        snprintf(subj, sizeof(subj), "$SYS.REQ.SERVER.%s.%s", s->id, sysacc_endpoints[i].name);
        sysacc_subscribe(sa, subj, fn, &sysacc_endpoints[i]);
    }
    sysacc_account_init(sa);
    int rc = pthread_create(&sa->thread, NULL, sysacc_main, sa);
    if (rc != 0) {
        NLOG_FATAL("Error starting the system account's thread: %s", strerror(rc));
        return -1;
    }
    sa->started = true;
    return 0;
}

void sysacc_stop(struct server *s)
{
    struct sysacc *sa = s->sys;
    if (!sa || !sa->started)
        return;
    pthread_mutex_lock(&sa->mu);
    sa->stopping = true;
    pthread_cond_signal(&sa->cv);
    pthread_mutex_unlock(&sa->mu);
    pthread_join(sa->thread, NULL);
    sa->started = false;
}

void sysacc_free(struct server *s)
{
    struct sysacc *sa = s->sys;
    if (!sa)
        return;
    sysacc_stop(s);
    s->sys = NULL;
    while (sa->head) {
        struct sysacc_job *j = sa->head;
        sa->head = j->next;
        sysacc_job_free(j);
    }
    for (size_t i = 0; i < sa->nsvcs; i++) {
        sublist_remove(sa->acc->sl, &sa->svcs[i].cs->sub);
        free(sa->svcs[i].cs);
    }
    pthread_mutex_destroy(&sa->conn->out_mu);
    free(sa->conn);
    pthread_mutex_destroy(&sa->mu);
    pthread_cond_destroy(&sa->cv);
    free(sa);
}
