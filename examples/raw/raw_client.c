/*  =========================================================================
    raw_client - CurveZMQ client over a plain libzmq DEALER socket

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    raw_client connects a DEALER socket to raw_server, makes a fresh
    permanent key pair, runs the CurveZMQ handshake (HELLO, WELCOME,
    INITIATE, READY; or ERROR), then sends messages and checks that each
    comes back in upper case. Every wait is bounded by zmq_poll with a
    timeout, so a dead or wrong server makes it fail, never hang.
@discuss
    Usage: raw_client endpoint server-public-key-hex [count]
    Exit status 0 on success; 1 with the codec's reason on failure.
@end
*/

#include "raw.h"
#include "curve.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

//  One client session
typedef struct {
    void *dealer;                   //  DEALER socket
    curve_codec_t *codec;           //  Client side of the session
    bool verbose;                   //  Trace every message
    int timeout;                    //  Longest wait for a reply, msec
    uint8_t frame [RAW_FRAME_MAX];  //  Command just received
    size_t frame_size;              //  Its size
} client_t;

//  Send the handshake command the codec has ready, if any
static int
s_flush (client_t *self)
{
    while (curve_codec_state (self->codec) & CURVE_CODEC_SEND) {
        size_t size;
        const uint8_t *command = curve_codec_send_buf (self->codec, &size);
        if (zmq_send (self->dealer, command, size, 0) < 0) {
            fprintf (stderr, "raw_client: send failed: %s\n",
                     zmq_strerror (zmq_errno ()));
            return -1;
        }
        curve_codec_send_ack (self->codec);
    }
    return 0;
}

//  Wait at most self->timeout msec for one single-frame reply
static int
s_recv (client_t *self)
{
    zmq_pollitem_t items [] = { { self->dealer, 0, ZMQ_POLLIN, 0 } };
    //  libzmq 3.x and later take the timeout in milliseconds
    int rc = zmq_poll (items, 1, self->timeout);
    if (rc < 0) {
        fprintf (stderr, "raw_client: poll failed: %s\n",
                 zmq_strerror (zmq_errno ()));
        return -1;
    }
    if (rc == 0) {
        fprintf (stderr, "raw_client: no answer from the server within "
                 "%d ms (is the server key right?)\n", self->timeout);
        return -1;
    }
    int size = zmq_recv (self->dealer, self->frame, sizeof self->frame, 0);
    if (size < 0) {
        fprintf (stderr, "raw_client: recv failed: %s\n",
                 zmq_strerror (zmq_errno ()));
        return -1;
    }
    int more = 0;
    size_t more_size = sizeof more;
    zmq_getsockopt (self->dealer, ZMQ_RCVMORE, &more, &more_size);
    if (more || (size_t) size > sizeof self->frame) {
        fprintf (stderr, "raw_client: reply is not one frame of at most "
                 "%d octets\n", RAW_FRAME_MAX);
        return -1;
    }
    self->frame_size = (size_t) size;
    return 0;
}

//  Print why the codec failed
static int
s_codec_failed (client_t *self, const char *what)
{
    fprintf (stderr, "raw_client: %s: %s (%s)\n", what,
             curve_codec_error_name (curve_codec_last_error (self->codec)),
             curve_codec_reason (self->codec));
    return -1;
}

//  HELLO, WELCOME, INITIATE, READY (or ERROR from the server)
static int
s_handshake (client_t *self)
{
    while (true) {
        if (s_flush (self))
            return -1;
        int state = curve_codec_state (self->codec);
        if (state & CURVE_CODEC_READY)
            return 0;
        if (state & CURVE_CODEC_FAILED)
            return s_codec_failed (self, "handshake failed");
        if (s_recv (self))
            return -1;
        if (curve_codec_recv (self->codec, self->frame, self->frame_size))
            return s_codec_failed (self, "handshake failed");
    }
}

