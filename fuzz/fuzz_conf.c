/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target: the configuration parser (conf.c) on arbitrary text, and,
 * when it parses, the option mapping (opts.c) on the tree. Includes resolve
 * under a directory that does not exist (the fuzz build of conf.c also never
 * opens files), so only the input itself is read. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "conf.h"
#include "opts.h"

/* Weak, so this target still links if opts.c is left out of the build. */
#pragma weak opts_init
#pragma weak opts_apply_conf
#pragma weak opts_diag_free
#pragma weak opts_free

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf_doc *doc = NULL;
    struct conf_error err;
    char line[2200];

    if (conf_parse_string((const char *)data, size, "/nonexistent/natsd-fuzz/fuzz.conf", &doc,
                          &err) != 0) {
        /* A failure always says something and stores nothing. */
        NASSERT(doc == NULL);
        NASSERT(err.msg[0] != '\0');
        conf_error_format(&err, line, sizeof(line));
        return 0;
    }
    const struct conf_value *root = conf_root(doc);
    NASSERT(root != NULL && root->type == CONF_MAP);
    for (size_t i = 0; i < root->u.map.n; i++) {
        NASSERT(root->u.map.kv[i].key != NULL && root->u.map.kv[i].val != NULL);
        NASSERT(conf_map_get(root, root->u.map.kv[i].key) != NULL);
    }
    if (opts_init && opts_apply_conf && opts_diag_free && opts_free) {
        struct opts o;
        struct opts_diag d;
        memset(&d, 0, sizeof(d));
        opts_init(&o);
        (void)opts_apply_conf(&o, root, &d);
        opts_diag_free(&d);
        opts_free(&o);
    }
    conf_free(doc);
    return 0;
}
