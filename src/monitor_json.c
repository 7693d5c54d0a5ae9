/* SPDX-License-Identifier: Apache-2.0
 * JSON for the monitor the way Go's encoding/json writes it: the documents are
 * built as cJSON trees, numbers are stored as raw text (so a uint64 counter
 * never passes through a double), and the printer reproduces
 * json.MarshalIndent(v, "", "  ") byte for byte: two-space indent, "key":
 * value, compact {} and [], HTML-safe string escapes. Also Go's time, duration
 * and strconv.Quote formats. */
#include "monitor_internal.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "mem.h"
#include "sbuf.h"
#include "util.h"

static void monitor_json_print(struct sbuf *b, const cJSON *v, int depth, bool compact);

/* --- values */

void monitor_json_u64(cJSON *obj, const char *key, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    cJSON_AddRawToObject(obj, key, num);
}

void monitor_json_i64(cJSON *obj, const char *key, int64_t v)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)v);
    cJSON_AddRawToObject(obj, key, num);
}

/* Go's strconv.FormatFloat(f, 'f' or 'e', -1, 64) as encoding/json picks it:
 * the shortest digits that read back as the same double, in plain notation
 * when 1e-6 <= |f| < 1e21, else with an exponent ("1e+21", "1e-07" -> "1e-7"). */
void monitor_go_float(double f, char *out, size_t size)
{
    if (f == 0 || !isfinite(f)) {
        snprintf(out, size, "0");
        return;
    }
    char e[40];
    for (int p = 0; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p, f);
        if (strtod(e, NULL) == f)
            break;
    }
    /* e is "-d.ddde±XX": split into sign, digits and exponent */
    bool neg = e[0] == '-';
    const char *q = e + (neg ? 1 : 0);
    char digits[24];
    size_t nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q != '.' && nd < sizeof(digits) - 1)
            digits[nd++] = *q;
    digits[nd] = '\0';
    int exp = atoi(q + 1);
    double a = fabs(f);
    struct sbuf b = {0};
    if (neg)
        sbuf_addc(&b, '-');
    if (a < 1e-6 || a >= 1e21) {
        sbuf_addc(&b, digits[0]);
        if (nd > 1) {
            sbuf_addc(&b, '.');
            sbuf_add(&b, digits + 1, nd - 1);
        }
        sbuf_addf(&b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        /* Go writes at least two exponent digits only for e-notation of
         * 'e' format; encoding/json then trims "e-07" to "e-7" */
        if (exp < 0 && exp > -10) {
            size_t l = b.len;
            b.p[l - 2] = b.p[l - 1];
            b.len--;
        }
    } else if (exp < 0) {
        sbuf_adds(&b, "0.");
        for (int i = -1; i > exp; i--)
            sbuf_addc(&b, '0');
        sbuf_add(&b, digits, nd);
    } else {
        for (int i = 0; i <= exp; i++)
            /* NOLINTNEXTLINE(bugprone-narrowing-conversions): a digit or '0' */
            sbuf_addc(&b, (size_t)i < nd ? digits[i] : '0');
        if ((size_t)exp + 1 < nd) {
            sbuf_addc(&b, '.');
            sbuf_add(&b, digits + exp + 1, nd - (size_t)exp - 1);
        }
    }
    snprintf(out, size, "%.*s", (int)b.len, b.p);
    sbuf_free(&b);
}

void monitor_json_f64(cJSON *obj, const char *key, double v)
{
    char num[64];
    monitor_go_float(v, num, sizeof(num));
    cJSON_AddRawToObject(obj, key, num);
}

void monitor_json_str(cJSON *obj, const char *key, const char *v)
{
    cJSON_AddStringToObject(obj, key, v ? v : "");
}

void monitor_json_bool(cJSON *obj, const char *key, bool v)
{
    cJSON_AddBoolToObject(obj, key, v);
}

/* RFC3339Nano in UTC: fraction digits without trailing zeros, none at all
 * for a whole second. */
void monitor_json_time(cJSON *obj, const char *key, int64_t unix_ns)
{
    time_t secs = (time_t)(unix_ns / 1000000000LL);
    long ns = (long)(unix_ns % 1000000000LL);
    if (ns < 0) {
        ns += 1000000000L;
        secs--;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    if (ns > 0) {
        char frac[16];
        snprintf(frac, sizeof(frac), ".%09ld", ns);
        size_t fl = strlen(frac);
        while (fl > 1 && frac[fl - 1] == '0')
            frac[--fl] = '\0';
        snprintf(buf + n, sizeof(buf) - n, "%s", frac);
        n += fl;
    }
    snprintf(buf + n, sizeof(buf) - n, "Z");
    cJSON_AddStringToObject(obj, key, buf);
}

/* Go's fmtFrac: the prec fraction digits of v without trailing zeros (and
 * without the dot when none is left); returns v / 10^prec. */
static uint64_t monitor_frac(uint64_t v, int prec, char *out, size_t size)
{
    char d[16];
    bool print = false;
    int n = 0;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(v % 10);
        print = print || digit != 0;
        if (print)
            d[n++] = (char)('0' + digit);
        v /= 10;
    }
    size_t o = 0;
    if (n > 0 && size > 1)
        out[o++] = '.';
    for (int i = n - 1; i >= 0 && o + 1 < size; i--)
        out[o++] = d[i];
    out[o] = '\0';
    return v;
}

