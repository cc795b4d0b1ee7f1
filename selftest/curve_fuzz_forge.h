/*  =========================================================================
    curve_fuzz_forge - what the libFuzzer harnesses share (internal)

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    Helpers for the harnesses in selftest/curve_fuzz_*.c, each built as one
    translation unit: invariant checks (CHECK), the deterministic random
    source, the input reader, fenced buffers, our own reading of the RFC 26
    metadata grammar, and the forger, one end of CurveZMQ written here from
    RFC 26 with every secret known so that it can box any content it likes.
@discuss
    Define CURVE_FUZZ_NAME (the harness name, for CHECK's message) before
    including this header. Everything here is static, and marked unused
    so that a harness that does not need a helper gets no warning for it.
@end
*/

#ifndef CURVE_FUZZ_FORGE_H_INCLUDED
#define CURVE_FUZZ_FORGE_H_INCLUDED

#ifndef CURVE_FUZZ_NAME
#   error "define CURVE_FUZZ_NAME before including curve_fuzz_forge.h"
#endif

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

//  Not every harness uses every helper
#define CURVE_FUZZ_HELPER __attribute__ ((unused))

//  Sizes of the parts of commands (RFC 26)
#define KEY_BYTES        CURVE_KEY_BYTES
#define MAC_BYTES        16
#define NONCE_BYTES      24
#define COOKIE_BYTES     96
#define VOUCH_BYTES      96     //  Long nonce + Box [C' + S]
#define SIGNATURE_BYTES  64
#define PADDING_BYTES    72
#define INITIATE_PLAIN   (KEY_BYTES + VOUCH_BYTES)

//  Knobs of forged commands: each spoils or varies one field
#define HELLO_SEED         0x01     //  Transient key pair from the input
#define HELLO_VERSION      0x02     //  Version octets from the input
#define HELLO_PADDING      0x04     //  One padding octet from the input
#define HELLO_NONCE        0x08     //  Short nonce from the input
#define HELLO_SIGNATURE    0x10     //  One signature octet from the input
#define HELLO_KEY          0x20     //  C' overwritten after boxing

#define INITIATE_COOKIE    0x01     //  One cookie octet XORed
#define INITIATE_NONCE     0x02     //  Short nonce from the input
#define INITIATE_CLIENT    0x04     //  Another client key pair
#define INITIATE_VOUCH     0x08     //  One vouch plaintext octet XORed
#define INITIATE_KEY       0x10     //  C overwritten after vouching
#define INITIATE_VOUCH_N   0x20     //  Vouch nonce from the input
#define INITIATE_DENY      0x40     //  Server denies (not a field)
#define INITIATE_LIMIT     0x80     //  Server metadata limit from input

#define WELCOME_SEED       0x01     //  Transient key pair from the input
#define WELCOME_COOKIE     0x02     //  Cookie from the input
#define WELCOME_NONCE      0x04     //  Long nonce from the input
#define WELCOME_KEY        0x08     //  S' overwritten (e.g. low order)
#define WELCOME_SIGNER     0x10     //  Boxed by a key not the server's

#define READY_NONCE        0x01     //  Short nonce from the input
#define READY_LIMIT        0x02     //  Client metadata limit from input
#define READY_ERROR        0x04     //  Send ERROR instead of READY

//  Peers' permanent keys, from constant seeds
static uint8_t s_server_public [KEY_BYTES];
static uint8_t s_server_secret [KEY_BYTES];
static uint8_t s_client_public [KEY_BYTES];
static uint8_t s_client_secret [KEY_BYTES];
static uint8_t s_other_secret [KEY_BYTES];

//  Calls made to the deterministic random source for this input
static uint64_t s_random_calls;


//  --------------------------------------------------------------------------
//  Invariant checks abort, whatever NDEBUG says

