/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of opts_auth.c: every form of the security blocks and every
 * message, compared with what nats-server 2.9.10 -t prints for the same text. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "opts.h"
#include "opts_internal.h"

/* One configuration text and what nats-server 2.9.10 reports for it as "t.conf":
 * its error and warning lines, sorted (nats-server's own order follows Go's
 * random map iteration), each ending in a newline; "" for a valid file. */
struct auth_case {
    const char *name;
    const char *conf;
    const char *want;
};

static const struct auth_case auth_cases[] = {
    {"single_user_ok",
     "authorization {\n"
     "  user: a\n"
     "  password: b\n"
     "  timeout: 3\n"
     "}\n",
     ""},
    {"token_ok",
     "authorization {\n"
     "  token: abc\n"
     "}\n",
     ""},
    {"user_and_token",
     "authorization {\n"
     "  user: a\n"
     "  token: t\n"
     "}\n",
     "t.conf:1:0: Cannot have a user/pass and token\n"},
    {"pass_and_token",
     "authorization {\n"
     "  pass: a\n"
     "  token: t\n"
     "}\n",
     "t.conf:1:0: Cannot have a user/pass and token\n"},
    {"single_and_users",
     "authorization {\n"
     "  user: a\n"
     "  users: [{user: b, password: c}]\n"
     "}\n",
     "t.conf:1:0: Can not have a single user/pass and a users array\n"},
    {"token_and_users",
     "authorization {\n"
     "  token: a\n"
     "  users: []\n"
     "}\n",
     "t.conf:1:0: Can not have a token and a users array\n"},
    {"dup_user",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, password: b}\n"
     "    {user: a, password: c}\n"
     "  ]\n"
     "}\n",
     "t.conf:1:0: Duplicate user \"a\" detected\n"},
    {"dup_nkey",
     "authorization {\n"
     "  users: [\n"
     "    {nkey: UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ}\n"
     "    {nkey: UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ}\n"
     "  ]\n"
     "}\n",
     "t.conf:1:0: Duplicate nkey \"UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ\" "
     "detected\n"},
    {"unknown_key",
     "authorization {\n"
     "  user: a\n"
     "  bogus: 1\n"
     "}\n",
     "t.conf:3:3: unknown field \"bogus\"\n"},
    {"user_type",
     "authorization {\n"
     "  user: 1\n"
     "}\n",
     "t.conf:1:0: runtime error: invalid memory address or nil pointer dereference\n"
     "t.conf:2:3: interface conversion: interface {} is int64, not string\n"},
    {"not_a_map", "authorization: \"x\"\n",
     "t.conf:1:0: interface conversion: interface {} is string, not map[string]interface {}\n"
     "t.conf:1:0: runtime error: invalid memory address or nil pointer dereference\n"},
    {"users_not_array",
     "authorization {\n"
     "  users: 5\n"
     "}\n",
     "t.conf:2:3: Expected users field to be an array, got 5\n"},
    {"user_entry_not_map",
     "authorization {\n"
     "  users: [ \"a\" ]\n"
     "}\n",
     "t.conf:2:13: Expected user entry to be a map/struct, got a\n"},
    {"user_entry_no_user",
     "authorization {\n"
     "  users: [\n"
     "    {password: x}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:6: User entry requires a user\n"},
    {"user_entry_unknown",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, bogus: x}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:15: unknown field \"bogus\"\n"},
    {"user_entry_pass_type",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, password: 1}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:15: interface conversion: interface {} is int64, not string\n"},
    {"nkey_bad",
     "authorization {\n"
     "  users: [\n"
     "    {nkey: UBAD}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:6: Not a valid public nkey for a user\n"},
    {"nkey_account_key_for_user",
     "authorization {\n"
     "  users: [\n"
     "    {nkey: AC4MBW5E2KQE5I7MRX6LIDOAYWH5LGGJ2YULYTKUWGC3AJQ7UHEUGR4S}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:6: Not a valid public nkey for a user\n"},
    {"nkey_with_user",
     "authorization {\n"
     "  users: [\n"
     "    {user: x, nkey: UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:15: Nkey users do not take usernames or passwords\n"},
    {"perms_not_map",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: \"x\"}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:15: Expected permissions to be a map/struct, got x\n"},
    {"perms_unknown",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {bogus: 1}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:29: Unknown field \"bogus\" parsing permissions\n"},
    {"perms_subject_type",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {publish: 1}}\n"
     "  ]\n"
     "}\n",
     "Expected subject permissions to be a subject, or array of subjects, got int64\n"},
    {"perms_array_elem_type",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {publish: [\"a\", 1 ]}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:44: Subject in permissions array cannot be cast to string\n"},
    {"perms_old_bad_subject",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {publish: \"foo..bar\"}}\n"
     "  ]\n"
     "}\n",
     "subject \"foo..bar\" is not a valid subject\n"},
    {"perms_queue_bad_subject",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {subscribe: {allow: \"foo. q\"}}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:41: subject \"foo.\" is not a valid subject\n"},
    {"perms_three_fields",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {subscribe: {allow: \"a b c\"}}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:41: subject \"a b c\" is not a valid subject\n"},
    {"perms_queue_ok",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {subscribe: {allow: \"foo.* workers\"}}}\n"
     "  ]\n"
     "}\n",
     ""},
    {"perms_sp_unknown",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {publish: {allow: x, bogus: y}}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:49: Unknown field name \"bogus\" parsing subject permissions, only 'allow' or "
     "'deny' are permitted\n"},
    {"perms_allow_type",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {publish: {allow: true}}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:39: Expected subject permissions to be a subject, or array of subjects, got bool\n"},
    {"resp_not_map",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {allow_responses: \"yes\"}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:29: error parsing response permissions, expected a boolean or a map\n"},
    {"resp_max_type",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {allow_responses: {max: \"x\"}}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:47: interface conversion: interface {} is string, not int64\n"},
    {"resp_expires_type",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {allow_responses: {expires: 5}}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:47: error parsing expires, not a duration string\n"},
    {"resp_expires_bad",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {allow_responses: {ttl: \"5\"}}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:47: error parsing expires: time: missing unit in duration \"5\"\n"},
    {"resp_unknown",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, permissions: {allow_responses: {bogus: 1}}}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:47: Unknown field \"bogus\" parsing permissions\n"},
    {"conn_types_bad",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, allowed_connection_types: [\"standard\", \"x\", \"y\"]}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:15: invalid connection types [\"X\" \"Y\"]\n"},
    {"conn_types_type",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, connection_types: 5}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:15: error parsing allowed connection types: unsupported type int64\n"},
    {"conn_types_elem_type",
     "authorization {\n"
     "  users: [\n"
     "    {user: a, clients: [\"STANDARD\", 5 ]}\n"
     "  ]\n"
     "}\n",
     "t.conf:3:37: error parsing allowed connection types: unsupported type in array int64\n"},
    {"default_perms_bad",
     "authorization {\n"
     "  default_permissions: 5\n"
     "  users: []\n"
     "}\n",
     "t.conf:2:3: Expected permissions to be a map/struct, got 5\n"},
    {"accounts_reserved_map",
     "accounts {\n"
     "  $G: {}\n"
     "}\n",
     "t.conf:2:3: \"$G\" is a Reserved Account\n"},
    {"accounts_reserved_array", "accounts: [A, \"$G\"]\n",
     "t.conf:1:15: \"$G\" is a Reserved Account\n"},
    {"accounts_dup_array", "accounts: [A, B, A]\n", "t.conf:1:17: Duplicate Account Entry: A\n"},
    {"accounts_array_type", "accounts: [A, 1 ]\n",
     "t.conf:1:14: interface conversion: interface {} is int64, not string\n"},
    {"accounts_entry_not_map",
     "accounts {\n"
     "  A: 5\n"
     "}\n",
     "t.conf:2:3: Expected map entries for accounts\n"},
    {"accounts_unknown_key",
     "accounts {\n"
     "  A: { bogus: 1 }\n"
     "}\n",
     "t.conf:2:8: unknown field \"bogus\"\n"},
    {"accounts_nkey_bad",
     "accounts {\n"
     "  A: { nkey: UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ }\n"
     "}\n",
     "t.conf:2:8: Not a valid public nkey for an account: "
     "\"UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ\"\n"},
    {"accounts_dup_user",
     "accounts {\n"
     "  A: { users: [ {user: a} ] }\n"
     "  B: {\n"
     "    users: [ {user: a} ]\n"
     "  }\n"
     "}\n",
     "t.conf:4:5: Duplicate user \"a\" detected\n"},
    {"accounts_dup_with_auth",
     "authorization {\n"
     "  users: [ {user: a} ]\n"
     "}\n"
     "accounts {\n"
     "  A: { users: [ {user: a} ] }\n"
     "}\n",
     "t.conf:5:8: Duplicate user \"a\" detected\n"},
    {"accounts_users_not_array",
     "accounts {\n"
     "  A: { users: 5 }\n"
     "}\n",
     "Expected users field to be an array, got 5\n"},
    {"accounts_single_user_then_accounts",
     "authorization {\n"
     "  user: x\n"
     "  password: y\n"
     "}\n"
     "accounts {\n"
     "  A: { users: [ {user: a} ] }\n"
     "}\n",
     "t.conf:6:8: Can not have a single user/pass and accounts\n"},
    {"accounts_token_then_accounts",
     "authorization {\n"
     "  token: x\n"
     "}\n"
     "accounts {\n"
     "  A: {\n"
     "    users: [ {user: a} ]\n"
     "  }\n"
     "}\n",
     /* nats-server also says "t.conf:1:0: Can not have a token and a users
      * array" when its map order reads accounts first; natsd reads in order. */
     "t.conf:6:5: Can not have a token and accounts\n"},
    {"exports_not_array",
     "accounts {\n"
     "  A: { exports: 5 }\n"
     "}\n",
     "t.conf:2:8: Exports should be an array, got int64\n"},
    {"export_not_map",
     "accounts {\n"
     "  A: { exports: [ 5 ] }\n"
     "}\n",
     "t.conf:2:19: Export Items should be a map with type entry, got int64\n"},
    {"export_stream_type",
     "accounts {\n"
     "  A: { exports: [ {stream: 5} ] }\n"
     "}\n",
     "t.conf:2:20: Expected stream name to be string, got int64\n"},
    {"export_service_type",
     "accounts {\n"
     "  A: { exports: [ {service: 5} ] }\n"
     "}\n",
     "t.conf:2:20: Expected service name to be string, got int64\n"},
    {"export_stream_after_service",
     "accounts {\n"
     "  A: { exports: [ {service: a, stream: b} ] }\n"
     "}\n",
     "t.conf:2:32: Detected stream \"b\" but already saw a service\n"},
    {"export_response_on_stream",
     "accounts {\n"
     "  A: { exports: [ {stream: a, response: stream} ] }\n"
     "}\n",
     "t.conf:2:31: Detected response directive on non-service\n"},
    {"export_response_before_stream",
     "accounts {\n"
     "  A: { exports: [ {response: stream, stream: a} ] }\n"
     "}\n",
     "t.conf:2:20: Detected response directive on non-service\n"},
    {"export_response_unknown",
     "accounts {\n"
     "  A: { exports: [ {service: a, response: bogus} ] }\n"
     "}\n",
     "t.conf:2:32: Unknown response type: \"bogus\"\n"},
    {"export_response_type",
     "accounts {\n"
     "  A: { exports: [ {service: a, response_type: 5} ] }\n"
     "}\n",
     "t.conf:2:32: Expected response type to be string, got int64\n"},
    {"export_threshold_bad",
     "accounts {\n"
     "  A: { exports: [ {service: a, threshold: \"x\"} ] }\n"
     "}\n",
     "t.conf:2:32: Expected response threshold to be a parseable time duration, got \"x\"\n"},
    {"export_threshold_type",
     "accounts {\n"
     "  A: { exports: [ {service: a, response_threshold: 5} ] }\n"
     "}\n",
     "t.conf:2:32: Expected response threshold to be a parseable time duration, got int64\n"},
    {"export_latency_type",
     "accounts {\n"
     "  A: { exports: [ {service: a, latency: 5} ] }\n"
     "}\n",
     "t.conf:2:32: Expected latency entry to be a map/struct or string, got int64\n"},
    {"export_latency_no_subject",
     "accounts {\n"
     "  A: { exports: [ {service: a, latency: {sampling: 50}} ] }\n"
     "}\n",
     "t.conf:2:32: Latency subject required, but missing\n"},
    {"export_latency_bad_sampling",
     "accounts {\n"
     "  A: { exports: [ {service: a, latency: {sampling: 200, subject: lat}} ] }\n"
     "}\n",
     "t.conf:2:42: bad sampling percentage, should be 1-100\n"},
    {"export_latency_sampling_str",
     "accounts {\n"
     "  A: { exports: [ {service: a, latency: {sampling: \"abc\", subject: lat}} ] }\n"
     "}\n",
     "t.conf:2:42: Failed to parse latency sample: strconv.Atoi: parsing \"abc\": invalid "
     "syntax\n"},
    {"export_latency_on_stream",
     "accounts {\n"
     "  A: { exports: [ {stream: a, latency: lat} ] }\n"
     "}\n",
     "t.conf:2:31: Detected latency directive on non-service\n"},
    {"export_latency_wildcard",
     "accounts {\n"
     "  A: { exports: [ {service: a, latency: \"lat.*\"} ] }\n"
     "}\n",
     "t.conf:1:0: Error adding service latency sampling for \"a\" on subject \"lat.*\": invalid "
     "publish subject\n"},
    {"export_latency_no_sys",
     "no_system_account: true\n"
     "accounts {\n"
     "  A: { exports: [ {service: a, latency: lat} ] }\n"
     "}\n",
     "t.conf:2:1: Error adding service latency sampling for \"a\": system account not setup\n"},
    {"export_latency_chunked",
     "accounts {\n"
     "  A: { exports: [ {service: a, response: chunked, latency: lat} ] }\n"
     "}\n",
     "t.conf:1:0: Error adding service latency sampling for \"a\" on subject \"lat\": bad service "
     "response type\n"},
    {"export_accounts_undefined",
     "accounts {\n"
     "  A: { exports: [ {stream: a, accounts: [Z]} ] }\n"
     "}\n",
     "t.conf:1:0: \"Z\" account not defined for stream export\n"},
    {"export_tokpos_bad",
     "accounts {\n"
     "  A: { exports: [ {stream: \"a.b\", account_token_position: 2} ] }\n"
     "}\n",
     "t.conf:1:0: Error adding stream export \"a.b\": sublist: invalid subject\n"},
    {"export_tokpos_type",
     "accounts {\n"
     "  A: { exports: [ {stream: \"a.*\", account_token_position: \"2\"} ] }\n"
     "}\n",
     "t.conf:2:35: interface conversion: interface {} is string, not int64\n"},
    {"export_unknown",
     "accounts {\n"
     "  A: { exports: [ {stream: a, bogus: 1} ] }\n"
     "}\n",
     "t.conf:2:31: unknown field \"bogus\"\n"},
    {"imports_not_array",
     "accounts {\n"
     "  A: { imports: 5 }\n"
     "}\n",
     "t.conf:2:8: Imports should be an array, got int64\n"},
    {"import_not_map",
     "accounts {\n"
     "  A: { imports: [ 5 ] }\n"
     "}\n",
     "t.conf:2:19: Import Items should be a map with type entry, got int64\n"},
    {"import_stream_not_map",
     "accounts {\n"
     "  A: { imports: [ {stream: 5} ] }\n"
     "}\n",
     "t.conf:2:20: Stream entry should be an account map, got int64\n"},
    {"import_service_not_map",
     "accounts {\n"
     "  A: { imports: [ {service: 5} ] }\n"
     "}\n",
     "t.conf:2:20: Service entry should be an account map, got int64\n"},
    {"import_missing_subject",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: B}} ] }\n"
     "  B: {}\n"
     "}\n",
     "t.conf:2:20: Expect an account name and a subject\n"},
    {"import_account_type",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: 1, subject: x}} ] }\n"
     "}\n",
     "t.conf:2:20: Expect an account name and a subject\n"
     "t.conf:2:29: interface conversion: interface {} is int64, not string\n"},
    {"import_inner_unknown",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: B, subject: x, bogus: 1}} ] }\n"
     "  B: {exports: [{stream: x}]}\n"
     "}\n",
     "t.conf:2:53: unknown field \"bogus\"\n"},
    {"import_prefix_and_to",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: B, subject: x}, prefix: p, to: t} ] }\n"
     "  B: {exports: [{stream: x}]}\n"
     "}\n",
     "t.conf:2:65: Stream import can not have a 'prefix' and a 'to' property\n"},
    {"import_service_after_stream",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: B, subject: x}, service: {account: B, subject: y}} ] }\n"
     "}\n",
     "t.conf:2:54: Detected service but already saw a stream\n"},
    {"import_share_type",
     "accounts {\n"
     "  A: { imports: [ {service: {account: B, subject: x}, share: 1} ] }\n"
     "}\n",
     "t.conf:2:55: interface conversion: interface {} is int64, not bool\n"},
    {"import_unknown",
     "accounts {\n"
     "  A: { imports: [ {service: {account: B, subject: x}, bogus: 1} ] }\n"
     "}\n",
     "t.conf:2:55: unknown field \"bogus\"\n"},
    {"import_dup_service",
     "accounts {\n"
     "  A: { imports: [\n"
     "    {service: {account: B, subject: x}}\n"
     "    {service: {account: B, subject: y}, to: x}\n"
     "  ] }\n"
     "  B: {exports: [{service: x}, {service: y}]}\n"
     "}\n",
     "t.conf:4:47: Duplicate service import subject \"x\", previously used in import for account "
     "\"B\", subject \"x\"\n"},
    {"import_undefined_account",
     "accounts {\n"
     "  A: { imports: [ {service: {account: Z, subject: x}} ] }\n"
     "}\n",
     "t.conf:1:0: \"Z\" account not defined for service import\n"},
    {"import_stream_not_authorized",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: B, subject: x}} ] }\n"
     "  B: {exports: [{stream: y}]}\n"
     "  C: {}\n"
     "}\n",
     "t.conf:1:0: Error adding stream import \"x\": stream import not authorized\n"},
    {"import_stream_no_exports",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: B, subject: x}} ] }\n"
     "  B: {}\n"
     "}\n",
     "t.conf:1:0: Error adding stream import \"x\": stream import not authorized\n"},
    {"import_service_private_ok",
     "accounts {\n"
     "  A: { imports: [ {service: {account: B, subject: \"x.y\"}} ] }\n"
     "  B: {exports: [{service: \"x.*\", accounts: [A]}]}\n"
     "}\n",
     ""},
    {"import_service_private_no",
     "accounts {\n"
     "  A: { imports: [ {service: {account: B, subject: \"x.y\"}} ] }\n"
     "  B: {exports: [{service: \"x.*\", accounts: [C]}]}\n"
     "  C: {}\n"
     "}\n",
     "t.conf:1:0: Error adding service import \"x.y\": service import not authorized\n"},
    {"import_stream_prefix_wc",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: B, subject: x}, prefix: \"p.*\"} ] }\n"
     "  B: {exports: [{stream: x}]}\n"
     "}\n",
     "t.conf:1:0: Error adding stream import \"x\": stream import prefix can not contain wildcard "
     "tokens\n"},
    {"import_stream_dup",
     "accounts {\n"
     "  A: { imports: [\n"
     "    {stream: {account: B, subject: x}}\n"
     "    {stream: {account: B, subject: x}, prefix: p}\n"
     "  ] }\n"
     "  B: {exports: [{stream: x}]}\n"
     "}\n",
     "t.conf:1:0: Error adding stream import \"x\": stream import already exists\n"},
    {"import_tokpos_ok",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: B, subject: \"s.A.x\"}} ] }\n"
     "  B: {exports: [{stream: \"s.*.x\", account_token_position: 2}]}\n"
     "}\n",
     ""},
    {"import_tokpos_no",
     "accounts {\n"
     "  A: { imports: [ {stream: {account: B, subject: \"s.C.x\"}} ] }\n"
     "  B: {exports: [{stream: \"s.*.x\", account_token_position: 2}]}\n"
     "}\n",
     "t.conf:1:0: Error adding stream import \"s.C.x\": stream import not authorized\n"},
    {"import_service_bad_subject",
     "accounts {\n"
     "  A: { imports: [ {service: {account: B, subject: \"x..y\"}} ] }\n"
     "  B: {exports: [{service: \">\"}]}\n"
     "}\n",
     "t.conf:1:0: Error adding service import \"x..y\": sublist: invalid subject\n"},
    {"mappings_not_map",
     "accounts {\n"
     "  A: { mappings: 5 }\n"
     "}\n",
     "t.conf:2:8: interface conversion: interface {} is int64, not map[string]interface {}\n"},
    {"mappings_bad_src",
     "accounts {\n"
     "  A: { mappings: { \"a..b\": c } }\n"
     "}\n",
     "t.conf:2:8: Subject \"a..b\" is not a valid subject\n"},
    {"mapping_dest_not_map",
     "accounts {\n"
     "  A: { mappings: { a: [ 5 ] } }\n"
     "}\n",
     "t.conf:2:25: Expected an entry for the mapping destination\n"},
    {"mapping_weight_str",
     "accounts {\n"
     "  A: { mappings: { a: [ {destination: b, weight: \"x%\"} ] } }\n"
     "}\n",
     "t.conf:2:42: Invalid weight \"x\" for mapping destination\n"},
    {"mapping_weight_range",
     "accounts {\n"
     "  A: { mappings: { a: [ {destination: b, weight: \"120%\"} ] } }\n"
     "}\n",
     "t.conf:2:42: Invalid weight 120 for mapping destination\n"},
    {"mapping_weight_missing",
     "accounts {\n"
     "  A: { mappings: { a: [ {destination: b} ] } }\n"
     "}\n",
     "t.conf:2:41: Missing weight for mapping destination \"b\"\n"},
    {"mapping_weight_type",
     "accounts {\n"
     "  A: { mappings: { a: [ {destination: b, weight: true} ] } }\n"
     "}\n",
     "t.conf:2:42: Unknown entry type for weight of true\n"
     "\n"},
    {"mapping_unknown",
     "accounts {\n"
     "  A: { mappings: { a: [ {destination: b, weight: 10, bogus: 1} ] } }\n"
     "}\n",
     "t.conf:2:54: Unknown field \"bogus\" for mapping destination\n"},
    {"mapping_total",
     "accounts {\n"
     "  A: { maps: { a: [ {destination: b, weight: 60}, {destination: c, weight: 50} ] } }\n"
     "}\n",
     "t.conf:2:79: interface conversion: interface {} is []interface {}, not string\n"},
    {"mapping_dup",
     "accounts {\n"
     "  A: { maps: { a: [ {destination: b, weight: 10}, {destination: b, weight: 20} ] } }\n"
     "}\n",
     "t.conf:2:79: interface conversion: interface {} is []interface {}, not string\n"},
    {"mapping_dest_type_in_list",
     "accounts {\n"
     "  A: { mappings: { a: [ {destination: 5, weight: 10} ] } }\n"
     "}\n",
     "t.conf:2:53: interface conversion: interface {} is int64, not string\n"},
    {"mapping_dest_type_in_map",
     "accounts {\n"
     "  A: { mappings: { a: {destination: 5, weight: 10} } }\n"
     "}\n",
     "t.conf:2:20: interface conversion: interface {} is int64, not string\n"},
    {"mapping_single_map",
     "accounts {\n"
     "  A: { mappings: { a: {destination: b, weight: 50} } }\n"
     "}\n",
     ""},
    {"limits_not_map",
     "accounts {\n"
     "  A: { limits: 5 }\n"
     "}\n",
     "t.conf:2:8: Expected account limits to be a map/struct, got 5\n"},
    {"limits_type",
     "accounts {\n"
     "  A: { limits: { max_conn: \"x\" } }\n"
     "}\n",
     "t.conf:2:18: interface conversion: interface {} is string, not int64\n"},
    {"limits_unknown",
     "accounts {\n"
     "  A: { limits: { bogus: 1 } }\n"
     "}\n",
     "t.conf:2:18: Unknown field \"bogus\" parsing account limits\n"},
    {"cluster_users",
     "cluster {\n"
     "  port: -1\n"
     "  authorization {\n"
     "    users: []\n"
     "  }\n"
     "}\n",
     "t.conf:3:3: Cluster authorization does not allow multiple users\n"},
    {"cluster_token",
     "cluster {\n"
     "  port: -1\n"
     "  authorization {\n"
     "    token: x\n"
     "  }\n"
     "}\n",
     "t.conf:3:3: Cluster authorization does not support tokens\n"},
    {"gateway_users",
     "gateway {\n"
     "  name: A\n"
     "  port: -1\n"
     "  authorization {\n"
     "    users: [ {user: a} ]\n"
     "  }\n"
     "}\n",
     "t.conf:4:3: Gateway authorization does not allow multiple users\n"},
    {"gateway_token",
     "gateway {\n"
     "  name: A\n"
     "  port: -1\n"
     "  authorization {\n"
     "    token: x\n"
     "  }\n"
     "}\n",
     "t.conf:4:3: Gateway authorization does not support tokens\n"},
    {"cluster_auth_unknown",
     "cluster {\n"
     "  port: -1\n"
     "  authorization {\n"
     "    bogus: x\n"
     "  }\n"
     "}\n",
     "t.conf:4:5: unknown field \"bogus\"\n"},
    {"cluster_perms_deprecated",
     "cluster {\n"
     "  port: -1\n"
     "  authorization {\n"
     "    user: a\n"
     "    password: b\n"
     "    permissions: { import: \"foo\" }\n"
     "  }\n"
     "}\n",
     "t.conf:3:3: invalid use of field \"authorization\": setting \"permissions\" within cluster "
     "authorization block is deprecated\n"},
    {"mapping_bad_dest",
     "accounts {\n"
     "  A: { mappings: { a: \"b..c\" } }\n"
     "}\n",
     "t.conf:2:20: Error adding mapping for \"a\" to \"b..c\" : invalid mapping destination: "
     "invalid subject in \n"},
    {"no_auth_user_ok",
     "no_auth_user: a\n"
     "authorization {\n"
     "  users: [ {user: a, password: b} ]\n"
     "}\n",
     ""},
};