void monitor_duration_str(int64_t d, char *buf, size_t size)
{
    if (d == 0) {
        snprintf(buf, size, "0s");
        return;
    }
    bool neg = d < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    const char *sign = neg ? "-" : "";
    char frac[16];
    if (u < 1000000000ULL) {
        if (u < 1000ULL) {
            snprintf(buf, size, "%s%lluns", sign, (unsigned long long)u);
        } else if (u < 1000000ULL) {
            uint64_t whole = monitor_frac(u, 3, frac, sizeof(frac));
            snprintf(buf, size, "%s%llu%s\xc2\xb5s", sign, (unsigned long long)whole, frac);
        } else {
            uint64_t whole = monitor_frac(u, 6, frac, sizeof(frac));
            snprintf(buf, size, "%s%llu%sms", sign, (unsigned long long)whole, frac);
        }
        return;
    }
    uint64_t secs = monitor_frac(u, 9, frac, sizeof(frac));
    uint64_t h = secs / 3600, m = (secs / 60) % 60, s = secs % 60;
    if (h > 0)
        snprintf(buf, size, "%s%lluh%llum%llu%ss", sign, (unsigned long long)h,
                 (unsigned long long)m, (unsigned long long)s, frac);
    else if (secs >= 60)
        snprintf(buf, size, "%s%llum%llu%ss", sign, (unsigned long long)m, (unsigned long long)s,
                 frac);
    else
        snprintf(buf, size, "%s%llu%ss", sign, (unsigned long long)s, frac);
}

/* As nats-server's myUptime: whole seconds, with days and years. */
void monitor_uptime_str(int64_t d, char *buf, size_t size)
{
    int64_t tsecs = d / 1000000000LL;
    int64_t tmins = tsecs / 60, thrs = tmins / 60, tdays = thrs / 24, tyrs = tdays / 365;
    if (tyrs > 0)
        snprintf(buf, size, "%lldy%lldd%lldh%lldm%llds", (long long)tyrs, (long long)(tdays % 365),
                 (long long)(thrs % 24), (long long)(tmins % 60), (long long)(tsecs % 60));
    else if (tdays > 0)
        snprintf(buf, size, "%lldd%lldh%lldm%llds", (long long)tdays, (long long)(thrs % 24),
                 (long long)(tmins % 60), (long long)(tsecs % 60));
    else if (thrs > 0)
        snprintf(buf, size, "%lldh%lldm%llds", (long long)thrs, (long long)(tmins % 60),
                 (long long)(tsecs % 60));
    else if (tmins > 0)
        snprintf(buf, size, "%lldm%llds", (long long)tmins, (long long)(tsecs % 60));
    else
        snprintf(buf, size, "%llds", (long long)tsecs);
}

void monitor_go_quote(struct sbuf *b, const char *s)
{
    util_go_quote_sbuf(b, s, strlen(s));
}

/* --- printer */

static void monitor_json_string(struct sbuf *b, const char *s)
{
    sbuf_add_json_str(b, s, strlen(s));
}

static void monitor_json_indent(struct sbuf *b, int depth)
{
    sbuf_addc(b, '\n');
    for (int i = 0; i < depth; i++)
        sbuf_adds(b, "  ");
}

/* NOLINTNEXTLINE(misc-no-recursion): bounded by the document's depth */
static void monitor_json_container(struct sbuf *b, const cJSON *v, int depth, bool compact)
{
    bool obj = cJSON_IsObject(v);
    sbuf_addc(b, obj ? '{' : '[');
    const cJSON *child = v->child;
    if (!child) {
        sbuf_addc(b, obj ? '}' : ']');
        return;
    }
    for (; child; child = child->next) {
        if (!compact)
            monitor_json_indent(b, depth + 1);
        if (obj) {
            monitor_json_string(b, child->string ? child->string : "");
            sbuf_adds(b, compact ? ":" : ": ");
        }
        monitor_json_print(b, child, depth + 1, compact);
        if (child->next)
            sbuf_addc(b, ',');
    }
    if (!compact)
        monitor_json_indent(b, depth);
    sbuf_addc(b, obj ? '}' : ']');
}

/* NOLINTNEXTLINE(misc-no-recursion): bounded by the document's depth */
static void monitor_json_print(struct sbuf *b, const cJSON *v, int depth, bool compact)
{
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        monitor_json_container(b, v, depth, compact);
    } else if (cJSON_IsString(v)) {
        monitor_json_string(b, v->valuestring ? v->valuestring : "");
    } else if (cJSON_IsRaw(v)) {
        sbuf_adds(b, v->valuestring ? v->valuestring : "null");
    } else if (cJSON_IsNumber(v)) {
        char num[64];
        monitor_go_float(v->valuedouble, num, sizeof(num));
        sbuf_adds(b, num);
    } else if (cJSON_IsTrue(v)) {
        sbuf_adds(b, "true");
    } else if (cJSON_IsFalse(v)) {
        sbuf_adds(b, "false");
    } else {
        sbuf_adds(b, "null");
    }
}

void monitor_reply_json(struct monitor_reply *r, cJSON *root, bool compact)
{
    struct sbuf b = {0};
    monitor_json_print(&b, root, 0, compact);
    cJSON_Delete(root);
    r->status = 200;
    r->body = b.p ? b.p : xcalloc(1, 1);
    r->len = b.len;
    r->ctype = "application/json";
}
