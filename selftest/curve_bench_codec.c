/*  =========================================================================
    curve_bench_codec - how fast the codec is, next to raw libsodium

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_bench_codec prints tables; it is a benchmark, not a test, and it
    never fails on a timing. It compares the codec with libsodium doing the
    same cryptography by hand, measured side by side in the same run:

    1.  MESSAGE encode + decode throughput for several payload sizes: a
        client codec encodes into a preallocated buffer and a server codec
        decodes it in place, against crypto_box_easy_afternm followed by
        crypto_box_open_easy_afternm with a precomputed key. A zero-copy
        variant writes the payload at CURVE_MESSAGE_PAYLOAD_OFFSET so that
        the codec encrypts in place.
    2.  Handshakes in memory: complete client + server handshakes, and the
        server's own CPU per handshake against its crypto floor (one X25519
        key pair, three X25519 shared secrets, seven small boxes).

    Usage: curve_bench_codec [--quick]
@discuss
    The machine this runs on is shared and noisy, so every number is a
    median over rounds, and the contenders of one table take turns round by
    round (A B C, B C A, C A B, ...) so that all of them see the same machine
    conditions. Ratios between contenders are what to read; the absolute
    numbers move from run to run. --quick runs short rounds for a CI smoke
    test; its numbers are only roughly indicative.

    Every libsodium and codec return value is checked and any failure
    aborts: a benchmark that silently fails measures nothing. Every result
    the timed work produces is folded into a volatile sink, and the work
    itself goes through calls into other translation units, so the compiler
    cannot remove it.
@end
*/

#include "../src/curve_classes.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Rounds per contender; odd, so that the median is one real round
#define ROUNDS_FULL      9
#define ROUNDS_QUICK     3
#define ROUNDS_MAX       ROUNDS_FULL

//  Wall time one round of one contender aims at, in nanoseconds
#define ROUND_NS_FULL    150000000LL
#define ROUND_NS_QUICK   15000000LL

//  Libsodium sizes we use for the raw contenders
#define KEY_BYTES        crypto_box_BEFORENMBYTES
#define MAC_BYTES        crypto_box_MACBYTES
#define NONCE_BYTES      crypto_box_NONCEBYTES

//  The handshake crypto floor: what RFC 26 makes a server compute
#define FLOOR_KEYPAIRS   1
#define FLOOR_SCALARMULT 3
#define FLOOR_BOXES      7
#define SMALL_BOX_BYTES  128            //  Largest plaintext of those boxes

//  Reference only, not measured here: CPU per connection of libzmq's own
//  CURVE server on this machine class
#define LIBZMQ_SERVER_US 620.0

//  Targets from the project brief (ratios, curve throughput / raw)
#define TARGET_SMALL     0.85           //  64 B payloads
#define TARGET_LARGE     0.95           //  1 KiB and up
#define TARGET_FLOOR     1.5            //  Server CPU / crypto floor, at most

//  Everything the timed work produces ends up here
static volatile uint8_t s_sink;

//  Runs iterations of one contender; returns the nanoseconds it measured
typedef int64_t (bench_fn) (void *args, size_t iterations);

//  One contender in a table
typedef struct {
    const char *name;               //  Label in the table
    bench_fn *fn;                   //  Does the work
    void *args;                     //  Its state
    int64_t round_ns;               //  Wall time a round aims at
    size_t iterations;              //  Calibrated iterations per round
    double sample [ROUNDS_MAX];     //  Nanoseconds per op, one per round
    double median;                  //  Median of the samples
    double spread;                  //  (max - min) / median
} contender_t;

//  Key pairs that the handshake benchmarks share
typedef struct {
    uint8_t server_public [CURVE_KEY_BYTES];    //  Server permanent key S
    uint8_t server_secret [CURVE_KEY_BYTES];    //  Its secret s
    uint8_t client_public [CURVE_KEY_BYTES];    //  Client permanent key C
    uint8_t client_secret [CURVE_KEY_BYTES];    //  Its secret c
} keys_t;


//  --------------------------------------------------------------------------
//  Failure: print what failed and abort, whatever NDEBUG says

static void
s_die (const char *what)
{
    fprintf (stderr, "curve_bench_codec: FAILED: %s\n", what);
    fflush (stdout);
    abort ();
}

static void
s_require (bool condition, const char *what)
{
    if (!condition)
        s_die (what);
}