#define CHECK(cond) \
    do { if (!(cond)) s_broken (#cond, __FILE__, __LINE__); } while (0)

static CURVE_FUZZ_HELPER void
s_broken (const char *what, const char *file, int line)
{
    const char *base = strrchr (file, '/');
    fprintf (stderr, "%s: invariant broken at %s:%d: %s\n",
             CURVE_FUZZ_NAME, base? base + 1: file, line, what);
    abort ();
}


//  --------------------------------------------------------------------------
//  Deterministic random source: call number N gets the stream of seed N

static CURVE_FUZZ_HELPER void
s_random (void *buf, size_t size, void *arg)
{
    (void) arg;
    uint8_t seed [randombytes_SEEDBYTES];
    memset (seed, 0x5A, sizeof seed);
    for (int index = 0; index < 8; index++)
        seed [index] = (uint8_t) (s_random_calls >> (8 * index));
    s_random_calls++;
    randombytes_buf_deterministic (buf, size, seed);
}

static CURVE_FUZZ_HELPER void
s_seed_keypair (uint8_t *public_key, uint8_t *secret_key, uint8_t fill)
{
    uint8_t seed [crypto_box_SEEDBYTES];
    memset (seed, fill, sizeof seed);
    CHECK (crypto_box_seed_keypair (public_key, secret_key, seed) == 0);
}


//  --------------------------------------------------------------------------
//  Reading the input. Past the end every read gives zeros.

typedef struct {
    const uint8_t *data;            //  Next unread octet
    size_t size;                    //  Octets left
} reader_t;

static CURVE_FUZZ_HELPER uint8_t
s_u8 (reader_t *reader)
{
    if (reader->size == 0)
        return 0;
    reader->size--;
    return *reader->data++;
}

static CURVE_FUZZ_HELPER uint16_t
s_u16 (reader_t *reader)
{
    uint16_t high = s_u8 (reader);
    return (uint16_t) ((high << 8) | s_u8 (reader));
}

static CURVE_FUZZ_HELPER uint64_t
s_u64 (reader_t *reader)
{
    uint64_t value = 0;
    for (int index = 0; index < 8; index++)
        value = (value << 8) | s_u8 (reader);
    return value;
}

//  Fill dest with the next size octets
static CURVE_FUZZ_HELPER void
s_bytes (reader_t *reader, uint8_t *dest, size_t size)
{
    size_t have = size < reader->size? size: reader->size;
    if (have)
        memcpy (dest, reader->data, have);
    if (size > have)
        memset (dest + have, 0, size - have);
    reader->data += have;
    reader->size -= have;
}

//  Take up to max octets where they are
static CURVE_FUZZ_HELPER const uint8_t *
s_take (reader_t *reader, size_t max, size_t *size_p)
{
    size_t size = max < reader->size? max: reader->size;
    const uint8_t *data = reader->data;
    reader->data += size;
    reader->size -= size;
    *size_p = size;
    return data;
}


//  --------------------------------------------------------------------------
//  Heap helpers. s_dup gives an exact-size copy so ASan sees overreads;
//  fenced buffers end on a page that is followed by an inaccessible one.

static CURVE_FUZZ_HELPER uint8_t *
s_dup (const void *data, size_t size)
{
    uint8_t *copy = (uint8_t *) malloc (size? size: 1);
    CHECK (copy);
    if (size)
        memcpy (copy, data, size);
    return copy;
}

typedef struct {
    uint8_t *base;                  //  Start of the mapping
    size_t length;                  //  Length of the mapping
    uint8_t *data;                  //  The buffer, ending on the fence
} fenced_t;

static CURVE_FUZZ_HELPER fenced_t
s_fenced_new (const void *data, size_t size)
{
    size_t page = (size_t) sysconf (_SC_PAGESIZE);
    size_t pages = size / page + 1;
    fenced_t fenced;
    fenced.length = (pages + 1) * page;
    fenced.base = (uint8_t *) mmap (NULL, fenced.length,
                                    PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK (fenced.base != MAP_FAILED);
    CHECK (mprotect (fenced.base + pages * page, page, PROT_NONE) == 0);
    fenced.data = fenced.base + pages * page - size;
    if (size)
        memcpy (fenced.data, data, size);
    return fenced;
}

static CURVE_FUZZ_HELPER void
s_fenced_destroy (fenced_t *fenced)
{
    CHECK (munmap (fenced->base, fenced->length) == 0);
}

//  A growing octet string
typedef struct {
    uint8_t *data;
    size_t size;
} buffer_t;

static CURVE_FUZZ_HELPER void
s_append (buffer_t *buffer, const void *data, size_t size)
{
    uint8_t *grown = (uint8_t *) realloc (buffer->data,
                                          buffer->size + size + 1);
    CHECK (grown);
    if (size)
        memcpy (grown + buffer->size, data, size);
    buffer->data = grown;
    buffer->size += size;
}

static CURVE_FUZZ_HELPER void
s_put_uint64 (uint8_t *dest, uint64_t value)
{
    for (int index = 7; index >= 0; index--) {
        dest [index] = (uint8_t) value;
        value >>= 8;
    }
}

static CURVE_FUZZ_HELPER uint64_t
s_get_uint64 (const uint8_t *source)
{
    uint64_t value = 0;
    for (int index = 0; index < 8; index++)
        value = (value << 8) | source [index];
    return value;
}

//  True if data holds the command name (a length octet and the name)
static CURVE_FUZZ_HELPER bool
s_is (const uint8_t *data, size_t size, const char *name)
{
    size_t name_size = 1 + (size_t) (uint8_t) name [0];
    return size >= name_size && memcmp (data, name, name_size) == 0;
}

static CURVE_FUZZ_HELPER bool
s_same (const uint8_t *one, size_t one_size,
        const uint8_t *two, size_t two_size)
{
    return one_size == two_size
        && (one_size == 0 || memcmp (one, two, one_size) == 0);
}


//  --------------------------------------------------------------------------
//  Our own reading of the RFC 26 metadata grammar, to compare with the
//  codec's: name = OCTET 1*255name-char, value = 4-octet size + octets.

typedef struct {
    const uint8_t *name;
    size_t name_size;
    const uint8_t *value;
    size_t value_size;
} property_t;

static CURVE_FUZZ_HELPER bool
s_name_ok (const uint8_t *name, size_t size)
{
    if (size < 1 || size > CURVE_METADATA_NAME_MAX)
        return false;
    for (size_t index = 0; index < size; index++) {
        uint8_t c = name [index];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        ||    (c >= '0' && c <= '9')
        ||    c == '-' || c == '_' || c == '.' || c == '+'))
            return false;
    }
    return true;
}

static CURVE_FUZZ_HELPER bool
s_same_name (const uint8_t *one, size_t one_size,
             const uint8_t *two, size_t two_size)
{
    if (one_size != two_size)
        return false;
    for (size_t index = 0; index < one_size; index++) {
        uint8_t a = one [index], b = two [index];
        if (a >= 'A' && a <= 'Z')
            a = (uint8_t) (a + 32);
        if (b >= 'A' && b <= 'Z')
            b = (uint8_t) (b + 32);
        if (a != b)
            return false;
    }
    return true;
}

//  Returns the number of properties, storing up to max of them, or -1 if
//  the octets break the grammar
static CURVE_FUZZ_HELPER long
s_metadata_parse (const uint8_t *data, size_t size,
                  property_t *properties, size_t max)
{
    size_t pos = 0;
    long count = 0;
    while (pos < size) {
        size_t name_size = data [pos++];
        if (name_size > size - pos || !s_name_ok (data + pos, name_size))
            return -1;
        const uint8_t *name = data + pos;
        pos += name_size;
        if (size - pos < 4)
            return -1;
        size_t value_size = ((size_t) data [pos] << 24)
                          | ((size_t) data [pos + 1] << 16)
                          | ((size_t) data [pos + 2] << 8)
                          |  (size_t) data [pos + 3];
        pos += 4;
        if (value_size > size - pos)
            return -1;
        if ((size_t) count < max) {
            properties [count].name = name;
            properties [count].name_size = name_size;
            properties [count].value = data + pos;
            properties [count].value_size = value_size;
        }
        pos += value_size;
        count++;
    }
    return count;
}

//  Append one property in wire form
static CURVE_FUZZ_HELPER void
s_metadata_add (buffer_t *wire, const char *name, const uint8_t *value,
                size_t size)
{
    uint8_t octets [4] = {
        (uint8_t) (size >> 24), (uint8_t) (size >> 16),
        (uint8_t) (size >> 8), (uint8_t) size
    };
    uint8_t name_size = (uint8_t) strlen (name);
    s_append (wire, &name_size, 1);
    s_append (wire, name, name_size);
    s_append (wire, octets, 4);
    s_append (wire, value, size);
}


//  --------------------------------------------------------------------------
//  The forger: one end of CurveZMQ written here from RFC 26, with every
//  secret known, so that it can box any content it likes.

typedef struct {
    bool is_server;                         //  Which end we play
    uint8_t public_key [KEY_BYTES];         //  Our permanent key pair
    uint8_t secret_key [KEY_BYTES];
    uint8_t peer_key [KEY_BYTES];           //  Peer's permanent public key
    uint8_t transient_public [KEY_BYTES];   //  Our transient key pair
    uint8_t transient_secret [KEY_BYTES];
    uint8_t peer_transient [KEY_BYTES];     //  Peer's transient public key
    uint8_t cookie [COOKIE_BYTES];          //  Cookie sent, or to echo
    uint8_t session_key [KEY_BYTES];        //  Precomputed C'/S' box key
    uint64_t send_nonce;                    //  Next short nonce we send
    uint64_t last_nonce;                    //  Last short nonce we sent
} forger_t;

static CURVE_FUZZ_HELPER void
s_forger_init (forger_t *self, bool is_server)
{
    memset (self, 0, sizeof *self);
    self->is_server = is_server;
    self->send_nonce = 1;
    memcpy (self->public_key, is_server? s_server_public: s_client_public,
            KEY_BYTES);
    memcpy (self->secret_key, is_server? s_server_secret: s_client_secret,
            KEY_BYTES);
    memcpy (self->peer_key, is_server? s_client_public: s_server_public,
            KEY_BYTES);
}

static CURVE_FUZZ_HELPER void
s_short_nonce (uint8_t *nonce, const char *prefix, uint64_t counter)
{
    memcpy (nonce, prefix, 16);
    s_put_uint64 (nonce + 16, counter);
}

static CURVE_FUZZ_HELPER void
s_long_nonce (uint8_t *nonce, const char *prefix, const uint8_t *random)
{
    memcpy (nonce, prefix, 8);
    memcpy (nonce + 8, random, 16);
}

//  Take the next short nonce
static CURVE_FUZZ_HELPER uint64_t
s_forger_nonce (forger_t *self, reader_t *reader, bool from_input)
{
    uint64_t counter = from_input? s_u64 (reader): self->send_nonce;
    self->last_nonce = counter;
    self->send_nonce = counter + 1;
    return counter;
}

//  Client: HELLO
static CURVE_FUZZ_HELPER uint8_t *
s_forge_hello (forger_t *self, reader_t *reader, int knobs)
{
    uint8_t seed [crypto_box_SEEDBYTES];
    memset (seed, 'T', sizeof seed);
    if (knobs & HELLO_SEED)
        s_bytes (reader, seed, sizeof seed);
    CHECK (crypto_box_seed_keypair (self->transient_public,
                                    self->transient_secret, seed) == 0);
    uint8_t *hello = (uint8_t *) calloc (1, CURVE_HELLO_BYTES);
    CHECK (hello);
    memcpy (hello, "\x05HELLO\x01\x00", 8);
    if (knobs & HELLO_VERSION) {
        hello [6] = s_u8 (reader);
        hello [7] = s_u8 (reader);
    }
    if (knobs & HELLO_PADDING) {
        size_t pos = s_u8 (reader) % PADDING_BYTES;
        hello [8 + pos] = s_u8 (reader);
    }
    uint64_t counter = s_forger_nonce (self, reader, knobs & HELLO_NONCE);
    uint8_t signature [SIGNATURE_BYTES] = { 0 };
    if (knobs & HELLO_SIGNATURE) {
        size_t pos = s_u8 (reader) % SIGNATURE_BYTES;
        signature [pos] = s_u8 (reader);
    }
    memcpy (hello + 80, self->transient_public, KEY_BYTES);
    s_put_uint64 (hello + 112, counter);
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, "CurveZMQHELLO---", counter);
    CHECK (crypto_box_easy (hello + 120, signature, sizeof signature, nonce,
                            self->peer_key, self->transient_secret) == 0);
    if (knobs & HELLO_KEY)
        s_bytes (reader, hello + 80, KEY_BYTES);
    return hello;
}

