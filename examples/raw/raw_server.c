/*  =========================================================================
    raw_server - CurveZMQ echo server over a plain libzmq ROUTER socket

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    raw_server binds a ROUTER socket and keeps one server curve_codec per
    client routing id. Each client message is [routing id][command]: a
    HELLO creates the codec, the codec answers WELCOME, INITIATE brings it
    to the authorisation step where we print the client's permanent key
    and allow it, READY goes back, and from then on every MESSAGE is
    decrypted, upper-cased and sent back encrypted.
@discuss
    Usage: raw_server [endpoint]   (default tcp://127.0.0.1:*)
    It prints the endpoint it bound and its public key in hex; give both to
    raw_client. Stop it with Ctrl-C.

    A ROUTER does not tell us when a client goes away, so the codec table
    is bounded: when it is full the oldest session is dropped.
@end
*/

#include "raw.h"
#include "curve.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

//  Most client sessions kept at once
#define MAX_PEERS           256

//  Longest routing id we keep (libzmq allows 255 octets)
#define ROUTING_ID_MAX      256

//  One client, known by its routing id
typedef struct _peer_t peer_t;
struct _peer_t {
    uint8_t routing_id [ROUTING_ID_MAX];
    size_t routing_id_size;
    curve_codec_t *codec;           //  Server side of this client's session
    peer_t *next;                   //  Next newer peer
};

//  Structure of our class

struct _raw_server_t {
    void *router;                   //  ROUTER socket
    char endpoint [256];            //  Where it is bound
    uint8_t public_key [CURVE_KEY_BYTES];
    uint8_t secret_key [CURVE_KEY_BYTES];
    bool verbose;                   //  Trace every message
    peer_t *peers;                  //  Oldest first
    size_t peer_count;              //  Length of that list
    size_t echoed;                  //  Messages echoed
    size_t refused;                 //  Handshakes that failed
    uint8_t routing_id [ROUTING_ID_MAX];    //  Routing id just received
    uint8_t frame [RAW_FRAME_MAX];  //  Command just received
};


//  --------------------------------------------------------------------------
//  Create a new server, bound and ready

