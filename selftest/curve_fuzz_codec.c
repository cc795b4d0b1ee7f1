/*  =========================================================================
    curve_fuzz_codec - libFuzzer harness for the curve_codec class

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_fuzz_codec feeds fuzz input to every input path of curve_codec,
    for both roles and in every state, and checks the codec's invariants
    after every call. It is built with -fsanitize=fuzzer when CURVE_FUZZ is
    on; selftest/fuzz.sh builds it and runs it on the seed corpus in
    selftest/corpus/codec.
@discuss
    Input layout: octet 0 picks a target (a role and a state, see target_t).
    For the targets that take one command, octet 1 picks where the command
    comes from (see source_t):
        - raw: the rest of the input, as is;
        - mutate: a genuine command made by a real peer codec in that
          state, then changed by the rest of the input (XOR, truncation,
          extension, overwrite, splice, bit flips) so that fuzzing gets past
          the size and name checks into the crypto;
        - forge: a command built here, with real keys and real boxes, whose
          fields (nonces, keys, cookie, vouch, flags, metadata) come from
          the input, so that fuzzing reaches the code behind the boxes,
          above all the metadata parser.
    The sequence, auth and failed targets read the rest of the input as a
    list of calls (see s_run_calls) on a live client/server pair.

    Every run is deterministic: the codec's random source is a counter-fed
    randombytes_buf_deterministic, reset for each input, and every key pair
    comes from a constant seed. A crash file replays exactly; with
    CURVE_FUZZ_TRACE set in the environment every recv and decode is traced
    with its result and the codec's reason.

    Invariants are checked with CHECK, which aborts even under NDEBUG.
    Commands handed to the codec sit at the very end of a page followed by
    an inaccessible page, so that an overread is caught even inside
    libsodium, which AddressSanitizer does not see into. CHECK, the input
    reader, the random source, the forger and our reading of the metadata
    grammar are in curve_fuzz_forge.h, shared with the other harnesses.
@end
*/

#ifndef _DEFAULT_SOURCE
#   define _DEFAULT_SOURCE          //  mmap's MAP_ANONYMOUS under plain C99
#endif
#ifndef CURVE_CODEC_ONLY
#   define CURVE_CODEC_ONLY
#endif
#include "../src/curve_classes.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

//  libFuzzer entry points
int
    LLVMFuzzerInitialize (int *argc, char ***argv);
int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CURVE_FUZZ_NAME "curve_fuzz_codec"
#include "curve_fuzz_forge.h"     //  CHECK, reader, forger, reference parser

#define QUEUE_MAX        4      //  MESSAGEs in flight towards each end
#define CALLS_MAX        64     //  Calls made for one input
#define PROPS_CHECKED    32     //  Metadata properties checked one by one
#define NAME_BUFFER      300    //  Room for a fuzzed property name

//  Short names for the state bits
#define ST_SEND     CURVE_CODEC_SEND
#define ST_RECV     CURVE_CODEC_RECV
#define ST_AUTH     CURVE_CODEC_AUTH
#define ST_READY    CURVE_CODEC_READY
#define ST_FAILED   CURVE_CODEC_FAILED
#define ST_PHASES   (ST_RECV | ST_AUTH | ST_READY | ST_FAILED)
#define ST_ALL      (ST_PHASES | ST_SEND)

//  What the first octet picks
typedef enum {
    TARGET_SERVER_HELLO,            //  Server expecting HELLO
    TARGET_SERVER_INITIATE,         //  Server expecting INITIATE
    TARGET_CLIENT_WELCOME,          //  Client expecting WELCOME
    TARGET_CLIENT_READY,            //  Client expecting READY or ERROR
    TARGET_SERVER_AUTH,             //  Server awaiting allow or deny
    TARGET_SERVER_MESSAGE,          //  Ready server decoding MESSAGEs
    TARGET_CLIENT_MESSAGE,          //  Ready client decoding MESSAGEs
    TARGET_FAILED,                  //  Both roles after a failure
    TARGET_METADATA,                //  Metadata set by callers, both ways
    TARGET_CLIENT_KEY,              //  Client made with any server key
    TARGET_SEQUENCE,                //  Any call in any order on a pair
    TARGET_COUNT
} target_t;

//  Where a target's command comes from
typedef enum {
    SOURCE_RAW,                     //  The rest of the input
    SOURCE_MUTATE,                  //  A genuine command, mutated
    SOURCE_FORGE,                   //  Built here from input fields
    SOURCE_COUNT
} source_t;

//  How a genuine command is mutated
typedef enum {
    MUTATE_NONE,                    //  Left as is
    MUTATE_XOR,                     //  XOR the input in at an offset
    MUTATE_TRUNCATE,                //  Cut short
    MUTATE_APPEND,                  //  Input appended
    MUTATE_OVERWRITE,               //  Input written over, same size
    MUTATE_SPLICE,                  //  Tail replaced by the input
    MUTATE_FLIPS,                   //  Octets XORed at input positions
    MUTATE_COUNT
} mutation_t;


//  Trace every call (set CURVE_FUZZ_TRACE in the environment to replay a
//  crash file with a trace)
static bool s_trace = false;

static const uint8_t s_ping [] = "curve";

//  True if the key, a little-endian number, is below 2^255 - 19: the only
//  form of a public key the codec accepts
static bool
s_key_canonical (const uint8_t *key)
{
    uint8_t prime [KEY_BYTES];
    memset (prime, 0xFF, sizeof prime);
    prime [0] = 0xED;
    prime [31] = 0x7F;
    for (int index = KEY_BYTES - 1; index >= 0; index--) {
        if (key [index] != prime [index])
            return key [index] < prime [index];
    }
    return false;
}


//  --------------------------------------------------------------------------
//  Invariants that hold for any codec at any time

static void
s_check_error_name (curve_error_t error)
{
    const char *name = curve_codec_error_name (error);
    CHECK (name);
    CHECK (strncmp (name, "CURVE_", 6) == 0);
    CHECK (strcmp (name, "CURVE_ERR_UNKNOWN") != 0);
}

//  The peer metadata as the codec lists it must be well formed and its
//  look-ups must find the first property of a name, in any case
static void
s_check_metadata_view (curve_codec_t *codec)
{
    size_t count = curve_codec_metadata_count (codec);
    size_t checked = count < 8? count: 8;
    for (size_t index = 0; index < checked; index++) {
        const char *name = NULL;
        const uint8_t *value = NULL;
        size_t name_size = 0, value_size = 0;
        CHECK (curve_codec_metadata_at (codec, index, &name, &name_size,
                                        &value, &value_size) == 0);
        CHECK (name && value);
        CHECK (s_name_ok ((const uint8_t *) name, name_size));
        char key [CURVE_METADATA_NAME_MAX + 1];
        memcpy (key, name, name_size);
        key [name_size] = 0;
        size_t found_size = 0;
        const uint8_t *found = curve_codec_metadata (codec, key, &found_size);
        CHECK (found);
        if (found == value)
            CHECK (found_size == value_size);
        CHECK (curve_codec_metadata (codec, key, NULL) == found);
        CHECK (curve_codec_metadata_at (codec, index, NULL, NULL, NULL, NULL)
               == 0);
    }
    CHECK (curve_codec_metadata_at (codec, count, NULL, NULL, NULL, NULL)
           == -1);
    CHECK (curve_codec_metadata_at (codec, SIZE_MAX, NULL, NULL, NULL, NULL)
           == -1);
    if (count == 0) {
        size_t size = 1;
        CHECK (curve_codec_metadata (codec, "Identity", &size) == NULL);
        CHECK (size == 0);
    }
}