//  Client: open WELCOME; false if it does not open
static CURVE_FUZZ_HELPER bool
s_forger_open_welcome (forger_t *self, const uint8_t *welcome, size_t size)
{
    if (size != CURVE_WELCOME_BYTES || !s_is (welcome, size, "\x07WELCOME"))
        return false;
    uint8_t nonce [NONCE_BYTES];
    s_long_nonce (nonce, "WELCOME-", welcome + 8);
    uint8_t plain [KEY_BYTES + COOKIE_BYTES];
    if (crypto_box_open_easy (plain, welcome + 24, sizeof plain + MAC_BYTES,
                              nonce, self->peer_key, self->transient_secret))
        return false;
    memcpy (self->peer_transient, plain, KEY_BYTES);
    memcpy (self->cookie, plain + KEY_BYTES, COOKIE_BYTES);
    return crypto_box_beforenm (self->session_key, self->peer_transient,
                                self->transient_secret) == 0;
}

//  Client: INITIATE carrying any metadata octets
static CURVE_FUZZ_HELPER uint8_t *
s_forge_initiate (forger_t *self, reader_t *reader, int knobs,
                  const uint8_t *metadata, size_t metadata_size,
                  size_t *size_p)
{
    if (knobs & INITIATE_CLIENT) {
        uint8_t seed [crypto_box_SEEDBYTES];
        s_bytes (reader, seed, sizeof seed);
        CHECK (crypto_box_seed_keypair (self->public_key, self->secret_key,
                                        seed) == 0);
    }
    size_t plain_size = INITIATE_PLAIN + metadata_size;
    uint8_t *plain = (uint8_t *) malloc (plain_size);
    CHECK (plain);
    memcpy (plain, self->public_key, KEY_BYTES);

    //  Vouch: long nonce + Box [C' + S](C->S')
    uint8_t *vouch = plain + KEY_BYTES;
    memset (vouch, 'V', 16);
    if (knobs & INITIATE_VOUCH_N)
        s_bytes (reader, vouch, 16);
    uint8_t vouch_plain [2 * KEY_BYTES];
    memcpy (vouch_plain, self->transient_public, KEY_BYTES);
    memcpy (vouch_plain + KEY_BYTES, self->peer_key, KEY_BYTES);
    if (knobs & INITIATE_VOUCH) {
        size_t pos = s_u8 (reader) % sizeof vouch_plain;
        vouch_plain [pos] ^= s_u8 (reader);
    }
    uint8_t nonce [NONCE_BYTES];
    s_long_nonce (nonce, "VOUCH---", vouch);
    CHECK (crypto_box_easy (vouch + 16, vouch_plain, sizeof vouch_plain,
                            nonce, self->peer_transient,
                            self->secret_key) == 0);
    if (knobs & INITIATE_KEY)
        s_bytes (reader, plain, KEY_BYTES);
    if (metadata_size)
        memcpy (plain + INITIATE_PLAIN, metadata, metadata_size);

    size_t size = CURVE_INITIATE_MIN_BYTES + metadata_size;
    uint8_t *initiate = (uint8_t *) malloc (size);
    CHECK (initiate);
    memcpy (initiate, "\x08INITIATE", 9);
    memcpy (initiate + 9, self->cookie, COOKIE_BYTES);
    if (knobs & INITIATE_COOKIE) {
        size_t pos = s_u8 (reader) % COOKIE_BYTES;
        initiate [9 + pos] ^= s_u8 (reader);
    }
    uint64_t counter = s_forger_nonce (self, reader, knobs & INITIATE_NONCE);
    s_put_uint64 (initiate + 9 + COOKIE_BYTES, counter);
    s_short_nonce (nonce, "CurveZMQINITIATE", counter);
    CHECK (crypto_box_easy_afternm (initiate + 9 + COOKIE_BYTES + 8, plain,
                                    plain_size, nonce,
                                    self->session_key) == 0);
    free (plain);
    *size_p = size;
    return initiate;
}

