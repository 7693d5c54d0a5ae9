/* SPDX-License-Identifier: Apache-2.0
 * Message legs across accounts: stream imports (a message published in the
 * exporting account is delivered in each importing account on the mapped
 * subject), service imports (a request published in the importing account is
 * delivered in the exporting account with a "_R_." reply) and the responses
 * on those replies, routed back to the requester's account (nats-server's
 * checkForImportServices, processServiceImport, addRespServiceImport). */
#ifndef NATSD_IMPORTS_H
#define NATSD_IMPORTS_H

#include <stddef.h>

struct worker;
struct conn;
struct account;
struct deliver_msg;

/* Deliver m, published in acc, to the accounts importing it as a stream
 * (account_has_streams_out tells whether any does). Returns the deliveries.
 * Worker w. */
size_t imports_streams(struct worker *w, struct conn *src, struct account *acc,
                       const struct deliver_msg *m);

/* After m, published by the client src in acc, went to acc's subscribers:
 * forward it as a service request when it matches one of acc's service
 * imports, or as a response when its subject is a response reply of acc.
 * Cheap when acc has neither. Returns the deliveries made. Worker w (src's
 * owner). */
size_t imports_services(struct worker *w, struct conn *src, struct account *acc,
                        const struct deliver_msg *m);

#endif