/* A parsed document plus the options and diagnostics read from it. */
struct auth_fx {
    struct conf_doc *doc;
    struct opts o;
    struct opts_diag d;
    char *cl_user, *cl_pass;
    double cl_timeout;
    struct opts_perms *cl_perms;
};

static const struct conf_value *auth_parse(struct auth_fx *fx, const char *text)
{
    struct conf_error err;
    /* Zeroed rather than opts_init(): only opts_auth.c's fields matter here. */
    memset(fx, 0, sizeof(*fx));
    int rc = conf_parse_string(text, strlen(text), "t.conf", &fx->doc, &err);
    cr_assert_eq(rc, 0, "conf parse failed: %s", err.msg);
    return conf_root(fx->doc);
}

/* The part of opts.c's top-level table that reaches opts_auth.c, in the order
 * the keys are written. */
static void auth_apply(struct auth_fx *fx, const struct conf_value *root)
{
    for (size_t i = 0; i < root->u.map.n; i++) {
        const struct conf_kv *kv = &root->u.map.kv[i];
        /* nats-server reports a map entry's value at its key: hand the value
         * over with that position, as opts.c must. */
        struct conf_value keyed = *kv->val;
        const struct conf_value *v = &keyed;
        keyed.pos = kv->pos;
        if (strcmp(kv->key, "authorization") == 0) {
            opts_parse_authorization(&fx->o, v, &fx->d);
        } else if (strcmp(kv->key, "accounts") == 0) {
            opts_parse_accounts(&fx->o, v, &fx->d);
        } else if (strcmp(kv->key, "no_system_account") == 0) {
            fx->o.no_system_account = v->u.b;
        } else if (strcmp(kv->key, "no_auth_user") == 0) {
            fx->o.no_auth_user = strdup(v->u.s.p);
        } else if (strcmp(kv->key, "system_account") == 0) {
            fx->o.system_account = strdup(v->u.s.p);
        } else if (strcmp(kv->key, "cluster") == 0 || strcmp(kv->key, "gateway") == 0) {
            enum opts_auth_kind k = kv->key[0] == 'c' ? OPTS_AUTH_CLUSTER : OPTS_AUTH_GATEWAY;
            for (size_t j = 0; j < v->u.map.n; j++) {
                const struct conf_kv *akv = &v->u.map.kv[j];
                struct conf_value a = *akv->val;
                a.pos = akv->pos;
                if (strcmp(akv->key, "authorization") == 0)
                    opts_parse_simple_auth(k, &a, &fx->cl_user, &fx->cl_pass, &fx->cl_timeout,
                                           &fx->cl_perms, &fx->d);
            }
        }
    }
}