static void
s_check_codec (curve_codec_t *codec)
{
    int state = curve_codec_state (codec);
    int phase = state & ST_PHASES;
    bool is_server = curve_codec_is_server (codec);
    curve_error_t error = curve_codec_error (codec);

    //  Exactly one phase; FAILED never with RECV, AUTH or READY
    CHECK ((state & ~ST_ALL) == 0);
    CHECK (phase == ST_RECV || phase == ST_AUTH
        || phase == ST_READY || phase == ST_FAILED);
    CHECK ((error != CURVE_OK) == (phase == ST_FAILED));
    if (phase == ST_AUTH)
        CHECK (is_server && !(state & ST_SEND));
    if (phase == ST_FAILED && (state & ST_SEND))
        CHECK (is_server && error == CURVE_ERR_DENIED);
    if (phase == ST_READY && (state & ST_SEND))
        CHECK (is_server);
    if (error == CURVE_ERR_REJECTED)
        CHECK (!is_server);
    if (error == CURVE_ERR_DENIED)
        CHECK (is_server);

    //  Names and texts are always there, terminated and bounded
    s_check_error_name (error);
    s_check_error_name (curve_codec_last_error (codec));
    const char *reason = curve_codec_reason (codec);
    CHECK (reason);
    CHECK (strlen (reason) < 1024);
    const char *text = curve_codec_error_text (codec);
    CHECK (text);
    CHECK (strlen (text) <= CURVE_REASON_MAX);
    for (const char *scan = text; *scan; scan++)
        CHECK (*scan >= 0x20 && *scan <= 0x7E);

    //  The pending command is the one this state sends
    size_t size = 12345;
    const uint8_t *command = curve_codec_send_buf (codec, &size);
    CHECK ((command != NULL) == (size > 0));
    CHECK ((size > 0) == ((state & ST_SEND) != 0));
    if (command) {
        if (!is_server)
            CHECK (phase == ST_RECV
               && ((s_is (command, size, "\x05HELLO")
                    && size == CURVE_HELLO_BYTES)
               ||  (s_is (command, size, "\x08INITIATE")
                    && size >= CURVE_INITIATE_MIN_BYTES)));
        else
        if (phase == ST_RECV)
            CHECK (s_is (command, size, "\x07WELCOME")
                && size == CURVE_WELCOME_BYTES);
        else
        if (phase == ST_READY)
            CHECK (s_is (command, size, "\x05READY")
                && size >= CURVE_READY_MIN_BYTES);
        else {
            CHECK (phase == ST_FAILED);
            CHECK (s_is (command, size, "\x05" "ERROR")
                && size >= CURVE_ERROR_MIN_BYTES
                && size == (size_t) CURVE_ERROR_MIN_BYTES + command [6]);
        }
    }
    //  A client knows the server's key from the start, a server once
    //  INITIATE has verified
    const uint8_t *peer_key = curve_codec_peer_key (codec);
    if (!is_server || phase == ST_AUTH || phase == ST_READY)
        CHECK (peer_key);
    s_check_metadata_view (codec);
}


//  --------------------------------------------------------------------------
//  Checked calls: each wraps one codec call, checks what the contract says
//  of its result and of the state before and after, then checks the codec.

static curve_codec_t *
s_new_client (void)
{
    curve_codec_t *client = curve_codec_new_client (
        s_client_public, s_client_secret, s_server_public);
    CHECK (client);
    CHECK (curve_codec_state (client) == (ST_SEND | ST_RECV));
    CHECK (!curve_codec_is_server (client));
    CHECK (memcmp (curve_codec_peer_key (client), s_server_public,
                   KEY_BYTES) == 0);
    s_check_codec (client);
    return client;
}

static curve_codec_t *
s_new_server (void)
{
    curve_codec_t *server = curve_codec_new_server (
        s_server_public, s_server_secret);
    CHECK (server);
    CHECK (curve_codec_state (server) == ST_RECV);
    CHECK (curve_codec_is_server (server));
    CHECK (curve_codec_peer_key (server) == NULL);
    s_check_codec (server);
    return server;
}

static int
s_recv (curve_codec_t *codec, const uint8_t *data, size_t size)
{
    int before = curve_codec_state (codec);
    curve_error_t error_before = curve_codec_error (codec);
    bool is_server = curve_codec_is_server (codec);
    fenced_t fenced = s_fenced_new (data, size);
    int rc = curve_codec_recv (codec, fenced.data, size);
    int after = curve_codec_state (codec);
    curve_error_t last = curve_codec_last_error (codec);
    if (s_trace)
        fprintf (stderr, "trace: %s recv %zu octets: rc=%d state=%02x->%02x "
                 "%s (%s)\n", is_server? "server": "client", size, rc,
                 before, after, curve_codec_error_name (last),
                 curve_codec_reason (codec));

    CHECK (rc == 0 || rc == -1);
    bool can_recv = before == ST_RECV;
    if (!can_recv)
        CHECK (rc == -1 && last == CURVE_ERR_STATE);
    if (rc == 0) {
        if (is_server && s_is (data, size, "\x05HELLO"))
            CHECK (after == (ST_SEND | ST_RECV));
        else
        if (is_server) {
            CHECK (s_is (data, size, "\x08INITIATE"));
            CHECK (after == ST_AUTH);
            CHECK (curve_codec_peer_key (codec));
        }
        else
        if (s_is (data, size, "\x07WELCOME"))
            CHECK (after == (ST_SEND | ST_RECV));
        else {
            CHECK (s_is (data, size, "\x05READY"));
            CHECK (after == ST_READY);
        }
    }
    else
    if (last == CURVE_ERR_STATE) {
        //  Refused for the state: nothing changes
        CHECK (after == before);
        CHECK (curve_codec_error (codec) == error_before);
    }
    else {
        //  A bad command fails the handshake for good
        CHECK (can_recv);
        CHECK (after == ST_FAILED);
        CHECK (curve_codec_error (codec) == last);
        CHECK (last != CURVE_OK && last != CURVE_ERR_DENIED
            && last != CURVE_ERR_FLAGS && last != CURVE_ERR_NONCE_EXHAUSTED);
        if (last == CURVE_ERR_REJECTED)
            CHECK (!is_server && s_is (data, size, "\x05" "ERROR"));
        CHECK (strlen (curve_codec_reason (codec)) > 0);
    }
    s_fenced_destroy (&fenced);
    s_check_codec (codec);
    return rc;
}

//  Decode a copy of msg; on success store a copy of the payload, which the
//  caller frees, if payload_p is not NULL
static int
s_decode_with (curve_codec_t *codec, const uint8_t *msg, size_t size,
               bool outputs, uint8_t **payload_p, size_t *payload_size_p,
               int *flags_p)
{
    int before = curve_codec_state (codec);
    curve_error_t error_before = curve_codec_error (codec);
    fenced_t fenced = s_fenced_new (msg, size);
    uint8_t *data = NULL;
    size_t data_size = SIZE_MAX;
    int flags = -1;
    int rc;
    if (outputs)
        rc = curve_codec_decode (codec, fenced.data, size,
                                 &data, &data_size, &flags);
    else {
        //  Outputs not wanted: what they would be is known
        rc = curve_codec_decode (codec, fenced.data, size, NULL, NULL, NULL);
        if (rc == 0) {
            data = fenced.data + CURVE_MESSAGE_PAYLOAD_OFFSET;
            data_size = size - CURVE_MESSAGE_OVERHEAD;
            flags = 0;
        }
    }
    curve_error_t last = curve_codec_last_error (codec);
    if (s_trace)
        fprintf (stderr, "trace: %s decode %zu octets: rc=%d %s (%s)\n",
                 curve_codec_is_server (codec)? "server": "client", size, rc,
                 curve_codec_error_name (last), curve_codec_reason (codec));

    //  Decoding never changes the state, whatever comes in
    CHECK (curve_codec_state (codec) == before);
    CHECK (curve_codec_error (codec) == error_before);
    if (rc == 0) {
        CHECK (before & ST_READY);
        CHECK (size >= CURVE_MESSAGE_MIN_BYTES);
        CHECK (data == fenced.data + CURVE_MESSAGE_PAYLOAD_OFFSET);
        CHECK (data_size == size - CURVE_MESSAGE_OVERHEAD);
        CHECK (data + data_size == fenced.data + size);
        CHECK (flags >= 0
           && (flags & ~(CURVE_FLAG_MORE | CURVE_FLAG_COMMAND)) == 0);
        if (payload_p)
            *payload_p = s_dup (data, data_size);
        if (payload_size_p)
            *payload_size_p = data_size;
        if (flags_p)
            *flags_p = flags;
    }
    else {
        CHECK (rc == -1);
        CHECK (last == CURVE_ERR_STATE || last == CURVE_ERR_MALFORMED
            || last == CURVE_ERR_NONCE || last == CURVE_ERR_BOX
            || last == CURVE_ERR_FLAGS);
        if (!(before & ST_READY))
            CHECK (last == CURVE_ERR_STATE);
        else
        if (size < CURVE_MESSAGE_MIN_BYTES)
            CHECK (last == CURVE_ERR_MALFORMED);
        if (payload_p)
            *payload_p = NULL;
    }
    s_fenced_destroy (&fenced);
    s_check_codec (codec);
    return rc;
}

