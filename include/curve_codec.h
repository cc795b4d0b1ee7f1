/*  =========================================================================
    curve_codec - the CurveZMQ (RFC 26) engine, sans I/O

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef CURVE_CODEC_H_INCLUDED
#define CURVE_CODEC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "curve.h"

#ifdef __cplusplus
extern "C" {
#endif

//  @header
//  curve_codec is one end of one CurveZMQ connection: a state machine that
//  takes commands from the peer as bytes and produces commands for the peer
//  as bytes. It never touches a socket, a clock, a thread or a file and
//  depends on libsodium alone, so it works over any ZeroMQ version or over
//  no ZeroMQ at all.
//
//  The caller drives it:
//      - when curve_codec_state () has CURVE_CODEC_SEND, take the command
//        from curve_codec_send_buf (), send it, then call curve_codec_send_ack;
//      - when it has CURVE_CODEC_RECV, feed the next command received from
//        the peer to curve_codec_recv ();
//      - when it has CURVE_CODEC_AUTH (server only), look at the client's
//        permanent key and metadata and answer curve_codec_allow () or
//        curve_codec_deny (reason);
//      - when it has CURVE_CODEC_READY, curve_codec_encode () and
//        curve_codec_decode () turn application data into MESSAGE commands
//        and back;
//      - when it has CURVE_CODEC_FAILED, the handshake is over for good;
//        curve_codec_error () and curve_codec_reason () say why.
//
//  Threads: a codec object is not thread safe; use one codec from one thread
//  at a time. Different codecs are independent.
//  @discuss
//  Every byte given to curve_codec_recv and curve_codec_decode is treated as
//  hostile: sizes, names, version, padding, nonces and boxes are checked
//  and a bad command gets an error code and a reason, never an abort.
//  Misuse by the caller (a NULL codec, an output buffer smaller than the
//  size helper said) aborts, even with NDEBUG.
//  @end

//  Sizes, in octets (RFC 26)
#define CURVE_KEY_BYTES          32     //  Public or secret key
#define CURVE_Z85_KEY_BYTES      40     //  Key in Z85, without terminator
#define CURVE_HELLO_BYTES        200    //  HELLO command
#define CURVE_WELCOME_BYTES      168    //  WELCOME command
#define CURVE_INITIATE_MIN_BYTES 257    //  INITIATE with no metadata
#define CURVE_READY_MIN_BYTES    30     //  READY with no metadata
#define CURVE_ERROR_MIN_BYTES    7      //  ERROR with an empty reason
#define CURVE_MESSAGE_MIN_BYTES  33     //  MESSAGE with no payload
#define CURVE_MESSAGE_OVERHEAD   33     //  MESSAGE size minus payload size
#define CURVE_REASON_MAX         255    //  Longest ERROR reason
#define CURVE_METADATA_NAME_MAX  255    //  Longest metadata property name

//  Where the payload sits inside a MESSAGE command: a caller that writes its
//  payload at this offset of the output buffer lets curve_codec_encode
//  encrypt in place, with no copy.
#define CURVE_MESSAGE_PAYLOAD_OFFSET 33

//  Default limit on the metadata a peer may send (INITIATE or READY)
#define CURVE_METADATA_MAX_DEFAULT (1024 * 1024)

//  MESSAGE flags (the payload-flags octet of RFC 26)
#define CURVE_FLAG_MORE          0x01   //  More frames of this message follow
#define CURVE_FLAG_COMMAND       0x02   //  ZMTP 3.1 command frame (PING/PONG)

//  State bits returned by curve_codec_state
#define CURVE_CODEC_SEND         0x01   //  A command waits in the send buffer
#define CURVE_CODEC_RECV         0x02   //  A handshake command is expected
#define CURVE_CODEC_AUTH         0x04   //  Server awaits allow/deny
#define CURVE_CODEC_READY        0x08   //  MESSAGEs can be encoded/decoded
#define CURVE_CODEC_FAILED       0x10   //  The handshake failed for good

//  Error codes, from curve_codec_error and curve_codec_last_error
typedef enum {
    CURVE_OK = 0,                   //  No error
    CURVE_ERR_STATE,                //  Call not valid in this state
    CURVE_ERR_MALFORMED,            //  Bad size, name, version or padding
    CURVE_ERR_UNEXPECTED,           //  Valid command, wrong time
    CURVE_ERR_BOX,                  //  A box did not open (forged, wrong key)
    CURVE_ERR_COOKIE,               //  Cookie did not open
    CURVE_ERR_VOUCH,                //  Vouch did not open or did not match
    CURVE_ERR_METADATA,             //  Metadata breaks the RFC 26 grammar
    CURVE_ERR_TOO_LARGE,            //  Metadata over the configured limit
    CURVE_ERR_KEY,                  //  Peer key not canonical or low order
    CURVE_ERR_NONCE,                //  Short nonce replayed or regressed
    CURVE_ERR_NONCE_EXHAUSTED,      //  Our short nonce would wrap
    CURVE_ERR_FLAGS,                //  MESSAGE flags with reserved bits set
    CURVE_ERR_DENIED,               //  Server: caller denied the client
    CURVE_ERR_REJECTED,             //  Client: server sent ERROR
    CURVE_ERR_INTERNAL              //  libsodium or memory failure
} curve_error_t;

//  Opaque class
typedef struct _curve_codec_t curve_codec_t;

//  @interface
//  Create a client codec from the client's permanent key pair and the
//  server's permanent public key (CURVE_KEY_BYTES each). The codec starts
//  with HELLO in its send buffer. Returns NULL if libsodium cannot start,
//  memory runs out, or the server key is unusable (not a canonical
//  encoding below 2^255-19, or a low order point).
//  Caller owns the result and must destroy it.
CURVE_EXPORT curve_codec_t *
    curve_codec_new_client (const uint8_t *public_key,
                            const uint8_t *secret_key,
                            const uint8_t *server_key);

//  Create a server codec from the server's permanent key pair; it waits for
//  HELLO. One codec serves one client connection. Returns NULL if libsodium
//  cannot start or memory runs out. Caller owns the result.
CURVE_EXPORT curve_codec_t *
    curve_codec_new_server (const uint8_t *public_key,
                            const uint8_t *secret_key);

//  Destroy a codec, wiping every key it holds. Nulls the caller's pointer;
//  a NULL pointer is a no-op.
CURVE_EXPORT void
    curve_codec_destroy (curve_codec_t **self_p);

//  Add a metadata property that goes to the peer: a client sends it in
//  INITIATE, a server in READY. The name is 1-255 characters of ALPHA,
//  DIGIT, "-", "_", "." and "+", and is sent with its case as given. Returns
//  0, or -1 with CURVE_ERR_METADATA for a bad name or CURVE_ERR_STATE once
//  that command has been produced.
CURVE_EXPORT int CURVE_CHECK
    curve_codec_set_metadata (curve_codec_t *self, const char *name,
                              const void *value, size_t size);

//  Limit the metadata the peer may send (default CURVE_METADATA_MAX_DEFAULT
//  octets). A larger INITIATE or READY fails with CURVE_ERR_TOO_LARGE.
CURVE_EXPORT void
    curve_codec_set_metadata_max (curve_codec_t *self, size_t max);

//  Return the state as an OR of CURVE_CODEC_* bits. CURVE_CODEC_FAILED never
//  comes with RECV, AUTH or READY; it comes with SEND only on a server that
//  denied a client and still has the ERROR command to send.
CURVE_EXPORT int
    curve_codec_state (curve_codec_t *self);

//  Return the pending handshake command and store its size, or return NULL
//  and store 0 if there is none. The buffer belongs to the codec and stays
//  valid until curve_codec_send_ack or destroy.
CURVE_EXPORT const uint8_t *
    curve_codec_send_buf (curve_codec_t *self, size_t *size);

//  Tell the codec the pending command has been sent.
CURVE_EXPORT void
    curve_codec_send_ack (curve_codec_t *self);

//  Process one handshake command (WELCOME, READY or ERROR on a client;
//  HELLO or INITIATE on a server). Returns 0 on success. Returns -1 if the
//  command is invalid, which fails the handshake for good (see
//  curve_codec_error), or if the codec is not expecting a command now
//  (CURVE_ERR_STATE, which changes nothing).
CURVE_EXPORT int CURVE_CHECK
    curve_codec_recv (curve_codec_t *self, const uint8_t *data, size_t size);

//  Server, in state CURVE_CODEC_AUTH: accept the client. READY goes to the
//  send buffer and the codec becomes ready. Returns 0, or -1 with
//  CURVE_ERR_STATE.
CURVE_EXPORT int CURVE_CHECK
    curve_codec_allow (curve_codec_t *self);

//  Server, in state CURVE_CODEC_AUTH: reject the client. ERROR carrying the
//  reason goes to the send buffer and the codec fails with CURVE_ERR_DENIED.
//  The reason is at most 255 printable ASCII characters (NULL means empty).
//  Returns 0, or -1 with CURVE_ERR_STATE, or with CURVE_ERR_MALFORMED for a
//  reason that is too long or not printable (nothing changes then).
CURVE_EXPORT int CURVE_CHECK
    curve_codec_deny (curve_codec_t *self, const char *reason);

//  Return the size of the MESSAGE command that carries a payload of the
//  given size. Aborts if the sum would overflow.
CURVE_EXPORT size_t
    curve_codec_message_size (size_t payload_size);

//  Encrypt one frame of payload into a MESSAGE command written to out,
//  whose size must be at least curve_codec_message_size (size) (else abort).
//  flags is an OR of CURVE_FLAG_MORE and CURVE_FLAG_COMMAND. If data is
//  out + CURVE_MESSAGE_PAYLOAD_OFFSET, encryption is done in place. Returns
//  0, or -1 with CURVE_ERR_STATE before the handshake completes or while a
//  handshake command is still unsent, or CURVE_ERR_NONCE_EXHAUSTED.
CURVE_EXPORT int CURVE_CHECK
    curve_codec_encode (curve_codec_t *self, const void *data, size_t size,
                        int flags, uint8_t *out, size_t out_size);

//  Decrypt one MESSAGE command in place. On success, returns 0 and stores in
//  *data a pointer to the payload inside msg, its size and its flags (any
//  pointer may be NULL if not wanted). On failure, returns -1 and sets
//  curve_codec_last_error; msg's contents are then unspecified (a forged
//  MESSAGE is left untouched, but one that authenticated and was refused
//  for its reserved flags has been decrypted). A rejected MESSAGE (forged,
//  truncated, replayed, out of order, reserved flags) does not change the
//  codec's state: the session goes on and later valid MESSAGEs decode.
CURVE_EXPORT int CURVE_CHECK
    curve_codec_decode (curve_codec_t *self, uint8_t *msg, size_t size,
                        uint8_t **data, size_t *data_size, int *flags);

//  Return the error that failed the handshake, or CURVE_OK if it has not
//  failed.
CURVE_EXPORT curve_error_t
    curve_codec_error (curve_codec_t *self);

//  Return the error of the last call that returned -1 (which may be a
//  rejected MESSAGE that did not fail the session), or CURVE_OK.
CURVE_EXPORT curve_error_t
    curve_codec_last_error (curve_codec_t *self);

//  Return a human readable reason for the last error ("" if none). For
//  CURVE_ERR_REJECTED it includes the server's ERROR text. Never contains
//  key material. Borrowed; valid until the next call on the codec.
CURVE_EXPORT const char *
    curve_codec_reason (curve_codec_t *self);

//  Return the ERROR reason the server sent (client, CURVE_ERR_REJECTED), or
//  the reason this server denied with; "" otherwise. Non-printable octets
//  received are shown as '?'. Borrowed.
CURVE_EXPORT const char *
    curve_codec_error_text (curve_codec_t *self);

//  Return the name of an error code, e.g. "CURVE_ERR_BOX".
CURVE_EXPORT const char *
    curve_codec_error_name (curve_error_t error);

//  Return true if this codec is a server.
CURVE_EXPORT bool
    curve_codec_is_server (curve_codec_t *self);

//  Return the peer's permanent public key (CURVE_KEY_BYTES), or NULL if not
//  yet known. A client knows it from the start; a server once INITIATE has
//  verified (state AUTH or later). Borrowed.
CURVE_EXPORT const uint8_t *
    curve_codec_peer_key (curve_codec_t *self);

//  Look up a peer metadata property by name, ignoring case. Returns a
//  pointer to the value and stores its size, or returns NULL if there is no
//  such property (or no metadata yet). Values are binary and not
//  terminated. Borrowed; valid until the codec is destroyed.
CURVE_EXPORT const uint8_t *
    curve_codec_metadata (curve_codec_t *self, const char *name,
                          size_t *size);

//  Return the number of metadata properties the peer sent.
CURVE_EXPORT size_t
    curve_codec_metadata_count (curve_codec_t *self);

//  Return property number index (0-based, in the order sent) of the peer's
//  metadata: stores its name (not terminated) and size, and its value and
//  size. Returns 0, or -1 if index is out of range. Borrowed.
CURVE_EXPORT int
    curve_codec_metadata_at (curve_codec_t *self, size_t index,
                             const char **name, size_t *name_size,
                             const uint8_t **value, size_t *value_size);

//  Self test of this class
CURVE_EXPORT void
    curve_codec_test (bool verbose);
//  @end

#ifdef __cplusplus
}
#endif

#endif