static void
s_codec_die (curve_codec_t *codec, const char *what)
{
    fprintf (stderr, "curve_bench_codec: FAILED: %s: %s (%s)\n", what,
             curve_codec_error_name (curve_codec_last_error (codec)),
             curve_codec_reason (codec));
    fflush (stdout);
    abort ();
}


//  --------------------------------------------------------------------------
//  Monotonic clock in nanoseconds

static int64_t
s_now_ns (void)
{
    struct timespec now;
    if (clock_gettime (CLOCK_MONOTONIC, &now))
        s_die ("clock_gettime (CLOCK_MONOTONIC)");
    return (int64_t) now.tv_sec * 1000000000LL + now.tv_nsec;
}


//  --------------------------------------------------------------------------
//  A 24-octet nonce whose last 8 octets are a big-endian counter, as in a
//  CurveZMQ short nonce; the raw contenders never reuse a nonce either.

static void
s_nonce_set (uint8_t *nonce, uint64_t counter)
{
    for (size_t index = NONCE_BYTES; index > NONCE_BYTES - 8; index--) {
        nonce [index - 1] = (uint8_t) (counter & 0xFF);
        counter >>= 8;
    }
}


//  --------------------------------------------------------------------------
//  Move the pending handshake command from one codec to the other

static void
s_transfer (curve_codec_t *from, curve_codec_t *to, const char *what)
{
    size_t size = 0;
    const uint8_t *command = curve_codec_send_buf (from, &size);
    s_require (command && size, what);
    if (curve_codec_recv (to, command, size))
        s_codec_die (to, what);
    curve_codec_send_ack (from);
}

//  Make a client and a server and run a full handshake between them; the
//  caller owns both codecs and must destroy them.

static void
s_session_new (keys_t *keys, curve_codec_t **client_p,
               curve_codec_t **server_p)
{
    curve_codec_t *client =
        curve_codec_new_client (keys->client_public, keys->client_secret,
                                keys->server_public);
    s_require (client, "curve_codec_new_client");
    curve_codec_t *server = curve_codec_new_server (keys->server_public,
                                                    keys->server_secret);
    s_require (server, "curve_codec_new_server");
    s_transfer (client, server, "HELLO");
    s_transfer (server, client, "WELCOME");
    s_transfer (client, server, "INITIATE");
    s_require (curve_codec_state (server) == CURVE_CODEC_AUTH,
               "server awaits a verdict after INITIATE");
    if (curve_codec_allow (server))
        s_codec_die (server, "curve_codec_allow");
    s_transfer (server, client, "READY");
    s_require (curve_codec_state (client) == CURVE_CODEC_READY
            && curve_codec_state (server) == CURVE_CODEC_READY,
               "both codecs ready after READY");
    *client_p = client;
    *server_p = server;
}


//  --------------------------------------------------------------------------
//  Contender: raw libsodium, box into one buffer and open into another

typedef struct {
    size_t size;                    //  Payload size
    uint8_t key [KEY_BYTES];        //  Precomputed (beforenm) key
    uint8_t nonce [NONCE_BYTES];    //  Prefix and counter
    uint64_t counter;               //  Last nonce counter used
    uint8_t *source;                //  Payload
    uint8_t *boxed;                 //  MAC + ciphertext
    uint8_t *opened;                //  Decrypted payload
} raw_message_t;

static int64_t
s_raw_message (void *args, size_t iterations)
{
    raw_message_t *self = (raw_message_t *) args;
    uint8_t check = 0;
    int64_t start = s_now_ns ();
    for (size_t count = 0; count < iterations; count++) {
        s_nonce_set (self->nonce, ++self->counter);
        if (crypto_box_easy_afternm (self->boxed, self->source, self->size,
                                     self->nonce, self->key))
            s_die ("crypto_box_easy_afternm");
        if (crypto_box_open_easy_afternm (self->opened, self->boxed,
                                          self->size + MAC_BYTES,
                                          self->nonce, self->key))
            s_die ("crypto_box_open_easy_afternm");
        check ^= self->opened [count % self->size];
    }
    int64_t elapsed = s_now_ns () - start;
    s_require (memcmp (self->opened, self->source, self->size) == 0,
               "raw libsodium round trip returns the payload");
    s_sink ^= check;
    return elapsed;
}


//  --------------------------------------------------------------------------
//  Contender: the codec, client encodes and server decodes in place. With
//  zero_copy the payload lives at CURVE_MESSAGE_PAYLOAD_OFFSET of the
//  MESSAGE buffer, where decode also leaves it, so no octet is ever copied.

