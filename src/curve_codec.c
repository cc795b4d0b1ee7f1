/*  =========================================================================
    curve_codec - the CurveZMQ (RFC 26) engine, sans I/O

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_codec is one end of one CurveZMQ connection as a state machine:
    commands in as bytes, commands out as bytes. See include/curve_codec.h
    for the contract and RFC/ for the protocol as implemented.
@discuss
    Only libc and libsodium are used here, so that the codec builds with no
    ZeroMQ at all. Wire data is read with explicit big-endian helpers and
    every length is checked against the bytes that remain before any crypto
    runs. Keys sit in fixed arrays inside the object and are wiped with
    sodium_memzero as soon as they are spent and on destroy.
@end
*/

//  This file uses libc and libsodium only, in every build
#ifndef CURVE_CODEC_ONLY
#   define CURVE_CODEC_ONLY
#endif
#include "curve_classes.h"

#include <sodium.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Our constants must agree with libsodium's
_Static_assert (CURVE_KEY_BYTES == crypto_box_PUBLICKEYBYTES, "key size");
_Static_assert (CURVE_KEY_BYTES == crypto_box_SECRETKEYBYTES, "key size");
_Static_assert (CURVE_KEY_BYTES == crypto_box_BEFORENMBYTES, "key size");
_Static_assert (CURVE_KEY_BYTES == crypto_secretbox_KEYBYTES, "key size");
_Static_assert (crypto_box_MACBYTES == 16, "box overhead");
_Static_assert (crypto_secretbox_MACBYTES == 16, "secretbox overhead");
_Static_assert (crypto_box_NONCEBYTES == 24, "nonce size");
_Static_assert (crypto_secretbox_NONCEBYTES == 24, "nonce size");

//  Sizes used inside commands (RFC 26 grammar)
#define MAC_BYTES          crypto_box_MACBYTES      //  Box overhead
#define NONCE_BYTES        crypto_box_NONCEBYTES    //  Full nonce
#define SHORT_NONCE_BYTES  8                        //  Counter part
#define LONG_NONCE_BYTES   16                       //  Random part
#define HELLO_PADDING      72                       //  Anti-amplification
#define HELLO_SIG_BYTES    64                       //  Zeros in HELLO box
#define COOKIE_BYTES       (LONG_NONCE_BYTES + MAC_BYTES + 2 * CURVE_KEY_BYTES)
#define VOUCH_BYTES        (LONG_NONCE_BYTES + MAC_BYTES + 2 * CURVE_KEY_BYTES)
#define WELCOME_PLAIN      (CURVE_KEY_BYTES + COOKIE_BYTES)
#define INITIATE_PLAIN_MIN (CURVE_KEY_BYTES + VOUCH_BYTES)
#define METADATA_VALUE_MAX 0x7FFFFFFFu                //  2^31-1 (RFC 26)

_Static_assert (COOKIE_BYTES == 96, "cookie size");
_Static_assert (6 + 2 + HELLO_PADDING + CURVE_KEY_BYTES + SHORT_NONCE_BYTES
                + MAC_BYTES + HELLO_SIG_BYTES == CURVE_HELLO_BYTES, "HELLO");
_Static_assert (8 + LONG_NONCE_BYTES + MAC_BYTES + WELCOME_PLAIN
                == CURVE_WELCOME_BYTES, "WELCOME");
_Static_assert (9 + COOKIE_BYTES + SHORT_NONCE_BYTES + MAC_BYTES
                + INITIATE_PLAIN_MIN == CURVE_INITIATE_MIN_BYTES, "INITIATE");
_Static_assert (6 + SHORT_NONCE_BYTES + MAC_BYTES == CURVE_READY_MIN_BYTES,
                "READY");
_Static_assert (8 + SHORT_NONCE_BYTES + MAC_BYTES + 1
                == CURVE_MESSAGE_MIN_BYTES, "MESSAGE");
_Static_assert (CURVE_MESSAGE_PAYLOAD_OFFSET == CURVE_MESSAGE_OVERHEAD,
                "payload offset");

//  Command names, each a length octet and the name (RFC 26)
#define NAME_HELLO    "\x05HELLO"
#define NAME_WELCOME  "\x07WELCOME"
#define NAME_INITIATE "\x08INITIATE"
#define NAME_READY    "\x05READY"
#define NAME_MESSAGE  "\x07MESSAGE"
#define NAME_ERROR    "\x05" "ERROR"

//  Nonce prefixes: 16 octets before a short nonce, 8 before a long one
#define PREFIX_HELLO      "CurveZMQHELLO---"
#define PREFIX_INITIATE   "CurveZMQINITIATE"
#define PREFIX_READY      "CurveZMQREADY---"
#define PREFIX_MESSAGE_C  "CurveZMQMESSAGEC"
#define PREFIX_MESSAGE_S  "CurveZMQMESSAGES"
#define PREFIX_WELCOME    "WELCOME-"
#define PREFIX_COOKIE     "COOKIE--"
#define PREFIX_VOUCH      "VOUCH---"

//  Where the codec is in the handshake
typedef enum {
    PHASE_EXPECT_WELCOME,           //  Client sent HELLO
    PHASE_EXPECT_READY,             //  Client sent INITIATE
    PHASE_EXPECT_HELLO,             //  Server waits for a client
    PHASE_EXPECT_INITIATE,          //  Server sent WELCOME
    PHASE_AUTH,                     //  Server awaits allow/deny
    PHASE_READY,                    //  Session established
    PHASE_FAILED                    //  Handshake failed for good
} phase_t;

//  Structure of our class

struct _curve_codec_t {
    bool is_server;                 //  Server or client role
    phase_t phase;                  //  Handshake phase
    curve_error_t error;            //  Sticky error that failed us
    curve_error_t last_error;       //  Error of the last failed call
    char reason [CURVE_REASON_MAX + 96];    //  Text for last_error
    char error_text [CURVE_REASON_MAX + 1]; //  ERROR reason sent or received

    uint8_t public_key [CURVE_KEY_BYTES];   //  Our permanent public key
    uint8_t secret_key [CURVE_KEY_BYTES];   //  Our permanent secret key
    uint8_t peer_key [CURVE_KEY_BYTES];     //  Peer permanent public key
    bool have_peer_key;             //  peer_key is known
    uint8_t transient_public [CURVE_KEY_BYTES]; //  Client: C'
    uint8_t transient_secret [CURVE_KEY_BYTES]; //  Client: c'
    uint8_t peer_transient [CURVE_KEY_BYTES];   //  Client: S'; server: C'
    uint8_t cookie_key [CURVE_KEY_BYTES];       //  Server: cookie key K
    uint8_t cookie [COOKIE_BYTES];  //  Client: cookie to echo in INITIATE
    uint8_t session_key [CURVE_KEY_BYTES];      //  Precomputed box key
    uint8_t hello_key [CURVE_KEY_BYTES];        //  Client: box key C'/S
    uint64_t send_nonce;            //  Next short nonce we send
    uint64_t recv_nonce;            //  Last short nonce accepted from peer
    const char *send_prefix;        //  Our MESSAGE nonce prefix
    const char *recv_prefix;        //  Peer's MESSAGE nonce prefix

    uint8_t *out;                   //  Pending handshake command
    size_t out_size;                //  Its size; 0 when none is pending
    size_t out_alloc;               //  Allocated size of out

    uint8_t *metadata;              //  Our metadata, wire encoded
    size_t metadata_size;           //  Its size
    bool metadata_locked;           //  Sent already; no more changes
    uint8_t *peer_metadata;         //  Peer metadata, validated
    size_t peer_metadata_size;      //  Its size
    size_t peer_metadata_count;     //  Number of properties
    size_t metadata_max;            //  Largest peer metadata we accept
};

//  Random source; replaced only by the self tests
static curve_random_fn *s_random_fn = NULL;
static void *s_random_arg = NULL;


//  --------------------------------------------------------------------------
//  Caller bugs abort, even under NDEBUG (house rule: misuse is not wire
//  input and must not pass silently).

