/*  =========================================================================
    curve_fuzz_metadata - libFuzzer harness for the RFC 26 metadata grammar

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_fuzz_metadata checks curve_codec's metadata both ways: fuzz
    octets as the metadata inside a genuine INITIATE (server side) or
    READY (client side), which the codec must accept or refuse exactly as
    our own reading of the grammar says, and then list and look up
    exactly as that reading says; and fuzzed names and values given to
    curve_codec_set_metadata, which must be refused or sent byte for byte
    as the grammar encodes them. It is built with -fsanitize=fuzzer when
    CURVE_FUZZ is on (and CURVE_CODEC_ONLY is off); selftest/fuzz.sh runs
    it on the seed corpus in selftest/corpus/metadata.
@discuss
    Input layout: octet 0 picks a target (see target_t), octet 1 holds
    flags: bit 0 a metadata limit from the input (2 octets), bit 1 a
    metadata size from the input (2 octets; else the metadata is the rest
    of the input), bit 2 set the metadata back on a fresh codec (round
    trip). Received metadata is followed by names to look up, each a
    length octet and its octets. The set target reads a list of
    properties for each end: a count octet, then per property a name (a
    length octet, 255 meaning 255-270, and its octets) and a value (2
    octets of size and its octets).

    The other end of each handshake is the forger of curve_fuzz_forge.h,
    which knows every key, so that any metadata sits inside a genuine box
    and the codec parses it only after everything else verified, as it
    would from a real peer. Invariants are checked with CHECK, which
    aborts even under NDEBUG; every run is deterministic.
@end
*/

#ifndef _DEFAULT_SOURCE
#   define _DEFAULT_SOURCE          //  mmap's MAP_ANONYMOUS under plain C99
#endif
#ifndef CURVE_CODEC_ONLY
#   define CURVE_CODEC_ONLY
#endif
#include "../src/curve_classes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  libFuzzer entry points
int
    LLVMFuzzerInitialize (int *argc, char ***argv);
int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CURVE_FUZZ_NAME "curve_fuzz_metadata"
#include "curve_fuzz_forge.h"     //  CHECK, reader, forger, reference parser

#define NAME_BUFFER      300    //  Room for a fuzzed property name
#define PROPERTIES_MAX   16     //  Properties set per end
#define LOOKUPS_MAX      32     //  Fuzzed names looked up

#define FLAG_LIMIT       0x01   //  Metadata limit from the input
#define FLAG_SIZE        0x02   //  Metadata size from the input
#define FLAG_ROUND_TRIP  0x04   //  Set what was received on a fresh codec

//  What the first octet picks
typedef enum {
    TARGET_SERVER_INITIATE,         //  Server receives fuzz metadata
    TARGET_CLIENT_READY,            //  Client receives fuzz metadata
    TARGET_SET,                     //  Fuzzed names and values, both ends
    TARGET_COUNT
} target_t;


//  --------------------------------------------------------------------------
//  Codec helpers

//  Take the codec's pending command (caller frees)
static uint8_t *
s_take_command (curve_codec_t *codec, size_t *size_p)
{
    size_t size;
    const uint8_t *data = curve_codec_send_buf (codec, &size);
    CHECK (data && size);
    uint8_t *command = s_dup (data, size);
    curve_codec_send_ack (codec);
    *size_p = size;
    return command;
}

//  Give a command to the codec from a fenced copy (an overread faults)
static int
s_recv (curve_codec_t *codec, const uint8_t *data, size_t size)
{
    fenced_t fenced = s_fenced_new (data, size);
    int rc = curve_codec_recv (codec, fenced.data, size);
    s_fenced_destroy (&fenced);
    CHECK (rc == 0 || rc == -1);
    return rc;
}

static curve_codec_t *
s_new_client (void)
{
    curve_codec_t *client = curve_codec_new_client (
        s_client_public, s_client_secret, s_server_public);
    CHECK (client);
    return client;
}

static curve_codec_t *
s_new_server (void)
{
    curve_codec_t *server = curve_codec_new_server (
        s_server_public, s_server_secret);
    CHECK (server);
    return server;
}


//  --------------------------------------------------------------------------
//  The codec's view of peer metadata against ours

