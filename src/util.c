/* SPDX-License-Identifier: Apache-2.0
 * Go-compatible parsing and formatting helpers (see util.h). Each function
 * names the Go library function whose accept/reject rules and texts it keeps,
 * because nats-server's configuration errors quote those texts verbatim. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "common.h"
#include "sbuf.h"
#include "mem.h"

#define UTIL_NS_US   1000ULL
#define UTIL_NS_MS   1000000ULL
#define UTIL_NS_S    1000000000ULL
#define UTIL_NS_MIN  (60ULL * UTIL_NS_S)
#define UTIL_NS_HOUR (60ULL * UTIL_NS_MIN)
#define UTIL_2_63    (1ULL << 63)

static void util_bufcat(char *buf, size_t size, size_t *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *w + 1 < size; i++)
        buf[(*w)++] = s[i];
    buf[*w < size ? *w : size - 1] = '\0';
}

/* Go's time.quote: like %q but \xNN for every byte outside printable ASCII. */
static void util_time_quote(const char *s, size_t len, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t w = 0;
    util_bufcat(buf, size, &w, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || c < ' ') {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
            util_bufcat(buf, size, &w, e, 4);
        } else {
            if (c == '"' || c == '\\')
                util_bufcat(buf, size, &w, "\\", 1);
            util_bufcat(buf, size, &w, (const char *)&c, 1);
        }
    }
    util_bufcat(buf, size, &w, "\"", 1);
}

static int util_dur_fail(const char *s, size_t len, char *err, size_t errsize)
{
    char q[512];
    util_time_quote(s, len, q, sizeof(q));
    snprintf(err, errsize, "time: invalid duration %s", q);
    return -1;
}

/* The unit table of Go's time.unitMap. */
static uint64_t util_dur_unit(const char *u, size_t n)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", UTIL_NS_US},
        {"\xc2\xb5s", UTIL_NS_US}, /* U+00B5 micro sign */
        {"\xce\xbcs", UTIL_NS_US}, /* U+03BC greek mu */
        {"ms", UTIL_NS_MS},
        {"s", UTIL_NS_S},
        {"m", UTIL_NS_MIN},
        {"h", UTIL_NS_HOUR},
    };
    for (size_t i = 0; i < ARRAY_LEN(units); i++)
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
            return units[i].ns;
    return 0;
}

/* Mirrors Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ */
/* NOLINTNEXTLINE(readability-function-size): Go's duration grammar in one pass, kept whole */
int util_parse_duration(const char *s, size_t len, int64_t *ns, char *err, size_t errsize)
{
    size_t i = 0;
    bool neg = false;
    uint64_t d = 0;

    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (len - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == len)
        return util_dur_fail(s, len, err, errsize);
    while (i < len) {
        uint64_t v = 0, f = 0;
        double scale = 1;
        if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
            return util_dur_fail(s, len, err, errsize);
        size_t start = i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (v > UTIL_2_63 / 10)
                return util_dur_fail(s, len, err, errsize);
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > UTIL_2_63)
                return util_dur_fail(s, len, err, errsize);
        }
        bool pre = i != start, post = false;
        if (i < len && s[i] == '.') {
            i++;
            size_t fs = i;
            bool overflow = false;
            for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
                if (overflow)
                    continue;
                if (f > (UTIL_2_63 - 1) / 10) {
                    overflow = true;
                    continue;
                }
                uint64_t y = f * 10 + (uint64_t)(s[i] - '0');
                if (y > UTIL_2_63) {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10;
            }
            post = i != fs;
        }
        if (!pre && !post)
            return util_dur_fail(s, len, err, errsize);
        size_t us = i;
        while (i < len && s[i] != '.' && !(s[i] >= '0' && s[i] <= '9'))
            i++;
        if (i == us) {
            char q[512];
            util_time_quote(s, len, q, sizeof(q));
            snprintf(err, errsize, "time: missing unit in duration %s", q);
            return -1;
        }
        uint64_t unit = util_dur_unit(s + us, i - us);
        if (unit == 0) {
            char q1[256], q2[512];
            util_time_quote(s + us, i - us, q1, sizeof(q1));
            util_time_quote(s, len, q2, sizeof(q2));
            snprintf(err, errsize, "time: unknown unit %s in duration %s", q1, q2);
            return -1;
        }
        if (v > UTIL_2_63 / unit)
            return util_dur_fail(s, len, err, errsize);
        v *= unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > UTIL_2_63)
                return util_dur_fail(s, len, err, errsize);
        }
        d += v;
        if (d > UTIL_2_63)
            return util_dur_fail(s, len, err, errsize);
    }
    if (neg) {
        *ns = d == UTIL_2_63 ? INT64_MIN : -(int64_t)d;
        return 0;
    }
    if (d > UTIL_2_63 - 1)
        return util_dur_fail(s, len, err, errsize);
    *ns = (int64_t)d;
    return 0;
}