#define CURVE_REQUIRE(cond) \
    do { if (!(cond)) s_misuse (#cond, __FILE__, __LINE__); } while (0)

static void
s_misuse (const char *what, const char *file, int line)
{
    fprintf (stderr, "curve: misuse: %s (%s:%d)\n", what, file, line);
    abort ();
}


//  --------------------------------------------------------------------------
//  Big-endian helpers

static void
s_put_uint64 (uint8_t *dest, uint64_t value)
{
    for (int index = 7; index >= 0; index--) {
        dest [index] = (uint8_t) (value & 0xFF);
        value >>= 8;
    }
}

static uint64_t
s_get_uint64 (const uint8_t *source)
{
    uint64_t value = 0;
    for (int index = 0; index < 8; index++)
        value = (value << 8) | source [index];
    return value;
}

static void
s_put_uint32 (uint8_t *dest, uint32_t value)
{
    dest [0] = (uint8_t) (value >> 24);
    dest [1] = (uint8_t) (value >> 16);
    dest [2] = (uint8_t) (value >> 8);
    dest [3] = (uint8_t) value;
}

static uint32_t
s_get_uint32 (const uint8_t *source)
{
    return ((uint32_t) source [0] << 24) | ((uint32_t) source [1] << 16)
         | ((uint32_t) source [2] << 8) | (uint32_t) source [3];
}


//  --------------------------------------------------------------------------
//  Nonces: a 16-octet prefix and a big-endian counter, or an 8-octet prefix
//  and 16 random octets.

static void
s_short_nonce (uint8_t *nonce, const char *prefix, uint64_t counter)
{
    memcpy (nonce, prefix, NONCE_BYTES - SHORT_NONCE_BYTES);
    s_put_uint64 (nonce + NONCE_BYTES - SHORT_NONCE_BYTES, counter);
}

static void
s_long_nonce (uint8_t *nonce, const char *prefix, const uint8_t *random)
{
    memcpy (nonce, prefix, NONCE_BYTES - LONG_NONCE_BYTES);
    memcpy (nonce + NONCE_BYTES - LONG_NONCE_BYTES, random, LONG_NONCE_BYTES);
}


//  --------------------------------------------------------------------------
//  Randomness and transient keys

static void
s_random (void *buf, size_t size)
{
    if (s_random_fn)
        s_random_fn (buf, size, s_random_arg);
    else
        randombytes_buf (buf, size);
}

static int
s_keypair (uint8_t *public_key, uint8_t *secret_key)
{
    s_random (secret_key, CURVE_KEY_BYTES);
    return crypto_scalarmult_base (public_key, secret_key);
}


//  --------------------------------------------------------------------------
//  A public key must be the canonical encoding of a field element: below
//  2^255 - 19. X25519 ignores the top bit, so without this check a HELLO
//  with that bit flipped would still open (a malleable HELLO); libsodium
//  never makes such keys, so refusing them costs no interoperability.

static bool
s_key_canonical (const uint8_t *key)
{
    if (key [31] & 0x80)
        return false;
    if (key [31] != 0x7F || key [0] < 0xED)
        return true;
    for (int index = 1; index < 31; index++)
        if (key [index] != 0xFF)
            return true;
    return false;
}


//  --------------------------------------------------------------------------
//  Errors. s_reject records an error for the last call without changing
//  state; s_fail also fails the handshake for good and wipes every secret.

static int
s_reject (curve_codec_t *self, curve_error_t error, const char *format, ...)
{
    self->last_error = error;
    va_list args;
    va_start (args, format);
    vsnprintf (self->reason, sizeof self->reason, format, args);
    va_end (args);
    return -1;
}

static void
s_wipe_secrets (curve_codec_t *self)
{
    sodium_memzero (self->transient_secret, sizeof self->transient_secret);
    sodium_memzero (self->cookie_key, sizeof self->cookie_key);
    sodium_memzero (self->session_key, sizeof self->session_key);
    sodium_memzero (self->hello_key, sizeof self->hello_key);
    sodium_memzero (self->cookie, sizeof self->cookie);
}

#define s_fail(self, error, ...) \
    (s_reject ((self), (error), __VA_ARGS__), s_set_failed (self, error))

static int
s_set_failed (curve_codec_t *self, curve_error_t error)
{
    //  The first failure wins (sticky)
    if (self->phase != PHASE_FAILED) {
        self->phase = PHASE_FAILED;
        self->error = error;
    }
    self->out_size = 0;
    s_wipe_secrets (self);
    return -1;
}


//  --------------------------------------------------------------------------
//  Make room for a pending command of the given size

static uint8_t *
s_out_reserve (curve_codec_t *self, size_t size)
{
    if (size > self->out_alloc) {
        uint8_t *out = (uint8_t *) malloc (size);
        if (!out)
            return NULL;
        if (self->out) {
            sodium_memzero (self->out, self->out_alloc);
            free (self->out);
        }
        self->out = out;
        self->out_alloc = size;
    }
    return self->out;
}


//  --------------------------------------------------------------------------
//  Metadata (RFC 26): name = OCTET *name-char, value = 4-octet size + data.

static bool
s_name_char_valid (uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9')
        || c == '-' || c == '_' || c == '.' || c == '+';
}

static bool
s_name_valid (const uint8_t *name, size_t size)
{
    if (size == 0 || size > CURVE_METADATA_NAME_MAX)
        return false;
    for (size_t index = 0; index < size; index++)
        if (!s_name_char_valid (name [index]))
            return false;
    return true;
}

//  Walk one property at *pos_p; returns false if it breaks the grammar or
//  overruns the buffer. Every length is checked against what remains.
static bool
s_property_next (const uint8_t *data, size_t size, size_t *pos_p,
                 const uint8_t **name, size_t *name_size,
                 const uint8_t **value, size_t *value_size)
{
    size_t pos = *pos_p;
    if (size - pos < 1)
        return false;
    size_t name_len = data [pos++];
    if (name_len > size - pos || !s_name_valid (data + pos, name_len))
        return false;
    *name = data + pos;
    *name_size = name_len;
    pos += name_len;
    if (size - pos < 4)
        return false;
    uint32_t value_len = s_get_uint32 (data + pos);
    pos += 4;
    if (value_len > METADATA_VALUE_MAX || value_len > size - pos)
        return false;
    *value = data + pos;
    *value_size = value_len;
    *pos_p = pos + value_len;
    return true;
}

//  Returns the number of properties, or -1 if the metadata is invalid
static long
s_metadata_validate (const uint8_t *data, size_t size)
{
    size_t pos = 0;
    long count = 0;
    while (pos < size) {
        const uint8_t *name, *value;
        size_t name_size, value_size;
        if (!s_property_next (data, size, &pos, &name, &name_size,
                              &value, &value_size))
            return -1;
        count++;
    }
    return count;
}

static bool
s_name_equal (const uint8_t *wire, size_t wire_size, const char *name)
{
    if (strlen (name) != wire_size)
        return false;
    for (size_t index = 0; index < wire_size; index++) {
        uint8_t a = wire [index], b = (uint8_t) name [index];
        if (a >= 'A' && a <= 'Z')
            a = (uint8_t) (a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (uint8_t) (b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

//  Store validated peer metadata, taking ownership of the buffer (alloc
//  octets, of which the size octets at source are the metadata)
static int
s_store_peer_metadata (curve_codec_t *self, uint8_t *data, size_t alloc,
                       const uint8_t *source, size_t size)
{
    long count = s_metadata_validate (source, size);
    if (count < 0)
        return -1;
    memmove (data, source, size);
    //  Whatever else the buffer held (INITIATE's C and vouch) goes
    sodium_memzero (data + size, alloc - size);
    free (self->peer_metadata);
    self->peer_metadata = data;
    self->peer_metadata_size = size;
    self->peer_metadata_count = (size_t) count;
    return 0;
}


//  --------------------------------------------------------------------------
//  Constructors and destructor

static curve_codec_t *
s_new (const uint8_t *public_key, const uint8_t *secret_key, bool is_server)
{
    CURVE_REQUIRE (public_key);
    CURVE_REQUIRE (secret_key);
    if (sodium_init () < 0)
        return NULL;
    curve_codec_t *self = (curve_codec_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->is_server = is_server;
    self->send_nonce = 1;
    self->metadata_max = CURVE_METADATA_MAX_DEFAULT;
    self->send_prefix = is_server? PREFIX_MESSAGE_S: PREFIX_MESSAGE_C;
    self->recv_prefix = is_server? PREFIX_MESSAGE_C: PREFIX_MESSAGE_S;
    memcpy (self->public_key, public_key, CURVE_KEY_BYTES);
    memcpy (self->secret_key, secret_key, CURVE_KEY_BYTES);
    return self;
}

//  Client: produce HELLO (RFC 26: version 1.0, 72 zero octets of padding,
//  C', short nonce, Box [64 zeros](C'->S)).
static int
s_produce_hello (curve_codec_t *self)
{
    uint8_t *out = s_out_reserve (self, CURVE_HELLO_BYTES);
    if (!out)
        return -1;
    if (s_keypair (self->transient_public, self->transient_secret))
        return -1;
    memcpy (out, NAME_HELLO, 6);
    out [6] = 1;                    //  Major version
    out [7] = 0;                    //  Minor version
    memset (out + 8, 0, HELLO_PADDING);
    memcpy (out + 80, self->transient_public, CURVE_KEY_BYTES);
    s_put_uint64 (out + 112, self->send_nonce);
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, PREFIX_HELLO, self->send_nonce);
    uint8_t zeros [HELLO_SIG_BYTES] = { 0 };
    //  The same C'/S key opens WELCOME, so compute it once. Fails if the
    //  server key is a low order point.
    if (crypto_box_beforenm (self->hello_key, self->peer_key,
                             self->transient_secret)
    ||  crypto_box_easy_afternm (out + 120, zeros, sizeof zeros, nonce,
                                 self->hello_key))
        return -1;
    self->send_nonce++;
    self->out_size = CURVE_HELLO_BYTES;
    return 0;
}

curve_codec_t *
curve_codec_new_client (const uint8_t *public_key, const uint8_t *secret_key,
                        const uint8_t *server_key)
{
    CURVE_REQUIRE (server_key);
    if (!s_key_canonical (server_key))
        return NULL;
    curve_codec_t *self = s_new (public_key, secret_key, false);
    if (!self)
        return NULL;
    memcpy (self->peer_key, server_key, CURVE_KEY_BYTES);
    self->have_peer_key = true;
    self->phase = PHASE_EXPECT_WELCOME;
    if (s_produce_hello (self))
        curve_codec_destroy (&self);
    return self;
}

curve_codec_t *
curve_codec_new_server (const uint8_t *public_key, const uint8_t *secret_key)
{
    curve_codec_t *self = s_new (public_key, secret_key, true);
    if (self)
        self->phase = PHASE_EXPECT_HELLO;
    return self;
}

void
curve_codec_destroy (curve_codec_t **self_p)
{
    CURVE_REQUIRE (self_p);
    curve_codec_t *self = *self_p;
    if (!self)
        return;
    if (self->out) {
        sodium_memzero (self->out, self->out_alloc);
        free (self->out);
    }
    if (self->metadata) {
        sodium_memzero (self->metadata, self->metadata_size);
        free (self->metadata);
    }
    if (self->peer_metadata) {
        sodium_memzero (self->peer_metadata, self->peer_metadata_size);
        free (self->peer_metadata);
    }
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}


//  --------------------------------------------------------------------------
//  Settings

int
curve_codec_set_metadata (curve_codec_t *self, const char *name,
                          const void *value, size_t size)
{
    CURVE_REQUIRE (self);
    CURVE_REQUIRE (name);
    CURVE_REQUIRE (value || size == 0);
    if (self->metadata_locked || self->phase == PHASE_FAILED)
        return s_reject (self, CURVE_ERR_STATE,
                         "metadata can no longer be changed");
    size_t name_len = strlen (name);
    if (!s_name_valid ((const uint8_t *) name, name_len))
        return s_reject (self, CURVE_ERR_METADATA,
                         "metadata name must be 1-255 of A-Z a-z 0-9 - _ . +");
    if (size > METADATA_VALUE_MAX)
        return s_reject (self, CURVE_ERR_METADATA,
                         "metadata value larger than 2^31-1 octets");
    size_t added = 1 + name_len + 4 + size;
    if (self->metadata_size > SIZE_MAX - added)
        return s_reject (self, CURVE_ERR_TOO_LARGE, "metadata too large");
    uint8_t *metadata = (uint8_t *) realloc (self->metadata,
                                             self->metadata_size + added);
    if (!metadata)
        return s_reject (self, CURVE_ERR_INTERNAL, "out of memory");
    uint8_t *pos = metadata + self->metadata_size;
    *pos++ = (uint8_t) name_len;
    memcpy (pos, name, name_len);
    pos += name_len;
    s_put_uint32 (pos, (uint32_t) size);
    pos += 4;
    if (size)
        memcpy (pos, value, size);
    self->metadata = metadata;
    self->metadata_size += added;
    return 0;
}

void
curve_codec_set_metadata_max (curve_codec_t *self, size_t max)
{
    CURVE_REQUIRE (self);
    self->metadata_max = max;
}


//  --------------------------------------------------------------------------
//  State and send buffer

int
curve_codec_state (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    int state = self->out_size? CURVE_CODEC_SEND: 0;
    switch (self->phase) {
        case PHASE_EXPECT_WELCOME:
        case PHASE_EXPECT_READY:
        case PHASE_EXPECT_HELLO:
        case PHASE_EXPECT_INITIATE:
            state |= CURVE_CODEC_RECV;
            break;
        case PHASE_AUTH:
            state |= CURVE_CODEC_AUTH;
            break;
        case PHASE_READY:
            state |= CURVE_CODEC_READY;
            break;
        case PHASE_FAILED:
            state |= CURVE_CODEC_FAILED;
            break;
    }
    return state;
}

const uint8_t *
curve_codec_send_buf (curve_codec_t *self, size_t *size)
{
    CURVE_REQUIRE (self);
    CURVE_REQUIRE (size);
    *size = self->out_size;
    return self->out_size? self->out: NULL;
}

void
curve_codec_send_ack (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    self->out_size = 0;
    //  After the handshake no command is ever built again
    if (self->out && (self->phase == PHASE_READY
                  ||  self->phase == PHASE_FAILED)) {
        sodium_memzero (self->out, self->out_alloc);
        free (self->out);
        self->out = NULL;
        self->out_alloc = 0;
    }
}


//  --------------------------------------------------------------------------
//  Client: process ERROR from the server (in place of WELCOME or READY).
//  error = %d5 "ERROR" OCTET 0*255VCHAR; the length octet must match.

static int
s_process_error (curve_codec_t *self, const uint8_t *data, size_t size)
{
    if (size < CURVE_ERROR_MIN_BYTES)
        return s_fail (self, CURVE_ERR_MALFORMED,
                       "ERROR has no reason length");
    size_t length = data [6];
    if (size != CURVE_ERROR_MIN_BYTES + length)
        return s_fail (self, CURVE_ERR_MALFORMED,
                       "ERROR reason length does not match command size");
    for (size_t index = 0; index < length; index++) {
        uint8_t c = data [7 + index];
        self->error_text [index] = (c >= 0x20 && c < 0x7F)? (char) c: '?';
    }
    self->error_text [length] = 0;
    return s_fail (self, CURVE_ERR_REJECTED,
                   "rejected by server: \"%s\"", self->error_text);
}

static bool
s_is_command (const uint8_t *data, size_t size, const char *name)
{
    size_t name_size = 1 + (size_t) (uint8_t) name [0];
    return size >= name_size && memcmp (data, name, name_size) == 0;
}


//  --------------------------------------------------------------------------
//  Client: WELCOME -> INITIATE

static int
s_process_welcome (curve_codec_t *self, const uint8_t *data, size_t size)
{
    if (size != CURVE_WELCOME_BYTES)
        return s_fail (self, CURVE_ERR_MALFORMED,
                       "WELCOME must be %d octets, not %zu",
                       CURVE_WELCOME_BYTES, size);
    //  Box [S' + cookie](S->C')
    uint8_t nonce [NONCE_BYTES];
    s_long_nonce (nonce, PREFIX_WELCOME, data + 8);
    uint8_t plain [WELCOME_PLAIN];
    int rc = crypto_box_open_easy_afternm (plain, data + 24,
                                           WELCOME_PLAIN + MAC_BYTES, nonce,
                                           self->hello_key);
    sodium_memzero (self->hello_key, sizeof self->hello_key);
    if (rc)
        return s_fail (self, CURVE_ERR_BOX,
                       "WELCOME box did not open (wrong server key?)");
    memcpy (self->peer_transient, plain, CURVE_KEY_BYTES);
    memcpy (self->cookie, plain + CURVE_KEY_BYTES, COOKIE_BYTES);
    sodium_memzero (plain, sizeof plain);
    if (!s_key_canonical (self->peer_transient))
        return s_fail (self, CURVE_ERR_KEY,
                       "server transient key is not canonical");

    //  From here on all boxes between C' and S' use this precomputed key
    rc = crypto_box_beforenm (self->session_key, self->peer_transient,
                                  self->transient_secret);
    sodium_memzero (self->transient_secret, sizeof self->transient_secret);
    if (rc)
        return s_fail (self, CURVE_ERR_KEY,
                       "server transient key is not usable");

    //  Vouch: long nonce + Box [C' + S](C->S')
    uint8_t vouch_random [LONG_NONCE_BYTES];
    s_random (vouch_random, sizeof vouch_random);
    s_long_nonce (nonce, PREFIX_VOUCH, vouch_random);
    uint8_t vouch_plain [2 * CURVE_KEY_BYTES];
    memcpy (vouch_plain, self->transient_public, CURVE_KEY_BYTES);
    memcpy (vouch_plain + CURVE_KEY_BYTES, self->peer_key, CURVE_KEY_BYTES);

    //  INITIATE = name, cookie, short nonce, Box [C + vouch + metadata](C'->S')
    size_t plain_size = INITIATE_PLAIN_MIN + self->metadata_size;
    if (plain_size > SIZE_MAX - CURVE_INITIATE_MIN_BYTES)
        return s_fail (self, CURVE_ERR_TOO_LARGE, "metadata too large");
    size_t command_size = CURVE_INITIATE_MIN_BYTES + self->metadata_size;
    uint8_t *out = s_out_reserve (self, command_size);
    if (!out)
        return s_fail (self, CURVE_ERR_INTERNAL, "out of memory");
    //  Build the plaintext in the tail of out and encrypt it in place
    uint8_t *box = out + 9 + COOKIE_BYTES + SHORT_NONCE_BYTES;
    uint8_t *inner = box + MAC_BYTES;
    memcpy (inner, self->public_key, CURVE_KEY_BYTES);
    memcpy (inner + CURVE_KEY_BYTES, vouch_random, LONG_NONCE_BYTES);
    rc = crypto_box_easy (inner + CURVE_KEY_BYTES + LONG_NONCE_BYTES,
                          vouch_plain, sizeof vouch_plain, nonce,
                          self->peer_transient, self->secret_key);
    if (rc)
        return s_fail (self, CURVE_ERR_KEY, "cannot make the vouch");
    if (self->metadata_size)
        memcpy (inner + INITIATE_PLAIN_MIN, self->metadata,
                self->metadata_size);
    self->metadata_locked = true;

    memcpy (out, NAME_INITIATE, 9);
    memcpy (out + 9, self->cookie, COOKIE_BYTES);
    s_put_uint64 (out + 9 + COOKIE_BYTES, self->send_nonce);
    s_short_nonce (nonce, PREFIX_INITIATE, self->send_nonce);
    rc = crypto_box_detached_afternm (inner, box, inner, plain_size, nonce,
                                      self->session_key);
    sodium_memzero (self->cookie, sizeof self->cookie);
    if (rc)
        return s_fail (self, CURVE_ERR_INTERNAL, "cannot box INITIATE");
    self->send_nonce++;
    self->out_size = command_size;
    self->phase = PHASE_EXPECT_READY;
    return 0;
}


//  --------------------------------------------------------------------------
//  Client: READY

static int
s_process_ready (curve_codec_t *self, const uint8_t *data, size_t size)
{
    if (size < CURVE_READY_MIN_BYTES)
        return s_fail (self, CURVE_ERR_MALFORMED, "READY is too short");
    size_t metadata_size = size - CURVE_READY_MIN_BYTES;
    if (metadata_size > self->metadata_max)
        return s_fail (self, CURVE_ERR_TOO_LARGE,
                       "READY metadata is over the limit of %zu octets",
                       self->metadata_max);
    uint64_t counter = s_get_uint64 (data + 6);
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, PREFIX_READY, counter);
    uint8_t *plain = (uint8_t *) malloc (metadata_size? metadata_size: 1);
    if (!plain)
        return s_fail (self, CURVE_ERR_INTERNAL, "out of memory");
    if (crypto_box_open_detached_afternm (plain, data + 30, data + 14,
                                          metadata_size, nonce,
                                          self->session_key)) {
        free (plain);
        return s_fail (self, CURVE_ERR_BOX, "READY box did not open");
    }
    if (s_store_peer_metadata (self, plain, metadata_size? metadata_size: 1,
                               plain, metadata_size)) {
        free (plain);
        return s_fail (self, CURVE_ERR_METADATA,
                       "READY metadata breaks the RFC 26 grammar");
    }
    self->recv_nonce = counter;
    self->phase = PHASE_READY;
    return 0;
}


//  --------------------------------------------------------------------------
//  Server: HELLO -> WELCOME

static int
    s_process_hello_reply (curve_codec_t *self,
                           const uint8_t *client_transient,
                           const uint8_t *key);

static int
s_process_hello (curve_codec_t *self, const uint8_t *data, size_t size)
{
    if (size != CURVE_HELLO_BYTES)
        return s_fail (self, CURVE_ERR_MALFORMED,
                       "HELLO must be %d octets, not %zu",
                       CURVE_HELLO_BYTES, size);
    if (data [6] != 1 || data [7] != 0)
        return s_fail (self, CURVE_ERR_MALFORMED,
                       "HELLO version %u.%u is not 1.0", data [6], data [7]);
    uint8_t padding = 0;
    for (size_t index = 0; index < HELLO_PADDING; index++)
        padding |= data [8 + index];
    if (padding)
        return s_fail (self, CURVE_ERR_MALFORMED,
                       "HELLO padding is not all zero");

    //  Signature box: Box [64 zeros](C'->S)
    const uint8_t *client_transient = data + 80;
    if (!s_key_canonical (client_transient))
        return s_fail (self, CURVE_ERR_KEY,
                       "client transient key is not canonical");
    uint64_t counter = s_get_uint64 (data + 112);
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, PREFIX_HELLO, counter);
    uint8_t key [CURVE_KEY_BYTES];
    if (crypto_box_beforenm (key, client_transient, self->secret_key)) {
        sodium_memzero (key, sizeof key);
        return s_fail (self, CURVE_ERR_KEY,
                       "client transient key is not usable");
    }
    uint8_t signature [HELLO_SIG_BYTES];
    //  The same C'/S key seals WELCOME below; it is wiped on every path
    int rc = crypto_box_open_easy_afternm (signature, data + 120,
                                           HELLO_SIG_BYTES + MAC_BYTES,
                                           nonce, key);
    if (rc)
        s_fail (self, CURVE_ERR_BOX,
                "HELLO signature did not open (wrong server key?)");
    else
    if (!sodium_is_zero (signature, sizeof signature))
        rc = s_fail (self, CURVE_ERR_MALFORMED,
                     "HELLO signature is not 64 zero octets");
    else {
        self->recv_nonce = counter;
        rc = s_process_hello_reply (self, client_transient, key);
    }
    sodium_memzero (key, sizeof key);
    return rc;
}

//  Server: build WELCOME for a verified HELLO, with the C'/S box key
static int
s_process_hello_reply (curve_codec_t *self, const uint8_t *client_transient,
                       const uint8_t *key)
{
    int rc;
    uint8_t nonce [NONCE_BYTES];
    memcpy (self->peer_transient, client_transient, CURVE_KEY_BYTES);

    //  A fresh transient key pair S'/s' and cookie key K for this WELCOME
    uint8_t server_public [CURVE_KEY_BYTES];
    uint8_t server_secret [CURVE_KEY_BYTES];
    if (s_keypair (server_public, server_secret)) {
        sodium_memzero (server_secret, sizeof server_secret);
        return s_fail (self, CURVE_ERR_INTERNAL, "cannot make a key pair");
    }
    s_random (self->cookie_key, sizeof self->cookie_key);

    //  WELCOME plaintext: S' + cookie, where cookie = long nonce +
    //  Box [C' + s'](K). Built in place inside the WELCOME command.
    uint8_t *out = s_out_reserve (self, CURVE_WELCOME_BYTES);
    if (!out) {
        sodium_memzero (server_secret, sizeof server_secret);
        return s_fail (self, CURVE_ERR_INTERNAL, "out of memory");
    }
    uint8_t plain [WELCOME_PLAIN];
    memcpy (plain, server_public, CURVE_KEY_BYTES);
    uint8_t *cookie = plain + CURVE_KEY_BYTES;
    s_random (cookie, LONG_NONCE_BYTES);
    uint8_t cookie_plain [2 * CURVE_KEY_BYTES];
    memcpy (cookie_plain, client_transient, CURVE_KEY_BYTES);
    memcpy (cookie_plain + CURVE_KEY_BYTES, server_secret, CURVE_KEY_BYTES);
    sodium_memzero (server_secret, sizeof server_secret);
    s_long_nonce (nonce, PREFIX_COOKIE, cookie);
    rc = crypto_secretbox_easy (cookie + LONG_NONCE_BYTES, cookie_plain,
                                sizeof cookie_plain, nonce, self->cookie_key);
    sodium_memzero (cookie_plain, sizeof cookie_plain);
    if (rc)
        return s_fail (self, CURVE_ERR_INTERNAL, "cannot box the cookie");

    memcpy (out, NAME_WELCOME, 8);
    s_random (out + 8, LONG_NONCE_BYTES);
    s_long_nonce (nonce, PREFIX_WELCOME, out + 8);
    rc = crypto_box_easy_afternm (out + 24, plain, sizeof plain, nonce, key);
    sodium_memzero (plain, sizeof plain);
    if (rc)
        return s_fail (self, CURVE_ERR_INTERNAL, "cannot box WELCOME");
    self->out_size = CURVE_WELCOME_BYTES;
    self->phase = PHASE_EXPECT_INITIATE;
    return 0;
}


//  --------------------------------------------------------------------------
//  Server: INITIATE. Order matters: cookie, then box, then vouch, and only
//  then the metadata is parsed.

static int
s_process_initiate (curve_codec_t *self, const uint8_t *data, size_t size)
{
    if (size < CURVE_INITIATE_MIN_BYTES)
        return s_fail (self, CURVE_ERR_MALFORMED, "INITIATE is too short");
    size_t metadata_size = size - CURVE_INITIATE_MIN_BYTES;
    if (metadata_size > self->metadata_max)
        return s_fail (self, CURVE_ERR_TOO_LARGE,
                       "INITIATE metadata is over the limit of %zu octets",
                       self->metadata_max);

    //  Cookie: long nonce + Box [C' + s'](K). K is spent whatever happens.
    const uint8_t *cookie = data + 9;
    uint8_t nonce [NONCE_BYTES];
    s_long_nonce (nonce, PREFIX_COOKIE, cookie);
    uint8_t cookie_plain [2 * CURVE_KEY_BYTES];
    int rc = crypto_secretbox_open_easy (cookie_plain,
                                         cookie + LONG_NONCE_BYTES,
                                         COOKIE_BYTES - LONG_NONCE_BYTES,
                                         nonce, self->cookie_key);
    sodium_memzero (self->cookie_key, sizeof self->cookie_key);
    if (rc)
        return s_fail (self, CURVE_ERR_COOKIE, "INITIATE cookie did not open");
    //  The cookie must be the one we issued for this client's C'
    if (sodium_memcmp (cookie_plain, self->peer_transient, CURVE_KEY_BYTES)) {
        sodium_memzero (cookie_plain, sizeof cookie_plain);
        return s_fail (self, CURVE_ERR_COOKIE,
                       "INITIATE cookie is for another client key");
    }
    uint8_t *server_secret = cookie_plain + CURVE_KEY_BYTES;
    if (crypto_box_beforenm (self->session_key, self->peer_transient,
                             server_secret)) {
        sodium_memzero (cookie_plain, sizeof cookie_plain);
        return s_fail (self, CURVE_ERR_KEY,
                       "client transient key is not usable");
    }

    //  Short nonce must follow HELLO's
    uint64_t counter = s_get_uint64 (data + 9 + COOKIE_BYTES);
    if (counter <= self->recv_nonce) {
        sodium_memzero (cookie_plain, sizeof cookie_plain);
        return s_fail (self, CURVE_ERR_NONCE,
                       "INITIATE short nonce does not follow HELLO's");
    }
    //  Box [C + vouch + metadata](C'->S')
    size_t plain_size = INITIATE_PLAIN_MIN + metadata_size;
    uint8_t *plain = (uint8_t *) malloc (plain_size);
    if (!plain) {
        sodium_memzero (cookie_plain, sizeof cookie_plain);
        return s_fail (self, CURVE_ERR_INTERNAL, "out of memory");
    }
    const uint8_t *box = data + 9 + COOKIE_BYTES + SHORT_NONCE_BYTES;
    s_short_nonce (nonce, PREFIX_INITIATE, counter);
    if (crypto_box_open_detached_afternm (plain, box + MAC_BYTES, box,
                                          plain_size, nonce,
                                          self->session_key)) {
        sodium_memzero (cookie_plain, sizeof cookie_plain);
        free (plain);
        return s_fail (self, CURVE_ERR_BOX, "INITIATE box did not open");
    }

    //  Vouch: long nonce + Box [C' + S](C->S')
    const uint8_t *client_key = plain;
    const uint8_t *vouch = plain + CURVE_KEY_BYTES;
    if (!s_key_canonical (client_key)) {
        sodium_memzero (cookie_plain, sizeof cookie_plain);
        free (plain);
        return s_fail (self, CURVE_ERR_KEY,
                       "client permanent key is not canonical");
    }
    s_long_nonce (nonce, PREFIX_VOUCH, vouch);
    uint8_t vouch_plain [2 * CURVE_KEY_BYTES];
    uint8_t key [CURVE_KEY_BYTES];
    rc = crypto_box_beforenm (key, client_key, server_secret);
    sodium_memzero (cookie_plain, sizeof cookie_plain);
    if (rc == 0)
        rc = crypto_box_open_easy_afternm (vouch_plain,
                                           vouch + LONG_NONCE_BYTES,
                                           VOUCH_BYTES - LONG_NONCE_BYTES,
                                           nonce, key);
    sodium_memzero (key, sizeof key);
    if (rc == 0
    && (sodium_memcmp (vouch_plain, self->peer_transient, CURVE_KEY_BYTES)
    ||  sodium_memcmp (vouch_plain + CURVE_KEY_BYTES, self->public_key,
                       CURVE_KEY_BYTES)))
        rc = -1;
    if (rc) {
        free (plain);
        return s_fail (self, CURVE_ERR_VOUCH,
                       "INITIATE vouch did not open or does not match");
    }
    uint8_t peer_key [CURVE_KEY_BYTES];
    memcpy (peer_key, client_key, CURVE_KEY_BYTES);

    //  Only now, with everything verified, look at the metadata
    if (s_store_peer_metadata (self, plain, plain_size,
                               plain + INITIATE_PLAIN_MIN, metadata_size)) {
        sodium_memzero (plain, plain_size);
        free (plain);
        return s_fail (self, CURVE_ERR_METADATA,
                       "INITIATE metadata breaks the RFC 26 grammar");
    }
    memcpy (self->peer_key, peer_key, CURVE_KEY_BYTES);
    self->have_peer_key = true;
    self->recv_nonce = counter;
    self->phase = PHASE_AUTH;
    return 0;
}


//  --------------------------------------------------------------------------
//  Handshake input

int
curve_codec_recv (curve_codec_t *self, const uint8_t *data, size_t size)
{
    CURVE_REQUIRE (self);
    CURVE_REQUIRE (data || size == 0);
    if (self->phase == PHASE_FAILED)
        return s_reject (self, CURVE_ERR_STATE,
                         "handshake has failed: %s",
                         curve_codec_error_name (self->error));
    if (self->out_size)
        return s_reject (self, CURVE_ERR_STATE,
                         "send the pending command first");

    switch (self->phase) {
        case PHASE_EXPECT_WELCOME:
            if (s_is_command (data, size, NAME_WELCOME))
                return s_process_welcome (self, data, size);
            if (s_is_command (data, size, NAME_ERROR))
                return s_process_error (self, data, size);
            break;
        case PHASE_EXPECT_READY:
            if (s_is_command (data, size, NAME_READY))
                return s_process_ready (self, data, size);
            if (s_is_command (data, size, NAME_ERROR))
                return s_process_error (self, data, size);
            break;
        case PHASE_EXPECT_HELLO:
            if (s_is_command (data, size, NAME_HELLO))
                return s_process_hello (self, data, size);
            break;
        case PHASE_EXPECT_INITIATE:
            if (s_is_command (data, size, NAME_INITIATE))
                return s_process_initiate (self, data, size);
            break;
        default:
            return s_reject (self, CURVE_ERR_STATE,
                             "not expecting a handshake command");
    }
    //  A well-named command at the wrong time, or garbage
    const char *names [] = { NAME_HELLO, NAME_WELCOME, NAME_INITIATE,
                             NAME_READY, NAME_MESSAGE, NAME_ERROR };
    for (size_t index = 0; index < sizeof names / sizeof names [0]; index++)
        if (s_is_command (data, size, names [index]))
            return s_fail (self, CURVE_ERR_UNEXPECTED,
                           "%s is not expected in this state",
                           names [index] + 1);
    return s_fail (self, CURVE_ERR_MALFORMED, "not a CurveZMQ command");
}


//  --------------------------------------------------------------------------
//  Server: authorisation verdict

int
curve_codec_allow (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    if (self->phase != PHASE_AUTH)
        return s_reject (self, CURVE_ERR_STATE, "not awaiting a decision");
    //  READY = name, short nonce, Box [metadata](S'->C')
    if (self->metadata_size > SIZE_MAX - CURVE_READY_MIN_BYTES)
        return s_fail (self, CURVE_ERR_TOO_LARGE, "metadata too large");
    size_t command_size = CURVE_READY_MIN_BYTES + self->metadata_size;
    uint8_t *out = s_out_reserve (self, command_size);
    if (!out)
        return s_fail (self, CURVE_ERR_INTERNAL, "out of memory");
    memcpy (out, NAME_READY, 6);
    s_put_uint64 (out + 6, self->send_nonce);
    if (self->metadata_size)
        memcpy (out + 30, self->metadata, self->metadata_size);
    self->metadata_locked = true;
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, PREFIX_READY, self->send_nonce);
    if (crypto_box_detached_afternm (out + 30, out + 14, out + 30,
                                     self->metadata_size, nonce,
                                     self->session_key))
        return s_fail (self, CURVE_ERR_INTERNAL, "cannot box READY");
    self->send_nonce++;
    self->out_size = command_size;
    self->phase = PHASE_READY;
    return 0;
}

int
curve_codec_deny (curve_codec_t *self, const char *reason)
{
    CURVE_REQUIRE (self);
    if (self->phase != PHASE_AUTH)
        return s_reject (self, CURVE_ERR_STATE, "not awaiting a decision");
    if (!reason)
        reason = "";
    size_t length = strlen (reason);
    if (length > CURVE_REASON_MAX)
        return s_reject (self, CURVE_ERR_MALFORMED,
                         "deny reason is longer than 255 characters");
    for (size_t index = 0; index < length; index++)
        if (reason [index] < 0x20 || reason [index] > 0x7E)
            return s_reject (self, CURVE_ERR_MALFORMED,
                             "deny reason must be printable ASCII");
    uint8_t *out = s_out_reserve (self, CURVE_ERROR_MIN_BYTES + length);
    if (!out)
        return s_fail (self, CURVE_ERR_INTERNAL, "out of memory");
    memcpy (out, NAME_ERROR, 6);
    out [6] = (uint8_t) length;
    memcpy (out + 7, reason, length);
    memcpy (self->error_text, reason, length + 1);
    s_fail (self, CURVE_ERR_DENIED, "client denied: \"%s\"", reason);
    //  The ERROR command stays pending after the failure
    self->out_size = CURVE_ERROR_MIN_BYTES + length;
    return 0;
}


//  --------------------------------------------------------------------------
//  MESSAGE: encode and decode

size_t
curve_codec_message_size (size_t payload_size)
{
    CURVE_REQUIRE (payload_size <= SIZE_MAX - CURVE_MESSAGE_OVERHEAD);
    return payload_size + CURVE_MESSAGE_OVERHEAD;
}

int
curve_codec_encode (curve_codec_t *self, const void *data, size_t size,
                    int flags, uint8_t *out, size_t out_size)
{
    CURVE_REQUIRE (self);
    CURVE_REQUIRE (out);
    CURVE_REQUIRE (data || size == 0);
    CURVE_REQUIRE (out_size >= curve_codec_message_size (size));
    if (self->phase != PHASE_READY)
        return s_reject (self, CURVE_ERR_STATE, "handshake is not complete");
    if (self->out_size)
        return s_reject (self, CURVE_ERR_STATE,
                         "send the pending command first");
    if (flags & ~(CURVE_FLAG_MORE | CURVE_FLAG_COMMAND))
        return s_reject (self, CURVE_ERR_FLAGS,
                         "only MORE and COMMAND flags may be set");
    //  Refuse to wrap the counter: 2^64-1 is never used
    if (self->send_nonce == UINT64_MAX)
        return s_reject (self, CURVE_ERR_NONCE_EXHAUSTED,
                         "short nonce counter is exhausted");

    uint8_t *payload = out + CURVE_MESSAGE_PAYLOAD_OFFSET;
    if (size && data != payload)
        memmove (payload, data, size);
    payload [-1] = (uint8_t) flags;
    memcpy (out, NAME_MESSAGE, 8);
    s_put_uint64 (out + 8, self->send_nonce);
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, self->send_prefix, self->send_nonce);
    if (crypto_box_detached_afternm (payload - 1, out + 16, payload - 1,
                                     size + 1, nonce, self->session_key))
        return s_reject (self, CURVE_ERR_INTERNAL, "cannot box MESSAGE");
    self->send_nonce++;
    return 0;
}

int
curve_codec_decode (curve_codec_t *self, uint8_t *msg, size_t size,
                    uint8_t **data, size_t *data_size, int *flags)
{
    CURVE_REQUIRE (self);
    CURVE_REQUIRE (msg || size == 0);
    if (self->phase != PHASE_READY)
        return s_reject (self, CURVE_ERR_STATE, "handshake is not complete");
    if (size < CURVE_MESSAGE_MIN_BYTES)
        return s_reject (self, CURVE_ERR_MALFORMED, "MESSAGE is too short");
    if (memcmp (msg, NAME_MESSAGE, 8))
        return s_reject (self, CURVE_ERR_MALFORMED, "not a MESSAGE command");
    uint64_t counter = s_get_uint64 (msg + 8);
    if (counter <= self->recv_nonce)
        return s_reject (self, CURVE_ERR_NONCE,
                         "MESSAGE short nonce replayed or out of order");
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, self->recv_prefix, counter);
    //  The MAC is checked before anything is written, so a forgery leaves
    //  msg untouched
    if (crypto_box_open_detached_afternm (msg + 32, msg + 32, msg + 16,
                                          size - 32, nonce,
                                          self->session_key))
        return s_reject (self, CURVE_ERR_BOX, "MESSAGE box did not open");
    uint8_t msg_flags = msg [32];
    if (msg_flags & ~(CURVE_FLAG_MORE | CURVE_FLAG_COMMAND))
        return s_reject (self, CURVE_ERR_FLAGS,
                         "MESSAGE flags have reserved bits set");
    //  Only an authentic MESSAGE moves the replay window
    self->recv_nonce = counter;
    if (data)
        *data = msg + CURVE_MESSAGE_PAYLOAD_OFFSET;
    if (data_size)
        *data_size = size - CURVE_MESSAGE_OVERHEAD;
    if (flags)
        *flags = msg_flags;
    return 0;
}


//  --------------------------------------------------------------------------
//  Queries

curve_error_t
curve_codec_error (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    return self->phase == PHASE_FAILED? self->error: CURVE_OK;
}

curve_error_t
curve_codec_last_error (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    return self->last_error;
}

const char *
curve_codec_reason (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    return self->reason;
}

const char *
curve_codec_error_text (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    return self->error_text;
}

const char *
curve_codec_error_name (curve_error_t error)
{
    switch (error) {
        case CURVE_OK:                  return "CURVE_OK";
        case CURVE_ERR_STATE:           return "CURVE_ERR_STATE";
        case CURVE_ERR_MALFORMED:       return "CURVE_ERR_MALFORMED";
        case CURVE_ERR_UNEXPECTED:      return "CURVE_ERR_UNEXPECTED";
        case CURVE_ERR_BOX:             return "CURVE_ERR_BOX";
        case CURVE_ERR_COOKIE:          return "CURVE_ERR_COOKIE";
        case CURVE_ERR_VOUCH:           return "CURVE_ERR_VOUCH";
        case CURVE_ERR_METADATA:        return "CURVE_ERR_METADATA";
        case CURVE_ERR_TOO_LARGE:       return "CURVE_ERR_TOO_LARGE";
        case CURVE_ERR_KEY:             return "CURVE_ERR_KEY";
        case CURVE_ERR_NONCE:           return "CURVE_ERR_NONCE";
        case CURVE_ERR_NONCE_EXHAUSTED: return "CURVE_ERR_NONCE_EXHAUSTED";
        case CURVE_ERR_FLAGS:           return "CURVE_ERR_FLAGS";
        case CURVE_ERR_DENIED:          return "CURVE_ERR_DENIED";
        case CURVE_ERR_REJECTED:        return "CURVE_ERR_REJECTED";
        case CURVE_ERR_INTERNAL:        return "CURVE_ERR_INTERNAL";
    }
    return "CURVE_ERR_UNKNOWN";
}

bool
curve_codec_is_server (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    return self->is_server;
}

const uint8_t *
curve_codec_peer_key (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    return self->have_peer_key? self->peer_key: NULL;
}

const uint8_t *
curve_codec_metadata (curve_codec_t *self, const char *name, size_t *size)
{
    CURVE_REQUIRE (self);
    CURVE_REQUIRE (name);
    size_t pos = 0;
    const uint8_t *wire_name, *value;
    size_t name_size, value_size;
    while (pos < self->peer_metadata_size
       &&  s_property_next (self->peer_metadata, self->peer_metadata_size,
                            &pos, &wire_name, &name_size, &value, &value_size))
        if (s_name_equal (wire_name, name_size, name)) {
            if (size)
                *size = value_size;
            return value;
        }
    if (size)
        *size = 0;
    return NULL;
}

size_t
curve_codec_metadata_count (curve_codec_t *self)
{
    CURVE_REQUIRE (self);
    return self->peer_metadata_count;
}

int
curve_codec_metadata_at (curve_codec_t *self, size_t index,
                         const char **name, size_t *name_size,
                         const uint8_t **value, size_t *value_size)
{
    CURVE_REQUIRE (self);
    if (index >= self->peer_metadata_count)
        return -1;
    size_t pos = 0;
    const uint8_t *wire_name = NULL, *wire_value = NULL;
    size_t wire_name_size = 0, wire_value_size = 0;
    for (size_t count = 0; count <= index; count++)
        if (!s_property_next (self->peer_metadata, self->peer_metadata_size,
                              &pos, &wire_name, &wire_name_size,
                              &wire_value, &wire_value_size))
            return -1;              //  Cannot happen: validated on receipt
    if (name)
        *name = (const char *) wire_name;
    if (name_size)
        *name_size = wire_name_size;
    if (value)
        *value = wire_value;
    if (value_size)
        *value_size = wire_value_size;
    return 0;
}


//  --------------------------------------------------------------------------
//  Internal: the name rule for the virtual sockets

bool
curve_codec_name_valid (const char *name)
{
    CURVE_REQUIRE (name);
    return s_name_valid ((const uint8_t *) name, strlen (name));
}


//  --------------------------------------------------------------------------
//  Internal test hooks

void
curve_codec_test_set_random (curve_random_fn *fn, void *arg)
{
    s_random_fn = fn;
    s_random_arg = arg;
}

void
curve_codec_test_set_send_nonce (curve_codec_t *self, uint64_t nonce)
{
    CURVE_REQUIRE (self);
    self->send_nonce = nonce;
}


//  --------------------------------------------------------------------------
//  Self test of this class. Everything runs in memory: two codecs pass
//  buffers to each other.

//  @selftest
//  The test asserts must hold in every build, NDEBUG or not
#undef NDEBUG
#include <assert.h>

//  Deterministic random source for known-answer vectors: each draw is
//  ChaCha20 output under a seed made of a fixed tag and a draw counter.
typedef struct {
    uint64_t draws;                 //  Draws so far
    FILE *log;                      //  Where to record draws, or NULL
} test_random_t;

static void
s_test_random (void *buf, size_t size, void *arg)
{
    test_random_t *state = (test_random_t *) arg;
    uint8_t seed [randombytes_SEEDBYTES] = "curve test vectors, draw #";
    s_put_uint64 (seed + randombytes_SEEDBYTES - 8, ++state->draws);
    randombytes_buf_deterministic (buf, size, seed);
}

typedef struct {
    uint8_t client_public [CURVE_KEY_BYTES];
    uint8_t client_secret [CURVE_KEY_BYTES];
    uint8_t server_public [CURVE_KEY_BYTES];
    uint8_t server_secret [CURVE_KEY_BYTES];
} test_keys_t;

static void
s_test_keys (test_keys_t *keys)
{
    uint8_t seed [crypto_box_SEEDBYTES];
    memset (seed, 'C', sizeof seed);
    assert (crypto_box_seed_keypair (keys->client_public, keys->client_secret,
                                     seed) == 0);
    memset (seed, 'S', sizeof seed);
    assert (crypto_box_seed_keypair (keys->server_public, keys->server_secret,
                                     seed) == 0);
}

//  Move the pending command from one codec to the other; returns what recv
//  returned.
static int
s_pump (curve_codec_t *from, curve_codec_t *to)
{
    size_t size;
    const uint8_t *data = curve_codec_send_buf (from, &size);
    assert (data && size);
    //  Copy, so that the receiver never reads the sender's buffer
    uint8_t *copy = (uint8_t *) malloc (size);
    assert (copy);
    memcpy (copy, data, size);
    curve_codec_send_ack (from);
    int rc = curve_codec_recv (to, copy, size);
    free (copy);
    return rc;
}

//  Take a copy of the pending command (caller frees)
static uint8_t *
s_take (curve_codec_t *codec, size_t *size)
{
    const uint8_t *data = curve_codec_send_buf (codec, size);
    assert (data && *size);
    uint8_t *copy = (uint8_t *) malloc (*size);
    assert (copy);
    memcpy (copy, data, *size);
    curve_codec_send_ack (codec);
    return copy;
}

//  Run a whole handshake between a fresh client and server pair
static void
s_handshake (curve_codec_t *client, curve_codec_t *server)
{
    assert (s_pump (client, server) == 0);          //  HELLO
    assert (s_pump (server, client) == 0);          //  WELCOME
    assert (s_pump (client, server) == 0);          //  INITIATE
    assert (curve_codec_state (server) == CURVE_CODEC_AUTH);
    assert (curve_codec_allow (server) == 0);
    assert (s_pump (server, client) == 0);          //  READY
    assert (curve_codec_state (client) == CURVE_CODEC_READY);
    assert (curve_codec_state (server) == CURVE_CODEC_READY);
}

static void
s_new_pair (test_keys_t *keys, curve_codec_t **client, curve_codec_t **server)
{
    *client = curve_codec_new_client (keys->client_public,
                                      keys->client_secret,
                                      keys->server_public);
    *server = curve_codec_new_server (keys->server_public,
                                      keys->server_secret);
    assert (*client && *server);
}

//  Encode one frame and decode it at the other end; check it arrived whole
static void
s_round_trip (curve_codec_t *sender, curve_codec_t *receiver,
              const uint8_t *payload, size_t size, int flags)
{
    size_t msg_size = curve_codec_message_size (size);
    uint8_t *msg = (uint8_t *) malloc (msg_size);
    assert (msg);
    assert (curve_codec_encode (sender, payload, size, flags, msg,
                                msg_size) == 0);
    uint8_t *data;
    size_t data_size;
    int data_flags;
    assert (curve_codec_decode (receiver, msg, msg_size, &data, &data_size,
                                &data_flags) == 0);
    assert (data_size == size);
    assert (data_flags == flags);
    assert (size == 0 || memcmp (data, payload, size) == 0);
    free (msg);
}

//  Encode a MESSAGE into a fresh buffer (caller frees)
static uint8_t *
s_encode (curve_codec_t *sender, const char *text, int flags, size_t *size)
{
    *size = curve_codec_message_size (strlen (text));
    uint8_t *msg = (uint8_t *) malloc (*size);
    assert (msg);
    assert (curve_codec_encode (sender, text, strlen (text), flags, msg,
                                *size) == 0);
    return msg;
}

//  Decode a copy of msg, leaving msg as it was; returns decode's result
static int
s_decode_copy (curve_codec_t *receiver, const uint8_t *msg, size_t size,
               const char *expect)
{
    uint8_t *copy = (uint8_t *) malloc (size? size: 1);
    assert (copy);
    if (size)
        memcpy (copy, msg, size);
    uint8_t *data;
    size_t data_size;
    int rc = curve_codec_decode (receiver, copy, size, &data, &data_size,
                                 NULL);
    if (rc == 0 && expect) {
        assert (data_size == strlen (expect));
        assert (memcmp (data, expect, data_size) == 0);
    }
    free (copy);
    return rc;
}

//  Hex helpers for the vectors file
static void
s_hex_write (FILE *file, const char *name, const uint8_t *data, size_t size)
{
    fprintf (file, "%s ", name);
    for (size_t index = 0; index < size; index++)
        fprintf (file, "%02x", data [index]);
    fprintf (file, "\n");
}

//  Find "name hex" in the vectors file and compare it with data
static bool
s_hex_check (const char *text, const char *name, const uint8_t *data,
             size_t size)
{
    size_t name_len = strlen (name);
    const char *line = text;
    while (line && *line) {
        if (strncmp (line, name, name_len) == 0 && line [name_len] == ' ') {
            const char *hex = line + name_len + 1;
            for (size_t index = 0; index < size; index++) {
                unsigned int byte;
                if (sscanf (hex + 2 * index, "%2x", &byte) != 1
                ||  byte != data [index])
                    return false;
            }
            char end = hex [2 * size];
            return end == '\n' || end == '\r' || end == 0;
        }
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    return false;
}

//  Known-answer vectors: with fixed keys and a fixed random source, every
//  command is exactly the bytes in RFC/vectors.txt. CURVE_VECTORS names the
//  file; with CURVE_WRITE_VECTORS=1 the test writes it instead.
static void
s_test_vectors (bool verbose)
{
    const char *path = getenv ("CURVE_VECTORS");
    if (!path)
        path = "RFC/vectors.txt";
    bool writing = getenv ("CURVE_WRITE_VECTORS")
                && strcmp (getenv ("CURVE_WRITE_VECTORS"), "1") == 0;

    test_random_t random = { 0, NULL };
    curve_codec_test_set_random (s_test_random, &random);
    test_keys_t keys;
    s_test_keys (&keys);
    curve_codec_t *client, *server;
    s_new_pair (&keys, &client, &server);
    assert (curve_codec_set_metadata (client, "Socket-Type", "DEALER", 6) == 0);
    assert (curve_codec_set_metadata (server, "Socket-Type", "ROUTER", 6) == 0);

    const char *names [] = { "hello", "welcome", "initiate", "ready",
                             "message-client", "message-server", "error" };
    uint8_t *commands [7];
    size_t sizes [7];
    commands [0] = s_take (client, &sizes [0]);
    assert (curve_codec_recv (server, commands [0], sizes [0]) == 0);
    commands [1] = s_take (server, &sizes [1]);
    assert (curve_codec_recv (client, commands [1], sizes [1]) == 0);
    commands [2] = s_take (client, &sizes [2]);
    assert (curve_codec_recv (server, commands [2], sizes [2]) == 0);
    assert (curve_codec_allow (server) == 0);
    commands [3] = s_take (server, &sizes [3]);
    assert (curve_codec_recv (client, commands [3], sizes [3]) == 0);
    commands [4] = s_encode (client, "Hello", 0, &sizes [4]);
    commands [5] = s_encode (server, "World", CURVE_FLAG_MORE, &sizes [5]);
    assert (s_decode_copy (server, commands [4], sizes [4], "Hello") == 0);
    assert (s_decode_copy (client, commands [5], sizes [5], "World") == 0);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);

    //  A second pair, whose server denies the client
    s_new_pair (&keys, &client, &server);
    s_pump (client, server);
    s_pump (server, client);
    s_pump (client, server);
    assert (curve_codec_deny (server, "No access") == 0);
    commands [6] = s_take (server, &sizes [6]);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);
    curve_codec_test_set_random (NULL, NULL);

    if (writing) {
        FILE *file = fopen (path, "w");
        assert (file);
        fprintf (file,
            "# CurveZMQ known-answer vectors for curve (see RFC/curvezmq.md,\n"
            "# section 'Test vectors'). Keys come from crypto_box_seed_keypair\n"
            "# with 32 'C' (client) or 32 'S' (server) octets as seed; random\n"
            "# octets come from randombytes_buf_deterministic under a seed of\n"
            "# the text \"curve test vectors, draw #\" padded with zeros to 24\n"
            "# octets and the draw number (from 1) as a big-endian uint64.\n"
            "# Client metadata: Socket-Type=DEALER; server: Socket-Type=ROUTER.\n"
            "# message-client carries \"Hello\" (flags 0), message-server\n"
            "# \"World\" (flags MORE); error is a deny with \"No access\".\n");
        s_hex_write (file, "client-public", keys.client_public, CURVE_KEY_BYTES);
        s_hex_write (file, "client-secret", keys.client_secret, CURVE_KEY_BYTES);
        s_hex_write (file, "server-public", keys.server_public, CURVE_KEY_BYTES);
        s_hex_write (file, "server-secret", keys.server_secret, CURVE_KEY_BYTES);
        for (int index = 0; index < 7; index++)
            s_hex_write (file, names [index], commands [index], sizes [index]);
        fclose (file);
        if (verbose)
            printf ("   wrote %s\n", path);
    }
    else {
        FILE *file = fopen (path, "r");
        if (!file)
            fprintf (stderr, "cannot open vectors file %s (set CURVE_VECTORS)\n",
                     path);
        assert (file);
        static char text [16384];
        size_t length = fread (text, 1, sizeof text - 1, file);
        text [length] = 0;
        fclose (file);
        assert (s_hex_check (text, "client-public", keys.client_public,
                             CURVE_KEY_BYTES));
        assert (s_hex_check (text, "server-public", keys.server_public,
                             CURVE_KEY_BYTES));
        for (int index = 0; index < 7; index++) {
            bool same = s_hex_check (text, names [index], commands [index],
                                     sizes [index]);
            if (!same)
                fprintf (stderr, "vector '%s' differs from %s\n",
                         names [index], path);
            assert (same);
        }
    }
    for (int index = 0; index < 7; index++)
        free (commands [index]);
}