//  Our look-up: the first property of that name, in any case (ASCII
//  letters only), or NULL
static const property_t *
s_reference_lookup (const property_t *properties, size_t count,
                    const char *name)
{
    for (size_t index = 0; index < count; index++)
        if (s_same_name (properties [index].name,
                         properties [index].name_size,
                         (const uint8_t *) name, strlen (name)))
            return &properties [index];
    return NULL;
}

//  Look a name up in the codec and in our reading; both must agree
static void
s_check_lookup (curve_codec_t *codec, const property_t *properties,
                size_t count, const char *name)
{
    const property_t *expected = s_reference_lookup (properties, count, name);
    size_t size = 12345;
    const uint8_t *found = curve_codec_metadata (codec, name, &size);
    CHECK (curve_codec_metadata (codec, name, NULL) == found);
    if (!expected) {
        CHECK (found == NULL);
        CHECK (size == 0);
    }
    else {
        //  The very octets of the first property of that name
        CHECK (found == expected->value);
        CHECK (size == expected->value_size);
    }
}

//  A name in a changed case: 0 as is, 1 lower, 2 upper, 3 flipped
static void
s_recase (const uint8_t *name, size_t size, int how, char *out)
{
    for (size_t index = 0; index < size; index++) {
        char c = (char) name [index];
        bool upper = c >= 'A' && c <= 'Z';
        bool lower = c >= 'a' && c <= 'z';
        if ((how == 1 || how == 3) && upper)
            c = (char) (c + 32);
        else
        if ((how == 2 || how == 3) && lower)
            c = (char) (c - 32);
        out [index] = c;
    }
    out [size] = 0;
}

//  The codec accepted metadata: it must list and find exactly what our
//  reading finds. properties point into the codec's own copy.
static void
s_check_view (curve_codec_t *codec, const uint8_t *wire, size_t wire_size,
              reader_t *lookups)
{
    long count = s_metadata_parse (wire, wire_size, NULL, 0);
    CHECK (count >= 0);
    CHECK (curve_codec_metadata_count (codec) == (size_t) count);

    //  The codec's properties, in order, as _at gives them
    property_t *properties = (property_t *) calloc (
        (size_t) count + 1, sizeof (property_t));
    CHECK (properties);
    size_t total = 0;
    for (size_t index = 0; index < (size_t) count; index++) {
        const char *name = NULL;
        const uint8_t *value = NULL;
        size_t name_size = 0, value_size = 0;
        CHECK (curve_codec_metadata_at (codec, index, &name, &name_size,
                                        &value, &value_size) == 0);
        CHECK (name && value);
        CHECK (curve_codec_metadata_at (codec, index, NULL, NULL, NULL,
                                        NULL) == 0);
        properties [index].name = (const uint8_t *) name;
        properties [index].name_size = name_size;
        properties [index].value = value;
        properties [index].value_size = value_size;
        total += 1 + name_size + 4 + value_size;
    }
    CHECK (curve_codec_metadata_at (codec, (size_t) count, NULL, NULL, NULL,
                                    NULL) == -1);
    CHECK (curve_codec_metadata_at (codec, SIZE_MAX, NULL, NULL, NULL, NULL)
           == -1);
    CHECK (total == wire_size);

    //  Property by property, the same octets as ours
    property_t *ours = (property_t *) calloc ((size_t) count + 1,
                                              sizeof (property_t));
    CHECK (ours);
    CHECK (s_metadata_parse (wire, wire_size, ours, (size_t) count) == count);
    for (size_t index = 0; index < (size_t) count; index++) {
        CHECK (s_same (properties [index].name, properties [index].name_size,
                       ours [index].name, ours [index].name_size));
        CHECK (s_same (properties [index].value,
                       properties [index].value_size,
                       ours [index].value, ours [index].value_size));
        CHECK (s_name_ok (properties [index].name,
                          properties [index].name_size));
        //  Found by name in any case: the first of that name
        char key [CURVE_METADATA_NAME_MAX + 1];
        for (int how = 0; how < 4; how++) {
            s_recase (properties [index].name, properties [index].name_size,
                      how, key);
            s_check_lookup (codec, properties, (size_t) count, key);
        }
    }
    free (ours);

    //  Names from the input: anything, found or not as we say
    s_check_lookup (codec, properties, (size_t) count, "");
    for (int index = 0; index < LOOKUPS_MAX && lookups->size; index++) {
        char name [NAME_BUFFER + 1];
        size_t size = s_u8 (lookups);
        if (size == 255)
            size += s_u8 (lookups) % 16;
        s_bytes (lookups, (uint8_t *) name, size);
        name [size] = 0;
        s_check_lookup (codec, properties, (size_t) count, name);
    }
    free (properties);
}