//  Client: open READY and check it carries the expected metadata
static CURVE_FUZZ_HELPER bool
s_forger_open_ready (forger_t *self, const uint8_t *ready, size_t size,
                     const uint8_t *metadata, size_t metadata_size)
{
    if (size < CURVE_READY_MIN_BYTES || !s_is (ready, size, "\x05READY"))
        return false;
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, "CurveZMQREADY---", s_get_uint64 (ready + 6));
    uint8_t *plain = (uint8_t *) malloc (size - CURVE_READY_MIN_BYTES + 1);
    CHECK (plain);
    bool opened = crypto_box_open_easy_afternm (plain, ready + 14, size - 14,
                                                nonce, self->session_key) == 0
               && s_same (plain, size - CURVE_READY_MIN_BYTES,
                          metadata, metadata_size);
    free (plain);
    return opened;
}

//  Server: read a genuine HELLO; its signature box must open
static CURVE_FUZZ_HELPER void
s_forger_read_hello (forger_t *self, const uint8_t *hello, size_t size)
{
    CHECK (size == CURVE_HELLO_BYTES);
    CHECK (memcmp (hello, "\x05HELLO\x01\x00", 8) == 0);
    CHECK (sodium_is_zero (hello + 8, PADDING_BYTES));
    memcpy (self->peer_transient, hello + 80, KEY_BYTES);
    uint64_t counter = s_get_uint64 (hello + 112);
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, "CurveZMQHELLO---", counter);
    uint8_t signature [SIGNATURE_BYTES];
    CHECK (crypto_box_open_easy (signature, hello + 120,
                                 SIGNATURE_BYTES + MAC_BYTES, nonce,
                                 self->peer_transient, self->secret_key) == 0);
    CHECK (sodium_is_zero (signature, sizeof signature));
}

