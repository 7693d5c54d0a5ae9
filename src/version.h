/* SPDX-License-Identifier: Apache-2.0
 * natsd's own version, and the nats-server release whose protocols it speaks. */
#ifndef NATSD_VERSION_H
#define NATSD_VERSION_H

#define NATSD_VERSION          "0.1.0"
#define NATSD_PROTOCOL_VERSION "2.9.10"

#endif
