/*  =========================================================================
    curve_session - one end-to-end session: codec, queues, timers (internal)

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    The one piece of code that runs a CurveZMQ session over a message
    transport, used by curve_client, curve_server and curve_peer. The wire
    format it speaks is in RFC/framing.md.
@discuss
    Sans I/O like the codec, but at the level of messages: frames in,
    frames out through callbacks, and the current time passed to every
    call, so the self test can drive timeouts without sleeping.

    Reliability: every application message travels as one MESSAGE (all its
    frames inside one box, so a broker cannot drop or reorder part of it)
    with a sequence number. The receiver delivers in order, exactly once:
    a duplicate is dropped, a message after a gap is dropped and answered
    at once with an ACK that says where the gap is. ACK (the highest
    sequence number delivered in order) also goes every ack_every messages
    and on each tick. The sender keeps each message until it is
    acknowledged and sends again, in order, everything not acknowledged
    within the retransmit time-out or after a gap ACK, so a broker that
    drops traffic (or restarts) delays messages but loses none. When a
    client learns that its server lost the session (RESET, echoing the
    first MESSAGE it could not place) it re-handshakes and sends again
    exactly the messages from that one on; messages whose fate it cannot
    know are reported as LOST, never silently dropped and never sent
    twice.
@end
*/

#include "curve_classes.h"
#include "curve_session.h"

#include <sodium.h>

//  Control messages: MESSAGE payloads with the COMMAND flag
#define CONTROL_PING    0x01        //  Are you there? Answer with ACK
#define CONTROL_ACK     0x02        //  + 8 octets sequence + 1 octet flags
#define ACK_BYTES       10
#define ACK_GAP         0x01        //  Flag: a message after a gap came
#define SEQUENCE_BYTES  8           //  Before the frames of a message

//  RESET: server to client, for a MESSAGE that belongs to no session
#define RESET_NAME      "\x05RESET"
#define RESET_BYTES     (6 + 8 + 16)

//  Where the short nonce and MAC sit in a MESSAGE
#define MESSAGE_NONCE_AT 8
#define MESSAGE_MAC_AT   16
#define MAC_BYTES        16

//  A message sent and not yet acknowledged
typedef struct {
    uint64_t sequence;              //  Its sequence number
    uint64_t first_nonce;           //  Short nonce of its first MESSAGE
    uint64_t nonce;                 //  Short nonce of its last MESSAGE
    uint8_t mac [MAC_BYTES];        //  Its MAC, to recognise a RESET
    int64_t sent_at;                //  When it was last sent
    size_t bytes;                   //  Its payload octets in a MESSAGE
    zmsg_t *msg;                    //  The plaintext, until acknowledged
} sent_t;

//  Structure of our class

struct _curve_session_t {
    bool is_server;                 //  Role
    curve_session_phase_t phase;    //  Where we are
    curve_codec_t *codec;           //  The current CurveZMQ codec
    curve_session_config_t config;  //  Settings
    curve_session_io_t io;          //  Owner's callbacks
    void *arg;                      //  Their argument
    uint8_t public_key [CURVE_KEY_BYTES];   //  Our permanent key pair
    uint8_t secret_key [CURVE_KEY_BYTES];
    uint8_t server_key [CURVE_KEY_BYTES];   //  Client: server's key
    zhashx_t *metadata;             //  Our metadata (borrowed)
    zhashx_t *properties;           //  Server: local peer properties
    bool connected_once;            //  Client: was READY before
    int64_t deadline;               //  Handshake deadline or retry time
    int64_t last_input;             //  Last frame accepted from peer
    int64_t last_output;            //  Last frame sent to peer
    zlist_t *pending;               //  Messages waiting to be encrypted
    sent_t *sent;                   //  Ring of unacknowledged messages
    size_t sent_head;               //  Oldest entry
    size_t sent_count;              //  Entries in use
    size_t sent_alloc;              //  Ring size
    size_t sent_bytes;              //  Octets of the messages in the ring
    size_t recv_unacked_bytes;      //  Octets received since last ACK
    size_t recv_unacked;            //  Messages received since last ACK
    uint64_t send_sequence;         //  Sequence number of the next message
    uint64_t recv_sequence;         //  Last sequence delivered in order
    int64_t gap_acked;              //  When we last sent a gap ACK
    int rto;                        //  Current retransmit time-out, ms
    bool silent;                    //  Peer silent past heartbeat_timeout
    zframe_t *last_command;         //  Last handshake command we sent
    uint8_t last_input_hash [32];   //  Hash of the last handshake command
    bool have_last_input;           //  we processed (to spot repeats)
    uint64_t ping_nonce;            //  Nonce of our last PING
    uint8_t ping_mac [MAC_BYTES];   //  And its MAC, to match a RESET
};


//  --------------------------------------------------------------------------
//  Defaults

void
curve_session_config_default (curve_session_config_t *config)
{
    assert (config);
    config->handshake_timeout = 5000;
    config->heartbeat_interval = 1000;
    config->heartbeat_timeout = 3000;
    config->queue_limit = 10000;
    config->window = 4096;
    config->window_bytes = 16 * 1024 * 1024;
    config->ack_every = 128;
    config->retransmit = 1000;
    config->peer_mode = false;
    config->metadata_max = CURVE_METADATA_MAX_DEFAULT;
}


//  --------------------------------------------------------------------------
//  Small helpers