//  Every single-octet change and every truncation of one handshake command
//  must be refused. make_command builds a fresh pair up to the point where
//  command number 'step' (0 HELLO .. 3 READY) is pending and returns the
//  receiver.
static curve_codec_t *
s_pair_at_step (test_keys_t *keys, int step, curve_codec_t **client_p,
                curve_codec_t **server_p)
{
    s_new_pair (keys, client_p, server_p);
    assert (curve_codec_set_metadata (*client_p, "Identity", "abc", 3) == 0);
    assert (curve_codec_set_metadata (*server_p, "Socket-Type", "ROUTER",
                                      6) == 0);
    if (step > 0)
        assert (s_pump (*client_p, *server_p) == 0);
    if (step > 1)
        assert (s_pump (*server_p, *client_p) == 0);
    if (step > 2) {
        assert (s_pump (*client_p, *server_p) == 0);
        assert (curve_codec_allow (*server_p) == 0);
    }
    return (step % 2 == 0)? *server_p: *client_p;
}

static void
s_test_handshake_tampering (bool verbose)
{
    test_random_t random = { 0, NULL };
    test_keys_t keys;
    s_test_keys (&keys);
    const char *step_names [] = { "HELLO", "WELCOME", "INITIATE", "READY" };
    for (int step = 0; step < 4; step++) {
        //  The genuine command, made with a fixed random source so that
        //  every fresh pair produces the same bytes
        random.draws = 0;
        curve_codec_test_set_random (s_test_random, &random);
        curve_codec_t *client, *server;
        curve_codec_t *receiver = s_pair_at_step (&keys, step, &client,
                                                  &server);
        curve_codec_t *sender = receiver == server? client: server;
        size_t size;
        uint8_t *command = s_take (sender, &size);
        assert (curve_codec_recv (receiver, command, size) == 0);
        curve_codec_destroy (&client);
        curve_codec_destroy (&server);

        uint8_t *bad = (uint8_t *) malloc (size + 1);
        assert (bad);
        size_t refused = 0;
        //  Flip each octet (two different flips) and truncate at each length
        for (size_t index = 0; index < 3 * size + 1; index++) {
            random.draws = 0;
            receiver = s_pair_at_step (&keys, step, &client, &server);
            sender = receiver == server? client: server;
            curve_codec_send_ack (sender);
            memcpy (bad, command, size);
            size_t bad_size = size;
            if (index < size)
                bad [index] ^= 0x01;
            else
            if (index < 2 * size)
                bad [index - size] ^= 0x80;
            else
            if (index < 3 * size)
                bad_size = index - 2 * size;
            else {
                bad [size] = 0;         //  One octet too many
                bad_size = size + 1;
            }
            int rc = curve_codec_recv (receiver, bad, bad_size);
            //  A longer INITIATE or READY is valid syntax but its box fails
            assert (rc == -1);
            assert (curve_codec_state (receiver) & CURVE_CODEC_FAILED);
            assert (curve_codec_error (receiver) != CURVE_OK);
            assert (curve_codec_last_error (receiver)
                 == curve_codec_error (receiver));
            assert (strlen (curve_codec_reason (receiver)) > 0);
            refused++;
            curve_codec_destroy (&client);
            curve_codec_destroy (&server);
        }
        if (verbose)
            printf ("   %s: %zu flipped, truncated or extended copies "
                    "refused\n", step_names [step], refused);
        free (bad);
        free (command);
    }
    curve_codec_test_set_random (NULL, NULL);
}