/* Go's fmtFrac: writes ".ddd" (trailing zeros dropped) backwards from *w. */
static uint64_t util_fmt_frac(char *b, size_t *w, uint64_t v, int prec)
{
    bool print = false;
    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(v % 10);
        print = print || digit != 0;
        if (print)
            b[--(*w)] = (char)('0' + digit);
        v /= 10;
    }
    if (print)
        b[--(*w)] = '.';
    return v;
}

static void util_fmt_int(char *b, size_t *w, uint64_t v)
{
    if (v == 0) {
        b[--(*w)] = '0';
        return;
    }
    while (v > 0) {
        b[--(*w)] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Mirrors Go's time.Duration.String(). */
void util_format_duration(int64_t ns, char *buf, size_t size)
{
    char b[40];
    size_t w = sizeof(b);
    bool neg = ns < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

    if (size == 0)
        return;
    if (u < UTIL_NS_S) {
        int prec;
        if (u == 0) {
            snprintf(buf, size, "0s");
            return;
        }
        b[--w] = 's';
        if (u < UTIL_NS_US) {
            prec = 0;
            b[--w] = 'n';
        } else if (u < UTIL_NS_MS) {
            prec = 3;
            b[--w] = '\xb5';
            b[--w] = '\xc2';
        } else {
            prec = 6;
            b[--w] = 'm';
        }
        u = util_fmt_frac(b, &w, u, prec);
        util_fmt_int(b, &w, u);
    } else {
        b[--w] = 's';
        u = util_fmt_frac(b, &w, u, 9);
        util_fmt_int(b, &w, u % 60);
        u /= 60;
        if (u > 0) {
            b[--w] = 'm';
            util_fmt_int(b, &w, u % 60);
            u /= 60;
            if (u > 0) {
                b[--w] = 'h';
                util_fmt_int(b, &w, u);
            }
        }
    }
    if (neg)
        b[--w] = '-';
    snprintf(buf, size, "%.*s", (int)(sizeof(b) - w), b + w);
}

/* Mirrors Go's net.SplitHostPort. */
int util_split_host_port(const char *s, char **host, char **port)
{
    const char *last = strrchr(s, ':');
    size_t j = 0, k = 0;
    const char *h;
    size_t hlen;

    if (last == NULL)
        return -1;
    size_t i = (size_t)(last - s);
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL)
            return -1;
        size_t e = (size_t)(end - s);
        if (e + 1 != i)
            return -1;
        h = s + 1;
        hlen = e - 1;
        j = 1;
        k = e + 1;
    } else {
        h = s;
        hlen = i;
        if (memchr(s, ':', hlen) != NULL)
            return -1;
    }
    if (strchr(s + j, '[') != NULL || strchr(s + k, ']') != NULL)
        return -1;
    *host = xstrndup(h, hlen);
    *port = xstrdup(s + i + 1);
    return 0;
}

/* Mirrors Go's strconv.Atoi on a 64-bit platform. */
int util_atoi64(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    uint64_t v = 0;

    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (*p == '\0')
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (UTIL_2_63 + 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UTIL_2_63)
            return -1;
    }
    if (!neg && v > UTIL_2_63 - 1)
        return -1;
    *out = neg ? (v == UTIL_2_63 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

enum util_url_enc {
    UTIL_ENC_PATH = 0,
    UTIL_ENC_HOST,
    UTIL_ENC_USERPASS,
    UTIL_ENC_FRAGMENT,
};

/* Go's net/url shouldEscape, for the modes url.Parse unescapes with. */
static bool util_url_should_escape(unsigned char c, enum util_url_enc mode)
{
    if (isalnum(c))
        return false;
    if (mode == UTIL_ENC_HOST && strchr("!$&'()*+,;=:[]<>\"", c) != NULL)
        return false;
    if (strchr("-_.~", c) != NULL)
        return false;
    if (strchr("$&+,/:;=?@", c) != NULL) {
        switch (mode) {
        case UTIL_ENC_PATH:
            return c == '?';
        case UTIL_ENC_USERPASS:
            return c == '@' || c == '/' || c == '?' || c == ':';
        case UTIL_ENC_FRAGMENT:
            return false;
        case UTIL_ENC_HOST:
            break;
        }
    }
    if (mode == UTIL_ENC_FRAGMENT && strchr("!()*", c) != NULL)
        return false;
    return true;
}

int util_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Go's net/url unescape: returns a new string or NULL on a bad escape or, for
 * hosts, a character a host cannot hold. */
static char *util_url_unescape(const char *s, size_t n, enum util_url_enc mode)
{
    char *out = xmalloc(n + 1);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int hi = util_hexval(s[i + 1]), lo = util_hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            /* hosts may only %-escape non-ASCII bytes, or the %25 of a zone */
            if (mode == UTIL_ENC_HOST && hi < 8 && memcmp(s + i, "%25", 3) != 0) {
                free(out);
                return NULL;
            }
            out[w++] = (char)(hi << 4 | lo);
            i += 2;
            continue;
        }
        if (mode == UTIL_ENC_HOST && c < 0x80 && util_url_should_escape(c, mode)) {
            free(out);
            return NULL;
        }
        out[w++] = (char)c;
    }
    out[w] = '\0';
    return out;
}