static int
s_decode (curve_codec_t *codec, const uint8_t *msg, size_t size,
          uint8_t **payload_p, size_t *payload_size_p, int *flags_p)
{
    return s_decode_with (codec, msg, size, true,
                          payload_p, payload_size_p, flags_p);
}

//  Encode a payload; returns the MESSAGE (caller frees) or NULL
static uint8_t *
s_encode (curve_codec_t *codec, const uint8_t *payload, size_t size,
          int flags, bool in_place, size_t *msg_size_p)
{
    int before = curve_codec_state (codec);
    size_t msg_size = curve_codec_message_size (size);
    CHECK (msg_size == size + CURVE_MESSAGE_OVERHEAD);
    uint8_t *msg = (uint8_t *) malloc (msg_size);
    CHECK (msg);
    const uint8_t *data = payload;
    if (in_place) {
        if (size)
            memcpy (msg + CURVE_MESSAGE_PAYLOAD_OFFSET, payload, size);
        data = msg + CURVE_MESSAGE_PAYLOAD_OFFSET;
    }
    int rc = curve_codec_encode (codec, data, size, flags, msg, msg_size);
    curve_error_t last = curve_codec_last_error (codec);
    CHECK (curve_codec_state (codec) == before);
    bool can_send = before == ST_READY;
    bool flags_ok = (flags & ~(CURVE_FLAG_MORE | CURVE_FLAG_COMMAND)) == 0;
    if (rc == 0) {
        CHECK (can_send && flags_ok);
        CHECK (s_is (msg, msg_size, "\x07MESSAGE"));
        *msg_size_p = msg_size;
    }
    else {
        CHECK (rc == -1);
        CHECK (last == CURVE_ERR_STATE || last == CURVE_ERR_FLAGS
            || last == CURVE_ERR_NONCE_EXHAUSTED);
        if (!can_send)
            CHECK (last == CURVE_ERR_STATE);
        else
        if (flags_ok)
            CHECK (last == CURVE_ERR_NONCE_EXHAUSTED);
        free (msg);
        msg = NULL;
    }
    s_check_codec (codec);
    return msg;
}

static int
s_allow (curve_codec_t *codec)
{
    int before = curve_codec_state (codec);
    int rc = curve_codec_allow (codec);
    int after = curve_codec_state (codec);
    if (before == ST_AUTH) {
        if (rc == 0)
            CHECK (after == (ST_READY | ST_SEND));
        else
            CHECK (rc == -1 && after == ST_FAILED);
    }
    else {
        CHECK (rc == -1);
        CHECK (curve_codec_last_error (codec) == CURVE_ERR_STATE);
        CHECK (after == before);
    }
    s_check_codec (codec);
    return rc;
}

static int
s_deny (curve_codec_t *codec, const char *reason)
{
    int before = curve_codec_state (codec);
    bool valid = true;
    size_t length = reason? strlen (reason): 0;
    if (length > CURVE_REASON_MAX)
        valid = false;
    for (size_t index = 0; index < length; index++)
        if (reason [index] < 0x20 || reason [index] > 0x7E)
            valid = false;
    int rc = curve_codec_deny (codec, reason);
    int after = curve_codec_state (codec);
    curve_error_t last = curve_codec_last_error (codec);
    if (before != ST_AUTH) {
        CHECK (rc == -1 && last == CURVE_ERR_STATE && after == before);
    }
    else
    if (!valid) {
        CHECK (rc == -1 && last == CURVE_ERR_MALFORMED && after == before);
    }
    else {
        CHECK (rc == 0);
        CHECK (after == (ST_FAILED | ST_SEND));
        CHECK (curve_codec_error (codec) == CURVE_ERR_DENIED);
        CHECK (strcmp (curve_codec_error_text (codec), reason? reason: "")
               == 0);
        size_t size;
        const uint8_t *command = curve_codec_send_buf (codec, &size);
        CHECK (command && size == CURVE_ERROR_MIN_BYTES + length);
        CHECK (command [6] == length);
        CHECK (length == 0 || memcmp (command + 7, reason, length) == 0);
    }
    s_check_codec (codec);
    return rc;
}

static int
s_set_metadata (curve_codec_t *codec, const char *name,
                const uint8_t *value, size_t size)
{
    int before = curve_codec_state (codec);
    curve_error_t error_before = curve_codec_error (codec);
    bool valid = s_name_ok ((const uint8_t *) name, strlen (name));
    int rc = curve_codec_set_metadata (codec, name, value, size);
    curve_error_t last = curve_codec_last_error (codec);
    CHECK (curve_codec_state (codec) == before);
    CHECK (curve_codec_error (codec) == error_before);
    if (rc == 0)
        CHECK (valid && !(before & ST_FAILED));
    else {
        CHECK (rc == -1);
        CHECK (last == CURVE_ERR_STATE || last == CURVE_ERR_METADATA
            || last == CURVE_ERR_TOO_LARGE || last == CURVE_ERR_INTERNAL);
        if (last == CURVE_ERR_METADATA)
            CHECK (!valid);
        if (before & ST_FAILED)
            CHECK (last == CURVE_ERR_STATE);
    }
    s_check_codec (codec);
    return rc;
}

//  Take a copy of the pending command, if any, and acknowledge it
static uint8_t *
s_take_command (curve_codec_t *codec, size_t *size_p)
{
    int before = curve_codec_state (codec);
    size_t size = 0;
    const uint8_t *command = curve_codec_send_buf (codec, &size);
    *size_p = size;
    uint8_t *copy = command? s_dup (command, size): NULL;
    curve_codec_send_ack (codec);
    CHECK (curve_codec_state (codec) == (before & ~ST_SEND));
    CHECK (curve_codec_send_buf (codec, &size) == NULL && size == 0);
    s_check_codec (codec);
    return copy;
}

//  Every call on a failed codec is refused for the state
static void
s_check_refuses (curve_codec_t *codec)
{
    CHECK (curve_codec_state (codec) & ST_FAILED);
    static const uint8_t garbage [CURVE_MESSAGE_MIN_BYTES] = { 7, 'M' };
    CHECK (s_recv (codec, garbage, sizeof garbage) == -1);
    CHECK (curve_codec_last_error (codec) == CURVE_ERR_STATE);
    CHECK (s_decode (codec, garbage, sizeof garbage, NULL, NULL, NULL) == -1);
    CHECK (curve_codec_last_error (codec) == CURVE_ERR_STATE);
    size_t size;
    CHECK (s_encode (codec, s_ping, 5, 0, false, &size) == NULL);
    CHECK (curve_codec_last_error (codec) == CURVE_ERR_STATE);
    CHECK (s_allow (codec) == -1);
    CHECK (s_deny (codec, "no") == -1);
    CHECK (s_set_metadata (codec, "Identity", s_ping, 5) == -1);
    CHECK (curve_codec_last_error (codec) == CURVE_ERR_STATE);
}


//  --------------------------------------------------------------------------
//  Moving commands between two real codecs

//  Move commands between a client and a server until neither has one to
//  send; the server allows (or denies) when asked.
static void
s_pump (curve_codec_t *client, curve_codec_t *server, bool deny)
{
    for (int round = 0; round < 8; round++) {
        bool moved = false;
        size_t size;
        uint8_t *command = s_take_command (client, &size);
        if (command) {
            (void) s_recv (server, command, size);
            free (command);
            moved = true;
        }
        if (curve_codec_state (server) == ST_AUTH) {
            if (deny)
                CHECK (s_deny (server, "fuzz says no") == 0);
            else
                CHECK (s_allow (server) == 0);
            moved = true;
        }
        command = s_take_command (server, &size);
        if (command) {
            (void) s_recv (client, command, size);
            free (command);
            moved = true;
        }
        if (!moved)
            break;
    }
}

//  If both ends are ready, a MESSAGE each way must arrive intact (unless a
//  test hook moved a send nonce by hand: strict is then false).
static void
s_exchange (curve_codec_t *client, curve_codec_t *server, bool strict)
{
    curve_codec_t *ends [2] = { client, server };
    for (int index = 0; index < 2; index++) {
        curve_codec_t *sender = ends [index];
        curve_codec_t *receiver = ends [1 - index];
        if (curve_codec_state (sender) != ST_READY
        ||  !(curve_codec_state (receiver) & ST_READY))
            return;
        int flags = index? CURVE_FLAG_COMMAND: CURVE_FLAG_MORE;
        size_t size;
        uint8_t *msg = s_encode (sender, s_ping, 5, flags, index == 1, &size);
        if (!msg)
            continue;               //  Only if the nonce is exhausted
        uint8_t *payload;
        size_t payload_size;
        int payload_flags;
        int rc = s_decode (receiver, msg, size,
                           &payload, &payload_size, &payload_flags);
        if (strict)
            CHECK (rc == 0);
        if (rc == 0) {
            CHECK (payload_size == 5 && memcmp (payload, s_ping, 5) == 0);
            CHECK (payload_flags == flags);
            free (payload);
        }
        free (msg);
    }
}