static void
s_test_messages (bool verbose)
{
    test_keys_t keys;
    s_test_keys (&keys);
    curve_codec_t *client, *server;
    s_new_pair (&keys, &client, &server);
    s_handshake (client, server);

    //  Payload sizes around the edges of one- and two-octet lengths
    size_t sizes [] = { 0, 1, 222, 223, 255, 256, 65535, 65536, 1024 * 1024 };
    uint8_t *payload = (uint8_t *) malloc (1024 * 1024);
    assert (payload);
    for (size_t index = 0; index < 1024 * 1024; index++)
        payload [index] = (uint8_t) (index * 7 + 3);
    for (size_t index = 0; index < sizeof sizes / sizeof sizes [0]; index++) {
        s_round_trip (client, server, payload, sizes [index], 0);
        s_round_trip (server, client, payload, sizes [index], 0);
    }
    //  Multi-frame messages: MORE on all but the last frame; COMMAND carried
    s_round_trip (client, server, payload, 10, CURVE_FLAG_MORE);
    s_round_trip (client, server, payload + 10, 20, CURVE_FLAG_MORE);
    s_round_trip (client, server, payload + 30, 0, 0);
    s_round_trip (server, client, payload, 4, CURVE_FLAG_COMMAND);
    s_round_trip (server, client, payload, 4,
                  CURVE_FLAG_COMMAND | CURVE_FLAG_MORE);

    //  Encrypting in place: payload already at the payload offset
    size_t msg_size = curve_codec_message_size (100);
    uint8_t *msg = (uint8_t *) malloc (msg_size);
    assert (msg);
    memcpy (msg + CURVE_MESSAGE_PAYLOAD_OFFSET, payload, 100);
    assert (curve_codec_encode (client, msg + CURVE_MESSAGE_PAYLOAD_OFFSET,
                                100, 0, msg, msg_size) == 0);
    uint8_t *data;
    size_t data_size;
    assert (curve_codec_decode (server, msg, msg_size, &data, &data_size,
                                NULL) == 0);
    assert (data_size == 100 && memcmp (data, payload, 100) == 0);
    free (msg);

    //  Many messages each way; nonces on the wire must be big-endian
    //  counters (a host-order bug shows past 256 and 65536)
    uint64_t client_next = 0, server_next = 0;
    uint8_t frame [CURVE_MESSAGE_OVERHEAD + 8];
    for (int count = 0; count < 70000; count++) {
        uint8_t body [8];
        s_put_uint64 (body, (uint64_t) count);
        assert (curve_codec_encode (client, body, 8, 0, frame,
                                    sizeof frame) == 0);
        uint64_t nonce = s_get_uint64 (frame + 8);
        assert (client_next == 0 || nonce == client_next);
        client_next = nonce + 1;
        assert (curve_codec_decode (server, frame, sizeof frame, &data,
                                    &data_size, NULL) == 0);
        assert (data_size == 8 && s_get_uint64 (data) == (uint64_t) count);

        assert (curve_codec_encode (server, body, 8, 0, frame,
                                    sizeof frame) == 0);
        nonce = s_get_uint64 (frame + 8);
        assert (server_next == 0 || nonce == server_next);
        server_next = nonce + 1;
        assert (curve_codec_decode (client, frame, sizeof frame, &data,
                                    &data_size, NULL) == 0);
        assert (data_size == 8 && s_get_uint64 (data) == (uint64_t) count);
    }
    assert (client_next > 70000 && server_next > 70000);
    if (verbose)
        printf ("   70000 messages each way, nonces up to %" PRIu64 "\n",
                client_next - 1);

    //  Every flipped octet and every truncation of a MESSAGE is refused and
    //  the session goes on
    size_t size;
    uint8_t *genuine = s_encode (client, "a message a broker may tamper with",
                                 0, &size);
    uint8_t *bad = (uint8_t *) malloc (size);
    assert (bad);
    for (size_t index = 0; index < 2 * size; index++) {
        memcpy (bad, genuine, size);
        size_t bad_size = size;
        if (index < size)
            bad [index] ^= 0x01;
        else
            bad_size = index - size;
        assert (curve_codec_decode (server, bad, bad_size, NULL, NULL,
                                    NULL) == -1);
        assert (curve_codec_last_error (server) != CURVE_OK);
        assert (curve_codec_state (server) == CURVE_CODEC_READY);
    }
    assert (s_decode_copy (server, genuine, size,
                           "a message a broker may tamper with") == 0);
    free (bad);
    free (genuine);

    //  Replayed, reordered and duplicated MESSAGEs are refused; the session
    //  still works afterwards
    size_t size1, size2, size3, size4;
    uint8_t *msg1 = s_encode (client, "one", 0, &size1);
    uint8_t *msg2 = s_encode (client, "two", 0, &size2);
    uint8_t *msg3 = s_encode (client, "three", 0, &size3);
    uint8_t *msg4 = s_encode (client, "four", 0, &size4);
    assert (s_decode_copy (server, msg1, size1, "one") == 0);
    assert (s_decode_copy (server, msg1, size1, NULL) == -1);      //  Replay
    assert (curve_codec_last_error (server) == CURVE_ERR_NONCE);
    assert (s_decode_copy (server, msg3, size3, "three") == 0);
    assert (s_decode_copy (server, msg2, size2, NULL) == -1);      //  Reorder
    assert (curve_codec_last_error (server) == CURVE_ERR_NONCE);
    assert (s_decode_copy (server, msg3, size3, NULL) == -1);      //  Duplicate
    assert (s_decode_copy (server, msg4, size4, "four") == 0);
    //  A client MESSAGE fed back to the client (reflection) does not open
    uint8_t *msg5 = s_encode (client, "five", 0, &size);
    assert (s_decode_copy (client, msg5, size, NULL) == -1);
    assert (s_decode_copy (server, msg5, size, "five") == 0);
    free (msg1);
    free (msg2);
    free (msg3);
    free (msg4);
    free (msg5);

    //  Reserved flag bits: refused when encoding and when received. The
    //  test forges the latter with the session key, as only a buggy peer
    //  could.
    msg_size = curve_codec_message_size (1);
    msg = (uint8_t *) malloc (msg_size);
    assert (msg);
    assert (curve_codec_encode (client, "x", 1, 0x04, msg, msg_size) == -1);
    assert (curve_codec_last_error (client) == CURVE_ERR_FLAGS);
    assert (curve_codec_encode (client, "x", 1, 0, msg, msg_size) == 0);
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, PREFIX_MESSAGE_C, s_get_uint64 (msg + 8));
    msg [32] = 0x04;
    msg [33] = 'x';
    assert (crypto_box_detached_afternm (msg + 32, msg + 16, msg + 32, 2,
                                         nonce, client->session_key) == 0);
    assert (curve_codec_decode (server, msg, msg_size, NULL, NULL, NULL) == -1);
    assert (curve_codec_last_error (server) == CURVE_ERR_FLAGS);
    assert (curve_codec_state (server) == CURVE_CODEC_READY);
    free (msg);

    //  Counter near the wrap: 2^64-2 is the last nonce ever sent
    curve_codec_test_set_send_nonce (client, UINT64_MAX - 1);
    s_round_trip (client, server, payload, 3, 0);
    msg_size = curve_codec_message_size (3);
    msg = (uint8_t *) malloc (msg_size);
    assert (msg);
    assert (curve_codec_encode (client, payload, 3, 0, msg, msg_size) == -1);
    assert (curve_codec_last_error (client) == CURVE_ERR_NONCE_EXHAUSTED);
    free (msg);
    //  The other direction still works
    s_round_trip (server, client, payload, 3, 0);

    free (payload);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);
}

