/* SPDX-License-Identifier: Apache-2.0
 * The system account's per-account request services, as nats-server
 * 2.9.10 answers them (events.go):
 *   $SYS.REQ.ACCOUNT.<account>.CONNZ   /connz limited to the account
 *   $SYS.REQ.ACCOUNT.<account>.SUBSZ   /subsz?subs=1 limited to the account
 *   $SYS.REQ.ACCOUNT.<account>.LEAFZ   /leafz limited to the account
 *   $SYS.REQ.ACCOUNT.<account>.JSZ     no JetStream here: its error
 *   $SYS.REQ.ACCOUNT.<account>.INFO    the account's /accountz detail
 * Each is one wildcard subscription of the internal client; the request
 * body takes the endpoint's options and the filter of the SERVER services,
 * and the account named in the subject overrides the body's. */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "sysacc_int.h"

/* The service's account token (the fourth of five) into out. Returns false
 * for another shape. */
static bool sysacc_acc_token(const char *subject, char *out, size_t outsize)
{
    const char *p = subject;
    for (int i = 0; i < 3; i++) {
        p = strchr(p, '.');
        if (!p)
            return false;
        p++;
    }
    const char *e = strchr(p, '.');
    if (!e || strchr(e + 1, '.') || (size_t)(e - p) + 1 > outsize || e == p)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

enum sysacc_acc_svc { ACC_CONNZ, ACC_SUBSZ, ACC_LEAFZ, ACC_JSZ, ACC_INFO };

static const struct {
    const char *name;
    enum sysacc_acc_svc svc;
} sysacc_acc_svcs[] = {
    {"SUBSZ", ACC_SUBSZ}, {"CONNZ", ACC_CONNZ}, {"LEAFZ", ACC_LEAFZ},
    {"JSZ", ACC_JSZ},     {"INFO", ACC_INFO},
};

static void sysacc_acc_req(struct sysacc *sa, const struct sysacc_job *j, const void *arg)
{
    enum sysacc_acc_svc svc = *(const enum sysacc_acc_svc *)arg;
    char acc[256];
    if (!sysacc_acc_token(j->subject, acc, sizeof(acc)))
        return;
    const char *kv[4] = {"acc", acc, "subs", "1"};
    switch (svc) {
    case ACC_CONNZ:
        sysacc_answer(sa, j, "CONNZ", kv, 1, NULL, NULL);
        break;
    case ACC_SUBSZ:
        sysacc_answer(sa, j, "SUBSZ", kv, 2, NULL, NULL);
        break;
    case ACC_LEAFZ:
        sysacc_answer(sa, j, "LEAFZ", kv, 1, NULL, NULL);
        break;
    case ACC_JSZ:
        sysacc_answer(sa, j, "JSZ", NULL, 0, NULL, "jetstream not enabled");
        break;
    case ACC_INFO:
        sysacc_answer(sa, j, "ACCOUNTZ", kv, 1, "account_detail", NULL);
        break;
    }
}

void sysacc_account_init(struct sysacc *sa)
{
    char subj[64];
    for (size_t i = 0; i < ARRAY_LEN(sysacc_acc_svcs); i++) {
        snprintf(subj, sizeof(subj), "$SYS.REQ.ACCOUNT.*.%s", sysacc_acc_svcs[i].name);
        sysacc_subscribe(sa, subj, sysacc_acc_req, &sysacc_acc_svcs[i].svc);
    }
}