typedef struct {
    size_t size;                    //  Payload size
    bool zero_copy;                 //  Payload sits inside the buffer
    curve_codec_t *client;          //  Encodes
    curve_codec_t *server;          //  Decodes
    uint8_t *source;                //  Payload (copy variant) or reference
    uint8_t *buffer;                //  MESSAGE command
    size_t buffer_size;             //  Its size
} codec_message_t;

static int64_t
s_codec_message (void *args, size_t iterations)
{
    codec_message_t *self = (codec_message_t *) args;
    uint8_t *payload = self->buffer + CURVE_MESSAGE_PAYLOAD_OFFSET;
    const uint8_t *data = self->zero_copy? payload: self->source;
    size_t message_size = curve_codec_message_size (self->size);
    uint8_t check = 0;
    int64_t start = s_now_ns ();
    for (size_t count = 0; count < iterations; count++) {
        if (curve_codec_encode (self->client, data, self->size, 0,
                                self->buffer, self->buffer_size))
            s_codec_die (self->client, "curve_codec_encode");
        uint8_t *decoded = NULL;
        size_t decoded_size = 0;
        if (curve_codec_decode (self->server, self->buffer, message_size,
                                &decoded, &decoded_size, NULL))
            s_codec_die (self->server, "curve_codec_decode");
        if (decoded != payload || decoded_size != self->size)
            s_die ("curve_codec_decode returns the payload in place");
        check ^= decoded [count % self->size];
    }
    int64_t elapsed = s_now_ns () - start;
    s_require (memcmp (payload, self->source, self->size) == 0,
               "codec round trip returns the payload");
    s_sink ^= check;
    return elapsed;
}


//  --------------------------------------------------------------------------
//  Contender: one complete handshake, both sides, in memory

static int64_t
s_full_handshake (void *args, size_t iterations)
{
    keys_t *keys = (keys_t *) args;
    int64_t start = s_now_ns ();
    for (size_t count = 0; count < iterations; count++) {
        curve_codec_t *client, *server;
        s_session_new (keys, &client, &server);
        s_sink ^= curve_codec_peer_key (server) [count % CURVE_KEY_BYTES];
        curve_codec_destroy (&client);
        curve_codec_destroy (&server);
    }
    return s_now_ns () - start;
}


//  --------------------------------------------------------------------------
//  Contender: the same handshake, timing only the server's calls (new,
//  HELLO in, WELCOME out, INITIATE in, allow, READY out, destroy). The
//  client's work runs between the timed stretches.

static int64_t
s_server_handshake (void *args, size_t iterations)
{
    keys_t *keys = (keys_t *) args;
    int64_t server_ns = 0;
    for (size_t count = 0; count < iterations; count++) {
        curve_codec_t *client =
            curve_codec_new_client (keys->client_public, keys->client_secret,
                                    keys->server_public);
        s_require (client, "curve_codec_new_client");
        size_t hello_size = 0;
        const uint8_t *hello = curve_codec_send_buf (client, &hello_size);
        s_require (hello && hello_size == CURVE_HELLO_BYTES, "HELLO");

        //  Server: new, HELLO in, WELCOME out
        int64_t start = s_now_ns ();
        curve_codec_t *server = curve_codec_new_server (keys->server_public,
                                                        keys->server_secret);
        s_require (server, "curve_codec_new_server");
        if (curve_codec_recv (server, hello, hello_size))
            s_codec_die (server, "HELLO");
        size_t welcome_size = 0;
        const uint8_t *welcome = curve_codec_send_buf (server, &welcome_size);
        s_require (welcome && welcome_size == CURVE_WELCOME_BYTES, "WELCOME");
        server_ns += s_now_ns () - start;

        //  Client: WELCOME in, INITIATE out
        curve_codec_send_ack (client);
        if (curve_codec_recv (client, welcome, welcome_size))
            s_codec_die (client, "WELCOME");
        size_t initiate_size = 0;
        const uint8_t *initiate = curve_codec_send_buf (client,
                                                        &initiate_size);
        s_require (initiate && initiate_size, "INITIATE");

        //  Server: WELCOME sent, INITIATE in, allow, READY out
        start = s_now_ns ();
        curve_codec_send_ack (server);
        if (curve_codec_recv (server, initiate, initiate_size))
            s_codec_die (server, "INITIATE");
        if (curve_codec_allow (server))
            s_codec_die (server, "curve_codec_allow");
        size_t ready_size = 0;
        const uint8_t *ready = curve_codec_send_buf (server, &ready_size);
        s_require (ready && ready_size, "READY");
        server_ns += s_now_ns () - start;

        //  Client: READY in
        curve_codec_send_ack (client);
        if (curve_codec_recv (client, ready, ready_size))
            s_codec_die (client, "READY");
        s_require (curve_codec_state (client) == CURVE_CODEC_READY,
                   "client ready after READY");

        //  Server: READY sent, session over
        start = s_now_ns ();
        curve_codec_send_ack (server);
        s_require (curve_codec_state (server) == CURVE_CODEC_READY,
                   "server ready after READY");
        s_sink ^= curve_codec_peer_key (server) [count % CURVE_KEY_BYTES];
        curve_codec_destroy (&server);
        server_ns += s_now_ns () - start;

        curve_codec_destroy (&client);
    }
    return server_ns;
}