raw_server_t *
raw_server_new (void *ctx, const char *endpoint, const uint8_t *public_key,
                const uint8_t *secret_key, bool verbose)
{
    raw_server_t *self = (raw_server_t *) calloc (1, sizeof *self);
    if (!self) {
        fprintf (stderr, "raw_server: out of memory\n");
        return NULL;
    }
    memcpy (self->public_key, public_key, CURVE_KEY_BYTES);
    memcpy (self->secret_key, secret_key, CURVE_KEY_BYTES);
    self->verbose = verbose;
    self->router = zmq_socket (ctx, ZMQ_ROUTER);
    int linger = 0;
    size_t size = sizeof self->endpoint;
    if (!self->router
    ||  zmq_setsockopt (self->router, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_bind (self->router, endpoint)
    ||  zmq_getsockopt (self->router, ZMQ_LAST_ENDPOINT, self->endpoint,
                        &size)) {
        fprintf (stderr, "raw_server: cannot bind %s: %s\n", endpoint,
                 zmq_strerror (zmq_errno ()));
        raw_server_destroy (&self);
    }
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy the server

static void
s_peer_destroy (peer_t **peer_p)
{
    peer_t *peer = *peer_p;
    if (peer) {
        curve_codec_destroy (&peer->codec);
        free (peer);
        *peer_p = NULL;
    }
}

void
raw_server_destroy (raw_server_t **self_p)
{
    raw_server_t *self = *self_p;
    if (!self)
        return;
    while (self->peers) {
        peer_t *next = self->peers->next;
        s_peer_destroy (&self->peers);
        self->peers = next;
    }
    if (self->router)
        zmq_close (self->router);
    sodium_memzero (self->secret_key, sizeof self->secret_key);
    free (self);
    *self_p = NULL;
}

const char *
raw_server_endpoint (raw_server_t *self)
{
    return self->endpoint;
}

size_t
raw_server_echoed (raw_server_t *self)
{
    return self->echoed;
}

size_t
raw_server_refused (raw_server_t *self)
{
    return self->refused;
}


//  --------------------------------------------------------------------------
//  The peer table

static peer_t *
s_peer_lookup (raw_server_t *self, const uint8_t *routing_id, size_t size)
{
    for (peer_t *peer = self->peers; peer; peer = peer->next)
        if (peer->routing_id_size == size
        &&  memcmp (peer->routing_id, routing_id, size) == 0)
            return peer;
    return NULL;
}

static void
s_peer_remove (raw_server_t *self, peer_t *target)
{
    for (peer_t **link = &self->peers; *link; link = &(*link)->next)
        if (*link == target) {
            *link = target->next;
            s_peer_destroy (&target);
            self->peer_count--;
            return;
        }
}

//  A new client said HELLO: give it a fresh server codec. Drops the oldest
//  session if the table is full.
static peer_t *
s_peer_new (raw_server_t *self, const uint8_t *routing_id, size_t size)
{
    if (self->peer_count == MAX_PEERS)
        s_peer_remove (self, self->peers);
    peer_t *peer = (peer_t *) calloc (1, sizeof *peer);
    if (!peer)
        return NULL;
    peer->codec = curve_codec_new_server (self->public_key, self->secret_key);
    if (!peer->codec) {
        free (peer);
        return NULL;
    }
    memcpy (peer->routing_id, routing_id, size);
    peer->routing_id_size = size;
    peer_t **link = &self->peers;
    while (*link)
        link = &(*link)->next;
    *link = peer;
    self->peer_count++;
    return peer;
}


//  --------------------------------------------------------------------------
//  Send [routing id][data] to a client

static int
s_send (raw_server_t *self, peer_t *peer, const void *data, size_t size)
{
    if (zmq_send (self->router, peer->routing_id, peer->routing_id_size,
                  ZMQ_SNDMORE) < 0
    ||  zmq_send (self->router, data, size, 0) < 0) {
        fprintf (stderr, "raw_server: send failed: %s\n",
                 zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

//  Send whatever handshake command the codec has ready (WELCOME, READY or
//  ERROR)
static void
s_flush (raw_server_t *self, peer_t *peer)
{
    while (curve_codec_state (peer->codec) & CURVE_CODEC_SEND) {
        size_t size;
        const uint8_t *command = curve_codec_send_buf (peer->codec, &size);
        s_send (self, peer, command, size);
        curve_codec_send_ack (peer->codec);
    }
}


//  --------------------------------------------------------------------------
//  Handle one command from a client

static void
s_handle_command (raw_server_t *self, peer_t *peer, uint8_t *frame,
                  size_t size)
{
    curve_codec_t *codec = peer->codec;
    if (curve_codec_state (codec) & CURVE_CODEC_READY) {
        //  A MESSAGE: decrypt in place, upper-case, encrypt in place. The
        //  payload already sits at CURVE_MESSAGE_PAYLOAD_OFFSET and the
        //  reply is the same size, so nothing is copied.
        uint8_t *data;
        size_t data_size;
        int flags;
        if (curve_codec_decode (codec, frame, size, &data, &data_size,
                                &flags)) {
            //  A bad MESSAGE does not end the session
            fprintf (stderr, "raw_server: dropped a MESSAGE: %s\n",
                     curve_codec_reason (codec));
            return;
        }
        for (size_t index = 0; index < data_size; index++)
            data [index] = (uint8_t) toupper (data [index]);
        if (self->verbose)
            printf ("raw_server: echo \"%.*s\"\n", (int) data_size,
                    (const char *) data);
        if (curve_codec_encode (codec, data, data_size, flags, frame, size)) {
            fprintf (stderr, "raw_server: cannot encode: %s\n",
                     curve_codec_reason (codec));
            return;
        }
        if (s_send (self, peer, frame, size) == 0)
            self->echoed++;
        return;
    }
    //  HELLO or INITIATE
    if (curve_codec_recv (codec, frame, size))
        fprintf (stderr, "raw_server: handshake failed: %s (%s)\n",
                 curve_codec_error_name (curve_codec_last_error (codec)),
                 curve_codec_reason (codec));
    if (curve_codec_state (codec) & CURVE_CODEC_AUTH) {
        //  A real server would check the key against its list of clients
        //  (and may look at curve_codec_metadata); this one allows anyone
        char hex [CURVE_KEY_BYTES * 2 + 1];
        sodium_bin2hex (hex, sizeof hex, curve_codec_peer_key (codec),
                        CURVE_KEY_BYTES);
        printf ("raw_server: allowing client %s\n", hex);
        fflush (stdout);
        if (curve_codec_allow (codec))
            fprintf (stderr, "raw_server: allow failed: %s\n",
                     curve_codec_reason (codec));
    }
    s_flush (self, peer);
    if (curve_codec_state (codec) & CURVE_CODEC_FAILED) {
        self->refused++;
        s_peer_remove (self, peer);
    }
}

//  Skip what is left of a message we do not take
static void
s_drain (raw_server_t *self)
{
    int more = 1;
    size_t more_size = sizeof more;
    while (zmq_getsockopt (self->router, ZMQ_RCVMORE, &more, &more_size) == 0
       &&  more) {
        uint8_t scrap [1];
        if (zmq_recv (self->router, scrap, sizeof scrap, 0) < 0)
            break;
    }
}

static bool
s_is_hello (const uint8_t *frame, size_t size)
{
    return size >= 6 && memcmp (frame, "\x05HELLO", 6) == 0;
}

//  Read one message from the ROUTER: [routing id][command]. Anything else
//  is drained and ignored.
static void
s_handle_input (raw_server_t *self)
{
    int size = zmq_recv (self->router, self->routing_id,
                         sizeof self->routing_id, 0);
    if (size < 0)
        return;
    size_t routing_id_size = (size_t) size;
    int more = 0;
    size_t more_size = sizeof more;
    zmq_getsockopt (self->router, ZMQ_RCVMORE, &more, &more_size);
    if (!more)
        return;
    size = zmq_recv (self->router, self->frame, sizeof self->frame, 0);
    zmq_getsockopt (self->router, ZMQ_RCVMORE, &more, &more_size);
    if (more || size < 0 || (size_t) size > sizeof self->frame
    ||  routing_id_size > sizeof self->routing_id) {
        //  Not one frame of a size we take
        s_drain (self);
        return;
    }
    peer_t *peer = s_peer_lookup (self, self->routing_id, routing_id_size);
    if (peer && s_is_hello (self->frame, (size_t) size)) {
        //  The same routing id starts over (a client that reconnected with
        //  a fixed identity): forget the old session
        s_peer_remove (self, peer);
        peer = NULL;
    }
    if (!peer) {
        //  Only a HELLO may open a session
        if (!s_is_hello (self->frame, (size_t) size))
            return;
        peer = s_peer_new (self, self->routing_id, routing_id_size);
        if (!peer) {
            fprintf (stderr, "raw_server: cannot create a codec\n");
            return;
        }
    }
    s_handle_command (self, peer, self->frame, (size_t) size);
}


//  --------------------------------------------------------------------------
//  Serve until the pipe speaks or a signal arrives

int
raw_server_run (raw_server_t *self, void *pipe)
{
    zmq_pollitem_t items [] = {
        { self->router, 0, ZMQ_POLLIN, 0 },
        { pipe, 0, ZMQ_POLLIN, 0 }
    };
    int item_count = pipe? 2: 1;
    while (true) {
        if (zmq_poll (items, item_count, -1) < 0) {
            if (zmq_errno () == EINTR)
                return 0;           //  Interrupted: stop quietly
            fprintf (stderr, "raw_server: poll failed: %s\n",
                     zmq_strerror (zmq_errno ()));
            return -1;
        }
        if (items [0].revents & ZMQ_POLLIN)
            s_handle_input (self);
        if (pipe && (items [1].revents & ZMQ_POLLIN)) {
            char command [16];
            zmq_recv (pipe, command, sizeof command, 0);
            return 0;
        }
    }
}


//  --------------------------------------------------------------------------
//  The standalone program

#if !defined (RAW_DEMO)
static void
s_signal_handler (int signal_value)
{
    (void) signal_value;            //  zmq_poll returns EINTR; that is all
}

int
main (int argc, char **argv)
{
    const char *endpoint = argc > 1? argv [1]: "tcp://127.0.0.1:*";
    if (argc > 2 || (argc > 1 && argv [1][0] == '-')) {
        fprintf (stderr, "usage: %s [endpoint]\n", argv [0]);
        return 1;
    }
    if (sodium_init () < 0) {
        fprintf (stderr, "raw_server: libsodium cannot start\n");
        return 1;
    }
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_signal_handler;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);

    uint8_t public_key [CURVE_KEY_BYTES], secret_key [CURVE_KEY_BYTES];
    crypto_box_keypair (public_key, secret_key);
    void *ctx = zmq_ctx_new ();
    raw_server_t *server = raw_server_new (ctx, endpoint, public_key,
                                           secret_key, true);
    sodium_memzero (secret_key, sizeof secret_key);
    int rc = 1;
    if (server) {
        char hex [CURVE_KEY_BYTES * 2 + 1];
        sodium_bin2hex (hex, sizeof hex, public_key, CURVE_KEY_BYTES);
        printf ("raw_server: listening on %s\n", raw_server_endpoint (server));
        printf ("raw_server: server public key %s\n", hex);
        printf ("raw_server: run: raw_client %s %s\n",
                raw_server_endpoint (server), hex);
        fflush (stdout);
        rc = raw_server_run (server, NULL) == 0? 0: 1;
        printf ("raw_server: echoed %zu messages\n",
                raw_server_echoed (server));
        raw_server_destroy (&server);
    }
    zmq_ctx_term (ctx);
    return rc;
}
#endif