//  A codec that refused or failed shows no metadata
static void
s_check_empty (curve_codec_t *codec)
{
    CHECK (curve_codec_metadata_count (codec) == 0);
    CHECK (curve_codec_metadata_at (codec, 0, NULL, NULL, NULL, NULL) == -1);
    size_t size = 1;
    CHECK (curve_codec_metadata (codec, "Identity", &size) == NULL);
    CHECK (size == 0);
}


//  --------------------------------------------------------------------------
//  Setting metadata

//  Set one property; it must be refused iff the name is not RFC 26's
static bool
s_set (curve_codec_t *codec, const char *name, const uint8_t *value,
       size_t size, buffer_t *wire)
{
    bool valid = s_name_ok ((const uint8_t *) name, strlen (name));
    int rc = curve_codec_set_metadata (codec, name, size? value: NULL, size);
    if (valid) {
        CHECK (rc == 0);
        s_metadata_add (wire, name, value, size);
    }
    else
        CHECK (rc == -1
            && curve_codec_last_error (codec) == CURVE_ERR_METADATA);
    return valid;
}

//  Read properties from the input and set them
static void
s_set_from_input (curve_codec_t *codec, reader_t *reader, buffer_t *wire)
{
    int count = s_u8 (reader) % PROPERTIES_MAX;
    for (int index = 0; index < count; index++) {
        char name [NAME_BUFFER + 1];
        size_t size = s_u8 (reader);
        if (size == 255)
            size += s_u8 (reader) % 16;
        s_bytes (reader, (uint8_t *) name, size);
        name [size] = 0;
        size_t value_size;
        const uint8_t *value = s_take (reader, s_u16 (reader), &value_size);
        s_set (codec, name, value, value_size, wire);
    }
}

//  Set the peer metadata a codec received on a fresh client: its INITIATE
//  must carry exactly the same octets (the grammar has one encoding)
static void
s_round_trip (curve_codec_t *codec, const uint8_t *wire, size_t wire_size)
{
    curve_codec_t *client = s_new_client ();
    buffer_t again = { NULL, 0 };
    size_t count = curve_codec_metadata_count (codec);
    for (size_t index = 0; index < count; index++) {
        const char *name;
        const uint8_t *value;
        size_t name_size, value_size;
        CHECK (curve_codec_metadata_at (codec, index, &name, &name_size,
                                        &value, &value_size) == 0);
        char key [CURVE_METADATA_NAME_MAX + 1];
        memcpy (key, name, name_size);
        key [name_size] = 0;
        CHECK (s_set (client, key, value, value_size, &again));
    }
    CHECK (s_same (again.data, again.size, wire, wire_size));

    forger_t forger;
    s_forger_init (&forger, true);
    size_t size;
    uint8_t *command = s_take_command (client, &size);
    s_forger_read_hello (&forger, command, size);
    free (command);
    command = s_forge_welcome (&forger, NULL, 0);
    CHECK (s_recv (client, command, CURVE_WELCOME_BYTES) == 0);
    free (command);
    command = s_take_command (client, &size);
    CHECK (size == CURVE_INITIATE_MIN_BYTES + wire_size);
    CHECK (s_forger_read_initiate (&forger, command, size, wire, wire_size));
    free (command);
    free (again.data);
    curve_codec_destroy (&client);
}


//  --------------------------------------------------------------------------
//  Targets

//  The metadata and the names to look up, from the input
static const uint8_t *
s_metadata_from (reader_t *reader, int flags, size_t *size_p)
{
    size_t max = (flags & FLAG_SIZE)? s_u16 (reader): SIZE_MAX;
    return s_take (reader, max, size_p);
}