//  --------------------------------------------------------------------------
//  The server's crypto floor, done directly with libsodium: one X25519 key
//  pair (S'), three X25519 shared secrets (C'.s for HELLO and WELCOME,
//  C'.s' for INITIATE and MESSAGEs, C.s' for the vouch), and seven boxes of
//  at most 128 octets with a precomputed key (HELLO signature open, cookie
//  seal, WELCOME seal, cookie open, INITIATE open, vouch open, READY seal).
//  The inputs are fixed; X25519 and the boxes run in constant time, so the
//  values do not change the cost.

typedef struct {
    uint8_t client_transient [CURVE_KEY_BYTES];     //  C'
    uint8_t client_public [CURVE_KEY_BYTES];        //  C
    uint8_t server_secret [CURVE_KEY_BYTES];        //  s
    uint8_t server_transient_secret [CURVE_KEY_BYTES];  //  s'
    uint8_t key [KEY_BYTES];        //  Precomputed key for every box
    uint8_t fixed_nonce [NONCE_BYTES];  //  Nonce of the ready-made boxes
    uint8_t nonce [NONCE_BYTES];    //  Nonce of the boxes made here
    uint64_t counter;               //  Its counter
    uint8_t hello_box [MAC_BYTES + 64];             //  Ready-made
    uint8_t initiate_box [MAC_BYTES + SMALL_BOX_BYTES]; //  Ready-made
    uint8_t vouch_box [MAC_BYTES + 64];             //  Ready-made
    uint8_t plain [SMALL_BOX_BYTES];    //  Plaintext to seal
} floor_t;

static void
s_floor_init (floor_t *self)
{
    uint8_t unused [CURVE_KEY_BYTES];
    uint8_t secret [CURVE_KEY_BYTES];
    if (crypto_box_keypair (self->client_transient, secret)
    ||  crypto_box_keypair (self->client_public, secret)
    ||  crypto_box_keypair (unused, self->server_secret)
    ||  crypto_box_keypair (unused, self->server_transient_secret))
        s_die ("crypto_box_keypair");
    if (crypto_box_beforenm (self->key, self->client_transient,
                             self->server_secret))
        s_die ("crypto_box_beforenm");
    randombytes_buf (self->fixed_nonce, sizeof self->fixed_nonce);
    randombytes_buf (self->nonce, sizeof self->nonce);
    randombytes_buf (self->plain, sizeof self->plain);
    self->counter = 0;
    if (crypto_box_easy_afternm (self->hello_box, self->plain, 64,
                                 self->fixed_nonce, self->key)
    ||  crypto_box_easy_afternm (self->initiate_box, self->plain,
                                 SMALL_BOX_BYTES, self->fixed_nonce,
                                 self->key)
    ||  crypto_box_easy_afternm (self->vouch_box, self->plain, 64,
                                 self->fixed_nonce, self->key))
        s_die ("crypto_box_easy_afternm");
    sodium_memzero (secret, sizeof secret);
}