//  Server: WELCOME
static CURVE_FUZZ_HELPER uint8_t *
s_forge_welcome (forger_t *self, reader_t *reader, int knobs)
{
    uint8_t seed [crypto_box_SEEDBYTES];
    memset (seed, 'U', sizeof seed);
    if (knobs & WELCOME_SEED)
        s_bytes (reader, seed, sizeof seed);
    CHECK (crypto_box_seed_keypair (self->transient_public,
                                    self->transient_secret, seed) == 0);
    uint8_t plain [KEY_BYTES + COOKIE_BYTES];
    memcpy (plain, self->transient_public, KEY_BYTES);
    if (knobs & WELCOME_KEY)
        s_bytes (reader, plain, KEY_BYTES);
    memset (self->cookie, 'K', COOKIE_BYTES);
    if (knobs & WELCOME_COOKIE)
        s_bytes (reader, self->cookie, COOKIE_BYTES);
    memcpy (plain + KEY_BYTES, self->cookie, COOKIE_BYTES);

    uint8_t *welcome = (uint8_t *) malloc (CURVE_WELCOME_BYTES);
    CHECK (welcome);
    memcpy (welcome, "\x07WELCOME", 8);
    memset (welcome + 8, 'W', 16);
    if (knobs & WELCOME_NONCE)
        s_bytes (reader, welcome + 8, 16);
    uint8_t nonce [NONCE_BYTES];
    s_long_nonce (nonce, "WELCOME-", welcome + 8);
    const uint8_t *signer = (knobs & WELCOME_SIGNER)?
                            s_other_secret: self->secret_key;
    CHECK (crypto_box_easy (welcome + 24, plain, sizeof plain, nonce,
                            self->peer_transient, signer) == 0);
    CHECK (crypto_box_beforenm (self->session_key, self->peer_transient,
                                self->transient_secret) == 0);
    return welcome;
}