static void auth_done(struct auth_fx *fx)
{
    free(fx->cl_user);
    free(fx->cl_pass);
    opts_perms_free(fx->cl_perms);
    opts_auth_free(&fx->o);
    free(fx->o.username);
    free(fx->o.password);
    free(fx->o.token);
    free(fx->o.no_auth_user);
    free(fx->o.system_account);
    strlist_free(&fx->o.unsupported);
    opts_diag_free(&fx->d);
    conf_free(fx->doc);
}

static int auth_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Errors and warnings, sorted, each followed by a newline. */
static char *auth_report(const struct opts_diag *d)
{
    size_t n = d->errors.n + d->warnings.n, len = 1;
    char **all = calloc(n + 1, sizeof(*all));
    for (size_t i = 0; i < d->errors.n; i++)
        all[i] = d->errors.v[i];
    for (size_t i = 0; i < d->warnings.n; i++)
        all[d->errors.n + i] = d->warnings.v[i];
    qsort(all, n, sizeof(*all), auth_strcmp);
    for (size_t i = 0; i < n; i++)
        len += strlen(all[i]) + 1;
    char *out = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        strncat(out, all[i], len - strlen(out) - 1);
        strncat(out, "\n", len - strlen(out) - 1);
    }
    free(all);
    return out;
}