static int64_t
s_crypto_floor (void *args, size_t iterations)
{
    floor_t *self = (floor_t *) args;
    uint8_t check = 0;
    int64_t start = s_now_ns ();
    for (size_t count = 0; count < iterations; count++) {
        uint8_t public_key [CURVE_KEY_BYTES];
        uint8_t secret_key [CURVE_KEY_BYTES];
        uint8_t shared [FLOOR_SCALARMULT][KEY_BYTES];
        uint8_t opened [SMALL_BOX_BYTES];
        uint8_t cookie [MAC_BYTES + 64];
        uint8_t sealed [MAC_BYTES + SMALL_BOX_BYTES];

        //  HELLO: C'.s, open the signature box
        if (crypto_box_beforenm (shared [0], self->client_transient,
                                 self->server_secret))
            s_die ("crypto_box_beforenm (C', s)");
        if (crypto_box_open_easy_afternm (opened, self->hello_box,
                                          sizeof self->hello_box,
                                          self->fixed_nonce, self->key))
            s_die ("open HELLO box");
        check ^= opened [0];
        //  WELCOME: S'/s', seal the cookie, seal WELCOME
        if (crypto_box_keypair (public_key, secret_key))
            s_die ("crypto_box_keypair");
        s_nonce_set (self->nonce, ++self->counter);
        if (crypto_secretbox_easy (cookie, self->plain, 64, self->nonce,
                                   self->key))
            s_die ("crypto_secretbox_easy (cookie)");
        uint64_t cookie_counter = self->counter;
        s_nonce_set (self->nonce, ++self->counter);
        if (crypto_box_easy_afternm (sealed, self->plain, SMALL_BOX_BYTES,
                                     self->nonce, self->key))
            s_die ("seal WELCOME box");
        check ^= sealed [count % sizeof sealed];
        //  INITIATE: open the cookie, C'.s', open the box, C.s', open
        //  the vouch
        s_nonce_set (self->nonce, cookie_counter);
        if (crypto_secretbox_open_easy (opened, cookie, sizeof cookie,
                                        self->nonce, self->key))
            s_die ("crypto_secretbox_open_easy (cookie)");
        check ^= opened [0];
        if (crypto_box_beforenm (shared [1], self->client_transient,
                                 self->server_transient_secret))
            s_die ("crypto_box_beforenm (C', s')");
        if (crypto_box_open_easy_afternm (opened, self->initiate_box,
                                          sizeof self->initiate_box,
                                          self->fixed_nonce, self->key))
            s_die ("open INITIATE box");
        check ^= opened [count % SMALL_BOX_BYTES];
        if (crypto_box_beforenm (shared [2], self->client_public,
                                 self->server_transient_secret))
            s_die ("crypto_box_beforenm (C, s')");
        if (crypto_box_open_easy_afternm (opened, self->vouch_box,
                                          sizeof self->vouch_box,
                                          self->fixed_nonce, self->key))
            s_die ("open vouch box");
        check ^= opened [0];
        //  READY: seal an empty box
        s_nonce_set (self->nonce, ++self->counter);
        if (crypto_box_easy_afternm (sealed, self->plain, 0, self->nonce,
                                     self->key))
            s_die ("seal READY box");
        check ^= sealed [0] ^ public_key [0] ^ secret_key [0]
               ^ shared [0][0] ^ shared [1][0] ^ shared [2][0];
    }
    int64_t elapsed = s_now_ns () - start;
    s_sink ^= check;
    return elapsed;
}


//  --------------------------------------------------------------------------
//  Floor components alone, to explain the floor and any excess over it

static int64_t
s_one_keypair (void *args, size_t iterations)
{
    (void) args;
    uint8_t check = 0;
    int64_t start = s_now_ns ();
    for (size_t count = 0; count < iterations; count++) {
        uint8_t public_key [CURVE_KEY_BYTES];
        uint8_t secret_key [CURVE_KEY_BYTES];
        if (crypto_box_keypair (public_key, secret_key))
            s_die ("crypto_box_keypair");
        check ^= public_key [0];
    }
    int64_t elapsed = s_now_ns () - start;
    s_sink ^= check;
    return elapsed;
}

static int64_t
s_one_beforenm (void *args, size_t iterations)
{
    floor_t *self = (floor_t *) args;
    uint8_t check = 0;
    int64_t start = s_now_ns ();
    for (size_t count = 0; count < iterations; count++) {
        uint8_t shared [KEY_BYTES];
        if (crypto_box_beforenm (shared, self->client_transient,
                                 self->server_secret))
            s_die ("crypto_box_beforenm");
        check ^= shared [0];
    }
    int64_t elapsed = s_now_ns () - start;
    s_sink ^= check;
    return elapsed;
}

static int64_t
s_one_small_box (void *args, size_t iterations)
{
    floor_t *self = (floor_t *) args;
    uint8_t check = 0;
    int64_t start = s_now_ns ();
    for (size_t count = 0; count < iterations; count++) {
        uint8_t opened [SMALL_BOX_BYTES];
        if (crypto_box_open_easy_afternm (opened, self->initiate_box,
                                          sizeof self->initiate_box,
                                          self->fixed_nonce, self->key))
            s_die ("open 128 octet box");
        check ^= opened [count % SMALL_BOX_BYTES];
    }
    int64_t elapsed = s_now_ns () - start;
    s_sink ^= check;
    return elapsed;
}