//  Server: check a genuine INITIATE (cookie echoed, box, key, vouch and
//  metadata); false if any part is not what it must be
static CURVE_FUZZ_HELPER bool
s_forger_read_initiate (forger_t *self, const uint8_t *initiate, size_t size,
                        const uint8_t *metadata, size_t metadata_size)
{
    if (size < CURVE_INITIATE_MIN_BYTES
    ||  !s_is (initiate, size, "\x08INITIATE")
    ||  memcmp (initiate + 9, self->cookie, COOKIE_BYTES))
        return false;
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, "CurveZMQINITIATE",
                   s_get_uint64 (initiate + 9 + COOKIE_BYTES));
    size_t plain_size = size - CURVE_INITIATE_MIN_BYTES + INITIATE_PLAIN;
    uint8_t *plain = (uint8_t *) malloc (plain_size);
    CHECK (plain);
    bool valid = crypto_box_open_easy_afternm (
        plain, initiate + 9 + COOKIE_BYTES + 8, plain_size + MAC_BYTES,
        nonce, self->session_key) == 0;
    valid = valid && memcmp (plain, self->peer_key, KEY_BYTES) == 0;
    if (valid) {
        uint8_t vouch_plain [2 * KEY_BYTES];
        s_long_nonce (nonce, "VOUCH---", plain + KEY_BYTES);
        valid = crypto_box_open_easy (vouch_plain, plain + KEY_BYTES + 16,
                                      VOUCH_BYTES - 16, nonce, plain,
                                      self->transient_secret) == 0
             && memcmp (vouch_plain, self->peer_transient, KEY_BYTES) == 0
             && memcmp (vouch_plain + KEY_BYTES, self->public_key,
                        KEY_BYTES) == 0;
    }
    valid = valid && s_same (plain + INITIATE_PLAIN,
                             plain_size - INITIATE_PLAIN,
                             metadata, metadata_size);
    free (plain);
    return valid;
}