Test(opts_auth, reference_messages)
{
    for (size_t i = 0; i < sizeof(auth_cases) / sizeof(auth_cases[0]); i++) {
        struct auth_fx fx;
        auth_apply(&fx, auth_parse(&fx, auth_cases[i].conf));
        char *got = auth_report(&fx.d);
        cr_expect_str_eq(got, auth_cases[i].want, "case %s: got\n%swant\n%s", auth_cases[i].name,
                         got, auth_cases[i].want);
        free(got);
        auth_done(&fx);
    }
}

/* Parse text, expecting no diagnostics at all. */
static void auth_parse_ok(struct auth_fx *fx, const char *text)
{
    auth_apply(fx, auth_parse(fx, text));
    char *got = auth_report(&fx->d);
    cr_assert_str_eq(got, "", "unexpected diagnostics");
    free(got);
}

static const struct opts_user *auth_user(const struct opts *o, const char *name)
{
    for (size_t i = 0; i < o->n_users; i++) {
        const struct opts_user *u = &o->users[i];
        if ((u->user && strcmp(u->user, name) == 0) || (u->nkey && strcmp(u->nkey, name) == 0))
            return u;
    }
    cr_assert_fail("no user %s", name);
    return NULL;
}

static const struct opts_account *auth_account(const struct opts *o, const char *name)
{
    for (size_t i = 0; i < o->n_accounts; i++)
        if (strcmp(o->accounts[i].name, name) == 0)
            return &o->accounts[i];
    cr_assert_fail("no account %s", name);
    return NULL;
}

