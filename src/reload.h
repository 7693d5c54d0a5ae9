/* SPDX-License-Identifier: Apache-2.0
 * SIGHUP: read the configuration file again, refuse what cannot change at run
 * time, log each change in nats-server's words and order, and put the new
 * options in force (nats-server's Reload, diffOptions, applyOptions). */
#ifndef NATSD_RELOAD_H
#define NATSD_RELOAD_H

struct cli;
struct conf_doc;
struct log_config;
struct opts;
struct server;

/* The logger settings of o (at start and at each reload). */
void reload_log_config(const struct opts *o, struct log_config *lc);

/* Reload s from its configuration file with the command line c applied over
 * it. *doc is the parsed configuration in force (NULL when the server
 * started without a file); it is replaced when the reload succeeds. Logs
 * "Reloaded server configuration", or "Failed to reload server
 * configuration: <why>" and changes nothing. Main thread. */
void reload_run(const struct cli *c, struct server *s, struct conf_doc **doc);

#endif