//  Server: INITIATE with the input as metadata
static void
s_target_server_initiate (reader_t *reader)
{
    int flags = s_u8 (reader);
    size_t limit = CURVE_METADATA_MAX_DEFAULT;
    if (flags & FLAG_LIMIT)
        limit = s_u16 (reader);
    size_t size;
    const uint8_t *input = s_metadata_from (reader, flags, &size);
    uint8_t *wire = s_dup (input, size);
    curve_codec_t *server = s_new_server ();
    if (flags & FLAG_LIMIT)
        curve_codec_set_metadata_max (server, limit);
    //  The server's own metadata goes back in READY
    CHECK (curve_codec_set_metadata (server, "Socket-Type", "ROUTER", 6)
           == 0);

    forger_t forger;
    s_forger_init (&forger, false);
    size_t command_size;
    uint8_t *command = s_forge_hello (&forger, NULL, 0);
    CHECK (s_recv (server, command, CURVE_HELLO_BYTES) == 0);
    free (command);
    command = s_take_command (server, &command_size);
    CHECK (s_forger_open_welcome (&forger, command, command_size));
    free (command);
    s_check_empty (server);
    command = s_forge_initiate (&forger, NULL, 0, wire, size, &command_size);
    int rc = s_recv (server, command, command_size);
    curve_error_t last = curve_codec_last_error (server);
    free (command);

    bool valid = s_metadata_parse (wire, size, NULL, 0) >= 0;
    if (size > limit)
        CHECK (rc == -1 && last == CURVE_ERR_TOO_LARGE);
    else
    if (!valid)
        CHECK (rc == -1 && last == CURVE_ERR_METADATA);
    else
        CHECK (rc == 0);
    if (rc == 0) {
        CHECK (curve_codec_state (server) == CURVE_CODEC_AUTH);
        s_check_view (server, wire, size, reader);
        if (flags & FLAG_ROUND_TRIP)
            s_round_trip (server, wire, size);
        //  Allowed: READY carries the server's metadata, and what the
        //  client sent stays as it was
        CHECK (curve_codec_allow (server) == 0);
        command = s_take_command (server, &command_size);
        buffer_t ours = { NULL, 0 };
        s_metadata_add (&ours, "Socket-Type", (const uint8_t *) "ROUTER", 6);
        CHECK (s_forger_open_ready (&forger, command, command_size,
                                    ours.data, ours.size));
        free (ours.data);
        free (command);
        s_check_view (server, wire, size, reader);
    }
    else {
        CHECK (curve_codec_state (server) & CURVE_CODEC_FAILED);
        s_check_empty (server);
    }
    free (wire);
    curve_codec_destroy (&server);
}

//  Client: READY with the input as metadata
static void
s_target_client_ready (reader_t *reader)
{
    int flags = s_u8 (reader);
    size_t limit = CURVE_METADATA_MAX_DEFAULT;
    if (flags & FLAG_LIMIT)
        limit = s_u16 (reader);
    size_t size;
    const uint8_t *input = s_metadata_from (reader, flags, &size);
    uint8_t *wire = s_dup (input, size);
    curve_codec_t *client = s_new_client ();
    if (flags & FLAG_LIMIT)
        curve_codec_set_metadata_max (client, limit);

    forger_t forger;
    s_forger_init (&forger, true);
    size_t command_size;
    uint8_t *command = s_take_command (client, &command_size);
    s_forger_read_hello (&forger, command, command_size);
    free (command);
    command = s_forge_welcome (&forger, NULL, 0);
    CHECK (s_recv (client, command, CURVE_WELCOME_BYTES) == 0);
    free (command);
    command = s_take_command (client, &command_size);
    CHECK (s_forger_read_initiate (&forger, command, command_size, NULL, 0));
    free (command);
    s_check_empty (client);
    command = s_forge_ready (&forger, s_forger_nonce (&forger, NULL, false),
                             wire, size, &command_size);
    int rc = s_recv (client, command, command_size);
    curve_error_t last = curve_codec_last_error (client);
    free (command);

    bool valid = s_metadata_parse (wire, size, NULL, 0) >= 0;
    if (size > limit)
        CHECK (rc == -1 && last == CURVE_ERR_TOO_LARGE);
    else
    if (!valid)
        CHECK (rc == -1 && last == CURVE_ERR_METADATA);
    else
        CHECK (rc == 0);
    if (rc == 0) {
        CHECK (curve_codec_state (client) == CURVE_CODEC_READY);
        s_check_view (client, wire, size, reader);
        if (flags & FLAG_ROUND_TRIP)
            s_round_trip (client, wire, size);
    }
    else {
        CHECK (curve_codec_state (client) & CURVE_CODEC_FAILED);
        s_check_empty (client);
    }
    free (wire);
    curve_codec_destroy (&client);
}