Test(opts_auth, single_user_fields)
{
    struct auth_fx fx;
    auth_parse_ok(&fx, "authorization { username: u, pass: p, timeout: 1.5 }\n");
    cr_assert_str_eq(fx.o.username, "u");
    cr_assert_str_eq(fx.o.password, "p");
    cr_assert_null(fx.o.token);
    cr_assert_float_eq(fx.o.auth_timeout, 1.5, 1e-9);
    cr_assert(fx.o.auth_timeout_set);
    cr_assert(opts_has_plaintext_passwords(&fx.o));
    auth_done(&fx);
}

Test(opts_auth, timeout_forms)
{
    static const struct {
        const char *conf;
        double want;
    } t[] = {
        {"authorization { token: x, timeout: 3 }\n", 3},
        {"authorization { token: x, timeout: 0.25 }\n", 0.25},
        {"authorization { token: x, timeout: \"5s\" }\n", 1}, /* other types: 1s */
        {"authorization { token: x, timeout: true }\n", 1},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct auth_fx fx;
        auth_parse_ok(&fx, t[i].conf);
        cr_expect_float_eq(fx.o.auth_timeout, t[i].want, 1e-9, "%s", t[i].conf);
        cr_expect_str_eq(fx.o.token, "x");
        auth_done(&fx);
    }
}