//  Drive a fresh pair through a genuine handshake to server AUTH
static void
s_handshake_to_auth (curve_codec_t *client, curve_codec_t *server)
{
    size_t size;
    uint8_t *command = s_take_command (client, &size);
    CHECK (command && s_recv (server, command, size) == 0);
    free (command);
    command = s_take_command (server, &size);
    CHECK (command && s_recv (client, command, size) == 0);
    free (command);
    command = s_take_command (client, &size);
    CHECK (command && s_recv (server, command, size) == 0);
    free (command);
    CHECK (curve_codec_state (server) == ST_AUTH);
    CHECK (memcmp (curve_codec_peer_key (server), s_client_public,
                   KEY_BYTES) == 0);
}

//  Drive a fresh pair to READY at both ends
static void
s_handshake (curve_codec_t *client, curve_codec_t *server)
{
    s_handshake_to_auth (client, server);
    CHECK (s_allow (server) == 0);
    size_t size;
    uint8_t *command = s_take_command (server, &size);
    CHECK (command && s_recv (client, command, size) == 0);
    free (command);
    CHECK (curve_codec_state (client) == ST_READY);
    CHECK (curve_codec_state (server) == ST_READY);
}


//  --------------------------------------------------------------------------
//  Mutating a genuine command. Returns a new buffer of *size_p octets.

static uint8_t *
s_mutate (reader_t *reader, const uint8_t *genuine, size_t genuine_size,
          size_t *size_p)
{
    int kind = s_u8 (reader) % MUTATE_COUNT;
    size_t offset = 0, rest_size = 0, size = genuine_size;
    const uint8_t *rest = NULL;
    uint8_t *out = NULL;
    switch (kind) {
        case MUTATE_XOR:
            offset = s_u16 (reader) % (genuine_size + 1);
            rest = s_take (reader, SIZE_MAX, &rest_size);
            out = s_dup (genuine, size);
            for (size_t index = 0;
                 index < rest_size && offset + index < size; index++)
                out [offset + index] ^= rest [index];
            break;
        case MUTATE_TRUNCATE:
            size = s_u16 (reader) % (genuine_size + 1);
            out = s_dup (genuine, size);
            break;
        case MUTATE_APPEND:
            rest = s_take (reader, SIZE_MAX, &rest_size);
            size = genuine_size + rest_size;
            out = (uint8_t *) malloc (size? size: 1);
            CHECK (out);
            if (genuine_size)
                memcpy (out, genuine, genuine_size);
            if (rest_size)
                memcpy (out + genuine_size, rest, rest_size);
            break;
        case MUTATE_OVERWRITE:
            offset = s_u16 (reader) % (genuine_size + 1);
            rest = s_take (reader, genuine_size - offset, &rest_size);
            out = s_dup (genuine, size);
            if (rest_size)
                memcpy (out + offset, rest, rest_size);
            break;
        case MUTATE_SPLICE:
            offset = s_u16 (reader) % (genuine_size + 1);
            rest = s_take (reader, SIZE_MAX, &rest_size);
            size = offset + rest_size;
            out = (uint8_t *) malloc (size? size: 1);
            CHECK (out);
            if (offset)
                memcpy (out, genuine, offset);
            if (rest_size)
                memcpy (out + offset, rest, rest_size);
            break;
        case MUTATE_FLIPS:
            out = s_dup (genuine, size);
            while (size && reader->size >= 3) {
                size_t pos = s_u16 (reader) % size;
                out [pos] ^= s_u8 (reader);
            }
            break;
        default:
            out = s_dup (genuine, size);
            break;
    }
    *size_p = size;
    return out;
}

//  The command from the input: raw, or the genuine one mutated
static uint8_t *
s_command_from (reader_t *reader, int source, const uint8_t *genuine,
                size_t genuine_size, size_t *size_p)
{
    if (source == SOURCE_RAW) {
        size_t size;
        const uint8_t *data = s_take (reader, SIZE_MAX, &size);
        *size_p = size;
        return s_dup (data, size);
    }
    return s_mutate (reader, genuine, genuine_size, size_p);
}


//  A MESSAGE each way between the forger and a ready codec
static void
s_forger_exchange (forger_t *self, curve_codec_t *codec)
{
    CHECK (curve_codec_state (codec) == ST_READY);
    size_t size;
    uint8_t *msg = s_encode (codec, s_ping, 5, CURVE_FLAG_COMMAND, true,
                             &size);
    CHECK (msg);
    CHECK (s_forger_open_message (self, msg, size, s_ping, 5,
                                  CURVE_FLAG_COMMAND));
    free (msg);
    if (self->send_nonce == 0)
        return;                     //  Our counter wrapped; nothing goes
    msg = s_forge_message (self, self->send_nonce++, CURVE_FLAG_MORE,
                           s_ping, 5, &size);
    uint8_t *payload;
    size_t payload_size;
    int flags;
    CHECK (s_decode (codec, msg, size, &payload, &payload_size, &flags) == 0);
    CHECK (s_same (payload, payload_size, s_ping, 5));
    CHECK (flags == CURVE_FLAG_MORE);
    free (payload);
    free (msg);
}

//  The codec accepted metadata: it must list exactly what was sent
static void
s_check_peer_metadata (curve_codec_t *codec, const uint8_t *wire,
                       size_t size)
{
    property_t properties [PROPS_CHECKED];
    long count = s_metadata_parse (wire, size, properties, PROPS_CHECKED);
    CHECK (count >= 0);
    CHECK (curve_codec_metadata_count (codec) == (size_t) count);
    size_t checked = (size_t) count < PROPS_CHECKED?
                     (size_t) count: PROPS_CHECKED;
    for (size_t index = 0; index < checked; index++) {
        property_t *property = &properties [index];
        const char *name;
        const uint8_t *value;
        size_t name_size, value_size;
        CHECK (curve_codec_metadata_at (codec, index, &name, &name_size,
                                        &value, &value_size) == 0);
        CHECK (s_same ((const uint8_t *) name, name_size,
                       property->name, property->name_size));
        CHECK (s_same (value, value_size,
                       property->value, property->value_size));

        //  Look-up ignores case and finds the first of that name
        size_t first = index;
        for (size_t other = 0; other < index; other++)
            if (s_same_name (properties [other].name,
                             properties [other].name_size,
                             property->name, property->name_size)) {
                first = other;
                break;
            }
        const uint8_t *first_value;
        CHECK (curve_codec_metadata_at (codec, first, NULL, NULL,
                                        &first_value, NULL) == 0);
        char key [CURVE_METADATA_NAME_MAX + 1];
        for (size_t pos = 0; pos < name_size; pos++) {
            char c = name [pos];
            if (c >= 'a' && c <= 'z')
                c = (char) (c - 32);
            else
            if (c >= 'A' && c <= 'Z')
                c = (char) (c + 32);
            key [pos] = c;
        }
        key [name_size] = 0;
        size_t found_size = 0;
        const uint8_t *found = curve_codec_metadata (codec, key, &found_size);
        CHECK (found == first_value);
        CHECK (found_size == properties [first].value_size);
    }
    s_check_metadata_view (codec);
}


//  --------------------------------------------------------------------------
//  Inputs made into call arguments

//  A property name: any octets, NUL-terminated; 255 stands for 255-270
static void
s_fuzz_name (reader_t *reader, char *name)
{
    size_t size = s_u8 (reader);
    if (size == 255)
        size += s_u8 (reader) % 16;
    s_bytes (reader, (uint8_t *) name, size);
    name [size] = 0;
}

//  A deny reason: any octets, NUL-terminated, up to 300 of them
static void
s_fuzz_reason (reader_t *reader, char *reason)
{
    size_t size = s_u16 (reader) % NAME_BUFFER;
    s_bytes (reader, (uint8_t *) reason, size);
    reason [size] = 0;
}


//  --------------------------------------------------------------------------
//  A list of calls on a live pair, read from the input

