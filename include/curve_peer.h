/*  =========================================================================
    curve_peer - end-to-end sessions between peers through a broker

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef CURVE_PEER_H_INCLUDED
#define CURVE_PEER_H_INCLUDED

#include <czmq.h>
#include "curve.h"

#ifdef __cplusplus
extern "C" {
#endif

//  @header
//  curve_peer lets peers that share only an untrusted broker talk end to
//  end: each peer holds one DEALER to the broker and one CurveZMQ session
//  per remote peer, all through that connection. The broker forwards
//  opaque blobs by address and learns nothing but who talks to whom.
//
//  Peers are named by their permanent public keys (Z85). Each peer knows
//  the others from a directory of public certificates (czmq's format, as
//  curve_keygen writes them), where a "name" in a certificate's metadata
//  can stand for the key. A message from a key not in the directory is
//  refused and reported.
//
//  Whoever speaks first takes the client role. When two peers open to
//  each other at the same moment, the one with the lower key stays client
//  and the other gives way, so both end with one session and no message
//  is lost.
//  @discuss
//  The broker protocol: a peer's DEALER has its Z85 public key as routing
//  id and sends [to][blob]; the broker (a ROUTER) forwards it as
//  [from][blob] to the DEALER whose routing id is 'to'. Each blob is one
//  CurveZMQ command; see RFC/framing.md.
//
//  Events on the monitor socket are frames [name][peer key][detail]:
//      CONNECTED <key> <name>        a session with that peer is ready
//      DISCONNECTED <key> <reason>   it went silent or lost the session
//      RECONNECTED <key> <detail>    it answers again / a new session
//      HANDSHAKE-FAILED <key> <why>  a handshake did not complete (retried)
//      REJECTED <key> <reason>       it refused us (ERROR)
//      LOST <key> <detail>           messages whose delivery is unknown
//      REFUSED <key> <reason>        a forged, replayed or misaddressed
//                                    blob, or a key that does not match
//                                    the sender the broker named
//      UNKNOWN <key> <detail>        a sender not in the directory
//  @end

typedef struct _curve_peer_t curve_peer_t;

//  @interface
//  Create a peer with its certificate (keys copied) and the directory of
//  the public certificates of the peers it accepts (reloaded when it
//  changes). Returns NULL if the cert has no secret key or the directory
//  cannot be read.
CURVE_EXPORT curve_peer_t *
    curve_peer_new (zcert_t *cert, const char *directory);

//  Destroy the peer; returns promptly. Nulls *self_p.
CURVE_EXPORT void
    curve_peer_destroy (curve_peer_t **self_p);

//  Connect to the broker. Returns 0 or -1.
CURVE_EXPORT int
    curve_peer_connect (curve_peer_t *self, const char *endpoint);

//  Send a message to a peer named by its Z85 key or by the "name" in its
//  certificate. Takes ownership and nulls *msg_p. Returns -1 (and leaves
//  the message) if no such peer is in the directory. The session is made
//  on demand; messages wait for it.
CURVE_EXPORT int
    curve_peer_send (curve_peer_t *self, const char *peer, zmsg_t **msg_p);

//  Receive the next message: [sender key Z85][frames...]. Waits.
CURVE_EXPORT zmsg_t *
    curve_peer_recv (curve_peer_t *self);

//  The "name" in a peer's certificate, or NULL. Caller frees.
CURVE_EXPORT char *
    curve_peer_name (curve_peer_t *self, const char *key);

//  Our own public key in Z85. Borrowed.
CURVE_EXPORT const char *
    curve_peer_key (curve_peer_t *self);

//  Heartbeat and handshake settings, as for curve_client (before connect).
CURVE_EXPORT void
    curve_peer_set_heartbeat (curve_peer_t *self, int interval, int timeout);
CURVE_EXPORT void
    curve_peer_set_handshake_timeout (curve_peer_t *self, int timeout);

//  Trace to stderr with zsys_debug (never keys' secrets or content).
CURVE_EXPORT void
    curve_peer_set_verbose (curve_peer_t *self, bool verbose);

//  Sockets for zpoller: messages, and events. Borrowed.
CURVE_EXPORT zsock_t *
    curve_peer_sock (curve_peer_t *self);
CURVE_EXPORT zsock_t *
    curve_peer_monitor (curve_peer_t *self);

//  Wait up to timeout ms for an event named in the '|'-separated list;
//  returns its name and, if asked, the peer key and detail (caller frees
//  all), or NULL on timeout.
CURVE_EXPORT char *
    curve_peer_wait (curve_peer_t *self, const char *names, int timeout,
                     char **key_p, char **detail_p);

//  A broker for peers, as a czmq actor: a ROUTER that forwards [to][blob]
//  from one peer as [from][blob] to another, and knows no keys. Commands:
//  "BIND" endpoint (replies with the bound endpoint, or "" on failure);
//  "LOG" path (appends every blob it forwards to that file, to show what a
//  broker sees). zactor_new (curve_peer_broker, NULL).
CURVE_EXPORT void
    curve_peer_broker (zsock_t *pipe, void *args);

//  Self test of this class
CURVE_EXPORT void
    curve_peer_test (bool verbose);
//  @end

#ifdef __cplusplus
}
#endif

#endif