Test(opts_auth, users_and_permission_forms)
{
    struct auth_fx fx;
    auth_parse_ok(&fx,
                  "authorization {\n"
                  "  default_permissions: { publish: \"pub.>\", subscribe: [\"s1\", \"s2\"] }\n"
                  "  users: [\n"
                  "    {user: a, password: a}\n"
                  "    {user: b, password: b, permissions: {pub: {allow: [\"b.>\"], deny: "
                  "\"b.x\"}, sub: \"b.>\"}}\n"
                  "    {user: c, password: c, permission: {publish: {deny: \"no\"}, "
                  "allow_responses: true}}\n"
                  "    {user: d, password: d, authorization: {import: \"d\", export: \"q.x "
                  "workers\", allow_responses: {max: 5, expires: \"1m\"}}}\n"
                  "    {user: e, password: e, connection_types: [standard, \"Websocket\"]}\n"
                  "    {nkey: UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ}\n"
                  "  ]\n"
                  "}\n");
    cr_assert_eq(fx.o.n_users, 6);
    const struct opts_user *a = auth_user(&fx.o, "a");
    cr_assert_not_null(a->perms); /* the defaults, copied */
    cr_assert_str_eq(a->perms->publish.allow.v[0], "pub.>");
    cr_assert_eq(a->perms->subscribe.allow.n, 2);
    cr_assert_null(a->account);

    const struct opts_user *b = auth_user(&fx.o, "b");
    cr_assert_str_eq(b->perms->publish.allow.v[0], "b.>");
    cr_assert_str_eq(b->perms->publish.deny.v[0], "b.x");
    cr_assert_str_eq(b->perms->subscribe.allow.v[0], "b.>");
    cr_assert_not(b->perms->allow_responses);

    /* allow_responses turns the blanket publish allow into an empty list */
    const struct opts_user *c = auth_user(&fx.o, "c");
    cr_assert(c->perms->allow_responses);
    cr_assert_eq(c->perms->resp_max, 1);
    cr_assert_eq(c->perms->resp_expires_ns, 120LL * 1000000000LL);
    cr_assert(c->perms->publish.allow_set);
    cr_assert_eq(c->perms->publish.allow.n, 0);
    cr_assert_str_eq(c->perms->publish.deny.v[0], "no");

    const struct opts_user *d = auth_user(&fx.o, "d");
    cr_assert_eq(d->perms->resp_max, 5);
    cr_assert_eq(d->perms->resp_expires_ns, 60LL * 1000000000LL);
    cr_assert_str_eq(d->perms->publish.allow.v[0], "d");
    cr_assert_str_eq(d->perms->subscribe.allow.v[0], "q.x workers");

    const struct opts_user *e = auth_user(&fx.o, "e");
    cr_assert_eq(e->connection_types.n, 2);
    cr_assert_str_eq(e->connection_types.v[0], "STANDARD");
    cr_assert_str_eq(e->connection_types.v[1], "WEBSOCKET");

    const struct opts_user *n =
        auth_user(&fx.o, "UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ");
    cr_assert_null(n->user);
    cr_assert_not_null(n->perms);
    cr_assert_not_null(fx.o.default_perms);
    auth_done(&fx);
}

Test(opts_auth, empty_subject_map_leaves_direction_unset)
{
    struct auth_fx fx;
    auth_parse_ok(&fx, "authorization { users: [ {user: a, permissions: {publish: {}, "
                       "subscribe: []}} ] }\n");
    const struct opts_user *a = auth_user(&fx.o, "a");
    cr_assert_not(a->perms->publish.set);
    cr_assert(a->perms->subscribe.set);
    cr_assert_not(a->perms->subscribe.allow_set); /* an empty list allows all */
    auth_done(&fx);
}

/* natsd does not enforce account limits: a limit other than -1 (none) is
 * refused, each at its key, rather than silently not applied. max_leafnodes
 * is accepted: natsd has no leaf node connections at all. */