static void
s_test_failures (bool verbose)
{
    test_keys_t keys;
    s_test_keys (&keys);
    curve_codec_t *client, *server;

    //  Wrong server key: the server cannot open HELLO's signature
    uint8_t other_public [CURVE_KEY_BYTES], other_secret [CURVE_KEY_BYTES];
    assert (crypto_box_keypair (other_public, other_secret) == 0);
    client = curve_codec_new_client (keys.client_public, keys.client_secret,
                                     other_public);
    server = curve_codec_new_server (keys.server_public, keys.server_secret);
    assert (client && server);
    assert (s_pump (client, server) == -1);
    assert (curve_codec_error (server) == CURVE_ERR_BOX);
    assert (curve_codec_state (server) == CURVE_CODEC_FAILED);
    curve_codec_destroy (&server);
    //  ... and a WELCOME from a server with another key does not open
    server = curve_codec_new_server (other_public, other_secret);
    curve_codec_t *impostor = server;
    curve_codec_destroy (&client);
    client = curve_codec_new_client (keys.client_public, keys.client_secret,
                                     keys.server_public);
    assert (client);
    size_t size;
    uint8_t *hello = s_take (client, &size);
    //  The impostor holds other_secret, not the key the client expects, so
    //  it cannot even open the HELLO; give it a HELLO made for its own key
    curve_codec_t *decoy = curve_codec_new_client (keys.client_public,
                                                   keys.client_secret,
                                                   other_public);
    assert (decoy);
    assert (s_pump (decoy, impostor) == 0);
    assert (s_pump (impostor, client) == -1);       //  WELCOME for C'' != C'
    assert (curve_codec_error (client) == CURVE_ERR_BOX);
    free (hello);
    curve_codec_destroy (&decoy);
    curve_codec_destroy (&impostor);
    curve_codec_destroy (&client);

    //  Weak keys: an all-zero server key is refused at construction; an
    //  all-zero client transient key in HELLO is an error, not an abort
    uint8_t zeros [CURVE_KEY_BYTES] = { 0 };
    assert (curve_codec_new_client (keys.client_public, keys.client_secret,
                                    zeros) == NULL);
    server = curve_codec_new_server (keys.server_public, keys.server_secret);
    uint8_t forged [CURVE_HELLO_BYTES] = { 0 };
    memcpy (forged, NAME_HELLO, 6);
    forged [6] = 1;
    assert (curve_codec_recv (server, forged, sizeof forged) == -1);
    assert (curve_codec_error (server) == CURVE_ERR_KEY);
    curve_codec_destroy (&server);

    //  HELLO version 2.0 and non-zero padding are refused before any crypto
    s_new_pair (&keys, &client, &server);
    hello = s_take (client, &size);
    hello [6] = 2;
    assert (curve_codec_recv (server, hello, size) == -1);
    assert (curve_codec_error (server) == CURVE_ERR_MALFORMED);
    curve_codec_destroy (&server);
    server = curve_codec_new_server (keys.server_public, keys.server_secret);
    hello [6] = 1;
    hello [40] = 1;
    assert (curve_codec_recv (server, hello, size) == -1);
    assert (curve_codec_error (server) == CURVE_ERR_MALFORMED);
    //  The first error sticks: a later valid HELLO is refused too
    hello [40] = 0;
    assert (curve_codec_recv (server, hello, size) == -1);
    assert (curve_codec_error (server) == CURVE_ERR_MALFORMED);
    assert (curve_codec_last_error (server) == CURVE_ERR_STATE);
    free (hello);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);

    //  Deny: the client receives ERROR with the reason
    s_new_pair (&keys, &client, &server);
    assert (s_pump (client, server) == 0);
    assert (s_pump (server, client) == 0);
    assert (s_pump (client, server) == 0);
    assert (curve_codec_deny (server, "bad\x01reason") == -1);
    assert (curve_codec_last_error (server) == CURVE_ERR_MALFORMED);
    char long_reason [300];
    memset (long_reason, 'x', sizeof long_reason - 1);
    long_reason [sizeof long_reason - 1] = 0;
    assert (curve_codec_deny (server, long_reason) == -1);
    assert (curve_codec_state (server) == CURVE_CODEC_AUTH);
    assert (curve_codec_deny (server, "No access") == 0);
    assert (curve_codec_state (server)
         == (CURVE_CODEC_SEND | CURVE_CODEC_FAILED));
    assert (curve_codec_error (server) == CURVE_ERR_DENIED);
    assert (strcmp (curve_codec_error_text (server), "No access") == 0);
    assert (s_pump (server, client) == -1);
    assert (curve_codec_state (client) == CURVE_CODEC_FAILED);
    assert (curve_codec_error (client) == CURVE_ERR_REJECTED);
    assert (strcmp (curve_codec_error_text (client), "No access") == 0);
    assert (strstr (curve_codec_reason (client), "No access"));
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);

    //  ERROR in place of WELCOME; non-printable octets shown as '?'
    s_new_pair (&keys, &client, &server);
    curve_codec_send_ack (client);
    uint8_t error [] = "\x05" "ERROR\x03" "a\x07z";
    assert (curve_codec_recv (client, error, sizeof error - 1) == -1);
    assert (curve_codec_error (client) == CURVE_ERR_REJECTED);
    assert (strcmp (curve_codec_error_text (client), "a?z") == 0);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);
    //  ERROR without its length octet is malformed
    s_new_pair (&keys, &client, &server);
    curve_codec_send_ack (client);
    assert (curve_codec_recv (client, error, 6) == -1);
    assert (curve_codec_error (client) == CURVE_ERR_MALFORMED);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);

    //  INITIATE with a cookie from another session
    curve_codec_t *client_b, *server_b;
    s_new_pair (&keys, &client, &server);
    s_new_pair (&keys, &client_b, &server_b);
    assert (s_pump (client, server) == 0);
    assert (s_pump (server, client) == 0);
    assert (s_pump (client_b, server_b) == 0);
    assert (s_pump (server_b, client_b) == 0);
    assert (s_pump (client, server_b) == -1);
    assert (curve_codec_error (server_b) == CURVE_ERR_COOKIE);
    //  A replayed INITIATE (or HELLO) to a server that is past it
    uint8_t *initiate = s_take (client_b, &size);
    curve_codec_destroy (&server);
    server = curve_codec_new_server (keys.server_public, keys.server_secret);
    assert (curve_codec_recv (server, initiate, size) == -1);
    assert (curve_codec_error (server) == CURVE_ERR_UNEXPECTED);
    free (initiate);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);
    curve_codec_destroy (&client_b);
    curve_codec_destroy (&server_b);

    //  Metadata that breaks the grammar inside a genuine INITIATE; the
    //  test writes it straight into the client's buffer, as only a buggy
    //  or hostile client could
    struct {
        const char *bytes;
        size_t size;
    } bad_metadata [] = {
        { "\x00\x00\x00\x00\x00", 5 },          //  Empty name
        { "\x02" "a b\x00\x00\x00\x00", 7 },    //  Space in name
        { "\x01" "a\x00\x00\x10\x00" "x", 7 },  //  Value size past the end
        { "\x01" "a\x80\x00\x00\x00", 6 },      //  Value size >= 2^31
        { "\x05" "ab", 3 },                     //  Name past the end
        { "\x01" "a\x00\x00", 4 },              //  Size field cut short
    };
    for (size_t index = 0; index < sizeof bad_metadata / sizeof bad_metadata [0];
         index++) {
        s_new_pair (&keys, &client, &server);
        client->metadata = (uint8_t *) malloc (bad_metadata [index].size);
        assert (client->metadata);
        memcpy (client->metadata, bad_metadata [index].bytes,
                bad_metadata [index].size);
        client->metadata_size = bad_metadata [index].size;
        assert (s_pump (client, server) == 0);
        assert (s_pump (server, client) == 0);
        assert (s_pump (client, server) == -1);
        assert (curve_codec_error (server) == CURVE_ERR_METADATA);
        assert (curve_codec_peer_key (server) == NULL);
        curve_codec_destroy (&client);
        curve_codec_destroy (&server);
    }

    //  Metadata over the receiver's limit
    s_new_pair (&keys, &client, &server);
    curve_codec_set_metadata_max (server, 10);
    assert (curve_codec_set_metadata (client, "Big", "0123456789", 10) == 0);
    assert (s_pump (client, server) == 0);
    assert (s_pump (server, client) == 0);
    assert (s_pump (client, server) == -1);
    assert (curve_codec_error (server) == CURVE_ERR_TOO_LARGE);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);

    if (verbose)
        printf ("   wrong keys, weak keys, version, padding, deny, cookie, "
                "metadata: refused\n");
}