typedef struct {
    curve_codec_t *codec [2];               //  [0] server, [1] client
    uint8_t *queue [2][QUEUE_MAX];          //  MESSAGEs towards codec [i]
    size_t queue_size [2][QUEUE_MAX];
    bool strict;                            //  No send nonce set by hand
} session_t;

static void
s_session_init (session_t *session, curve_codec_t *server,
                curve_codec_t *client)
{
    memset (session, 0, sizeof *session);
    session->codec [0] = server;
    session->codec [1] = client;
    session->strict = true;
}

static void
s_session_destroy (session_t *session)
{
    for (int side = 0; side < 2; side++) {
        for (int slot = 0; slot < QUEUE_MAX; slot++)
            free (session->queue [side][slot]);
        curve_codec_destroy (&session->codec [side]);
        CHECK (session->codec [side] == NULL);
        curve_codec_destroy (&session->codec [side]);  //  A no-op now
    }
}

static void
s_run_calls (session_t *session, reader_t *reader)
{
    for (int count = 0; count < CALLS_MAX && reader->size; count++) {
        uint8_t call = s_u8 (reader);
        int side = (call >> 4) & 1;
        bool variant = (call & 0x20) != 0;
        curve_codec_t *codec = session->codec [side];
        curve_codec_t *peer = session->codec [!side];
        char text [NAME_BUFFER + 1];
        size_t size;
        switch (call & 0x0F) {
            case 0:
                (void) s_allow (codec);
                break;
            case 1:
                s_fuzz_reason (reader, text);
                (void) s_deny (codec, variant? NULL: text);
                break;
            case 2: {
                const uint8_t *data = s_take (reader, s_u16 (reader), &size);
                (void) s_recv (codec, data, size);
                break;
            }
            case 3: {
                //  Deliver the peer's pending command, maybe with a flip
                uint8_t *command = s_take_command (peer, &size);
                if (command) {
                    if (variant) {
                        size_t pos = s_u16 (reader) % size;
                        command [pos] ^= s_u8 (reader);
                    }
                    (void) s_recv (codec, command, size);
                    free (command);
                }
                break;
            }
            case 4: {
                const uint8_t *data = s_take (reader, s_u8 (reader), &size);
                int flags = s_u8 (reader) % 8;
                size_t msg_size;
                uint8_t *msg = s_encode (codec, data, size, flags, variant,
                                         &msg_size);
                if (msg) {
                    int slot = s_u8 (reader) % QUEUE_MAX;
                    free (session->queue [!side][slot]);
                    session->queue [!side][slot] = msg;
                    session->queue_size [!side][slot] = msg_size;
                }
                break;
            }
            case 5: {
                //  Decode a queued MESSAGE (it stays queued, for replays)
                int slot = s_u8 (reader) % QUEUE_MAX;
                uint8_t *msg = session->queue [side][slot];
                if (msg) {
                    size = session->queue_size [side][slot];
                    uint8_t *copy = s_dup (msg, size);
                    if (variant) {
                        size_t pos = s_u16 (reader) % size;
                        copy [pos] ^= s_u8 (reader);
                    }
                    uint8_t *payload = NULL;
                    (void) s_decode_with (codec, copy, size,
                                          (call & 0x40) == 0,
                                          &payload, NULL, NULL);
                    free (payload);
                    free (copy);
                }
                break;
            }
            case 6: {
                const uint8_t *data = s_take (reader, s_u16 (reader), &size);
                (void) s_decode_with (codec, data, size, !variant,
                                      NULL, NULL, NULL);
                break;
            }
            case 7: {
                s_fuzz_name (reader, text);
                const uint8_t *value = s_take (reader, s_u8 (reader), &size);
                (void) s_set_metadata (codec, text, value, size);
                break;
            }
            case 8:
                curve_codec_set_metadata_max (codec, variant?
                                              SIZE_MAX: s_u16 (reader));
                s_check_codec (codec);
                break;
            case 9:
                free (s_take_command (codec, &size));
                break;
            case 10:
                //  Bring the send counter near its end (test hook)
                if (curve_codec_state (codec) == ST_READY) {
                    curve_codec_test_set_send_nonce (
                        codec, UINT64_MAX - s_u8 (reader) % 4);
                    session->strict = false;
                }
                break;
            case 11: {
                s_fuzz_name (reader, text);
                size = 1;
                const uint8_t *value = curve_codec_metadata (codec, text,
                                                             &size);
                CHECK (value || size == 0);
                const char *name;
                size_t name_size, value_size;
                if (curve_codec_metadata_at (codec, s_u8 (reader), &name,
                                             &name_size, &value,
                                             &value_size) == 0)
                    CHECK (s_name_ok ((const uint8_t *) name, name_size));
                CHECK (curve_codec_error_name (
                       (curve_error_t) s_u8 (reader)) != NULL);
                size = s_u16 (reader);
                CHECK (curve_codec_message_size (size)
                       == size + CURVE_MESSAGE_OVERHEAD);
                break;
            }
            case 12:
                s_exchange (session->codec [1], session->codec [0],
                            session->strict);
                break;
            case 13:
                s_pump (session->codec [1], session->codec [0], variant);
                break;
            default:
                s_check_codec (codec);
                break;
        }
    }
    //  Finish the handshake if it can be, then talk
    s_pump (session->codec [1], session->codec [0], false);
    s_exchange (session->codec [1], session->codec [0], session->strict);
}


//  --------------------------------------------------------------------------
//  Targets

//  Server expecting HELLO
static void
s_target_server_hello (reader_t *reader)
{
    int source = s_u8 (reader) % SOURCE_COUNT;
    curve_codec_t *client = s_new_client ();
    curve_codec_t *server = s_new_server ();
    size_t genuine_size;
    uint8_t *genuine = s_take_command (client, &genuine_size);
    if (source == SOURCE_FORGE) {
        forger_t forger;
        s_forger_init (&forger, false);
        int knobs = s_u8 (reader);
        uint8_t *hello = s_forge_hello (&forger, reader, knobs);
        int rc = s_recv (server, hello, CURVE_HELLO_BYTES);
        if (knobs == 0)
            CHECK (rc == 0);
        free (hello);
        if (rc == 0) {
            //  Go on as a clean client
            size_t size;
            uint8_t *welcome = s_take_command (server, &size);
            bool opened = s_forger_open_welcome (&forger, welcome, size);
            free (welcome);
            if (!(knobs & HELLO_KEY))
                CHECK (opened);
            if (opened) {
                //  A wrapped counter, or a C' that is not ours (the
                //  vouch names ours), must fail; anything else passes
                bool wrapped = forger.send_nonce == 0;
                uint8_t *initiate = s_forge_initiate (&forger, reader, 0,
                                                      NULL, 0, &size);
                rc = s_recv (server, initiate, size);
                free (initiate);
                if (!wrapped && !(knobs & HELLO_KEY))
                    CHECK (rc == 0);
                if (wrapped)
                    CHECK (rc == -1);
                if (rc == 0) {
                    CHECK (s_allow (server) == 0);
                    uint8_t *ready = s_take_command (server, &size);
                    CHECK (s_forger_open_ready (&forger, ready, size,
                                                NULL, 0));
                    free (ready);
                    s_forger_exchange (&forger, server);
                }
            }
        }
    }
    else {
        size_t size;
        uint8_t *hello = s_command_from (reader, source, genuine,
                                         genuine_size, &size);
        int rc = s_recv (server, hello, size);
        if (s_same (hello, size, genuine, genuine_size))
            CHECK (rc == 0);
        free (hello);
        if (rc == 0) {
            s_pump (client, server, false);
            s_exchange (client, server, true);
        }
    }
    free (genuine);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);
}