Test(opts_auth, account_limits_refused)
{
    struct auth_fx fx;
    auth_apply(&fx, auth_parse(&fx, "accounts {\n"
                                    "  A: { limits: {max_conn: 10, max_subscriptions: 100,\n"
                                    "                max_pay: 1024, max_leafs: 2} }\n"
                                    "  B: { limits: {max_conn: -1} }\n"
                                    "}\n"));
    char *got = auth_report(&fx.d);
    const char *tail = " is not supported by natsd and cannot be ignored: account limits are not "
                       "implemented, so the account's clients would not be held to it\n";
    char want[2048];
    snprintf(want, sizeof(want),
             "t.conf:2:17: option \"max_conn\" in the limits of account \"A\"%s"
             "t.conf:2:31: option \"max_subscriptions\" in the limits of account \"A\"%s"
             "t.conf:3:17: option \"max_pay\" in the limits of account \"A\"%s",
             tail, tail, tail);
    cr_expect_str_eq(got, want, "got\n%swant\n%s", got, want);
    free(got);
    auth_done(&fx);
}

Test(opts_auth, accounts_full)
{
    struct auth_fx fx;
    auth_parse_ok(&fx, "accounts {\n"
                       "  A: {\n"
                       "    nkey: AC4MBW5E2KQE5I7MRX6LIDOAYWH5LGGJ2YULYTKUWGC3AJQ7UHEUGR4S\n"
                       "    users: [ {user: a, password: a} ]\n"
                       "    exports: [\n"
                       "      {stream: \"events.>\"}\n"
                       "      {service: \"svc.echo\", response_type: stream, threshold: \"5s\"}\n"
                       "      {service: \"svc.private\", accounts: [B]}\n"
                       "      {service: \"svc.lat\", latency: {sampling: \"50%\", subject: "
                       "\"lat.r\"}}\n"
                       "      {service: \"svc.hdr\", latency: {sampling: headers, subject: "
                       "\"lat.h\"}}\n"
                       "      {stream: \"acc.*.data\", account_token_position: 2}\n"
                       "    ]\n"
                       "    limits: {max_conn: -1, max_subscriptions: -1, max_leafs: 3}\n"
                       "  }\n"
                       "  B: {\n"
                       "    users: [ {user: b, password: b} ]\n"
                       "    default_permissions: {subscribe: {deny: \"secret.>\"}}\n"
                       "    imports: [\n"
                       "      {stream: {account: A, subject: \"events.>\"}, prefix: \"fromA\"}\n"
                       "      {service: {account: A, subject: \"svc.echo\"}, to: \"echo\"}\n"
                       "      {service: {account: A, subject: \"svc.private\"}, share: true}\n"
                       "      {stream: {account: A, subject: \"acc.B.data\"}}\n"
                       "    ]\n"
                       "    maps: {\n"
                       "      foo: bar\n"
                       "      w: [ {destination: w1, weight: \"40%\"}, {dest: w2, weight: 60, "
                       "cluster: c1} ]\n"
                       "    }\n"
                       "  }\n"
                       "}\n");
    cr_assert_eq(fx.o.n_accounts, 2);
    const struct opts_account *a = auth_account(&fx.o, "A");
    cr_assert_str_eq(a->nkey, "AC4MBW5E2KQE5I7MRX6LIDOAYWH5LGGJ2YULYTKUWGC3AJQ7UHEUGR4S");
    cr_assert_eq(a->n_exports, 6);
    cr_assert_not(a->exports[0].service);
    cr_assert(a->exports[1].service);
    cr_assert_eq(a->exports[1].response_type, OPTS_RESP_STREAM);
    cr_assert_eq(a->exports[1].response_threshold_ns, 5LL * 1000000000LL);
    cr_assert_str_eq(a->exports[2].accounts.v[0], "B");
    cr_assert(a->exports[3].latency);
    cr_assert_eq(a->exports[3].latency_sampling, 50);
    cr_assert_str_eq(a->exports[3].latency_subject, "lat.r");
    cr_assert_eq(a->exports[4].latency_sampling, 0);
    cr_assert_eq(a->exports[5].account_token_position, 2);
    cr_assert_eq(a->max_connections, -1);
    cr_assert_eq(a->max_subscriptions, -1);
    cr_assert_eq(a->max_payload, -1);
    cr_assert_eq(a->max_leafnodes, 3);

    const struct opts_account *b = auth_account(&fx.o, "B");
    cr_assert_eq(b->n_imports, 4);
    cr_assert_str_eq(b->imports[0].prefix, "fromA");
    cr_assert_str_eq(b->imports[0].account, "A");
    cr_assert_str_eq(b->imports[1].to, "echo");
    cr_assert(b->imports[2].share);
    cr_assert_eq(b->n_mappings, 2);
    cr_assert_eq(b->mappings[0].n_dests, 1);
    cr_assert_eq(b->mappings[0].dests[0].weight, 100);
    cr_assert_eq(b->mappings[1].dests[0].weight, 40);
    cr_assert_str_eq(b->mappings[1].dests[1].cluster, "c1");
    cr_assert_str_eq(auth_user(&fx.o, "b")->account, "B");
    cr_assert_str_eq(auth_user(&fx.o, "b")->perms->subscribe.deny.v[0], "secret.>");
    auth_done(&fx);
}

Test(opts_auth, accounts_array)
{
    struct auth_fx fx;
    auth_parse_ok(&fx, "accounts: [A, B, \"$SYS\"]\n");
    cr_assert_eq(fx.o.n_accounts, 3);
    cr_assert_str_eq(fx.o.accounts[2].name, "$SYS");
    cr_assert_eq(fx.o.accounts[0].max_connections, -1);
    auth_done(&fx);
}