static bool util_url_valid_port(const char *p, size_t n)
{
    if (n == 0)
        return true;
    if (p[0] != ':')
        return false;
    for (size_t i = 1; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* Go's validUserinfo. */
static bool util_url_valid_userinfo(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && isalnum(c))
            continue;
        if (strchr("-._:~!$&'()*+,;=%@", c) == NULL || c == '\0')
            return false;
    }
    return true;
}

/* Go's parseHost: host (with optional :port) into u->host and u->port. */
static int util_url_parse_host(const char *h, size_t n, struct util_url *u)
{
    const char *colon_port;
    size_t hostlen;

    if (n > 0 && h[0] == '[') {
        const char *rb = NULL;
        for (size_t i = n; i > 0; i--)
            if (h[i - 1] == ']') {
                rb = h + i - 1;
                break;
            }
        if (rb == NULL)
            return -1;
        colon_port = rb + 1;
        if (!util_url_valid_port(colon_port, (size_t)(h + n - colon_port)))
            return -1;
        hostlen = (size_t)(rb - h) + 1;
    } else {
        const char *lc = NULL;
        for (size_t i = n; i > 0; i--)
            if (h[i - 1] == ':') {
                lc = h + i - 1;
                break;
            }
        if (lc != NULL) {
            if (!util_url_valid_port(lc, (size_t)(h + n - lc)))
                return -1;
            colon_port = lc;
        } else {
            colon_port = h + n;
        }
        hostlen = (size_t)(colon_port - h);
    }
    char *full = util_url_unescape(h, n, UTIL_ENC_HOST);
    if (full == NULL)
        return -1;
    free(full);
    /* hostname without brackets and port, as Go's URL.Hostname() */
    const char *hs = h;
    size_t hl = hostlen;
    if (hl >= 2 && hs[0] == '[' && hs[hl - 1] == ']') {
        hs++;
        hl -= 2;
    }
    u->host = util_url_unescape(hs, hl, UTIL_ENC_HOST);
    if (u->host == NULL)
        u->host = xstrndup(hs, hl);
    size_t plen = (size_t)(h + n - colon_port);
    if (plen > 1)
        u->port = xstrndup(colon_port + 1, plen - 1);
    return 0;
}

static int util_url_parse_authority(const char *a, size_t n, struct util_url *u)
{
    const char *at = NULL;
    for (size_t i = n; i > 0; i--)
        if (a[i - 1] == '@') {
            at = a + i - 1;
            break;
        }
    const char *h = at ? at + 1 : a;
    if (util_url_parse_host(h, (size_t)(a + n - h), u) != 0)
        return -1;
    if (at == NULL)
        return 0;
    size_t ulen = (size_t)(at - a);
    if (!util_url_valid_userinfo(a, ulen))
        return -1;
    const char *colon = memchr(a, ':', ulen);
    size_t namelen = colon ? (size_t)(colon - a) : ulen;
    u->user = util_url_unescape(a, namelen, UTIL_ENC_USERPASS);
    if (u->user == NULL)
        return -1;
    if (colon != NULL) {
        u->password = util_url_unescape(colon + 1, ulen - namelen - 1, UTIL_ENC_USERPASS);
        if (u->password == NULL)
            return -1;
    }
    return 0;
}

/* Go's url.getScheme: returns the scheme length, 0 for none, -1 on error. */
static int util_url_scheme_len(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (isalpha((unsigned char)c))
            continue;
        if (isdigit((unsigned char)c) || c == '+' || c == '-' || c == '.') {
            if (i == 0)
                return 0;
            continue;
        }
        if (c == ':')
            return i == 0 ? -1 : (int)i;
        return 0;
    }
    return 0;
}