//  --------------------------------------------------------------------------
//  Calibrate: find how many iterations fill one round of wall time. The
//  doubling runs also warm caches, branch predictors and the CPU clock.

static void
s_calibrate (contender_t *self)
{
    size_t iterations = 1;
    int64_t elapsed = 0;
    while (true) {
        int64_t start = s_now_ns ();
        self->fn (self->args, iterations);
        elapsed = s_now_ns () - start;
        if (elapsed >= self->round_ns / 8 || iterations >= ((size_t) 1 << 40))
            break;
        iterations *= 2;
    }
    if (elapsed < 1)
        elapsed = 1;
    double wanted = (double) iterations * (double) self->round_ns
                  / (double) elapsed;
    self->iterations = wanted < 1? 1: (size_t) wanted;
}

static int
s_compare_double (const void *left, const void *right)
{
    double a = *(const double *) left;
    double b = *(const double *) right;
    return (a > b) - (a < b);
}

static double
s_median (const double *values, int count)
{
    double sorted [ROUNDS_MAX];
    memcpy (sorted, values, (size_t) count * sizeof (double));
    qsort (sorted, (size_t) count, sizeof (double), s_compare_double);
    return count % 2? sorted [count / 2]
                    : (sorted [count / 2 - 1] + sorted [count / 2]) / 2;
}

//  Calibrate every contender, then run the rounds, taking turns: round r
//  starts with contender r mod count, so that no contender always runs
//  first or last.

static void
s_run (contender_t *list, int count, int rounds)
{
    for (int index = 0; index < count; index++)
        s_calibrate (&list [index]);
    for (int round = 0; round < rounds; round++)
        for (int turn = 0; turn < count; turn++) {
            contender_t *self = &list [(round + turn) % count];
            int64_t measured = self->fn (self->args, self->iterations);
            self->sample [round] = (double) measured
                                 / (double) self->iterations;
        }
    for (int index = 0; index < count; index++) {
        contender_t *self = &list [index];
        double low = self->sample [0], high = self->sample [0];
        for (int round = 1; round < rounds; round++) {
            if (self->sample [round] < low)
                low = self->sample [round];
            if (self->sample [round] > high)
                high = self->sample [round];
        }
        self->median = s_median (self->sample, rounds);
        self->spread = (high - low) / self->median;
    }
}

//  Median over rounds of the throughput ratio base/other of the same round;
//  the two ran next to each other, so this cancels slow drifts.
static double
s_paired_ratio (contender_t *base, contender_t *other, int rounds)
{
    double ratio [ROUNDS_MAX];
    for (int round = 0; round < rounds; round++)
        ratio [round] = base->sample [round] / other->sample [round];
    return s_median (ratio, rounds);
}


//  --------------------------------------------------------------------------
//  Table 1: MESSAGE encode + decode

static void *
s_alloc (size_t size)
{
    void *memory = malloc (size);
    s_require (memory, "out of memory");
    return memory;
}