static void
s_put_uint64 (uint8_t *dest, uint64_t value)
{
    for (int index = 7; index >= 0; index--) {
        dest [index] = (uint8_t) value;
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
s_event (curve_session_t *self, const char *event, const char *format, ...)
{
    if (!self->io.event)
        return;
    char detail [512];
    va_list args;
    va_start (args, format);
    vsnprintf (detail, sizeof detail, format, args);
    va_end (args);
    self->io.event (self->arg, event, detail);
}

static void
s_send_frame (curve_session_t *self, zframe_t **frame_p, int64_t now)
{
    self->last_output = now;
    self->io.send (self->arg, frame_p);
    zframe_destroy (frame_p);       //  In case the owner did not take it
}

//  Send the codec's pending handshake command, if any
//  Send the codec's pending handshake command, if any, keeping a copy: a
//  lost command is sent again, and a repeated one is answered again
static void
s_flush_command (curve_session_t *self, int64_t now)
{
    size_t size;
    const uint8_t *data = curve_codec_send_buf (self->codec, &size);
    if (data) {
        zframe_destroy (&self->last_command);
        self->last_command = zframe_new (data, size);
        zframe_t *frame = zframe_dup (self->last_command);
        curve_codec_send_ack (self->codec);
        s_send_frame (self, &frame, now);
    }
}

static void
s_hash_frame (zframe_t *frame, uint8_t *hash)
{
    crypto_generichash (hash, 32, zframe_data (frame), zframe_size (frame),
                        NULL, 0);
}

bool
curve_session_is_repeat (curve_session_t *self, zframe_t *frame)
{
    assert (self);
    if (!self->have_last_input
    ||  (zframe_size (frame) >= 8
    &&   memcmp (zframe_data (frame), "\x07MESSAGE", 8) == 0))
        return false;
    uint8_t hash [32];
    s_hash_frame (frame, hash);
    return sodium_memcmp (hash, self->last_input_hash, sizeof hash) == 0;
}

//  Encrypt a control message and send it. A PING's nonce and MAC are
//  kept: a RESET that echoes them is one we can believe came back.
static void
s_send_control (curve_session_t *self, const uint8_t *body, size_t size,
                int64_t now)
{
    size_t wire_size = curve_codec_message_size (size);
    zframe_t *frame = zframe_new (NULL, wire_size);
    if (!frame)
        return;
    uint8_t *wire = zframe_data (frame);
    if (curve_codec_encode (self->codec, body, size, CURVE_FLAG_COMMAND,
                            wire, wire_size) == 0) {
        if (body [0] == CONTROL_PING) {
            self->ping_nonce = s_get_uint64 (wire + MESSAGE_NONCE_AT);
            memcpy (self->ping_mac, wire + MESSAGE_MAC_AT, MAC_BYTES);
        }
        s_send_frame (self, &frame, now);
    }
    zframe_destroy (&frame);
}

static void
s_send_ack (curve_session_t *self, int64_t now, int flags)
{
    uint8_t body [ACK_BYTES] = { CONTROL_ACK };
    s_put_uint64 (body + 1, self->recv_sequence);
    body [9] = (uint8_t) flags;
    self->recv_unacked = 0;
    self->recv_unacked_bytes = 0;
    s_send_control (self, body, sizeof body, now);
}


//  --------------------------------------------------------------------------
//  The ring of sent, unacknowledged messages

static sent_t *
s_sent_at (curve_session_t *self, size_t index)
{
    return &self->sent [(self->sent_head + index) % self->sent_alloc];
}

static sent_t *
s_sent_push (curve_session_t *self, zmsg_t *msg, size_t bytes)
{
    if (self->sent_count == self->sent_alloc) {
        size_t alloc = self->sent_alloc? self->sent_alloc * 2: 16;
        sent_t *sent = (sent_t *) malloc (alloc * sizeof (sent_t));
        if (!sent)
            return NULL;
        for (size_t index = 0; index < self->sent_count; index++)
            sent [index] = *s_sent_at (self, index);
        free (self->sent);
        self->sent = sent;
        self->sent_alloc = alloc;
        self->sent_head = 0;
    }
    sent_t *entry = s_sent_at (self, self->sent_count++);
    memset (entry, 0, sizeof *entry);
    entry->sequence = self->send_sequence++;
    entry->msg = msg;
    entry->bytes = bytes;
    self->sent_bytes += bytes;
    return entry;
}

//  Drop the first count entries, destroying their messages
static void
s_sent_drop (curve_session_t *self, size_t count)
{
    for (size_t index = 0; index < count; index++) {
        sent_t *entry = s_sent_at (self, index);
        self->sent_bytes -= entry->bytes;
        zmsg_destroy (&entry->msg);
    }
    self->sent_head = self->sent_alloc?
        (self->sent_head + count) % self->sent_alloc: 0;
    self->sent_count -= count;
}

//  Report messages whose delivery cannot be known, and forget them
static void
s_lose_sent (curve_session_t *self, size_t count, const char *why)
{
    if (count == 0)
        return;
    s_event (self, "LOST", "%zu message%s sent before %s may not have "
             "arrived", count, count == 1? "": "s", why);
    s_sent_drop (self, count);
}


//  --------------------------------------------------------------------------
//  Application messages: all frames in one MESSAGE, each as a 4-octet
//  size and its data (RFC/framing.md).

//  Frame headers: 4 octets, big-endian; the top bit says another frame
//  of the same message follows, the rest is the frame's size
#define FRAME_MORE       0x80000000u
#define FRAME_SIZE_MAX   0x7FFFFFFFu
//  Small messages travel together: one MESSAGE carries queued messages up
//  to this many payload octets (a larger message travels alone)
#define BATCH_BYTES      (64 * 1024)

//  Payload octets a message takes inside a MESSAGE, or 0 if it cannot go
static size_t
s_message_bytes (zmsg_t *msg)
{
    size_t total = 0;
    for (zframe_t *part = zmsg_first (msg); part; part = zmsg_next (msg)) {
        if (zframe_size (part) > FRAME_SIZE_MAX)
            return 0;
        total += 4 + zframe_size (part);
    }
    return total;
}

//  Encrypt count kept messages, from ring index first, into one MESSAGE
//  (sequence number of the first, then their frames) and send it. Each
//  records the nonce and MAC it went with, so a RESET can point at it.
static int
s_transmit (curve_session_t *self, size_t first, size_t count, int64_t now)
{
    size_t total = SEQUENCE_BYTES;
    for (size_t index = 0; index < count; index++)
        total += s_sent_at (self, first + index)->bytes;
    size_t wire_size = curve_codec_message_size (total);
    zframe_t *frame = zframe_new (NULL, wire_size);
    if (!frame)
        return -1;
    uint8_t *wire = zframe_data (frame);
    uint8_t *pos = wire + CURVE_MESSAGE_PAYLOAD_OFFSET;
    s_put_uint64 (pos, s_sent_at (self, first)->sequence);
    pos += SEQUENCE_BYTES;
    for (size_t index = 0; index < count; index++) {
        zmsg_t *msg = s_sent_at (self, first + index)->msg;
        size_t parts = zmsg_size (msg);
        for (zframe_t *part = zmsg_first (msg); part; part = zmsg_next (msg)) {
            uint32_t header = (uint32_t) zframe_size (part);
            if (--parts)
                header |= FRAME_MORE;
            pos [0] = (uint8_t) (header >> 24);
            pos [1] = (uint8_t) (header >> 16);
            pos [2] = (uint8_t) (header >> 8);
            pos [3] = (uint8_t) header;
            if (zframe_size (part))
                memcpy (pos + 4, zframe_data (part), zframe_size (part));
            pos += 4 + zframe_size (part);
        }
    }
    //  Encrypted in place: the payload already sits at its offset
    if (curve_codec_encode (self->codec, wire + CURVE_MESSAGE_PAYLOAD_OFFSET,
                            total, 0, wire, wire_size)) {
        zframe_destroy (&frame);
        return -1;
    }
    for (size_t index = 0; index < count; index++) {
        sent_t *entry = s_sent_at (self, first + index);
        entry->nonce = s_get_uint64 (wire + MESSAGE_NONCE_AT);
        if (!entry->first_nonce)
            entry->first_nonce = entry->nonce;
        memcpy (entry->mac, wire + MESSAGE_MAC_AT, MAC_BYTES);
        entry->sent_at = now;
    }
    s_send_frame (self, &frame, now);
    return 0;
}

//  Send kept messages from ring index first on, batching small ones
static int
s_transmit_from (curve_session_t *self, size_t first, int64_t now)
{
    while (first < self->sent_count) {
        size_t bytes = s_sent_at (self, first)->bytes;
        size_t count = 1;
        while (first + count < self->sent_count) {
            size_t more = s_sent_at (self, first + count)->bytes;
            if (bytes + more > BATCH_BYTES)
                break;
            bytes += more;
            count++;
        }
        if (s_transmit (self, first, count, now))
            return -1;
        first += count;
    }
    return 0;
}

//  Send again, in order, everything not yet acknowledged (go-back-N: the
//  receiver dropped whatever came after a gap)
static void
s_retransmit (curve_session_t *self, int64_t now)
{
    s_transmit_from (self, 0, now);
}

//  Move waiting messages into the window and send them, batched
static void
s_flush_pending (curve_session_t *self, int64_t now)
{
    if (self->phase != CURVE_SESSION_READY)
        return;
    size_t first = self->sent_count;
    while (self->sent_count < self->config.window
       &&  (self->sent_count == 0
         || self->sent_bytes < self->config.window_bytes)
       &&  zlist_size (self->pending)) {
        zmsg_t *msg = (zmsg_t *) zlist_pop (self->pending);
        size_t bytes = s_message_bytes (msg);
        if (bytes == 0 || !s_sent_push (self, msg, bytes)) {
            s_event (self, "LOST", "a message could not be sent (empty, "
                     "a frame over 2 GiB, or out of memory)");
            zmsg_destroy (&msg);
        }
    }
    if (first < self->sent_count && s_transmit_from (self, first, now))
        s_event (self, "REFUSED", "cannot encrypt: %s",
                 curve_codec_reason (self->codec));
}

//  Check that a decrypted payload (after the sequence number) is whole:
//  frames whose sizes add up exactly, the last one ending a message.
//  Returns the number of messages, or 0 if it is not.
static size_t
s_payload_messages (const uint8_t *data, size_t size)
{
    size_t pos = 0, messages = 0;
    bool more = false;
    while (pos < size) {
        if (size - pos < 4)
            return 0;
        uint32_t header = ((uint32_t) data [pos] << 24)
                        | ((uint32_t) data [pos + 1] << 16)
                        | ((uint32_t) data [pos + 2] << 8) | data [pos + 3];
        size_t part = header & FRAME_SIZE_MAX;
        pos += 4;
        if (part > size - pos)
            return 0;
        pos += part;
        more = (header & FRAME_MORE) != 0;
        if (!more)
            messages++;
    }
    return more? 0: messages;
}

//  Take the next message out of a checked payload, advancing *pos_p
static zmsg_t *
s_payload_next (const uint8_t *data, size_t *pos_p)
{
    zmsg_t *msg = zmsg_new ();
    size_t pos = *pos_p;
    bool more = true;
    while (more) {
        uint32_t header = ((uint32_t) data [pos] << 24)
                        | ((uint32_t) data [pos + 1] << 16)
                        | ((uint32_t) data [pos + 2] << 8) | data [pos + 3];
        size_t part = header & FRAME_SIZE_MAX;
        zmsg_addmem (msg, data + pos + 4, part);
        pos += 4 + part;
        more = (header & FRAME_MORE) != 0;
    }
    *pos_p = pos;
    return msg;
}


//  --------------------------------------------------------------------------
//  Constructors and destructor

static curve_session_t *
s_new (const uint8_t *public_key, const uint8_t *secret_key,
       zhashx_t *metadata, const curve_session_config_t *config,
       const curve_session_io_t *io, void *arg, int64_t now)
{
    assert (public_key && secret_key && io && io->send && io->deliver);
    curve_session_t *self = (curve_session_t *) zmalloc (sizeof *self);
    assert (self);
    memcpy (self->public_key, public_key, CURVE_KEY_BYTES);
    memcpy (self->secret_key, secret_key, CURVE_KEY_BYTES);
    self->metadata = metadata;
    if (config)
        self->config = *config;
    else
        curve_session_config_default (&self->config);
    if (self->config.window == 0)
        self->config.window = 1;
    //  Acknowledge at least twice per window, or the sender stalls on ticks
    if (self->config.ack_every > self->config.window / 2)
        self->config.ack_every = self->config.window / 2? self->config.window / 2: 1;
    self->io = *io;
    self->arg = arg;
    self->pending = zlist_new ();
    self->send_sequence = 1;
    self->rto = self->config.retransmit;
    self->last_input = now;
    self->last_output = now;
    self->deadline = now + self->config.handshake_timeout;
    return self;
}

//  Set our metadata on a fresh codec
static int
s_apply_metadata (curve_session_t *self)
{
    curve_codec_set_metadata_max (self->codec, self->config.metadata_max);
    if (!self->metadata)
        return 0;
    for (const char *value = (const char *) zhashx_first (self->metadata);
         value; value = (const char *) zhashx_next (self->metadata)) {
        const char *name = (const char *) zhashx_cursor (self->metadata);
        if (curve_codec_set_metadata (self->codec, name, value,
                                      strlen (value)))
            return -1;
    }
    return 0;
}

//  Client: start a (new) handshake
static int
s_client_start (curve_session_t *self, int64_t now)
{
    curve_codec_destroy (&self->codec);
    self->codec = curve_codec_new_client (self->public_key, self->secret_key,
                                          self->server_key);
    if (!self->codec || s_apply_metadata (self)) {
        self->phase = CURVE_SESSION_FAILED;
        s_event (self, "HANDSHAKE-FAILED", "cannot start a handshake: %s",
                 self->codec? curve_codec_reason (self->codec):
                 "server key unusable or out of memory");
        return -1;
    }
    if (self->io.restart)
        self->io.restart (self->arg);
    self->phase = CURVE_SESSION_HANDSHAKE;
    self->deadline = now + self->config.handshake_timeout;
    self->recv_unacked = 0;
    self->recv_sequence = 0;
    self->send_sequence = 1;
    self->rto = self->config.retransmit;
    self->silent = false;
    self->ping_nonce = 0;
    self->have_last_input = false;
    s_flush_command (self, now);
    return 0;
}

curve_session_t *
curve_session_new_client (const uint8_t *public_key, const uint8_t *secret_key,
                          const uint8_t *server_key, zhashx_t *metadata,
                          const curve_session_config_t *config,
                          const curve_session_io_t *io, void *arg,
                          int64_t now)
{
    assert (server_key);
    curve_session_t *self = s_new (public_key, secret_key, metadata, config,
                                   io, arg, now);
    memcpy (self->server_key, server_key, CURVE_KEY_BYTES);
    if (s_client_start (self, now))
        curve_session_destroy (&self);
    return self;
}

curve_session_t *
curve_session_new_server (const uint8_t *public_key, const uint8_t *secret_key,
                          zhashx_t *metadata,
                          const curve_session_config_t *config,
                          const curve_session_io_t *io, void *arg,
                          int64_t now)
{
    curve_session_t *self = s_new (public_key, secret_key, metadata, config,
                                   io, arg, now);
    self->is_server = true;
    self->codec = curve_codec_new_server (public_key, secret_key);
    if (!self->codec || s_apply_metadata (self))
        curve_session_destroy (&self);
    return self;
}

void
curve_session_destroy (curve_session_t **self_p)
{
    assert (self_p);
    curve_session_t *self = *self_p;
    if (!self)
        return;
    //  A last ACK, so that the peer does not report what we did receive
    if (self->phase == CURVE_SESSION_READY && self->recv_unacked)
        s_send_ack (self, self->last_output, 0);
    size_t waiting = self->pending? zlist_size (self->pending): 0;
    if (waiting)
        s_event (self, "LOST", "%zu message%s never sent: session closed",
                 waiting, waiting == 1? "": "s");
    s_lose_sent (self, self->sent_count, "the session closed");
    if (self->pending) {
        zmsg_t *msg;
        while ((msg = (zmsg_t *) zlist_pop (self->pending)))
            zmsg_destroy (&msg);
        zlist_destroy (&self->pending);
    }
    free (self->sent);
    zframe_destroy (&self->last_command);
    zhashx_destroy (&self->properties);
    curve_codec_destroy (&self->codec);
    sodium_memzero (self->secret_key, sizeof self->secret_key);
    free (self);
    *self_p = NULL;
}


//  --------------------------------------------------------------------------
//  Events of the handshake

static void
s_on_ready (curve_session_t *self, int64_t now)
{
    self->phase = CURVE_SESSION_READY;
    self->last_input = now;
    char key [CURVE_Z85_KEY_BYTES + 1];
    zmq_z85_encode (key, (uint8_t *) curve_codec_peer_key (self->codec),
                    CURVE_KEY_BYTES);
    s_event (self, self->connected_once? "RECONNECTED": "CONNECTED", "%s",
             key);
    self->connected_once = true;
    s_flush_pending (self, now);
}

//  A handshake command failed in the codec
static void
s_on_handshake_failed (curve_session_t *self, size_t input_size, int64_t now)
{
    curve_error_t error = curve_codec_error (self->codec);
    if (self->is_server) {
        //  Tell a client whose HELLO or INITIATE did not verify why, so a
        //  wrong server key shows at once instead of as a time-out. Never
        //  for smaller input: that would amplify garbage.
        if (input_size >= CURVE_HELLO_BYTES) {
            zframe_t *frame = curve_session_error_command (
                curve_codec_reason (self->codec));
            if (frame)
                s_send_frame (self, &frame, now);
        }
        self->phase = CURVE_SESSION_FAILED;
        return;
    }
    if (error == CURVE_ERR_REJECTED) {
        //  RFC 26: do not try again with the same credentials
        self->phase = CURVE_SESSION_FAILED;
        s_event (self, "REJECTED", "%s", curve_codec_error_text (self->codec));
        size_t waiting = zlist_size (self->pending);
        if (waiting) {
            s_event (self, "LOST", "%zu message%s never sent: rejected by "
                     "the server", waiting, waiting == 1? "": "s");
            zmsg_t *msg;
            while ((msg = (zmsg_t *) zlist_pop (self->pending)))
                zmsg_destroy (&msg);
        }
        return;
    }
    //  Retry when the current attempt's deadline passes
    self->phase = CURVE_SESSION_RETRY;
    s_event (self, "HANDSHAKE-FAILED", "%s", curve_codec_reason (self->codec));
}


//  --------------------------------------------------------------------------
//  Client: the server lost our session. Find the first MESSAGE it could not
//  place; everything from there on was never delivered, so it is sent
//  again; what came before may or may not have arrived.

static void
s_on_reset (curve_session_t *self, const uint8_t *data, int64_t now)
{
    //  Believe it only if it echoes a MESSAGE we sent and have not seen
    //  acknowledged (data, or our last PING)
    uint64_t nonce = s_get_uint64 (data + 6);
    bool known = self->ping_nonce == nonce
              && sodium_memcmp (self->ping_mac, data + 14, MAC_BYTES) == 0;
    for (size_t index = 0; index < self->sent_count && !known; index++) {
        sent_t *entry = s_sent_at (self, index);
        known = entry->nonce == nonce
             && sodium_memcmp (entry->mac, data + 14, MAC_BYTES) == 0;
    }
    if (!known)
        return;                     //  Stale, or not ours: ignore it
    //  The peer got nothing sent before that MESSAGE after it lost the
    //  session, and nothing from it on before. So a message first sent
    //  before it may have reached the peer (in any of its sendings); one
    //  first sent from it on never did. (The ring is in order of first
    //  sending.)
    size_t index = 0;
    while (index < self->sent_count
       &&  s_sent_at (self, index)->first_nonce < nonce)
        index++;
    s_lose_sent (self, index, "the peer lost the session");
    //  Back to the front of the queue, in order
    for (size_t back = self->sent_count; back > 0; back--) {
        sent_t *entry = s_sent_at (self, back - 1);
        zlist_push (self->pending, entry->msg);
        entry->msg = NULL;
    }
    s_sent_drop (self, self->sent_count);
    s_event (self, "DISCONNECTED", "the peer lost the session");
    if (self->is_server) {
        //  Peers: the side that answered becomes the side that asks
        memcpy (self->server_key, curve_codec_peer_key (self->codec),
                CURVE_KEY_BYTES);
        self->is_server = false;
    }
    s_client_start (self, now);
}


//  --------------------------------------------------------------------------
//  Input from the peer

static int
s_input_message (curve_session_t *self, zframe_t *frame, int64_t now)
{
    uint8_t *data;
    size_t size;
    int flags;
    if (curve_codec_decode (self->codec, zframe_data (frame),
                            zframe_size (frame), &data, &size, &flags)) {
        s_event (self, "REFUSED", "%s", curve_codec_reason (self->codec));
        return -1;
    }
    self->last_input = now;
    //  The peer sends MESSAGEs: it has our last handshake command
    if (self->last_command)
        zframe_destroy (&self->last_command);
    if (self->silent) {
        self->silent = false;
        s_event (self, "RECONNECTED", "the peer answers again");
    }
    if (flags & CURVE_FLAG_COMMAND) {
        if (size == 1 && data [0] == CONTROL_PING)
            s_send_ack (self, now, 0);
        else
        if (size == ACK_BYTES && data [0] == CONTROL_ACK) {
            uint64_t acked = s_get_uint64 (data + 1);
            size_t count = 0;
            while (count < self->sent_count
               &&  s_sent_at (self, count)->sequence <= acked)
                count++;
            s_sent_drop (self, count);
            if (count)
                self->rto = self->config.retransmit;
            //  A gap, or the path is back while we were backing off: send
            //  again what is overdue now rather than at the next back-off
            if (self->sent_count
            &&  ((data [9] & ACK_GAP)
              || now - s_sent_at (self, 0)->sent_at >= self->config.retransmit)) {
                self->rto = self->config.retransmit;
                s_retransmit (self, now);
            }
            s_flush_pending (self, now);
        }
        //  Unknown control messages are ignored, for later extensions
        return 0;
    }
    if (size < SEQUENCE_BYTES) {
        s_event (self, "REFUSED", "message has no sequence number");
        return -1;
    }
    uint64_t sequence = s_get_uint64 (data);
    const uint8_t *payload = data + SEQUENCE_BYTES;
    size_t payload_size = size - SEQUENCE_BYTES;
    size_t messages = s_payload_messages (payload, payload_size);
    if (messages == 0) {
        s_event (self, "REFUSED", "message frames do not add up");
        return -1;
    }
    if (sequence > self->recv_sequence + 1) {
        //  Something before it was lost: drop it, and say so at once (at
        //  most once per retransmit time-out); the sender resends in order
        if (now - self->gap_acked >= self->config.retransmit) {
            self->gap_acked = now;
            s_send_ack (self, now, ACK_GAP);
        }
        return 0;
    }
    //  Deliver those not delivered yet; a message already delivered (a
    //  resend whose ACK was lost) is skipped and acknowledged again
    size_t pos = 0;
    for (size_t index = 0; index < messages; index++, sequence++) {
        zmsg_t *msg = s_payload_next (payload, &pos);
        if (sequence <= self->recv_sequence) {
            zmsg_destroy (&msg);
            self->recv_unacked++;
            continue;
        }
        self->recv_sequence = sequence;
        self->recv_unacked_bytes += zmsg_content_size (msg);
        self->io.deliver (self->arg, &msg);
        zmsg_destroy (&msg);
        self->recv_unacked++;
    }
    //  Acknowledge often enough that the sender's window never stalls
    if (self->recv_unacked >= self->config.ack_every
    ||  self->recv_unacked_bytes >= self->config.window_bytes / 4)
        s_send_ack (self, now, 0);
    return 0;
}

int
curve_session_input (curve_session_t *self, zframe_t *frame, int64_t now)
{
    assert (self);
    assert (frame);
    const uint8_t *data = zframe_data (frame);
    size_t size = zframe_size (frame);
    //  RESET is not part of CurveZMQ: it matters only to a ready client,
    //  and must not upset a handshake in progress
    if ((!self->is_server || self->config.peer_mode) && size == RESET_BYTES
    &&  memcmp (data, RESET_NAME, 6) == 0) {
        if (self->phase == CURVE_SESSION_READY)
            s_on_reset (self, data, now);
        return 0;
    }
    //  A handshake command we have already processed (the peer resent it,
    //  or the network doubled it) gets our answer again, and no more
    if (curve_session_is_repeat (self, frame)) {
        if (self->last_command) {
            zframe_t *again = zframe_dup (self->last_command);
            s_send_frame (self, &again, now);
        }
        return 0;
    }
    switch (self->phase) {
        case CURVE_SESSION_READY:
            return s_input_message (self, frame, now);

        case CURVE_SESSION_HANDSHAKE:
            if (curve_codec_recv (self->codec, data, size)) {
                if (curve_codec_state (self->codec) & CURVE_CODEC_FAILED)
                    s_on_handshake_failed (self, size, now);
                return -1;
            }
            self->last_input = now;
            s_hash_frame (frame, self->last_input_hash);
            self->have_last_input = true;
            //  What we send now answers this command (maybe later: READY
            //  waits for the verdict, and a repeat meanwhile gets nothing)
            zframe_destroy (&self->last_command);
            s_flush_command (self, now);
            if (curve_codec_state (self->codec) & CURVE_CODEC_AUTH)
                self->phase = CURVE_SESSION_AUTH;
            else
            if (curve_codec_state (self->codec) & CURVE_CODEC_READY)
                s_on_ready (self, now);
            return 0;

        default:
            //  Waiting for a verdict, a retry, or dead: nothing to do
            return -1;
    }
}


//  --------------------------------------------------------------------------
//  Output from the application

zlist_t *
curve_session_take_pending (curve_session_t *self)
{
    assert (self);
    zlist_t *pending = self->pending;
    self->pending = zlist_new ();
    return pending;
}

bool
curve_session_writable (curve_session_t *self)
{
    assert (self);
    return self->phase != CURVE_SESSION_FAILED
        && zlist_size (self->pending) < self->config.queue_limit;
}

int
curve_session_send (curve_session_t *self, zmsg_t **msg_p, int64_t now)
{
    assert (self);
    assert (msg_p && *msg_p);
    if (!curve_session_writable (self))
        return -1;
    zlist_append (self->pending, *msg_p);
    *msg_p = NULL;
    return 0;
}

void
curve_session_flush (curve_session_t *self, int64_t now)
{
    assert (self);
    s_flush_pending (self, now);
}


//  --------------------------------------------------------------------------
//  Timers

void
curve_session_tick (curve_session_t *self, int64_t now)
{
    assert (self);
    switch (self->phase) {
        case CURVE_SESSION_HANDSHAKE:
            if (!self->is_server && now >= self->deadline) {
                s_event (self, "HANDSHAKE-FAILED", "no answer from the "
                         "server within %d ms (is it running, behind the "
                         "right endpoint?)", self->config.handshake_timeout);
                s_client_start (self, now);
            }
            else
            if (!self->is_server && self->last_command
            &&  now - self->last_output >= self->config.retransmit) {
                //  HELLO or INITIATE lost on the way: the same bytes again
                zframe_t *again = zframe_dup (self->last_command);
                s_send_frame (self, &again, now);
            }
            break;
        case CURVE_SESSION_RETRY:
            if (now >= self->deadline)
                s_client_start (self, now);
            break;
        case CURVE_SESSION_READY:
            //  A silent peer is reported once; the session stays, so that
            //  when the peer (or a broker on the way) is back, whatever it
            //  missed is sent again; a peer that lost the session says so
            //  with RESET
            if (!self->is_server && !self->silent
            &&  now - self->last_input >= self->config.heartbeat_timeout) {
                self->silent = true;
                s_event (self, "DISCONNECTED", "no traffic from the peer "
                         "for %d ms", self->config.heartbeat_timeout);
            }
            if (self->recv_unacked)
                s_send_ack (self, now, 0);
            s_flush_pending (self, now);
            //  Not acknowledged in time: lost on the way, send again, less
            //  and less often while nothing comes back
            if (self->sent_count
            &&  now - s_sent_at (self, 0)->sent_at >= self->rto) {
                s_retransmit (self, now);
                self->rto = self->rto < 30000? self->rto * 2: 30000;
            }
            if (!self->is_server
            &&  now - self->last_output >= self->config.heartbeat_interval) {
                uint8_t ping = CONTROL_PING;
                s_send_control (self, &ping, 1, now);
            }
            break;
        default:
            break;
    }
}


//  --------------------------------------------------------------------------
//  Server: the verdict

int
curve_session_allow (curve_session_t *self, int64_t now)
{
    assert (self);
    if (self->phase != CURVE_SESSION_AUTH
    ||  curve_codec_allow (self->codec))
        return -1;
    s_flush_command (self, now);
    s_on_ready (self, now);
    return 0;
}

int
curve_session_deny (curve_session_t *self, const char *reason)
{
    assert (self);
    if (self->phase != CURVE_SESSION_AUTH)
        return -1;
    //  A reason the codec will not send is replaced, not lost
    if (curve_codec_deny (self->codec, reason))
        if (curve_codec_deny (self->codec, "access denied"))
            return -1;
    s_flush_command (self, self->last_output);
    self->phase = CURVE_SESSION_FAILED;
    return 0;
}


//  --------------------------------------------------------------------------
//  Properties and accessors

void
curve_session_set_property (curve_session_t *self, const char *name,
                            const char *value)
{
    assert (self);
    if (!self->properties) {
        self->properties = zhashx_new ();
        zhashx_set_destructor (self->properties, (zhashx_destructor_fn *) zstr_free);
        zhashx_set_duplicator (self->properties, (zhashx_duplicator_fn *) strdup);
    }
    char *key = strdup (name);
    for (char *c = key; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
    zhashx_update (self->properties, key, (void *) value);
    free (key);
}

char *
curve_session_property (curve_session_t *self, const char *name)
{
    assert (self);
    if (self->properties) {
        char *key = strdup (name);
        for (char *c = key; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
        const char *value = (const char *) zhashx_lookup (self->properties, key);
        free (key);
        if (value)
            return strdup (value);
    }
    size_t size;
    const uint8_t *value = curve_codec_metadata (self->codec, name, &size);
    if (!value)
        return NULL;
    char *copy = (char *) malloc (size + 1);
    if (copy) {
        memcpy (copy, value, size);
        copy [size] = 0;
    }
    return copy;
}

curve_session_phase_t
curve_session_phase (curve_session_t *self)
{
    assert (self);
    return self->phase;
}

curve_codec_t *
curve_session_codec (curve_session_t *self)
{
    assert (self);
    return self->codec;
}

const uint8_t *
curve_session_peer_key (curve_session_t *self)
{
    assert (self);
    return self->codec? curve_codec_peer_key (self->codec): NULL;
}

int64_t
curve_session_last_input (curve_session_t *self)
{
    assert (self);
    return self->last_input;
}

int64_t
curve_session_deadline (curve_session_t *self)
{
    assert (self);
    return self->deadline;
}

size_t
curve_session_backlog (curve_session_t *self)
{
    assert (self);
    return zlist_size (self->pending) + self->sent_count;
}


//  --------------------------------------------------------------------------
//  Commands built outside any session

zframe_t *
curve_session_reset_for (zframe_t *frame)
{
    assert (frame);
    const uint8_t *data = zframe_data (frame);
    if (zframe_size (frame) < CURVE_MESSAGE_MIN_BYTES
    ||  memcmp (data, "\x07MESSAGE", 8))
        return NULL;
    zframe_t *reset = zframe_new (NULL, RESET_BYTES);
    if (reset) {
        memcpy (zframe_data (reset), RESET_NAME, 6);
        memcpy (zframe_data (reset) + 6, data + MESSAGE_NONCE_AT,
                8 + MAC_BYTES);
    }
    return reset;
}

zframe_t *
curve_session_error_command (const char *reason)
{
    size_t length = reason? strlen (reason): 0;
    if (length > CURVE_REASON_MAX)
        length = CURVE_REASON_MAX;
    zframe_t *frame = zframe_new (NULL, CURVE_ERROR_MIN_BYTES + length);
    if (!frame)
        return NULL;
    uint8_t *data = zframe_data (frame);
    memcpy (data, "\x05" "ERROR", 6);
    data [6] = (uint8_t) length;
    for (size_t index = 0; index < length; index++) {
        char c = reason [index];
        data [7 + index] = (uint8_t) ((c >= 0x20 && c < 0x7F)? c: '?');
    }
    return frame;
}


//  --------------------------------------------------------------------------
//  Sending without blocking: a whole message or nothing. Once ZeroMQ takes
//  the first frame of a message it takes the rest.

int
curve_send_dontwait (zmsg_t **msg_p, zsock_t *sock)
{
    zmsg_t *msg = *msg_p;
    size_t count = zmsg_size (msg);
    size_t index = 0;
    for (zframe_t *frame = zmsg_first (msg); frame; frame = zmsg_next (msg)) {
        int flags = ZFRAME_REUSE | ZFRAME_DONTWAIT;
        if (++index < count)
            flags |= ZFRAME_MORE;
        if (zframe_send (&frame, sock, flags)) {
            if (index == 1)
                return -1;          //  Nothing sent; the caller keeps it
        }
    }
    zmsg_destroy (msg_p);
    return 0;
}


//  --------------------------------------------------------------------------
//  Waiting on a monitor socket for one of some events

char *
curve_monitor_wait (zsock_t *monitor, const char *names, int timeout,
                    bool routed, char **routing_p, char **detail_p)
{
    int64_t deadline = timeout < 0? -1: zclock_mono () + timeout;
    zpoller_t *poller = zpoller_new (monitor, NULL);
    char *found = NULL;
    while (!found) {
        int wait = deadline < 0? -1: (int) (deadline - zclock_mono ());
        if (deadline >= 0 && wait < 0)
            break;
        if (!zpoller_wait (poller, wait))
            break;
        zmsg_t *msg = zmsg_recv (monitor);
        if (!msg)
            break;
        char *name = zmsg_popstr (msg);
        //  Names match whole words of the '|' list
        const char *at = names;
        size_t length = name? strlen (name): 0;
        while (name && (at = strstr (at, name))) {
            bool start = at == names || at [-1] == '|';
            bool end = at [length] == 0 || at [length] == '|';
            if (start && end) {
                found = name;
                break;
            }
            at += length;
        }
        if (found) {
            char *routing = routed? zmsg_popstr (msg): NULL;
            if (routing_p)
                *routing_p = routing;
            else
                zstr_free (&routing);
            if (detail_p)
                *detail_p = zmsg_popstr (msg);
        }
        else
            zstr_free (&name);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return found;
}


//  --------------------------------------------------------------------------
//  The pipes between an application thread and its actor

int
curve_pipes_bind (curve_pipes_t *pipes, const char *kind, zsock_t **data_p,
                  zsock_t **monitor_p)
{
    static int counter = 0;
    int number = __atomic_add_fetch (&counter, 1, __ATOMIC_RELAXED);
    snprintf (pipes->data, sizeof pipes->data, "inproc://curve-%s-%d-%d",
              kind, getpid (), number);
    snprintf (pipes->monitor, sizeof pipes->monitor,
              "inproc://curve-%s-monitor-%d-%d", kind, getpid (), number);
    *data_p = zsock_new (ZMQ_PAIR);
    *monitor_p = zsock_new (ZMQ_PAIR);
    if (!*data_p || !*monitor_p
    ||  zsock_bind (*data_p, "%s", pipes->data)
    ||  zsock_bind (*monitor_p, "%s", pipes->monitor))
        return -1;
    return 0;
}

void
curve_pipes_connect (curve_pipes_t *pipes, zsock_t **data_p,
                     zsock_t **monitor_p)
{
    *data_p = zsock_new (ZMQ_PAIR);
    *monitor_p = zsock_new (ZMQ_PAIR);
    assert (*data_p && *monitor_p);
    int rc = zsock_connect (*data_p, "%s", pipes->data);
    assert (rc == 0);
    rc = zsock_connect (*monitor_p, "%s", pipes->monitor);
    assert (rc == 0);
    (void) rc;
    zsock_set_sndtimeo (*data_p, 0);
    zsock_set_rcvtimeo (*data_p, 0);
    zsock_set_sndtimeo (*monitor_p, 0);
    zsock_set_linger (*data_p, 0);
    zsock_set_linger (*monitor_p, 0);
}

//  --------------------------------------------------------------------------
//  Inbox: actor to application without blocking, without waiting a tick

static int
s_inbox_writable (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    curve_inbox_t *self = (curve_inbox_t *) arg;
    zmsg_t *msg;
    while ((msg = (zmsg_t *) zlist_first (self->queue))) {
        if (curve_send_dontwait (&msg, self->sock))
            return 0;               //  Full again: keep polling
        zlist_pop (self->queue);
    }
    zloop_poller_end (self->loop, &self->item);
    if (self->drained)
        self->drained (self->arg);
    return 0;
}

void
curve_inbox_init (curve_inbox_t *self, zloop_t *loop, zsock_t *sock,
                  void (*drained) (void *arg), void *arg)
{
    memset (self, 0, sizeof *self);
    self->loop = loop;
    self->sock = sock;
    self->queue = zlist_new ();
    self->drained = drained;
    self->arg = arg;
}

void
curve_inbox_send (curve_inbox_t *self, zmsg_t **msg_p)
{
    if (zlist_size (self->queue) == 0) {
        if (curve_send_dontwait (msg_p, self->sock) == 0)
            return;
        //  Full: wait for room, without waiting for a timer
        self->item.socket = zsock_resolve (self->sock);
        self->item.fd = 0;
        self->item.events = ZMQ_POLLOUT;
        zloop_poller (self->loop, &self->item, s_inbox_writable, self);
    }
    zlist_append (self->queue, *msg_p);
    *msg_p = NULL;
}

bool
curve_inbox_empty (curve_inbox_t *self)
{
    return zlist_size (self->queue) == 0;
}

void
curve_inbox_set_sock (curve_inbox_t *self, zsock_t *sock)
{
    assert (zlist_size (self->queue) == 0);
    self->sock = sock;
}

void
curve_inbox_destroy (curve_inbox_t *self)
{
    zmsg_t *msg;
    while ((msg = (zmsg_t *) zlist_pop (self->queue)))
        zmsg_destroy (&msg);
    zlist_destroy (&self->queue);
}

void
curve_actor_config (zactor_t *actor, const char *name, long value)
{
    char text [32];
    snprintf (text, sizeof text, "%ld", value);
    zstr_sendx (actor, "CONFIG", name, text, NULL);
    zsock_wait (actor);
}


//  --------------------------------------------------------------------------
//  Self test of this class: two sessions in memory, joined by two queues
//  that stand for the network; time is a counter the test moves.

//  @selftest
#undef NDEBUG
#include <assert.h>

typedef struct {
    zlist_t *wire;                  //  Frames on their way to the peer
    zlist_t *delivered;             //  Application messages received
    zlist_t *events;                //  "EVENT detail" strings
    int restarts;                   //  Client restarts seen
    zlist_t *drop_on_restart;       //  Queue to empty on restart
} test_end_t;

static void
s_test_send (void *arg, zframe_t **frame_p)
{
    test_end_t *end = (test_end_t *) arg;
    zlist_append (end->wire, *frame_p);
    *frame_p = NULL;
}

static void
s_test_deliver (void *arg, zmsg_t **msg_p)
{
    test_end_t *end = (test_end_t *) arg;
    zlist_append (end->delivered, *msg_p);
    *msg_p = NULL;
}

static void
s_test_event (void *arg, const char *event, const char *detail)
{
    test_end_t *end = (test_end_t *) arg;
    zlist_append (end->events, zsys_sprintf ("%s %s", event, detail));
}

static void
s_test_restart (void *arg)
{
    test_end_t *end = (test_end_t *) arg;
    end->restarts++;
    //  A new socket: what was queued on the old one is gone
    zframe_t *frame;
    while ((frame = (zframe_t *) zlist_pop (end->wire)))
        zframe_destroy (&frame);
}

static void
s_test_end_init (test_end_t *end)
{
    memset (end, 0, sizeof *end);
    end->wire = zlist_new ();
    end->delivered = zlist_new ();
    end->events = zlist_new ();
}

static void
s_test_end_clear (test_end_t *end)
{
    zframe_t *frame;
    while ((frame = (zframe_t *) zlist_pop (end->wire)))
        zframe_destroy (&frame);
    zmsg_t *msg;
    while ((msg = (zmsg_t *) zlist_pop (end->delivered)))
        zmsg_destroy (&msg);
    char *event;
    while ((event = (char *) zlist_pop (end->events)))
        zstr_free (&event);
}

static void
s_test_end_destroy (test_end_t *end)
{
    s_test_end_clear (end);
    zlist_destroy (&end->wire);
    zlist_destroy (&end->delivered);
    zlist_destroy (&end->events);
}

//  Count events whose text starts with prefix
static int
s_test_events (test_end_t *end, const char *prefix)
{
    int count = 0;
    for (char *event = (char *) zlist_first (end->events); event;
         event = (char *) zlist_next (end->events))
        if (strncmp (event, prefix, strlen (prefix)) == 0)
            count++;
    return count;
}

//  Move every frame each way until both wires are empty. A NULL receiver
//  drops the frames (a peer that is down).
static void
s_test_run (test_end_t *client_end, curve_session_t *client,
            test_end_t *server_end, curve_session_t *server, int64_t now)
{
    if (client)
        curve_session_flush (client, now);
    if (server)
        curve_session_flush (server, now);
    while (zlist_size (client_end->wire) || zlist_size (server_end->wire)) {
        zframe_t *frame = (zframe_t *) zlist_pop (client_end->wire);
        if (frame) {
            if (server)
                curve_session_input (server, frame, now);
            zframe_destroy (&frame);
        }
        frame = (zframe_t *) zlist_pop (server_end->wire);
        if (frame) {
            if (client)
                curve_session_input (client, frame, now);
            zframe_destroy (&frame);
        }
    }
}

static zmsg_t *
s_test_msg (int number)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstrf (msg, "%d", number);
    return msg;
}

//  Check that the delivered messages are exactly first..last, in order
static void
s_test_expect (test_end_t *end, int first, int last)
{
    assert ((int) zlist_size (end->delivered) == last - first + 1);
    for (int number = first; number <= last; number++) {
        zmsg_t *msg = (zmsg_t *) zlist_pop (end->delivered);
        char *text = zmsg_popstr (msg);
        assert (atoi (text) == number);
        zstr_free (&text);
        zmsg_destroy (&msg);
    }
}

void
curve_session_test (bool verbose)
{
    printf (" * curve_session: ");
    if (verbose)
        printf ("\n");
    uint8_t client_public [32], client_secret [32];
    uint8_t server_public [32], server_secret [32];
    assert (crypto_box_keypair (client_public, client_secret) == 0);
    assert (crypto_box_keypair (server_public, server_secret) == 0);
    curve_session_config_t config;
    curve_session_config_default (&config);
    config.window = 8;
    config.ack_every = 4;
    curve_session_io_t io = { s_test_send, s_test_deliver, s_test_event,
                              s_test_restart };
    test_end_t client_end, server_end;
    s_test_end_init (&client_end);
    s_test_end_init (&server_end);
    zhashx_t *client_metadata = zhashx_new ();
    zhashx_insert (client_metadata, "User-Agent", "curve test");
    int64_t now = 1000;

    //  Messages sent before the handshake wait for it
    curve_session_t *client = curve_session_new_client (
        client_public, client_secret, server_public, client_metadata,
        &config, &io, &client_end, now);
    curve_session_t *server = curve_session_new_server (
        server_public, server_secret, NULL, &config, &io, &server_end, now);
    assert (client && server);
    for (int number = 1; number <= 3; number++) {
        zmsg_t *msg = s_test_msg (number);
        assert (curve_session_send (client, &msg, now) == 0);
        assert (msg == NULL);
    }
    assert (curve_session_backlog (client) == 3);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_phase (server) == CURVE_SESSION_AUTH);
    char *agent = curve_session_property (server, "user-agent");
    assert (agent && streq (agent, "curve test"));
    zstr_free (&agent);
    curve_session_set_property (server, "User-Id", "alice");
    char *user = curve_session_property (server, "USER-ID");
    assert (user && streq (user, "alice"));
    zstr_free (&user);
    assert (memcmp (curve_session_peer_key (server), client_public, 32) == 0);
    assert (curve_session_allow (server, now) == 0);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_phase (client) == CURVE_SESSION_READY);
    assert (s_test_events (&client_end, "CONNECTED") == 1);
    s_test_expect (&server_end, 1, 3);

    //  Multi-frame messages keep their frames; both directions
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "one");
    zmsg_addmem (msg, NULL, 0);
    zmsg_addstr (msg, "three");
    assert (curve_session_send (server, &msg, now) == 0);
    s_test_run (&client_end, client, &server_end, server, now);
    msg = (zmsg_t *) zlist_pop (client_end.delivered);
    assert (msg && zmsg_size (msg) == 3);
    assert (zframe_streq (zmsg_first (msg), "one"));
    assert (zframe_size (zmsg_next (msg)) == 0);
    assert (zframe_streq (zmsg_next (msg), "three"));
    zmsg_destroy (&msg);

    //  The window: at most 8 unacknowledged; ACKs every 4 keep it moving
    for (int number = 4; number <= 40; number++) {
        msg = s_test_msg (number);
        assert (curve_session_send (client, &msg, now) == 0);
    }
    assert (curve_session_backlog (client) == 40);  //  1-3 unacknowledged
    s_test_run (&client_end, client, &server_end, server, now);
    s_test_expect (&server_end, 4, 40);
    //  The tick acknowledges the rest
    curve_session_tick (server, now);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_backlog (client) == 0);

    //  The network loses a message: the next one shows the gap, the
    //  receiver says so at once, the sender resends in order, and each
    //  message is delivered once
    for (int number = 200; number <= 203; number++) {
        msg = s_test_msg (number);
        assert (curve_session_send (client, &msg, now) == 0);
        curve_session_flush (client, now);      //  One MESSAGE each
    }
    zframe_t *first = (zframe_t *) zlist_pop (client_end.wire);
    zframe_t *dropped = (zframe_t *) zlist_pop (client_end.wire);
    zframe_destroy (&dropped);
    zlist_push (client_end.wire, first);
    s_test_run (&client_end, client, &server_end, server, now);
    s_test_expect (&server_end, 200, 203);
    curve_session_tick (server, now);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_backlog (client) == 0);
    //  The ACK is lost: after the retransmit time-out the sender tries
    //  again; the receiver drops the duplicate and acknowledges again
    msg = s_test_msg (204);
    assert (curve_session_send (client, &msg, now) == 0);
    s_test_run (&client_end, client, &server_end, NULL, now);
    //  (run above dropped what the client sent; deliver it by hand)
    msg = s_test_msg (204);
    assert (curve_session_backlog (client) == 1);
    zmsg_destroy (&msg);
    now += config.retransmit;
    curve_session_tick (client, now);       //  Sent again
    zframe_t *resent;
    while ((resent = (zframe_t *) zlist_pop (client_end.wire))) {
        curve_session_input (server, resent, now);
        zframe_destroy (&resent);
    }
    s_test_expect (&server_end, 204, 204);
    curve_session_tick (server, now);
    zframe_t *ack;
    int acks = 0;
    while ((ack = (zframe_t *) zlist_pop (server_end.wire))) {
        zframe_destroy (&ack);          //  Lost on the way back
        acks++;
    }
    assert (acks > 0);
    now += config.retransmit;
    curve_session_tick (client, now);
    s_test_run (&client_end, client, &server_end, server, now);
    curve_session_tick (server, now);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (zlist_size (server_end.delivered) == 0);    //  Not twice
    assert (curve_session_backlog (client) == 0);

    //  A garbage frame or a replay is refused; the session goes on
    zframe_t *garbage = zframe_new ("\x07MESSAGE garbage garbage garbage!!", 33);
    assert (curve_session_input (server, garbage, now) == -1);
    zframe_destroy (&garbage);
    msg = s_test_msg (41);
    assert (curve_session_send (client, &msg, now) == 0);
    curve_session_flush (client, now);
    zframe_t *frame = (zframe_t *) zlist_first (client_end.wire);
    zframe_t *replay = zframe_dup (frame);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_input (server, replay, now) == -1);
    zframe_destroy (&replay);
    assert (s_test_events (&server_end, "REFUSED") == 2);
    s_test_expect (&server_end, 41, 41);

    //  Heartbeat: a quiet client pings; the server's ACK keeps it alive
    curve_session_tick (server, now);       //  Acknowledge 41
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_backlog (client) == 0);
    now += config.heartbeat_interval;
    curve_session_tick (client, now);
    assert (zlist_size (client_end.wire) == 1);
    s_test_run (&client_end, client, &server_end, server, now);
    now += config.heartbeat_interval;
    curve_session_tick (client, now);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_phase (client) == CURVE_SESSION_READY);

    //  The server restarts: it loses the session. The client's next
    //  messages meet a server that answers RESET; the client handshakes
    //  again and sends each message from there on exactly once.
    curve_session_tick (server, now);       //  Acknowledge all so far
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_backlog (client) == 0);
    curve_session_destroy (&server);
    for (int number = 42; number <= 45; number++) {
        msg = s_test_msg (number);
        assert (curve_session_send (client, &msg, now) == 0);
        curve_session_flush (client, now);      //  One MESSAGE each
    }
    //  The new server sees MESSAGEs for no session and answers RESET
    while ((frame = (zframe_t *) zlist_pop (client_end.wire))) {
        zframe_t *reset = curve_session_reset_for (frame);
        assert (reset);
        zlist_append (server_end.wire, reset);
        zframe_destroy (&frame);
    }
    server = curve_session_new_server (server_public, server_secret, NULL,
                                       &config, &io, &server_end, now);
    //  Deliver the first RESET only; the others are stale after it
    frame = (zframe_t *) zlist_pop (server_end.wire);
    assert (curve_session_input (client, frame, now) == 0);
    zframe_destroy (&frame);
    while ((frame = (zframe_t *) zlist_pop (server_end.wire))) {
        curve_session_input (client, frame, now);
        zframe_destroy (&frame);
    }
    assert (client_end.restarts == 2);
    assert (s_test_events (&client_end, "DISCONNECTED") == 1);
    assert (s_test_events (&client_end, "LOST") == 0);
    assert (curve_session_phase (client) == CURVE_SESSION_HANDSHAKE);
    //  The stale RESETs were dropped with the restart; only HELLO is left
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_allow (server, now) == 0);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (s_test_events (&client_end, "RECONNECTED") == 1);
    s_test_expect (&server_end, 42, 45);

    //  The server goes silent (a broker on the way is down): the client
    //  reports it once and keeps the session; when traffic flows again,
    //  what was lost meanwhile is sent again and arrives once
    msg = s_test_msg (46);
    assert (curve_session_send (client, &msg, now) == 0);
    s_test_run (&client_end, client, &server_end, NULL, now);
    now += config.heartbeat_timeout;
    curve_session_tick (client, now);
    assert (s_test_events (&client_end, "DISCONNECTED") == 2);
    assert (s_test_events (&client_end, "LOST") == 0);
    assert (curve_session_phase (client) == CURVE_SESSION_READY);
    s_test_run (&client_end, client, &server_end, NULL, now);
    now += config.retransmit * 2;
    curve_session_tick (client, now);       //  46 again
    s_test_run (&client_end, client, &server_end, server, now);
    s_test_expect (&server_end, 46, 46);
    curve_session_tick (server, now);       //  Its ACK
    s_test_run (&client_end, client, &server_end, server, now);
    assert (s_test_events (&client_end, "RECONNECTED") == 2);

    //  The server dies and a new one starts: the client's next PING meets
    //  RESET, and the client handshakes again at once
    curve_session_tick (server, now);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_backlog (client) == 0);
    curve_session_destroy (&server);
    server = curve_session_new_server (server_public, server_secret, NULL,
                                       &config, &io, &server_end, now);
    now += config.heartbeat_interval;
    curve_session_tick (client, now);
    frame = (zframe_t *) zlist_pop (client_end.wire);
    assert (frame);
    zframe_t *reset = curve_session_reset_for (frame);
    zframe_destroy (&frame);
    assert (curve_session_input (client, reset, now) == 0);
    zframe_destroy (&reset);
    assert (s_test_events (&client_end, "DISCONNECTED") == 3);
    assert (curve_session_phase (client) == CURVE_SESSION_HANDSHAKE);
    //  No answer to HELLO: the handshake times out and starts again
    s_test_run (&client_end, client, &server_end, NULL, now);
    now += config.handshake_timeout;
    curve_session_tick (client, now);
    assert (s_test_events (&client_end, "HANDSHAKE-FAILED") == 1);
    assert (client_end.restarts == 4);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_deny (server, "No access") == 0);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_phase (client) == CURVE_SESSION_FAILED);
    assert (s_test_events (&client_end, "REJECTED No access") == 1);
    msg = s_test_msg (47);
    assert (curve_session_send (client, &msg, now) == -1);
    zmsg_destroy (&msg);
    curve_session_destroy (&client);
    curve_session_destroy (&server);

    //  A lost HELLO is sent again, and repeated commands are answered
    //  again rather than taken as new ones
    s_test_end_clear (&client_end);
    s_test_end_clear (&server_end);
    client = curve_session_new_client (client_public, client_secret,
                                       server_public, NULL, &config, &io,
                                       &client_end, now);
    server = curve_session_new_server (server_public, server_secret, NULL,
                                       &config, &io, &server_end, now);
    zframe_t *hello = (zframe_t *) zlist_pop (client_end.wire);
    now += config.retransmit;
    curve_session_tick (client, now);
    frame = (zframe_t *) zlist_pop (client_end.wire);
    assert (frame && zframe_eq (frame, hello));
    assert (curve_session_input (server, frame, now) == 0);
    zframe_destroy (&frame);
    assert (curve_session_is_repeat (server, hello));
    assert (curve_session_input (server, hello, now) == 0);   //  Late copy
    zframe_destroy (&hello);
    zframe_t *welcome = (zframe_t *) zlist_pop (server_end.wire);
    zframe_t *welcome_again = (zframe_t *) zlist_pop (server_end.wire);
    assert (welcome && welcome_again && zframe_eq (welcome, welcome_again));
    assert (curve_session_input (client, welcome, now) == 0);
    assert (curve_session_input (client, welcome_again, now) == 0);
    zframe_destroy (&welcome);
    zframe_destroy (&welcome_again);
    assert (zlist_size (client_end.wire) == 2);     //  INITIATE, twice
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_phase (server) == CURVE_SESSION_AUTH);
    assert (zlist_size (server_end.wire) == 0);     //  Nothing to repeat yet
    assert (curve_session_allow (server, now) == 0);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_phase (client) == CURVE_SESSION_READY);
    curve_session_destroy (&client);
    curve_session_destroy (&server);

    //  A client with the wrong server key hears why at once
    s_test_end_clear (&client_end);
    s_test_end_clear (&server_end);
    client = curve_session_new_client (client_public, client_secret,
                                       client_public, NULL, &config, &io,
                                       &client_end, now);
    server = curve_session_new_server (server_public, server_secret, NULL,
                                       &config, &io, &server_end, now);
    s_test_run (&client_end, client, &server_end, server, now);
    assert (curve_session_phase (server) == CURVE_SESSION_FAILED);
    assert (curve_session_phase (client) == CURVE_SESSION_FAILED);
    assert (s_test_events (&client_end, "REJECTED HELLO signature") == 1);
    //  Messages still waiting are reported when the session goes
    curve_session_destroy (&server);
    curve_session_destroy (&client);

    client = curve_session_new_client (client_public, client_secret,
                                       server_public, NULL, &config, &io,
                                       &client_end, now);
    msg = s_test_msg (1);
    assert (curve_session_send (client, &msg, now) == 0);
    curve_session_destroy (&client);
    assert (s_test_events (&client_end, "LOST 1 message never sent") == 1);

    zhashx_destroy (&client_metadata);
    s_test_end_destroy (&client_end);
    s_test_end_destroy (&server_end);
    printf ("OK\n");
}
//  @end