Test(opts_auth, nkey_checks)
{
    static const struct {
        const char *key;
        bool ok;
    } t[] = {
        {"UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ", true},
        {"UBYVVI47NULIMWJCZQD5SGLF5URXINIHXPYR4AFDDJ6QV5XODCKUULNN", true},
        {"UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIA", false}, /* checksum */
        {"ucszbbm4jhm43unn55neblhgo7hgj6qsqogymwbna3xowddcn36pvfiq", false}, /* case */
        {"AC4MBW5E2KQE5I7MRX6LIDOAYWH5LGGJ2YULYTKUWGC3AJQ7UHEUGR4S", false}, /* account */
        {"U", false},
        {"UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ1", false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct auth_fx fx;
        char conf[256];
        snprintf(conf, sizeof(conf), "authorization { users: [ {nkey: \"%s\"} ] }\n", t[i].key);
        auth_apply(&fx, auth_parse(&fx, conf));
        cr_expect_eq(fx.d.errors.n == 0, t[i].ok, "%s", t[i].key);
        cr_expect_eq(fx.o.n_users, t[i].ok ? 1u : 0u, "%s", t[i].key);
        auth_done(&fx);
    }
}

Test(opts_auth, cluster_simple_auth)
{
    struct auth_fx fx;
    auth_apply(&fx, auth_parse(&fx, "cluster {\n  authorization {\n    username: r\n    pass: s\n"
                                    "    timeout: 0.5\n    permissions: {import: \"a\", export: "
                                    "[\"b\"]}\n  }\n}\n"));
    cr_assert_eq(fx.d.errors.n, 0);
    cr_assert_eq(fx.d.warnings.n, 1);
    cr_assert_str_eq(fx.cl_user, "r");
    cr_assert_str_eq(fx.cl_pass, "s");
    cr_assert_float_eq(fx.cl_timeout, 0.5, 1e-9);
    cr_assert_not_null(fx.cl_perms);
    cr_assert_str_eq(fx.cl_perms->publish.allow.v[0], "a"); /* import is publish */
    cr_assert_str_eq(fx.cl_perms->subscribe.allow.v[0], "b");
    auth_done(&fx);
}

Test(opts_auth, gateway_simple_auth_ignores_permissions)
{
    struct auth_fx fx;
    auth_parse_ok(&fx, "gateway {\n  authorization {\n    user: g\n    password: h\n"
                       "    permissions: {import: \"a\"}\n  }\n}\n");
    cr_assert_str_eq(fx.cl_user, "g");
    cr_assert_null(fx.cl_perms);
    cr_assert_float_eq(fx.cl_timeout, 0, 1e-9); /* not given: the caller's default */
    auth_done(&fx);
}

Test(opts_auth, simple_auth_type_error_is_two_errors)
{
    struct auth_fx fx;
    auth_apply(&fx, auth_parse(&fx, "cluster {\n  authorization {\n    user: 5\n  }\n}\n"));
    cr_assert_eq(fx.d.errors.n, 2);
    cr_assert(strstr(fx.d.errors.v[0], "interface conversion: interface {} is int64, not string"));
    cr_assert(strstr(fx.d.errors.v[1], "runtime error: invalid memory address"));
    cr_assert_null(fx.cl_user);
    auth_done(&fx);
}

static void auth_validate_expect(const char *conf, const char *want)
{
    struct auth_fx fx;
    char err[512] = "";
    auth_parse_ok(&fx, conf);
    int rc = opts_validate_auth(&fx.o, err, sizeof(err));
    if (want) {
        cr_expect_eq(rc, -1, "%s", conf);
        cr_expect_str_eq(err, want, "%s", conf);
    } else {
        cr_expect_eq(rc, 0, "%s: %s", conf, err);
    }
    auth_done(&fx);
}

Test(opts_auth, validate_no_auth_user_and_system_account)
{
    auth_validate_expect("no_auth_user: zz\n",
                         "no_auth_user: \"zz\" present, but users are not defined");
    auth_validate_expect("no_auth_user: zz\nauthorization { users: [ {user: a} ] }\n",
                         "no_auth_user: \"zz\" not present as user in authorization block or "
                         "account configuration");
    auth_validate_expect("no_auth_user: a\naccounts { A: { users: [ {user: a} ] } }\n", NULL);
    auth_validate_expect("no_auth_user: a\nauthorization { users: [ {nkey: "
                         "UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ} ] }\n",
                         "no_auth_user: \"a\" present, but users are not defined");
    auth_validate_expect("system_account: FOO\n",
                         "error resolving system account: account missing");
    auth_validate_expect("system_account: \"$SYS\"\n",
                         "error resolving system account: account missing");
    auth_validate_expect("accounts: [A]\nsystem_account: A\n", NULL);
    auth_validate_expect("system_account: \"$G\"\n", NULL);
}

Test(opts_auth, plaintext_password_warning)
{
    static const struct {
        const char *conf;
        bool warn;
    } t[] = {
        {"authorization { user: a, password: b }\n", true},
        {"authorization { user: a, password: "
         "\"$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG\" }\n",
         false},
        {"authorization { users: [ {user: a} ] }\n", true}, /* no password counts too */
        {"authorization { users: [ {nkey: "
         "UCSZBBM4JHM43UNN55NEBLHGO7HGJ6QSQOGYMWBNA3XOWDDCN36PVFIQ} ] }\n",
         false},
        {"authorization { token: t }\n", false},
        {"accounts { A: { users: [ {user: a, password: \"$2b$10$abc\"} ] } }\n", false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct auth_fx fx;
        auth_parse_ok(&fx, t[i].conf);
        cr_expect_eq(opts_has_plaintext_passwords(&fx.o), t[i].warn, "%s", t[i].conf);
        auth_done(&fx);
    }
}

Test(opts_auth, users_from_accounts_block_single_user)
{
    /* accounts first, then a single user: a users array already exists */
    struct auth_fx fx;
    auth_apply(&fx, auth_parse(&fx, "accounts { A: { users: [ {user: a} ] } }\n"
                                    "authorization {\n  user: x\n}\n"));
    cr_assert_eq(fx.d.errors.n, 1);
    cr_assert_str_eq(fx.d.errors.v[0],
                     "t.conf:2:1: Can not have a single user/pass and a users array");
    auth_done(&fx);
}

Test(opts_auth, variables_are_not_unknown_fields)
{
    struct auth_fx fx;
    auth_parse_ok(&fx, "authorization {\n  PASS: secret\n  user: a\n  password: $PASS\n}\n");
    cr_assert_str_eq(fx.o.password, "secret");
    auth_done(&fx);
}

Test(opts_auth, free_is_idempotent)
{
    struct auth_fx fx;
    auth_parse_ok(&fx, "accounts { A: { users: [ {user: a} ], exports: [ {stream: x} ] } }\n");
    opts_auth_free(&fx.o);
    cr_assert_eq(fx.o.n_users, 0);
    cr_assert_eq(fx.o.n_accounts, 0);
    opts_auth_free(&fx.o);
    opts_perms_free(NULL);
    auth_done(&fx);
}