static void
s_bench_messages (keys_t *keys, int rounds, int64_t round_ns)
{
    static const size_t sizes [] = { 64, 1024, 16 * 1024, 256 * 1024 };
    printf ("\n1. MESSAGE encode + decode: one op = client encodes, server "
            "decodes in place\n"
            "   raw = crypto_box_easy_afternm + crypto_box_open_easy_afternm, "
            "beforenm key,\n"
            "   separate preallocated buffers. ratio = curve throughput / raw "
            "throughput\n"
            "   (>1 means curve is faster), from the medians; paired = median "
            "of the\n"
            "   per-round ratios. spread = (slowest - fastest round) / "
            "median.\n\n");
    printf ("%8s  %-17s %10s %8s %7s %7s %7s  %s\n", "payload",
            "contender", "ns/op", "MB/s", "spread", "ratio", "paired",
            "target");

    for (size_t index = 0; index < sizeof sizes / sizeof sizes [0]; index++) {
        size_t size = sizes [index];
        size_t message_size = curve_codec_message_size (size);

        raw_message_t raw;
        memset (&raw, 0, sizeof raw);
        raw.size = size;
        raw.source = (uint8_t *) s_alloc (size);
        raw.boxed = (uint8_t *) s_alloc (size + MAC_BYTES);
        raw.opened = (uint8_t *) s_alloc (size);
        randombytes_buf (raw.source, size);
        memcpy (raw.nonce, "CurveZMQMESSAGEC", 16);
        uint8_t public_key [CURVE_KEY_BYTES], secret_key [CURVE_KEY_BYTES];
        if (crypto_box_keypair (public_key, secret_key))
            s_die ("crypto_box_keypair");
        if (crypto_box_beforenm (raw.key, public_key, secret_key))
            s_die ("crypto_box_beforenm");
        sodium_memzero (secret_key, sizeof secret_key);

        codec_message_t copy, zero;
        for (int variant = 0; variant < 2; variant++) {
            codec_message_t *self = variant? &zero: &copy;
            memset (self, 0, sizeof *self);
            self->size = size;
            self->zero_copy = variant == 1;
            s_session_new (keys, &self->client, &self->server);
            self->source = (uint8_t *) s_alloc (size);
            memcpy (self->source, raw.source, size);
            self->buffer_size = message_size;
            self->buffer = (uint8_t *) s_alloc (message_size);
            memset (self->buffer, 0, message_size);
            //  The zero-copy writer puts its payload in place, once
            if (self->zero_copy)
                memcpy (self->buffer + CURVE_MESSAGE_PAYLOAD_OFFSET,
                        self->source, size);
        }

        contender_t list [3] = {
            { .name = "raw libsodium", .fn = s_raw_message,
              .args = &raw, .round_ns = round_ns },
            { .name = "curve (copy)", .fn = s_codec_message,
              .args = &copy, .round_ns = round_ns },
            { .name = "curve (zero-copy)", .fn = s_codec_message,
              .args = &zero, .round_ns = round_ns }
        };
        s_run (list, 3, rounds);

        double target = size < 1024? TARGET_SMALL: TARGET_LARGE;
        for (int which = 0; which < 3; which++) {
            contender_t *self = &list [which];
            char label [32] = "";
            if (which == 0) {
                if (size >= 1024)
                    snprintf (label, sizeof label, "%zu KiB", size / 1024);
                else
                    snprintf (label, sizeof label, "%zu B", size);
            }
            printf ("%8s  %-17s %10.1f %8.1f %6.1f%%", label, self->name,
                    self->median, (double) size * 1e3 / self->median,
                    self->spread * 100);
            if (which == 0)
                printf ("\n");
            else {
                double ratio = list [0].median / self->median;
                printf (" %6.3fx %6.3fx  >=%.2fx %s\n", ratio,
                        s_paired_ratio (&list [0], self, rounds), target,
                        ratio >= target? "ok": "BELOW");
            }
        }
        fflush (stdout);

        free (raw.source);
        free (raw.boxed);
        free (raw.opened);
        for (int variant = 0; variant < 2; variant++) {
            codec_message_t *self = variant? &zero: &copy;
            curve_codec_destroy (&self->client);
            curve_codec_destroy (&self->server);
            free (self->source);
            free (self->buffer);
        }
    }
}


//  --------------------------------------------------------------------------
//  Table 2: handshakes

static void
s_print_handshake_row (const char *name, contender_t *self)
{
    printf ("   %-44s %9.1f %10.0f %6.1f%%\n", name, self->median / 1e3,
            1e9 / self->median, self->spread * 100);
}