//  Send one message and check its echo
static int
s_echo (client_t *self, int sequence)
{
    char text [64];
    int length = snprintf (text, sizeof text, "message %d from raw client",
                           sequence);
    size_t size = curve_codec_message_size ((size_t) length);
    if (curve_codec_encode (self->codec, text, (size_t) length, 0,
                            self->frame, size))
        return s_codec_failed (self, "cannot encode");
    if (zmq_send (self->dealer, self->frame, size, 0) < 0) {
        fprintf (stderr, "raw_client: send failed: %s\n",
                 zmq_strerror (zmq_errno ()));
        return -1;
    }
    if (s_recv (self))
        return -1;
    uint8_t *data;
    size_t data_size;
    if (curve_codec_decode (self->codec, self->frame, self->frame_size,
                            &data, &data_size, NULL))
        return s_codec_failed (self, "bad reply");
    bool match = data_size == (size_t) length;
    for (size_t index = 0; match && index < data_size; index++)
        match = data [index] == (uint8_t) toupper ((uint8_t) text [index]);
    if (!match) {
        fprintf (stderr, "raw_client: echo of \"%s\" came back as \"%.*s\"\n",
                 text, (int) data_size, (const char *) data);
        return -1;
    }
    if (self->verbose)
        printf ("raw_client: \"%s\" -> \"%.*s\"\n", text, (int) data_size,
                (const char *) data);
    return 0;
}


//  --------------------------------------------------------------------------
//  Run one client session

int
raw_client_run (void *ctx, const char *endpoint, const uint8_t *server_key,
                int count, int timeout_msec, bool verbose)
{
    client_t *self = (client_t *) calloc (1, sizeof *self);
    if (!self) {
        fprintf (stderr, "raw_client: out of memory\n");
        return -1;
    }
    self->verbose = verbose;
    self->timeout = timeout_msec;
    int rc = -1;
    int linger = 0;

    //  Our permanent key pair; a real client would load a stored one that
    //  the server knows
    uint8_t public_key [CURVE_KEY_BYTES], secret_key [CURVE_KEY_BYTES];
    crypto_box_keypair (public_key, secret_key);
    self->codec = curve_codec_new_client (public_key, secret_key,
                                          server_key);
    sodium_memzero (secret_key, sizeof secret_key);
    if (!self->codec) {
        fprintf (stderr, "raw_client: cannot create the codec (bad server "
                 "key?)\n");
        goto done;
    }
    self->dealer = zmq_socket (ctx, ZMQ_DEALER);
    if (!self->dealer
    ||  zmq_setsockopt (self->dealer, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_connect (self->dealer, endpoint)) {
        fprintf (stderr, "raw_client: cannot connect to %s: %s\n", endpoint,
                 zmq_strerror (zmq_errno ()));
        goto done;
    }
    if (s_handshake (self))
        goto done;
    if (verbose) {
        char hex [CURVE_KEY_BYTES * 2 + 1];
        sodium_bin2hex (hex, sizeof hex, public_key, CURVE_KEY_BYTES);
        printf ("raw_client: secure session with %s as %s\n", endpoint, hex);
    }
    for (int sequence = 0; sequence < count; sequence++)
        if (s_echo (self, sequence))
            goto done;
    rc = 0;
done:
    curve_codec_destroy (&self->codec);
    if (self->dealer)
        zmq_close (self->dealer);
    free (self);
    return rc;
}


//  --------------------------------------------------------------------------
//  The standalone program

#if !defined (RAW_DEMO)
int
main (int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf (stderr, "usage: %s endpoint server-public-key-hex "
                 "[count]\n", argv [0]);
        return 1;
    }
    if (sodium_init () < 0) {
        fprintf (stderr, "raw_client: libsodium cannot start\n");
        return 1;
    }
    uint8_t server_key [CURVE_KEY_BYTES];
    size_t key_size = 0;
    if (sodium_hex2bin (server_key, sizeof server_key, argv [2],
                        strlen (argv [2]), NULL, &key_size, NULL)
    ||  key_size != CURVE_KEY_BYTES) {
        fprintf (stderr, "raw_client: the server key must be %d hex "
                 "digits\n", CURVE_KEY_BYTES * 2);
        return 1;
    }
    int count = argc > 3? atoi (argv [3]): 10;
    void *ctx = zmq_ctx_new ();
    int rc = raw_client_run (ctx, argv [1], server_key, count,
                             RAW_TIMEOUT_MSEC, true);
    zmq_ctx_term (ctx);
    if (rc == 0)
        printf ("raw_client: %d messages echoed OK\n", count);
    return rc == 0? 0: 1;
}
#endif