static int util_url_parse_trimmed(const char *s, size_t n, struct util_url *u)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return -1;

    /* the fragment is cut first and must unescape */
    const char *hash = memchr(s, '#', n);
    if (hash != NULL) {
        char *frag = util_url_unescape(hash + 1, (size_t)(s + n - hash - 1), UTIL_ENC_FRAGMENT);
        if (frag == NULL)
            return -1;
        free(frag);
        n = (size_t)(hash - s);
    }
    if (n == 1 && s[0] == '*') {
        u->path = xstrdup("*");
        return 0;
    }
    int sl = util_url_scheme_len(s, n);
    if (sl < 0)
        return -1;
    const char *rest = s;
    size_t rn = n;
    if (sl > 0) {
        u->scheme = xstrndup(s, (size_t)sl);
        for (char *p = u->scheme; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        rest = s + sl + 1;
        rn = n - (size_t)sl - 1;
    }
    /* drop the query: it does not matter to a route or gateway URL */
    const char *q = memchr(rest, '?', rn);
    if (q != NULL)
        rn = (size_t)(q - rest);
    if (rn == 0 || rest[0] != '/') {
        if (u->scheme != NULL) {
            u->path = xstrndup(rest, rn);
            return 0;
        }
        const char *slash = memchr(rest, '/', rn);
        size_t seg = slash ? (size_t)(slash - rest) : rn;
        if (memchr(rest, ':', seg) != NULL)
            return -1;
    }
    if (rn >= 2 && rest[0] == '/' && rest[1] == '/' &&
        (u->scheme != NULL || !(rn >= 3 && rest[2] == '/'))) {
        const char *auth = rest + 2;
        const char *slash = memchr(auth, '/', rn - 2);
        size_t alen = slash ? (size_t)(slash - auth) : rn - 2;
        if (util_url_parse_authority(auth, alen, u) != 0)
            return -1;
        rest = auth + alen;
        rn = rn - 2 - alen;
    }
    u->path = util_url_unescape(rest, rn, UTIL_ENC_PATH);
    return u->path == NULL ? -1 : 0;
}

int util_url_parse(const char *s, struct util_url *u)
{
    size_t n = strlen(s);
    memset(u, 0, sizeof(*u));
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (util_url_parse_trimmed(s, n, u) != 0) {
        util_url_free(u);
        return -1;
    }
    return 0;
}

void util_url_free(struct util_url *u)
{
    NFREE(u->scheme);
    NFREE(u->user);
    NFREE(u->password);
    NFREE(u->host);
    NFREE(u->port);
    NFREE(u->path);
}

/* Length of the valid UTF-8 sequence at s (max n bytes), 0 if invalid. */
static size_t util_utf8_len(const unsigned char *s, size_t n)
{
    size_t need;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        need = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        need = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

/* Mirrors Go's strconv.Quote (non-ASCII runes are taken as printable). */
void util_go_quote_sbuf(struct sbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    sbuf_addc(b, '"');
    for (size_t i = 0; i < len;) {
        const unsigned char *p = (const unsigned char *)s + i;
        size_t n = util_utf8_len(p, len - i);
        if (n > 1) {
            sbuf_add(b, p, n); /* valid multi-byte UTF-8 is kept as is */
            i += n;
            continue;
        }
        unsigned char c = *p;
        i++;
        const char *esc = NULL;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\a':
            esc = "\\a";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\v':
            esc = "\\v";
            break;
        default:
            break;
        }
        if (esc != NULL) {
            sbuf_add(b, esc, 2);
        } else if (n == 0 || c < ' ' || c == 0x7f) {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
            sbuf_add(b, e, 4);
        } else {
            sbuf_addc(b, (char)c);
        }
    }
    sbuf_addc(b, '"');
}

void util_go_quote(const char *s, size_t len, char *buf, size_t size)
{
    if (size == 0)
        return;
    struct sbuf b = {0};
    util_go_quote_sbuf(&b, s, len);
    size_t n = b.len < size - 1 ? b.len : size - 1;
    memcpy(buf, b.p, n);
    buf[n] = '\0';
    sbuf_free(&b);
}

/* Go's %v for float64 (strconv 'g' with the shortest precision): the shortest
 * digits that round-trip, in %e form when the exponent is < -4 or >= 6, else in
 * plain decimal form. */
void util_format_float_go(double f, char *buf, size_t size)
{
    char e[64];
    int prec;

    if (f != f) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (f == __builtin_inf() || f == -__builtin_inf()) {
        snprintf(buf, size, "%sInf", f > 0 ? "+" : "-");
        return;
    }
    for (prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, f);
        if (strtod(e, NULL) == f)
            break;
    }
    snprintf(e, sizeof(e), "%.*e", prec, f);
    char *ep = strchr(e, 'e');
    int exp = atoi(ep + 1);
    if (exp < -4 || exp >= 6) {
        /* Go writes at least two exponent digits, as C does */
        snprintf(buf, size, "%s", e);
        return;
    }
    int decimals = prec - exp;
    snprintf(buf, size, "%.*f", decimals < 0 ? 0 : decimals, f);
}

void util_lower(const char *s, char *buf, size_t size)
{
    size_t i = 0;
    if (size == 0)
        return;
    for (; s[i] && i + 1 < size; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    buf[i] = '\0';
}