static void
s_bench_handshakes (keys_t *keys, int rounds, int64_t round_ns)
{
    floor_t floor_args;
    s_floor_init (&floor_args);

    contender_t list [6] = {
        { .name = "full", .fn = s_full_handshake,
          .args = keys, .round_ns = round_ns },
        { .name = "server", .fn = s_server_handshake,
          .args = keys, .round_ns = round_ns },
        { .name = "floor", .fn = s_crypto_floor,
          .args = &floor_args, .round_ns = round_ns },
        { .name = "keypair", .fn = s_one_keypair,
          .args = NULL, .round_ns = round_ns / 2 },
        { .name = "beforenm", .fn = s_one_beforenm,
          .args = &floor_args, .round_ns = round_ns / 2 },
        { .name = "box", .fn = s_one_small_box,
          .args = &floor_args, .round_ns = round_ns / 2 }
    };
    s_run (list, 6, rounds);
    contender_t *full = &list [0];
    contender_t *server = &list [1];
    contender_t *ground = &list [2];
    contender_t *keypair = &list [3];
    contender_t *beforenm = &list [4];
    contender_t *box = &list [5];

    printf ("\n2. Handshakes in memory (HELLO, WELCOME, INITIATE, allow, "
            "READY; codecs made\n"
            "   and destroyed each time). Server side = only the server's "
            "calls are timed.\n"
            "   Crypto floor = %d X25519 key pair + %d X25519 shared secrets "
            "(beforenm) +\n"
            "   %d boxes of <= %d octets with a precomputed key, done "
            "directly with libsodium.\n"
            "   One op is one handshake; for a component, one call.\n\n",
            FLOOR_KEYPAIRS, FLOOR_SCALARMULT, FLOOR_BOXES, SMALL_BOX_BYTES);
    printf ("   %-44s %9s %10s %7s\n", "contender", "us/op", "ops/s",
            "spread");
    s_print_handshake_row ("full handshake, client + server", full);
    s_print_handshake_row ("server side of one handshake", server);
    s_print_handshake_row ("server crypto floor (libsodium direct)", ground);
    s_print_handshake_row ("  component: crypto_box_keypair", keypair);
    s_print_handshake_row ("  component: crypto_box_beforenm", beforenm);
    s_print_handshake_row ("  component: open a 128 octet box", box);

    double ratio = server->median / ground->median;
    double model = FLOOR_KEYPAIRS * keypair->median
                 + FLOOR_SCALARMULT * beforenm->median
                 + FLOOR_BOXES * box->median;
    double excess = server->median - ground->median;
    printf ("\n   server / floor            %6.3fx (paired %.3fx)   "
            "target <= %.2fx %s\n", ratio,
            s_paired_ratio (server, ground, rounds), TARGET_FLOOR,
            ratio <= TARGET_FLOOR? "ok": "ABOVE");
    printf ("   floor from its components %9.1f us (measured floor "
            "%.1f us)\n", model / 1e3, ground->median / 1e3);
    printf ("   server excess over floor  %9.1f us = %.2f x one "
            "crypto_box_beforenm\n", excess / 1e3,
            excess / beforenm->median);
    printf ("   client side (full - server) %7.1f us\n",
            (full->median - server->median) / 1e3);
    printf ("\n   reference, NOT measured here: libzmq's CURVE server spends "
            "about %.0f us of\n"
            "   CPU per connection on this machine class (server side here "
            "is %.2fx that)\n",
            LIBZMQ_SERVER_US, server->median / 1e3 / LIBZMQ_SERVER_US);
    fflush (stdout);
    sodium_memzero (&floor_args, sizeof floor_args);
}


//  --------------------------------------------------------------------------

static void
s_usage (const char *program)
{
    printf ("usage: %s [--quick]\n"
            "  --quick / -q    short rounds, a few seconds in all (CI smoke "
            "test)\n"
            "  --help / -h     this text\n", program);
}

int
main (int argc, char **argv)
{
    bool quick = false;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv [argn];
        if (!strcmp (arg, "--quick") || !strcmp (arg, "-q"))
            quick = true;
        else
        if (!strcmp (arg, "--help") || !strcmp (arg, "-h")) {
            s_usage (argv [0]);
            return 0;
        }
        else {
            fprintf (stderr, "unknown option: %s\n", arg);
            s_usage (argv [0]);
            return 1;
        }
    }
    if (sodium_init () < 0)
        s_die ("sodium_init");
    int rounds = quick? ROUNDS_QUICK: ROUNDS_FULL;
    int64_t round_ns = quick? ROUND_NS_QUICK: ROUND_NS_FULL;

    printf ("curve_bench_codec: curve %d.%d.%d codec vs libsodium %s, "
            "measured in one run\n",
            CURVE_VERSION_MAJOR, CURVE_VERSION_MINOR, CURVE_VERSION_PATCH,
            sodium_version_string ());
    printf ("%s mode: %d interleaved rounds per contender, ~%.0f ms each; "
            "medians shown.\n"
            "Timings are not pass/fail; read the ratios, not the absolute "
            "numbers.\n",
            quick? "quick": "full", rounds, (double) round_ns / 1e6);
#ifndef NDEBUG
    printf ("note: built without NDEBUG (not a Release build?)\n");
#endif

    keys_t keys;
    if (crypto_box_keypair (keys.server_public, keys.server_secret)
    ||  crypto_box_keypair (keys.client_public, keys.client_secret))
        s_die ("crypto_box_keypair");

    int64_t start = s_now_ns ();
    s_bench_messages (&keys, rounds, round_ns);
    s_bench_handshakes (&keys, rounds, round_ns);
    printf ("\ntotal %.1f s (sink %u)\n",
            (double) (s_now_ns () - start) / 1e9, (unsigned) s_sink);
    sodium_memzero (&keys, sizeof keys);
    return 0;
}