//  Server expecting INITIATE
static void
s_target_server_initiate (reader_t *reader)
{
    int source = s_u8 (reader) % SOURCE_COUNT;
    curve_codec_t *server = s_new_server ();
    if (source == SOURCE_FORGE) {
        //  A clean HELLO from the forger, then INITIATE as the input says
        forger_t forger;
        s_forger_init (&forger, false);
        uint8_t *hello = s_forge_hello (&forger, reader, 0);
        CHECK (s_recv (server, hello, CURVE_HELLO_BYTES) == 0);
        free (hello);
        size_t size;
        uint8_t *welcome = s_take_command (server, &size);
        CHECK (s_forger_open_welcome (&forger, welcome, size));
        free (welcome);

        int knobs = s_u8 (reader);
        size_t limit = CURVE_METADATA_MAX_DEFAULT;
        if (knobs & INITIATE_LIMIT) {
            limit = s_u16 (reader);
            curve_codec_set_metadata_max (server, limit);
        }
        //  Metadata octets (any, length first), then the fields
        size_t metadata_size;
        const uint8_t *metadata = s_take (reader, s_u16 (reader),
                                          &metadata_size);
        uint8_t *wire = s_dup (metadata, metadata_size);
        bool valid = s_metadata_parse (wire, metadata_size, NULL, 0) >= 0;
        int fields = knobs & ~(INITIATE_DENY | INITIATE_LIMIT);
        uint8_t *initiate = s_forge_initiate (&forger, reader, fields,
                                              wire, metadata_size, &size);
        CHECK (size == CURVE_INITIATE_MIN_BYTES + metadata_size);
        int rc = s_recv (server, initiate, size);
        curve_error_t last = curve_codec_last_error (server);
        free (initiate);
        if (fields == 0) {
            if (metadata_size > limit)
                CHECK (rc == -1 && last == CURVE_ERR_TOO_LARGE);
            else
            if (!valid)
                CHECK (rc == -1 && last == CURVE_ERR_METADATA);
            else
                CHECK (rc == 0);
        }
        if (rc == 0) {
            //  The box opened, so the server read our metadata
            CHECK (valid && metadata_size <= limit);
            s_check_peer_metadata (server, wire, metadata_size);
            CHECK (memcmp (curve_codec_peer_key (server), forger.public_key,
                           KEY_BYTES) == 0);
            if (knobs & INITIATE_DENY)
                CHECK (s_deny (server, "forged") == 0);
            else {
                CHECK (s_allow (server) == 0);
                uint8_t *ready = s_take_command (server, &size);
                CHECK (s_forger_open_ready (&forger, ready, size, NULL, 0));
                free (ready);
                s_forger_exchange (&forger, server);
            }
        }
        free (wire);
    }
    else {
        curve_codec_t *client = s_new_client ();
        int verdict = s_u8 (reader);
        size_t size;
        uint8_t *command = s_take_command (client, &size);
        CHECK (s_recv (server, command, size) == 0);
        free (command);
        command = s_take_command (server, &size);
        CHECK (s_recv (client, command, size) == 0);
        free (command);
        size_t genuine_size;
        uint8_t *genuine = s_take_command (client, &genuine_size);
        uint8_t *initiate = s_command_from (reader, source, genuine,
                                            genuine_size, &size);
        int rc = s_recv (server, initiate, size);
        if (s_same (initiate, size, genuine, genuine_size))
            CHECK (rc == 0);
        free (initiate);
        free (genuine);
        if (rc == 0) {
            s_pump (client, server, verdict & 1);
            s_exchange (client, server, true);
        }
        curve_codec_destroy (&client);
    }
    curve_codec_destroy (&server);
}

//  Client expecting WELCOME
static void
s_target_client_welcome (reader_t *reader)
{
    int source = s_u8 (reader) % SOURCE_COUNT;
    curve_codec_t *client = s_new_client ();
    size_t size;
    uint8_t *hello = s_take_command (client, &size);
    if (source == SOURCE_FORGE) {
        forger_t forger;
        s_forger_init (&forger, true);
        s_forger_read_hello (&forger, hello, size);
        int knobs = s_u8 (reader);
        uint8_t *welcome = s_forge_welcome (&forger, reader, knobs);
        int rc = s_recv (client, welcome, CURVE_WELCOME_BYTES);
        free (welcome);
        if (knobs == 0)
            CHECK (rc == 0);
        if (rc == 0) {
            CHECK (!(knobs & WELCOME_SIGNER));
            uint8_t *initiate = s_take_command (client, &size);
            bool valid = s_forger_read_initiate (&forger, initiate, size,
                                                 NULL, 0);
            free (initiate);
            if (!(knobs & WELCOME_KEY))
                CHECK (valid);
            if (valid) {
                uint8_t *ready = s_forge_ready (
                    &forger, s_forger_nonce (&forger, reader, false),
                    NULL, 0, &size);
                CHECK (s_recv (client, ready, size) == 0);
                free (ready);
                s_forger_exchange (&forger, client);
            }
        }
    }
    else {
        curve_codec_t *server = s_new_server ();
        CHECK (s_recv (server, hello, size) == 0);
        size_t genuine_size;
        uint8_t *genuine = s_take_command (server, &genuine_size);
        uint8_t *welcome = s_command_from (reader, source, genuine,
                                           genuine_size, &size);
        int rc = s_recv (client, welcome, size);
        if (s_same (welcome, size, genuine, genuine_size))
            CHECK (rc == 0);
        free (welcome);
        free (genuine);
        if (rc == 0) {
            s_pump (client, server, false);
            s_exchange (client, server, true);
        }
        curve_codec_destroy (&server);
    }
    free (hello);
    curve_codec_destroy (&client);
}

//  Client expecting READY (or ERROR)
static void
s_target_client_ready (reader_t *reader)
{
    int source = s_u8 (reader) % SOURCE_COUNT;
    curve_codec_t *client = s_new_client ();
    size_t size;
    if (source == SOURCE_FORGE) {
        forger_t forger;
        s_forger_init (&forger, true);
        uint8_t *command = s_take_command (client, &size);
        s_forger_read_hello (&forger, command, size);
        free (command);
        command = s_forge_welcome (&forger, reader, 0);
        CHECK (s_recv (client, command, CURVE_WELCOME_BYTES) == 0);
        free (command);
        command = s_take_command (client, &size);
        CHECK (s_forger_read_initiate (&forger, command, size, NULL, 0));
        free (command);

        int knobs = s_u8 (reader);
        size_t limit = CURVE_METADATA_MAX_DEFAULT;
        if (knobs & READY_LIMIT) {
            limit = s_u16 (reader);
            curve_codec_set_metadata_max (client, limit);
        }
        if (knobs & READY_ERROR) {
            //  ERROR = name, reason length, reason: the length may lie
            uint8_t length = s_u8 (reader);
            const uint8_t *reason = s_take (reader, 255, &size);
            command = (uint8_t *) malloc (CURVE_ERROR_MIN_BYTES + size);
            CHECK (command);
            memcpy (command, "\x05" "ERROR", 6);
            command [6] = length;
            if (size)
                memcpy (command + 7, reason, size);
            int rc = s_recv (client, command, CURVE_ERROR_MIN_BYTES + size);
            CHECK (rc == -1);
            if (length == size) {
                CHECK (curve_codec_error (client) == CURVE_ERR_REJECTED);
                const char *text = curve_codec_error_text (client);
                CHECK (strlen (text) == size);
                for (size_t index = 0; index < size; index++)
                    CHECK (text [index] == ((reason [index] >= 0x20
                                          && reason [index] < 0x7F)?
                                            (char) reason [index]: '?'));
            }
            else
                CHECK (curve_codec_error (client) == CURVE_ERR_MALFORMED);
            free (command);
        }
        else {
            uint64_t counter = s_forger_nonce (&forger, reader,
                                               knobs & READY_NONCE);
            size_t metadata_size;
            const uint8_t *metadata = s_take (reader, SIZE_MAX,
                                              &metadata_size);
            uint8_t *wire = s_dup (metadata, metadata_size);
            bool valid = s_metadata_parse (wire, metadata_size, NULL, 0) >= 0;
            command = s_forge_ready (&forger, counter, wire, metadata_size,
                                     &size);
            int rc = s_recv (client, command, size);
            curve_error_t last = curve_codec_last_error (client);
            free (command);
            if (!(knobs & READY_NONCE)) {
                if (metadata_size > limit)
                    CHECK (rc == -1 && last == CURVE_ERR_TOO_LARGE);
                else
                if (!valid)
                    CHECK (rc == -1 && last == CURVE_ERR_METADATA);
                else
                    CHECK (rc == 0);
            }
            if (rc == 0) {
                CHECK (valid && metadata_size <= limit);
                s_check_peer_metadata (client, wire, metadata_size);
                s_forger_exchange (&forger, client);
            }
            free (wire);
        }
    }
    else {
        curve_codec_t *server = s_new_server ();
        s_handshake_to_auth (client, server);
        bool allow = (s_u8 (reader) & 1) == 0;
        char reason [NAME_BUFFER + 1] = "";
        if (allow)
            CHECK (s_allow (server) == 0);
        else {
            //  A printable reason from the input
            size_t length = s_u8 (reader);
            s_bytes (reader, (uint8_t *) reason, length);
            for (size_t index = 0; index < length; index++)
                reason [index] = (char) (0x20 + (uint8_t) reason [index] % 95);
            reason [length] = 0;
            CHECK (s_deny (server, reason) == 0);
        }
        size_t genuine_size;
        uint8_t *genuine = s_take_command (server, &genuine_size);
        uint8_t *command = s_command_from (reader, source, genuine,
                                           genuine_size, &size);
        int rc = s_recv (client, command, size);
        if (s_same (command, size, genuine, genuine_size)) {
            if (allow)
                CHECK (rc == 0);
            else {
                CHECK (rc == -1);
                CHECK (curve_codec_error (client) == CURVE_ERR_REJECTED);
                CHECK (strcmp (curve_codec_error_text (client), reason) == 0);
            }
        }
        free (command);
        free (genuine);
        if (rc == 0)
            s_exchange (client, server, true);
        curve_codec_destroy (&server);
    }
    curve_codec_destroy (&client);
}