//  Server: READY carrying any metadata octets
static CURVE_FUZZ_HELPER uint8_t *
s_forge_ready (forger_t *self, uint64_t counter, const uint8_t *metadata,
               size_t metadata_size, size_t *size_p)
{
    size_t size = CURVE_READY_MIN_BYTES + metadata_size;
    uint8_t *ready = (uint8_t *) malloc (size);
    CHECK (ready);
    memcpy (ready, "\x05READY", 6);
    s_put_uint64 (ready + 6, counter);
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, "CurveZMQREADY---", counter);
    uint8_t empty = 0;
    CHECK (crypto_box_easy_afternm (ready + 14,
                                    metadata_size? metadata: &empty,
                                    metadata_size, nonce,
                                    self->session_key) == 0);
    *size_p = size;
    return ready;
}

//  Either end: MESSAGE with any flags and short nonce
static CURVE_FUZZ_HELPER uint8_t *
s_forge_message (forger_t *self, uint64_t counter, uint8_t flags,
                 const uint8_t *payload, size_t payload_size, size_t *size_p)
{
    uint8_t *plain = (uint8_t *) malloc (1 + payload_size);
    CHECK (plain);
    plain [0] = flags;
    if (payload_size)
        memcpy (plain + 1, payload, payload_size);
    size_t size = CURVE_MESSAGE_OVERHEAD + payload_size;
    uint8_t *msg = (uint8_t *) malloc (size);
    CHECK (msg);
    memcpy (msg, "\x07MESSAGE", 8);
    s_put_uint64 (msg + 8, counter);
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, self->is_server? "CurveZMQMESSAGES":
                                           "CurveZMQMESSAGEC", counter);
    CHECK (crypto_box_easy_afternm (msg + 16, plain, 1 + payload_size, nonce,
                                    self->session_key) == 0);
    free (plain);
    *size_p = size;
    return msg;
}

//  Either end: open a MESSAGE from the codec and check its content
static CURVE_FUZZ_HELPER bool
s_forger_open_message (forger_t *self, const uint8_t *msg, size_t size,
                       const uint8_t *payload, size_t payload_size, int flags)
{
    if (size != CURVE_MESSAGE_OVERHEAD + payload_size
    ||  !s_is (msg, size, "\x07MESSAGE"))
        return false;
    uint8_t nonce [NONCE_BYTES];
    s_short_nonce (nonce, self->is_server? "CurveZMQMESSAGEC":
                                           "CurveZMQMESSAGES",
                   s_get_uint64 (msg + 8));
    uint8_t *plain = (uint8_t *) malloc (1 + payload_size);
    CHECK (plain);
    bool valid = crypto_box_open_easy_afternm (plain, msg + 16, size - 16,
                                               nonce, self->session_key) == 0
              && plain [0] == flags
              && s_same (plain + 1, payload_size, payload, payload_size);
    free (plain);
    return valid;
}


#endif