//  Fuzzed names and values set on both ends: each end's command carries
//  exactly our encoding of the valid ones, and the other end (the forger
//  sending the same octets back) sees them as we do
static void
s_target_set (reader_t *reader)
{
    //  Client: INITIATE
    curve_codec_t *client = s_new_client ();
    buffer_t wire = { NULL, 0 };
    s_set_from_input (client, reader, &wire);
    forger_t forger;
    s_forger_init (&forger, true);
    size_t size;
    uint8_t *command = s_take_command (client, &size);
    s_forger_read_hello (&forger, command, size);
    free (command);
    //  HELLO is out: metadata can still change until INITIATE is made
    s_set_from_input (client, reader, &wire);
    command = s_forge_welcome (&forger, NULL, 0);
    CHECK (s_recv (client, command, CURVE_WELCOME_BYTES) == 0);
    free (command);
    command = s_take_command (client, &size);
    CHECK (size == CURVE_INITIATE_MIN_BYTES + wire.size);
    CHECK (s_forger_read_initiate (&forger, command, size, wire.data,
                                   wire.size));
    free (command);
    CHECK (curve_codec_set_metadata (client, "Late", "x", 1) == -1);
    CHECK (curve_codec_last_error (client) == CURVE_ERR_STATE);
    //  The same octets back in READY
    command = s_forge_ready (&forger, s_forger_nonce (&forger, NULL, false),
                             wire.data, wire.size, &size);
    int rc = s_recv (client, command, size);
    free (command);
    if (wire.size > CURVE_METADATA_MAX_DEFAULT)
        CHECK (rc == -1
            && curve_codec_last_error (client) == CURVE_ERR_TOO_LARGE);
    else {
        CHECK (rc == 0);
        s_check_view (client, wire.data, wire.size, reader);
    }
    curve_codec_destroy (&client);
    free (wire.data);

    //  Server: READY
    curve_codec_t *server = s_new_server ();
    wire.data = NULL;
    wire.size = 0;
    s_set_from_input (server, reader, &wire);
    s_forger_init (&forger, false);
    command = s_forge_hello (&forger, NULL, 0);
    CHECK (s_recv (server, command, CURVE_HELLO_BYTES) == 0);
    free (command);
    command = s_take_command (server, &size);
    CHECK (s_forger_open_welcome (&forger, command, size));
    free (command);
    command = s_forge_initiate (&forger, NULL, 0, wire.data, wire.size,
                                &size);
    rc = s_recv (server, command, size);
    free (command);
    if (wire.size > CURVE_METADATA_MAX_DEFAULT)
        CHECK (rc == -1
            && curve_codec_last_error (server) == CURVE_ERR_TOO_LARGE);
    else {
        CHECK (rc == 0);
        s_check_view (server, wire.data, wire.size, reader);
        CHECK (curve_codec_allow (server) == 0);
        command = s_take_command (server, &size);
        CHECK (size == CURVE_READY_MIN_BYTES + wire.size);
        CHECK (s_forger_open_ready (&forger, command, size, wire.data,
                                    wire.size));
        free (command);
        CHECK (curve_codec_set_metadata (server, "Late", "x", 1) == -1);
        CHECK (curve_codec_last_error (server) == CURVE_ERR_STATE);
    }
    curve_codec_destroy (&server);
    free (wire.data);
}


//  --------------------------------------------------------------------------
//  libFuzzer entry points

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    CHECK (sodium_init () >= 0);
    s_seed_keypair (s_server_public, s_server_secret, 'S');
    s_seed_keypair (s_client_public, s_client_secret, 'C');
    uint8_t other_public [KEY_BYTES];
    s_seed_keypair (other_public, s_other_secret, 'O');
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  Same input, same run
    s_random_calls = 0;
    curve_codec_test_set_random (s_random, NULL);
    if (size == 0)
        return 0;
    reader_t reader = { data, size };
    switch (s_u8 (&reader) % TARGET_COUNT) {
        case TARGET_SERVER_INITIATE:
            s_target_server_initiate (&reader);
            break;
        case TARGET_CLIENT_READY:
            s_target_client_ready (&reader);
            break;
        default:
            s_target_set (&reader);
            break;
    }
    return 0;
}