//  Server awaiting allow or deny: then any calls
static void
s_target_server_auth (reader_t *reader)
{
    curve_codec_t *client = s_new_client ();
    curve_codec_t *server = s_new_server ();
    s_handshake_to_auth (client, server);
    //  Nothing but allow and deny is valid now
    static const uint8_t hello [CURVE_HELLO_BYTES] = { 5, 'H', 'E', 'L', 'L',
                                                       'O', 1 };
    CHECK (s_recv (server, hello, sizeof hello) == -1);
    CHECK (curve_codec_last_error (server) == CURVE_ERR_STATE);
    size_t size;
    CHECK (s_encode (server, s_ping, 5, 0, false, &size) == NULL);
    //  A bad deny reason changes nothing
    char reason [CURVE_REASON_MAX + 2];
    memset (reason, 'x', sizeof reason - 1);
    reason [sizeof reason - 1] = 0;
    CHECK (s_deny (server, reason) == -1);
    reason [CURVE_REASON_MAX] = 0;
    reason [7] = '\t';
    CHECK (s_deny (server, reason) == -1);
    CHECK (curve_codec_state (server) == ST_AUTH);
    session_t session;
    s_session_init (&session, server, client);
    s_run_calls (&session, reader);
    s_session_destroy (&session);
}

//  A ready end decoding MESSAGEs
static void
s_target_message (reader_t *reader, bool server_decodes)
{
    int source = s_u8 (reader) % SOURCE_COUNT;
    if (source == SOURCE_FORGE) {
        //  The forger plays the other end, cleanly, then sends a MESSAGE
        //  with any nonce, flags and payload
        forger_t forger;
        s_forger_init (&forger, !server_decodes);
        curve_codec_t *codec;
        size_t size;
        if (server_decodes) {
            codec = s_new_server ();
            uint8_t *command = s_forge_hello (&forger, reader, 0);
            CHECK (s_recv (codec, command, CURVE_HELLO_BYTES) == 0);
            free (command);
            command = s_take_command (codec, &size);
            CHECK (s_forger_open_welcome (&forger, command, size));
            free (command);
            command = s_forge_initiate (&forger, reader, 0, NULL, 0, &size);
            CHECK (s_recv (codec, command, size) == 0);
            free (command);
            CHECK (s_allow (codec) == 0);
            free (s_take_command (codec, &size));
        }
        else {
            codec = s_new_client ();
            uint8_t *command = s_take_command (codec, &size);
            s_forger_read_hello (&forger, command, size);
            free (command);
            command = s_forge_welcome (&forger, reader, 0);
            CHECK (s_recv (codec, command, CURVE_WELCOME_BYTES) == 0);
            free (command);
            command = s_take_command (codec, &size);
            CHECK (s_forger_read_initiate (&forger, command, size, NULL, 0));
            free (command);
            command = s_forge_ready (&forger,
                                     s_forger_nonce (&forger, reader, false),
                                     NULL, 0, &size);
            CHECK (s_recv (codec, command, size) == 0);
            free (command);
        }
        CHECK (curve_codec_state (codec) == ST_READY);
        uint64_t accepted = forger.last_nonce;
        uint64_t counter = s_u64 (reader);
        uint8_t flags = s_u8 (reader);
        size_t payload_size;
        const uint8_t *payload = s_take (reader, SIZE_MAX, &payload_size);
        uint8_t *msg = s_forge_message (&forger, counter, flags, payload,
                                        payload_size, &size);
        uint8_t *data;
        size_t data_size;
        int data_flags;
        int rc = s_decode (codec, msg, size, &data, &data_size, &data_flags);
        curve_error_t last = curve_codec_last_error (codec);
        free (msg);
        if (counter <= accepted)
            CHECK (rc == -1 && last == CURVE_ERR_NONCE);
        else
        if (flags & ~(CURVE_FLAG_MORE | CURVE_FLAG_COMMAND))
            CHECK (rc == -1 && last == CURVE_ERR_FLAGS);
        else {
            CHECK (rc == 0);
            CHECK (s_same (data, data_size, payload, payload_size));
            CHECK (data_flags == flags);
            free (data);
            accepted = counter;
        }
        //  A refused MESSAGE changes nothing; the next one must arrive
        forger.send_nonce = accepted + 1;
        if (forger.send_nonce != 0)
            s_forger_exchange (&forger, codec);
        curve_codec_destroy (&codec);
        return;
    }
    curve_codec_t *client = s_new_client ();
    curve_codec_t *server = s_new_server ();
    s_handshake (client, server);
    curve_codec_t *decoder = server_decodes? server: client;
    curve_codec_t *encoder = server_decodes? client: server;
    if (source == SOURCE_RAW) {
        size_t size;
        const uint8_t *data = s_take (reader, SIZE_MAX, &size);
        uint8_t *payload = NULL;
        (void) s_decode (decoder, data, size, &payload, NULL, NULL);
        free (payload);
    }
    else {
        //  Up to four genuine MESSAGEs; one of them mutated goes first,
        //  then all of them in order: the replay window must hold
        uint8_t *msgs [4];
        size_t sizes [4];
        int count = s_u8 (reader) % 4 + 1;
        for (int index = 0; index < count; index++) {
            const uint8_t *payload;
            size_t payload_size;
            payload = s_take (reader, s_u8 (reader) % 64, &payload_size);
            msgs [index] = s_encode (encoder, payload, payload_size,
                                     s_u8 (reader) & 3, index & 1,
                                     &sizes [index]);
            CHECK (msgs [index]);
        }
        int chosen = s_u8 (reader) % count;
        size_t size;
        uint8_t *mutated = s_mutate (reader, msgs [chosen], sizes [chosen],
                                     &size);
        uint8_t *payload = NULL;
        int rc = s_decode (decoder, mutated, size, &payload, NULL, NULL);
        //  Every octet of a MESSAGE is authenticated: only the genuine
        //  one can pass
        bool genuine = s_same (mutated, size, msgs [chosen], sizes [chosen]);
        CHECK ((rc == 0) == genuine);
        free (payload);
        free (mutated);
        //  Then all in order: those up to the accepted one are replays
        for (int index = 0; index < count; index++) {
            rc = s_decode (decoder, msgs [index], sizes [index],
                           &payload, NULL, NULL);
            free (payload);
            if (genuine && index <= chosen)
                CHECK (rc == -1
                    && curve_codec_last_error (decoder) == CURVE_ERR_NONCE);
            else
                CHECK (rc == 0);
            free (msgs [index]);
        }
    }
    s_exchange (client, server, true);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);
}

