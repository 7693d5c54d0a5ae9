/* SPDX-License-Identifier: Apache-2.0
 * The NATS configuration language: text in, a tree of values out. Syntax only;
 * what a key means is opts.c's business. Every value knows where it was written. */
#ifndef NATSD_CONF_H
#define NATSD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting of maps and arrays accepted; deeper input is an error. */
#define CONF_MAX_DEPTH 1000
/* Deepest chain of include files accepted (a cycle is reported before this). */
#define CONF_MAX_INCLUDE_DEPTH 32

enum conf_type {
    CONF_MAP = 0,
    CONF_ARRAY,
    CONF_STRING,
    CONF_INT,
    CONF_FLOAT,
    CONF_BOOL,
    CONF_DATETIME,
};

/* Where a value or key was written. file points into the document's own
 * storage and lives as long as the document. line is 1-based; col is counted as
 * nats-server counts it, so that error positions read the same. */
struct conf_pos {
    const char *file;
    int line;
    int col;
};

struct conf_value;

/* One key of a map. Keys keep the case they were written in; lookups through
 * conf_map_get() ignore case, as nats-server does when it reads options. */
struct conf_kv {
    const char *key;
    struct conf_pos pos; /* of the key */
    struct conf_value *val;
    bool used_as_var; /* the key was referenced as $key somewhere */
};

struct conf_value {
    enum conf_type type;
    struct conf_pos pos; /* of the value */
    union {
        bool b;
        int64_t i; /* CONF_INT (a CONF_DATETIME's seconds: conf_datetime_unix()) */
        double f;
        struct {
            const char *p; /* NUL-terminated; len excludes the NUL */
            size_t len;
        } s; /* CONF_STRING; also the original text of a CONF_DATETIME */
        struct {
            struct conf_kv *kv; /* in order of first appearance; a repeated key
                                   keeps its first slot and takes the last value */
            size_t n;
        } map;
        struct {
            struct conf_value **v;
            size_t n;
        } arr;
    } u;
};

/* A parsed document. Owns every value, key, string and file name in it. */
struct conf_doc;

/* The one error a parse can end in. */
struct conf_error {
    char file[1024]; /* empty when no file is involved */
    int line;        /* 0 when unknown */
    int col;
    char msg[1024]; /* the reason, in nats-server's words where it has them */
};

/* Parse the file at path. Includes are resolved relative to the directory of
 * the file that names them. On success returns 0 and stores a document the
 * caller frees with conf_free(); on failure returns -1, fills *err and stores
 * nothing. Never exits; bounded in memory by the input size. Any thread. */
int conf_parse_file(const char *path, struct conf_doc **out, struct conf_error *err);

/* As conf_parse_file(), for text in memory (need not be NUL-terminated). name
 * is what positions report as the file; includes are resolved against the
 * directory of name (or the current directory when name has none). */
int conf_parse_string(const char *text, size_t len, const char *name, struct conf_doc **out,
                      struct conf_error *err);

/* The top-level map of the document. */
const struct conf_value *conf_root(const struct conf_doc *doc);

/* Free a document and everything in it. NULL is fine. */
void conf_free(struct conf_doc *doc);

/* The value of key in map m, compared without case; NULL when absent or when m
 * is not a map. */
const struct conf_value *conf_map_get(const struct conf_value *m, const char *key);

/* Seconds since the epoch (UTC) of a CONF_DATETIME; 0 for any other value.
 * (u.s holds its text, so the seconds cannot share the union.) */
int64_t conf_datetime_unix(const struct conf_value *v);

/* Whether a and b hold the same configuration: same types and scalars, maps
 * with the same keys (compared without case) and equal values, arrays equal
 * element by element. Positions do not count. NULL equals only NULL. */
bool conf_value_equal(const struct conf_value *a, const struct conf_value *b);

/* "map", "array", "string", "int64", "float64", "bool", "datetime". */
const char *conf_type_name(enum conf_type t);

/* Format err as "file:line:col: msg" (or the parts that are known) into buf. */
void conf_error_format(const struct conf_error *err, char *buf, size_t size);

#endif