static void
s_test_states (bool verbose)
{
    test_keys_t keys;
    s_test_keys (&keys);
    curve_codec_t *client, *server;
    s_new_pair (&keys, &client, &server);
    uint8_t buffer [64];

    //  Client: HELLO pending, expecting WELCOME
    assert (curve_codec_state (client) == (CURVE_CODEC_SEND | CURVE_CODEC_RECV));
    assert (!curve_codec_is_server (client));
    assert (curve_codec_is_server (server));
    assert (curve_codec_state (server) == CURVE_CODEC_RECV);
    assert (curve_codec_peer_key (server) == NULL);
    assert (memcmp (curve_codec_peer_key (client), keys.server_public,
                    CURVE_KEY_BYTES) == 0);
    //  Calls in the wrong state return an error and change nothing
    assert (curve_codec_encode (client, "x", 1, 0, buffer, sizeof buffer) == -1);
    assert (curve_codec_last_error (client) == CURVE_ERR_STATE);
    assert (curve_codec_decode (server, buffer, sizeof buffer, NULL, NULL,
                                NULL) == -1);
    assert (curve_codec_allow (client) == -1);
    assert (curve_codec_deny (client, "no") == -1);
    assert (curve_codec_allow (server) == -1);
    assert (curve_codec_recv (client, buffer, 0) == -1);    //  HELLO unsent
    assert (curve_codec_last_error (client) == CURVE_ERR_STATE);
    assert (curve_codec_state (client) == (CURVE_CODEC_SEND | CURVE_CODEC_RECV));
    size_t size;
    assert (curve_codec_send_buf (server, &size) == NULL && size == 0);
    assert (curve_codec_error (client) == CURVE_OK);
    assert (strcmp (curve_codec_error_name (CURVE_ERR_NONCE),
                    "CURVE_ERR_NONCE") == 0);

    //  Metadata: valid names only; locked once sent
    assert (curve_codec_set_metadata (client, "", "x", 1) == -1);
    assert (curve_codec_set_metadata (client, "bad name", "x", 1) == -1);
    assert (curve_codec_last_error (client) == CURVE_ERR_METADATA);
    char long_name [257];
    memset (long_name, 'n', 256);
    long_name [256] = 0;
    assert (curve_codec_set_metadata (client, long_name, "x", 1) == -1);
    long_name [255] = 0;
    assert (curve_codec_set_metadata (client, long_name, "x", 1) == 0);
    assert (curve_codec_set_metadata (client, "User-Id", "alice", 5) == 0);
    assert (curve_codec_set_metadata (client, "Empty", NULL, 0) == 0);
    assert (curve_codec_set_metadata (server, "X-Server.v+1_", "s", 1) == 0);
    assert (s_pump (client, server) == 0);
    assert (curve_codec_state (server) == (CURVE_CODEC_SEND | CURVE_CODEC_RECV));
    assert (s_pump (server, client) == 0);
    assert (curve_codec_state (client) == (CURVE_CODEC_SEND | CURVE_CODEC_RECV));
    assert (curve_codec_set_metadata (client, "Late", "x", 1) == -1);
    assert (curve_codec_last_error (client) == CURVE_ERR_STATE);
    assert (s_pump (client, server) == 0);
    assert (curve_codec_state (server) == CURVE_CODEC_AUTH);
    //  The server sees the client's key and metadata before deciding
    assert (memcmp (curve_codec_peer_key (server), keys.client_public,
                    CURVE_KEY_BYTES) == 0);
    size_t value_size;
    const uint8_t *value = curve_codec_metadata (server, "user-ID", &value_size);
    assert (value && value_size == 5 && memcmp (value, "alice", 5) == 0);
    value = curve_codec_metadata (server, "empty", &value_size);
    assert (value && value_size == 0);
    assert (curve_codec_metadata (server, "missing", &value_size) == NULL);
    assert (curve_codec_metadata_count (server) == 3);
    const char *name;
    size_t name_size;
    assert (curve_codec_metadata_at (server, 1, &name, &name_size, &value,
                                     &value_size) == 0);
    assert (name_size == 7 && memcmp (name, "User-Id", 7) == 0);
    assert (curve_codec_metadata_at (server, 3, &name, &name_size, &value,
                                     &value_size) == -1);
    //  Encoding before the verdict is refused
    assert (curve_codec_encode (server, "x", 1, 0, buffer, sizeof buffer) == -1);
    assert (curve_codec_allow (server) == 0);
    assert (curve_codec_state (server) == (CURVE_CODEC_SEND | CURVE_CODEC_READY));
    //  ... and while READY is unsent
    assert (curve_codec_encode (server, "x", 1, 0, buffer, sizeof buffer) == -1);
    assert (curve_codec_allow (server) == -1);
    assert (s_pump (server, client) == 0);
    assert (curve_codec_state (client) == CURVE_CODEC_READY);
    value = curve_codec_metadata (client, "x-server.V+1_", &value_size);
    assert (value && value_size == 1 && value [0] == 's');
    //  A handshake command once ready is refused without harm
    assert (curve_codec_recv (client, buffer, sizeof buffer) == -1);
    assert (curve_codec_last_error (client) == CURVE_ERR_STATE);
    assert (curve_codec_state (client) == CURVE_CODEC_READY);
    s_round_trip (client, server, (const uint8_t *) "ok", 2, 0);
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);
    //  Destroying twice is safe
    curve_codec_destroy (&client);
    assert (client == NULL);
    if (verbose)
        printf ("   states, wrong-state calls and metadata: OK\n");
}

void
curve_codec_test (bool verbose)
{
    printf (" * curve_codec: ");
    if (verbose)
        printf ("\n");
    s_test_states (verbose);
    s_test_vectors (verbose);
    s_test_messages (verbose);
    s_test_failures (verbose);
    s_test_handshake_tampering (verbose);
    printf ("OK\n");
}
//  @end