//  Both roles after a failure
static void
s_target_failed (reader_t *reader)
{
    curve_codec_t *client = s_new_client ();
    curve_codec_t *server = s_new_server ();
    int way = s_u8 (reader) % 6;
    size_t size;
    uint8_t *command;
    static const uint8_t junk [] = { 0 };
    //  Every error has a name of its own
    for (int one = CURVE_OK; one <= CURVE_ERR_INTERNAL; one++) {
        s_check_error_name ((curve_error_t) one);
        for (int two = CURVE_OK; two < one; two++)
            CHECK (strcmp (curve_codec_error_name ((curve_error_t) one),
                           curve_codec_error_name ((curve_error_t) two)));
    }
    CHECK (strcmp (curve_codec_error_name ((curve_error_t) 99),
                   "CURVE_ERR_UNKNOWN") == 0);
    switch (way) {
        case 0:
            CHECK (s_recv (server, junk, sizeof junk) == -1);
            CHECK (curve_codec_error (server) == CURVE_ERR_MALFORMED);
            s_check_refuses (server);
            break;
        case 1:
            free (s_take_command (client, &size));
            CHECK (s_recv (client, junk, sizeof junk) == -1);
            CHECK (curve_codec_error (client) == CURVE_ERR_MALFORMED);
            s_check_refuses (client);
            break;
        case 2:
            s_handshake_to_auth (client, server);
            CHECK (s_deny (server, "go away") == 0);
            command = s_take_command (server, &size);
            CHECK (s_recv (client, command, size) == -1);
            free (command);
            CHECK (curve_codec_error (client) == CURVE_ERR_REJECTED);
            CHECK (strcmp (curve_codec_error_text (client), "go away") == 0);
            s_check_refuses (server);
            s_check_refuses (client);
            break;
        case 3:
            command = s_take_command (client, &size);
            CHECK (s_recv (server, command, size) == 0);
            free (command);
            command = s_take_command (server, &size);
            CHECK (s_recv (client, command, size) == 0);
            free (command);
            command = s_take_command (client, &size);
            command [20] ^= 1;          //  Inside the cookie
            CHECK (s_recv (server, command, size) == -1);
            free (command);
            CHECK (curve_codec_error (server) == CURVE_ERR_COOKIE);
            s_check_refuses (server);
            break;
        case 4:
            s_handshake_to_auth (client, server);
            CHECK (s_allow (server) == 0);
            command = s_take_command (server, &size);
            command [20] ^= 1;          //  Inside the MAC
            CHECK (s_recv (client, command, size) == -1);
            free (command);
            CHECK (curve_codec_error (client) == CURVE_ERR_BOX);
            s_check_refuses (client);
            break;
        default:
            free (s_take_command (client, &size));
            command = (uint8_t *) calloc (1, CURVE_WELCOME_BYTES);
            CHECK (command);
            memcpy (command, "\x07WELCOME", 8);
            CHECK (s_recv (server, command, CURVE_WELCOME_BYTES) == -1);
            free (command);
            CHECK (curve_codec_error (server) == CURVE_ERR_UNEXPECTED);
            s_check_refuses (server);
            break;
    }
    session_t session;
    s_session_init (&session, server, client);
    s_run_calls (&session, reader);
    s_session_destroy (&session);
}

//  Metadata set by the callers goes through intact, or is refused as the
//  contract says
static void
s_target_metadata (reader_t *reader)
{
    curve_codec_t *client = s_new_client ();
    curve_codec_t *server = s_new_server ();
    curve_codec_t *ends [2] = { client, server };
    buffer_t wire [2] = { { NULL, 0 }, { NULL, 0 } };
    size_t limit [2] = { CURVE_METADATA_MAX_DEFAULT,
                         CURVE_METADATA_MAX_DEFAULT };
    int flags = s_u8 (reader);
    for (int side = 0; side < 2; side++) {
        if (flags & (1 << side)) {
            limit [side] = s_u16 (reader);
            curve_codec_set_metadata_max (ends [side], limit [side]);
        }
        int count = s_u8 (reader) % 8;
        for (int index = 0; index < count; index++) {
            char name [NAME_BUFFER + 1];
            s_fuzz_name (reader, name);
            size_t size;
            const uint8_t *value = s_take (reader, s_u16 (reader), &size);
            bool valid = s_name_ok ((const uint8_t *) name, strlen (name));
            int rc = s_set_metadata (ends [side], name, value, size);
            if (valid) {
                CHECK (rc == 0);
                s_metadata_add (&wire [side], name, value, size);
            }
            else
                CHECK (rc == -1
                    && curve_codec_last_error (ends [side])
                       == CURVE_ERR_METADATA);
        }
    }
    //  HELLO and WELCOME carry no metadata
    size_t size;
    uint8_t *command = s_take_command (client, &size);
    CHECK (s_recv (server, command, size) == 0);
    free (command);
    command = s_take_command (server, &size);
    CHECK (s_recv (client, command, size) == 0);
    free (command);

    //  INITIATE carries the client's; now it is locked
    command = s_take_command (client, &size);
    CHECK (size == CURVE_INITIATE_MIN_BYTES + wire [0].size);
    CHECK (s_set_metadata (client, "Late", s_ping, 5) == -1);
    CHECK (curve_codec_last_error (client) == CURVE_ERR_STATE);
    int rc = s_recv (server, command, size);
    free (command);
    if (wire [0].size > limit [1])
        CHECK (rc == -1 && curve_codec_error (server) == CURVE_ERR_TOO_LARGE);
    else {
        CHECK (rc == 0);
        s_check_peer_metadata (server, wire [0].data, wire [0].size);
        CHECK (s_allow (server) == 0);
        CHECK (s_set_metadata (server, "Late", s_ping, 5) == -1);
        CHECK (curve_codec_last_error (server) == CURVE_ERR_STATE);

        //  READY carries the server's
        command = s_take_command (server, &size);
        CHECK (size == CURVE_READY_MIN_BYTES + wire [1].size);
        rc = s_recv (client, command, size);
        free (command);
        if (wire [1].size > limit [0])
            CHECK (rc == -1
                && curve_codec_error (client) == CURVE_ERR_TOO_LARGE);
        else {
            CHECK (rc == 0);
            s_check_peer_metadata (client, wire [1].data, wire [1].size);
            s_exchange (client, server, true);
        }
    }
    free (wire [0].data);
    free (wire [1].data);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);
}

//  A client made with any server key (and maybe any key pair of its own)
static void
s_target_client_key (reader_t *reader)
{
    uint8_t server_key [KEY_BYTES];
    s_bytes (reader, server_key, sizeof server_key);
    uint8_t public_key [KEY_BYTES], secret_key [KEY_BYTES];
    memcpy (public_key, s_client_public, KEY_BYTES);
    memcpy (secret_key, s_client_secret, KEY_BYTES);
    if (s_u8 (reader) & 1) {
        uint8_t seed [crypto_box_SEEDBYTES];
        s_bytes (reader, seed, sizeof seed);
        CHECK (crypto_box_seed_keypair (public_key, secret_key, seed) == 0);
    }
    //  Only a low order or non-canonical server key is refused
    uint8_t shared [KEY_BYTES];
    bool weak = crypto_box_beforenm (shared, server_key, s_other_secret) != 0
             || !s_key_canonical (server_key);
    curve_codec_t *client = curve_codec_new_client (public_key, secret_key,
                                                    server_key);
    CHECK ((client == NULL) == weak);
    if (client) {
        s_check_codec (client);
        CHECK (memcmp (curve_codec_peer_key (client), server_key,
                       KEY_BYTES) == 0);
        curve_codec_t *server = s_new_server ();
        s_pump (client, server, false);
        if (curve_codec_state (server) == ST_READY)
            CHECK (memcmp (curve_codec_peer_key (server), public_key,
                           KEY_BYTES) == 0);
        s_exchange (client, server, true);
        curve_codec_destroy (&server);
        curve_codec_destroy (&client);
    }
}

//  Any calls in any order on a fresh pair
static void
s_target_sequence (reader_t *reader)
{
    session_t session;
    s_session_init (&session, s_new_server (), s_new_client ());
    s_run_calls (&session, reader);
    s_session_destroy (&session);
}


//  --------------------------------------------------------------------------
//  libFuzzer entry points

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    CHECK (sodium_init () >= 0);
    s_trace = getenv ("CURVE_FUZZ_TRACE") != NULL;
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
        case TARGET_SERVER_HELLO:
            s_target_server_hello (&reader);
            break;
        case TARGET_SERVER_INITIATE:
            s_target_server_initiate (&reader);
            break;
        case TARGET_CLIENT_WELCOME:
            s_target_client_welcome (&reader);
            break;
        case TARGET_CLIENT_READY:
            s_target_client_ready (&reader);
            break;
        case TARGET_SERVER_AUTH:
            s_target_server_auth (&reader);
            break;
        case TARGET_SERVER_MESSAGE:
            s_target_message (&reader, true);
            break;
        case TARGET_CLIENT_MESSAGE:
            s_target_message (&reader, false);
            break;
        case TARGET_FAILED:
            s_target_failed (&reader);
            break;
        case TARGET_METADATA:
            s_target_metadata (&reader);
            break;
        case TARGET_CLIENT_KEY:
            s_target_client_key (&reader);
            break;
        default:
            s_target_sequence (&reader);
            break;
    }
    return 0;
}
