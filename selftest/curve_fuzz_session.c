/*  =========================================================================
    curve_fuzz_session - libFuzzer harness for the curve_session engine

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_fuzz_session feeds fuzz input to the session engine under the
    virtual sockets (src/curve_session.c): the frames a client or a server
    session takes from the network, in every phase, mixed with sends,
    verdicts and timer ticks. It is built with -fsanitize=fuzzer when
    CURVE_FUZZ is on (and CURVE_CODEC_ONLY is off); selftest/fuzz.sh runs
    it on the seed corpus in selftest/corpus/session.
@discuss
    One input drives one client session and the server session that
    serves it, joined in memory by two wires (lists of frames) that stand
    for the network. The harness plays the owners as curve_client and
    curve_server do: a HELLO that is not a repeat replaces the server
    session, a MESSAGE for no server session is answered with RESET, a
    failed server session is dropped, and a client restart (a new DEALER)
    empties the wires and leaves the old server session behind.

    Input layout: octet 0 picks the starting phase (bits 0-1: server
    waiting for HELLO, client waiting for WELCOME, server in AUTH, both
    READY) and options (bit 2 peer mode, bit 3 keep failed server
    sessions, bit 4 a client with the wrong server key, bit 5 a small
    metadata limit, bit 6 settings from the input). The rest is a list of
    operations (see op_t), each an octet (bits 0-4 the operation, bit 5 the
    side, bits 6-7 a variant) and its arguments: moving, dropping,
    doubling and swapping frames on the wires; raw, mutated and replayed
    frames; MESSAGEs forged with the peer session's own codec, whose
    decrypted payloads (sequence number, frames, control messages) come
    from the input; RESETs, real or forged; sends, ticks with any time
    step, allow and deny, server restarts, properties.

    Invariants (CHECK aborts, even under NDEBUG):
      - what is delivered is exactly what was sent: a genuine message (one
        the harness gave curve_session_send) arrives intact, in order,
        never twice within a session (and never twice at all unless its
        sender restarted in between, see below); a forged one arrives iff
        our own reading of RFC/framing.md says it must, and as it says;
      - nothing is delivered except while a frame is input;
      - counts add up: for each end, messages accepted = acknowledged +
        reported LOST + taken + backlog, with acknowledged >= 0 and, while
        no forged ACK or forged message could have confused the count, no
        more than the messages the peer really delivered; destroying a
        session reports exactly its backlog as LOST;
      - when no forgery got in the way, a READY pair left to run (frames
        moved, time passing) ends with nothing unacknowledged;
      - every frame a session sends is a well-formed command its role may
        send; a refused frame shorter than HELLO never makes a session
        send anything; events have known names and bounded details;
      - sessions are always destroyable and nothing leaks (LeakSanitizer).

    A message the server delivered but had not acknowledged when it lost
    the session (a restart, or a session replaced by a stale HELLO) is sent
    again after the RESET if the MESSAGE the RESET echoes was a resend (see
    RFC/framing.md on RESET). With CURVE_FUZZ_STRICT set in the
    environment, a message delivered twice aborts even then, for inputs
    that only move, drop, double or reorder frames; by default it is
    allowed once the sender restarted. CURVE_FUZZ_TRACE traces every
    operation.

    Every run is deterministic: the codec's random source is the counter
    fed one of curve_fuzz_forge.h, reset for each input; keys come from
    constant seeds; time is a counter the input moves.
@end
*/

#include "../src/curve_classes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  libFuzzer entry points
int
    LLVMFuzzerInitialize (int *argc, char ***argv);
int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CURVE_FUZZ_NAME "curve_fuzz_session"
#include "curve_fuzz_forge.h"     //  CHECK, reader, random, keys

#define CLIENT          0
#define SERVER          1
#define OPS_MAX         96      //  Operations run for one input
#define IDS_MAX         48      //  Genuine messages sent by one end
#define HISTORY         16      //  Frames kept, per end, for replays
#define WIRE_MAX        256     //  Frames in flight towards one end
#define PUMP_MAX        512     //  Frames moved by one "move all"
#define DRAIN_ROUNDS    24      //  Rounds of the final run to quiet
#define TAG_BYTES       10      //  'G', sender, id: first frame of ours
#define SEQUENCE_BYTES  8
#define RESET_BYTES     30
#define EVENT_DETAIL_MAX 512

//  Operations; an operation octet's bits 0-4 pick one (modulo OP_COUNT)
typedef enum {
    OP_PUMP,                //  Move the next frame of a wire
    OP_SEND,                //  Send a genuine message
    OP_FORGE_APP,           //  Forged MESSAGE: sequence + frames
    OP_TICK,                //  Time passes, a timer runs
    OP_PUMP_ALL,            //  Move every frame, both ways
    OP_FORGE_PAYLOAD,       //  Forged MESSAGE: any payload, any flags
    OP_FORGE_CONTROL,       //  Forged control message (PING, ACK...)
    OP_RESET,               //  RESET, real or forged
    OP_RAW,                 //  Any octets, maybe behind a command name
    OP_MUTATE,              //  A frame seen on the wire, changed
    OP_REPLAY,              //  A frame seen on the wire, again
    OP_DROP,                //  The network loses a frame
    OP_DUP,                 //  The network doubles a frame
    OP_SWAP,                //  The network reorders two frames
    OP_VERDICT,             //  Server allows or denies
    OP_RESTART,             //  Server loses its session
    OP_PROPERTY,            //  Property look-ups and settings
    OP_TAKE,                //  Take the pending messages (and resend)
    OP_HELPERS,             //  ERROR and RESET built outside sessions
    OP_COUNT
} op_t;

static const char *s_op_names [OP_COUNT] = {
    "pump", "send", "forge-app", "tick", "pump-all", "forge-payload",
    "forge-control", "reset", "raw", "mutate", "replay", "drop", "dup",
    "swap", "verdict", "restart", "property", "take", "helpers"
};

//  Handshake commands, as kept per end for replays
typedef enum {
    CMD_HELLO, CMD_WELCOME, CMD_INITIATE, CMD_READY, CMD_ERROR, CMD_KINDS
} command_t;

static const char *s_command_names [CMD_KINDS] = {
    "\x05HELLO", "\x07WELCOME", "\x08INITIATE", "\x05READY", ("\x05" "ERROR")
};

//  One end: its session, the frames it sent, what it received
typedef struct {
    curve_session_t *session;       //  NULL: server session gone
    zlist_t *wire;                  //  Frames it sent, towards the peer
    zframe_t *history [HISTORY];    //  Copies of the last frames it sent
    size_t history_next;
    zframe_t *command [CMD_KINDS];  //  Last handshake command of each kind
    size_t sends;                   //  Frames sent, ever
    //  Receiving, in the current session (reset on restart)
    uint64_t recv_count;            //  Messages delivered: the peer's
                                    //  sequence number we expect, less 1
    uint64_t last_id;               //  Last genuine id delivered
    //  Sending, over the whole run
    uint64_t next_id;               //  Id of the next genuine message
    zmsg_t *sent [IDS_MAX + 1];     //  Genuine messages by id (accepted)
    uint32_t delivered [IDS_MAX + 1];   //  Sender epoch + 1 when delivered
    size_t accepted;                //  Messages curve_session_send took
    size_t lost;                    //  Messages reported LOST
    size_t taken;                   //  Messages taken back (take_pending)
    size_t unique;                  //  Genuine ids delivered at least once
    uint32_t epoch;                 //  Restarts of this end's session
    bool restarted;                 //  Restart seen, work to do after call
    bool tainted;                   //  Acknowledgements may be untrue
    bool converted;                 //  Server session turned client (peers)
    int rejected;                   //  REJECTED events
} end_t;

//  The harness
typedef struct {
    end_t end [2];
    curve_session_config_t config;
    curve_session_io_t io;
    uint8_t server_key [KEY_BYTES]; //  The key the client trusts
    int64_t now;
    int inputting;                  //  End being fed a frame, or -1
    bool keep_failed;               //  Failed server sessions stay
    bool benign;                    //  Only network faults so far
    bool properties_set;            //  Local properties were set
    bool crashing;                  //  The server's last words are lost
    //  What the forged MESSAGE being input must do
    bool expect_active;
    int expect_side;
    zlist_t *expect;                //  Messages it must deliver, in order
} harness_t;

static harness_t s_h;

//  Metadata the sessions send
static zhashx_t *s_client_metadata;
static zhashx_t *s_server_metadata;

static bool s_strict = false;
static bool s_trace = false;


//  --------------------------------------------------------------------------
//  Small helpers

static int
s_side_of (void *arg)
{
    end_t *end = (end_t *) arg;
    CHECK (end == &s_h.end [CLIENT] || end == &s_h.end [SERVER]);
    return end == &s_h.end [CLIENT]? CLIENT: SERVER;
}

static uint32_t
s_get_uint32 (const uint8_t *source)
{
    return ((uint32_t) source [0] << 24) | ((uint32_t) source [1] << 16)
         | ((uint32_t) source [2] << 8)  |  (uint32_t) source [3];
}

static void
s_put_uint32 (uint8_t *dest, uint32_t value)
{
    dest [0] = (uint8_t) (value >> 24);
    dest [1] = (uint8_t) (value >> 16);
    dest [2] = (uint8_t) (value >> 8);
    dest [3] = (uint8_t) value;
}

static bool
s_msg_equal (zmsg_t *one, zmsg_t *two)
{
    if (zmsg_size (one) != zmsg_size (two))
        return false;
    zframe_t *a = zmsg_first (one);
    zframe_t *b = zmsg_first (two);
    while (a && b) {
        if (!zframe_eq (a, b))
            return false;
        a = zmsg_next (one);
        b = zmsg_next (two);
    }
    return true;
}

static bool
s_frame_is (zframe_t *frame, const char *name)
{
    return s_is (zframe_data (frame), zframe_size (frame), name);
}

static bool
s_is_hello (zframe_t *frame)
{
    return zframe_size (frame) == CURVE_HELLO_BYTES
        && memcmp (zframe_data (frame), "\x05HELLO", 6) == 0;
}

static bool
s_is_message (zframe_t *frame)
{
    return zframe_size (frame) >= CURVE_MESSAGE_MIN_BYTES
        && memcmp (zframe_data (frame), "\x07MESSAGE", 8) == 0;
}

static curve_session_phase_t
s_phase (int side)
{
    curve_session_t *session = s_h.end [side].session;
    return session? curve_session_phase (session): CURVE_SESSION_FAILED;
}

static size_t
s_backlog (int side)
{
    curve_session_t *session = s_h.end [side].session;
    return session? curve_session_backlog (session): 0;
}

static const char *
s_side_name (int side)
{
    return side == CLIENT? "client": "server";
}

//  Our own reading of RFC/framing.md: the application messages in a
//  payload (after the sequence number), or NULL if it is refused whole
//  (sizes that do not add up, a last frame that says another follows, no
//  message at all)
#define FRAME_MORE      0x80000000u
#define FRAME_SIZE      0x7FFFFFFFu

static void
s_messages_destroy (zlist_t **list_p)
{
    if (*list_p) {
        zmsg_t *msg;
        while ((msg = (zmsg_t *) zlist_pop (*list_p)))
            zmsg_destroy (&msg);
        zlist_destroy (list_p);
    }
}

static zlist_t *
s_reference_messages (const uint8_t *data, size_t size)
{
    zlist_t *messages = zlist_new ();
    CHECK (messages);
    zmsg_t *msg = NULL;
    size_t pos = 0;
    bool whole = true;
    while (pos < size && whole) {
        if (size - pos < 4) {
            whole = false;
            break;
        }
        uint32_t header = s_get_uint32 (data + pos);
        size_t part = header & FRAME_SIZE;
        pos += 4;
        if (part > size - pos) {
            whole = false;
            break;
        }
        if (!msg) {
            msg = zmsg_new ();
            CHECK (msg);
        }
        CHECK (zmsg_addmem (msg, data + pos, part) == 0);
        pos += part;
        if (!(header & FRAME_MORE)) {
            CHECK (zlist_append (messages, msg) == 0);
            msg = NULL;
        }
    }
    if (msg) {
        zmsg_destroy (&msg);        //  The last frame said more follow
        whole = false;
    }
    if (!whole || zlist_size (messages) == 0)
        s_messages_destroy (&messages);
    return messages;
}


//  --------------------------------------------------------------------------
//  The session's callbacks

//  Every frame a session sends must be a command its role sends, well
//  formed
static void
s_check_output (int side, zframe_t *frame)
{
    const uint8_t *data = zframe_data (frame);
    size_t size = zframe_size (frame);
    bool as_client = side == CLIENT || s_h.end [side].converted;
    bool as_server = side == SERVER;
    if (s_frame_is (frame, "\x05HELLO"))
        CHECK (as_client && size == CURVE_HELLO_BYTES);
    else
    if (s_frame_is (frame, "\x08INITIATE"))
        CHECK (as_client && size >= CURVE_INITIATE_MIN_BYTES);
    else
    if (s_frame_is (frame, "\x07WELCOME"))
        CHECK (as_server && size == CURVE_WELCOME_BYTES);
    else
    if (s_frame_is (frame, "\x05READY"))
        CHECK (as_server && size >= CURVE_READY_MIN_BYTES);
    else
    if (s_frame_is (frame, "\x05" "ERROR")) {
        CHECK (as_server && size >= CURVE_ERROR_MIN_BYTES);
        CHECK (size == (size_t) CURVE_ERROR_MIN_BYTES + data [6]);
        for (size_t index = CURVE_ERROR_MIN_BYTES; index < size; index++)
            CHECK (data [index] >= 0x20 && data [index] <= 0x7E);
    }
    else
        CHECK (s_is_message (frame));
}

static void
s_remember (end_t *end, zframe_t *frame)
{
    size_t slot = end->history_next++ % HISTORY;
    zframe_destroy (&end->history [slot]);
    end->history [slot] = zframe_dup (frame);
    CHECK (end->history [slot]);
    for (int kind = 0; kind < CMD_KINDS; kind++)
        if (s_frame_is (frame, s_command_names [kind])) {
            zframe_destroy (&end->command [kind]);
            end->command [kind] = zframe_dup (frame);
            CHECK (end->command [kind]);
        }
}

//  Put a frame on an end's wire (a full wire drops the oldest frame)
static void
s_wire_put (end_t *end, zframe_t **frame_p)
{
    s_remember (end, *frame_p);
    if (zlist_size (end->wire) >= WIRE_MAX) {
        zframe_t *oldest = (zframe_t *) zlist_pop (end->wire);
        zframe_destroy (&oldest);
    }
    CHECK (zlist_append (end->wire, *frame_p) == 0);
    *frame_p = NULL;
}

static void
s_on_send (void *arg, zframe_t **frame_p)
{
    int side = s_side_of (arg);
    end_t *end = &s_h.end [side];
    CHECK (frame_p && *frame_p);
    s_check_output (side, *frame_p);
    end->sends++;
    if (side == SERVER && s_h.crashing)
        return;                     //  Never left the machine
    if (s_trace)
        fprintf (stderr, "trace:   %s sends %zu octets\n", s_side_name (side),
                 zframe_size (*frame_p));
    s_wire_put (end, frame_p);
}

static void
s_on_deliver (void *arg, zmsg_t **msg_p)
{
    int side = s_side_of (arg);
    int sender = 1 - side;
    end_t *end = &s_h.end [side];
    end_t *peer = &s_h.end [sender];
    CHECK (msg_p && *msg_p);
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    //  Only a frame put in delivers, and only to the end it went to
    CHECK (s_h.inputting == side);
    CHECK (zmsg_size (msg) >= 1);
    if (s_h.expect_active) {
        //  A forged MESSAGE: the next message we expect from it
        CHECK (s_h.expect_side == side);
        zmsg_t *expected = s_h.expect? (zmsg_t *) zlist_pop (s_h.expect):
                                       NULL;
        CHECK (expected);
        CHECK (s_msg_equal (msg, expected));
        zmsg_destroy (&expected);
        //  The sender's message with this sequence number is now a
        //  duplicate: the peer acknowledges what it never got
        peer->tainted = true;
    }
    else {
        //  A genuine message: ours, intact, in order, once
        zframe_t *tag = zmsg_first (msg);
        CHECK (zframe_size (tag) == TAG_BYTES);
        const uint8_t *data = zframe_data (tag);
        CHECK (data [0] == 'G' && data [1] == sender);
        uint64_t id = s_get_uint64 (data + 2);
        CHECK (id >= 1 && id < peer->next_id && id <= IDS_MAX);
        CHECK (peer->sent [id]);
        CHECK (s_msg_equal (msg, peer->sent [id]));
        CHECK (id > end->last_id);
        end->last_id = id;
        if (peer->delivered [id]) {
            //  Twice: only across a restart of the sender
            CHECK (peer->delivered [id] != peer->epoch + 1);
            CHECK (!(s_strict && s_h.benign));
        }
        else
            peer->unique++;
        peer->delivered [id] = peer->epoch + 1;
    }
    end->recv_count++;
    if (s_trace)
        fprintf (stderr, "trace:   %s delivered #%" PRIu64 "\n",
                 s_side_name (side), end->recv_count);
    zmsg_destroy (&msg);
}

static void
s_on_event (void *arg, const char *event, const char *detail)
{
    int side = s_side_of (arg);
    end_t *end = &s_h.end [side];
    CHECK (event && detail);
    CHECK (strlen (detail) < EVENT_DETAIL_MAX);
    if (s_trace)
        fprintf (stderr, "trace:   %s event %s %s\n", s_side_name (side),
                 event, detail);
    if (streq (event, "LOST")) {
        size_t count = 0;
        if (strncmp (detail, "a message ", 10) == 0)
            count = 1;
        else {
            CHECK (isdigit ((unsigned char) detail [0]));
            count = (size_t) strtoul (detail, NULL, 10);
        }
        CHECK (count > 0);
        end->lost += count;
    }
    else
    if (streq (event, "REJECTED")) {
        CHECK (side == CLIENT || end->converted);
        end->rejected++;
    }
    else
    if (streq (event, "CONNECTED") || streq (event, "RECONNECTED")) {
        //  The peer's key in Z85, or (RECONNECTED) words
        if (strlen (detail) == CURVE_Z85_KEY_BYTES) {
            uint8_t key [KEY_BYTES];
            CHECK (zmq_z85_decode (key, detail));
            CHECK (memcmp (key, side == CLIENT? s_h.server_key:
                                                s_client_public,
                           KEY_BYTES) == 0);
        }
    }
    else
        CHECK (streq (event, "DISCONNECTED")
            || streq (event, "HANDSHAKE-FAILED")
            || streq (event, "REFUSED"));
}

static void
s_on_restart (void *arg)
{
    int side = s_side_of (arg);
    end_t *end = &s_h.end [side];
    end->epoch++;
    end->restarted = true;
    end->recv_count = 0;
    end->last_id = 0;
    if (side == SERVER)
        end->converted = true;
    //  A new socket: what was queued on the old one is gone
    zframe_t *frame;
    while ((frame = (zframe_t *) zlist_pop (end->wire)))
        zframe_destroy (&frame);
}


//  --------------------------------------------------------------------------
//  The owners' part

//  The server session goes: whatever it still held is reported LOST
static void
s_server_destroy (void)
{
    end_t *end = &s_h.end [SERVER];
    if (!end->session)
        return;
    size_t backlog = curve_session_backlog (end->session);
    size_t lost = end->lost;
    curve_session_destroy (&end->session);
    CHECK (end->session == NULL);
    CHECK (end->lost - lost == backlog);
}

static void
s_server_create (void)
{
    end_t *end = &s_h.end [SERVER];
    CHECK (!end->session);
    end->session = curve_session_new_server (
        s_server_public, s_server_secret, s_server_metadata, &s_h.config,
        &s_h.io, end, s_h.now);
    CHECK (end->session);
    CHECK (curve_session_phase (end->session) == CURVE_SESSION_HANDSHAKE);
    CHECK (curve_session_backlog (end->session) == 0);
    CHECK (curve_session_peer_key (end->session) == NULL);
    end->recv_count = 0;
    end->last_id = 0;
    end->converted = false;
    end->restarted = false;
}

//  After every call into a session: what the owners do about restarts and
//  failures
static void
s_after (void)
{
    end_t *client = &s_h.end [CLIENT];
    end_t *server = &s_h.end [SERVER];
    if (client->restarted) {
        //  The client has a new DEALER: the old server session is out of
        //  reach, and so is whatever was on its way to the old socket
        client->restarted = false;
        s_server_destroy ();
        zframe_t *frame;
        while ((frame = (zframe_t *) zlist_pop (server->wire)))
            zframe_destroy (&frame);
    }
    server->restarted = false;
    if (server->session && !s_h.keep_failed
    &&  curve_session_phase (server->session) == CURVE_SESSION_FAILED)
        s_server_destroy ();        //  Gone, as curve_server drops it
}

//  Invariants of both ends at any time
static void
s_check_ends (void)
{
    for (int side = 0; side < 2; side++) {
        end_t *end = &s_h.end [side];
        if (end->session) {
            curve_session_phase_t phase = curve_session_phase (end->session);
            CHECK (phase >= CURVE_SESSION_HANDSHAKE
                && phase <= CURVE_SESSION_FAILED);
            if (side == CLIENT)
                CHECK (phase != CURVE_SESSION_AUTH);
            if (side == SERVER && !end->converted)
                CHECK (phase != CURVE_SESSION_RETRY);
            if (phase == CURVE_SESSION_FAILED) {
                CHECK (!curve_session_writable (end->session));
                zmsg_t *msg = zmsg_new ();
                CHECK (zmsg_addstr (msg, "late") == 0);
                CHECK (curve_session_send (end->session, &msg, s_h.now) == -1);
                CHECK (msg);
                zmsg_destroy (&msg);
            }
            const uint8_t *peer_key = curve_session_peer_key (end->session);
            if (side == CLIENT && curve_session_codec (end->session))
                CHECK (peer_key
                    && memcmp (peer_key, s_h.server_key, KEY_BYTES) == 0);
            if (side == SERVER && !end->converted
            && (phase == CURVE_SESSION_AUTH || phase == CURVE_SESSION_READY))
                CHECK (peer_key
                    && memcmp (peer_key, s_client_public, KEY_BYTES) == 0);
            CHECK (curve_session_last_input (end->session) <= s_h.now);
            if (side == CLIENT && phase == CURVE_SESSION_HANDSHAKE)
                CHECK (curve_session_deadline (end->session)
                       <= s_h.now + s_h.config.handshake_timeout);
        }
        //  Every message accepted is acknowledged, LOST, taken or held
        int64_t acked = (int64_t) end->accepted - (int64_t) end->lost
                      - (int64_t) end->taken - (int64_t) s_backlog (side);
        CHECK (acked >= 0);
        if (!end->tainted)
            CHECK ((uint64_t) acked <= end->unique);
    }
}

//  Give a frame (ours now) to a session
static int
s_input (int side, zframe_t **frame_p)
{
    end_t *end = &s_h.end [side];
    CHECK (end->session);
    zframe_t *frame = *frame_p;
    size_t size = zframe_size (frame);
    size_t sends = end->sends;
    s_h.inputting = side;
    int rc = curve_session_input (end->session, frame, s_h.now);
    s_h.inputting = -1;
    if (s_trace)
        fprintf (stderr, "trace:   %s input %zu octets: rc=%d phase=%d\n",
                 s_side_name (side), size, rc, (int) s_phase (side));
    CHECK (rc == 0 || rc == -1);
    //  Garbage is never answered: no amplification
    if (rc == -1 && size < CURVE_HELLO_BYTES)
        CHECK (end->sends == sends);
    zframe_destroy (frame_p);
    s_after ();
    return rc;
}

//  A frame reaches the server through its owner (or straight to the
//  session, if direct and there is one)
static void
s_to_server (zframe_t **frame_p, bool direct)
{
    end_t *server = &s_h.end [SERVER];
    zframe_t *frame = *frame_p;
    bool is_hello = s_is_hello (frame);
    if (!direct && server->session && is_hello
    &&  !curve_session_is_repeat (server->session, frame))
        s_server_destroy ();        //  The client started again
    if (!server->session) {
        if (is_hello)
            s_server_create ();
        else {
            //  A MESSAGE for a session we do not have: RESET echoes it
            zframe_t *reset = curve_session_reset_for (frame);
            CHECK ((reset != NULL) == s_is_message (frame));
            if (reset) {
                CHECK (zframe_size (reset) == RESET_BYTES);
                CHECK (memcmp (zframe_data (reset), "\x05RESET", 6) == 0);
                CHECK (memcmp (zframe_data (reset) + 6,
                               zframe_data (frame) + 8, 24) == 0);
                s_wire_put (server, &reset);
            }
            zframe_destroy (frame_p);
            return;
        }
    }
    (void) s_input (SERVER, frame_p);
}

static void
s_deliver (int side, zframe_t **frame_p, bool direct)
{
    if (side == SERVER)
        s_to_server (frame_p, direct);
    else
    if (s_h.end [CLIENT].session)
        (void) s_input (CLIENT, frame_p);
    else
        zframe_destroy (frame_p);
}

//  Move the next frame of side's wire to the other end; false if none
static bool
s_pump (int side)
{
    zframe_t *frame = (zframe_t *) zlist_pop (s_h.end [side].wire);
    if (!frame)
        return false;
    s_deliver (1 - side, &frame, false);
    return true;
}

static void
s_pump_all (void)
{
    for (int count = 0; count < PUMP_MAX; count++) {
        bool moved = s_pump (CLIENT);
        moved = s_pump (SERVER) || moved;
        if (!moved)
            break;
    }
}

static void
s_tick (int side)
{
    if (s_h.end [side].session) {
        curve_session_tick (s_h.end [side].session, s_h.now);
        s_after ();
    }
}

//  Encrypt and send what is queued
static void
s_flush (int side)
{
    end_t *end = &s_h.end [side];
    if (!end->session)
        return;
    size_t backlog = curve_session_backlog (end->session);
    size_t lost = end->lost;
    curve_session_flush (end->session, s_h.now);
    //  Queued messages go into the window: the backlog stays
    CHECK (curve_session_backlog (end->session) + (end->lost - lost)
           == backlog);
    s_after ();
}

//  Send a genuine message: the tag frame, then frames from the input;
//  maybe flush at once
static void
s_send (int side, bool flush, reader_t *reader)
{
    end_t *end = &s_h.end [side];
    if (!end->session || end->next_id > IDS_MAX)
        return;
    uint64_t id = end->next_id++;
    zmsg_t *msg = zmsg_new ();
    CHECK (msg);
    int shape = reader? s_u8 (reader) % 16: 0;
    if (shape != 15) {
        //  Not an empty message (which the session reports LOST)
        uint8_t tag [TAG_BYTES] = { 'G', (uint8_t) side };
        s_put_uint64 (tag + 2, id);
        CHECK (zmsg_addmem (msg, tag, sizeof tag) == 0);
    }
    if (shape == 14) {
        //  Larger than a batch: it travels alone
        size_t size = 60000 + s_u16 (reader) % 10000;
        zframe_t *big = zframe_new (NULL, size);
        CHECK (big);
        memset (zframe_data (big), 'B', size);
        CHECK (zmsg_append (msg, &big) == 0);
    }
    else
    if (shape < 14) {
        int frames = shape % 4;
        for (int index = 0; index < frames; index++) {
            size_t size;
            const uint8_t *data = s_take (reader, s_u8 (reader), &size);
            CHECK (zmsg_addmem (msg, data, size) == 0);
        }
    }
    zmsg_t *copy = zmsg_dup (msg);
    CHECK (copy);
    bool writable = curve_session_writable (end->session);
    size_t backlog = curve_session_backlog (end->session);
    int rc = curve_session_send (end->session, &msg, s_h.now);
    if (s_trace)
        fprintf (stderr, "trace:   %s send id %" PRIu64 ": rc=%d\n",
                 s_side_name (side), id, rc);
    if (rc == 0) {
        CHECK (msg == NULL);
        CHECK (writable);
        CHECK (curve_session_backlog (end->session) == backlog + 1);
        end->accepted++;
        end->sent [id] = copy;
    }
    else {
        CHECK (rc == -1);
        CHECK (msg);
        CHECK (curve_session_backlog (end->session) == backlog);
        zmsg_destroy (&msg);
        zmsg_destroy (&copy);
    }
    s_after ();
    if (flush)
        s_flush (side);
}

//  Encode a payload with the codec of side's session (the sender), as
//  that session would; NULL if it cannot
static zframe_t *
s_forge (int sender, const uint8_t *payload, size_t size, int flags)
{
    curve_session_t *session = s_h.end [sender].session;
    curve_codec_t *codec = session? curve_session_codec (session): NULL;
    if (!codec || !(curve_codec_state (codec) & CURVE_CODEC_READY))
        return NULL;
    size_t wire_size = curve_codec_message_size (size);
    zframe_t *frame = zframe_new (NULL, wire_size);
    CHECK (frame);
    if (curve_codec_encode (codec, payload, size, flags,
                            zframe_data (frame), wire_size)) {
        zframe_destroy (&frame);
        return NULL;
    }
    return frame;
}

//  Input a forged MESSAGE to side and check that what happens is what our
//  reading of RFC/framing.md says
static void
s_forged_input (int side, const uint8_t *payload, size_t size, int flags)
{
    int sender = 1 - side;
    end_t *end = &s_h.end [side];
    zframe_t *frame = s_forge (sender, payload, size, flags);
    if (!frame)
        return;
    s_h.benign = false;
    if (!end->session) {
        s_to_server (&frame, true);     //  Its owner answers RESET
        return;
    }
    //  The sender could encode, so it is READY: if the receiver is READY
    //  too, they are the two ends of one handshake
    bool paired = curve_session_phase (end->session) == CURVE_SESSION_READY;
    zlist_t *expect = NULL;
    int expect_rc = 0;
    uint64_t expect_count = end->recv_count;
    if (flags & CURVE_FLAG_COMMAND) {
        //  A control message: an ACK beyond what the receiver's peer
        //  really delivered acknowledges messages that never arrived
        if (size == 10 && payload [0] == 0x02
        &&  s_get_uint64 (payload + 1) > s_h.end [sender].recv_count)
            end->tainted = true;
    }
    else
    if (size < SEQUENCE_BYTES)
        expect_rc = -1;
    else {
        expect = s_reference_messages (payload + SEQUENCE_BYTES,
                                       size - SEQUENCE_BYTES);
        uint64_t sequence = s_get_uint64 (payload);
        if (!expect)
            expect_rc = -1;
        else
        if (sequence > end->recv_count + 1)
            s_messages_destroy (&expect);   //  A gap: dropped
        else {
            //  Those already delivered are skipped
            size_t count = zlist_size (expect);
            for (size_t index = 0; index < count; index++, sequence++) {
                zmsg_t *msg = (zmsg_t *) zlist_pop (expect);
                if (sequence <= expect_count)
                    zmsg_destroy (&msg);
                else {
                    expect_count = sequence;
                    CHECK (zlist_append (expect, msg) == 0);
                }
            }
        }
    }
    if (!paired) {
        s_messages_destroy (&expect);
        expect_count = end->recv_count;
        expect_rc = -1;             //  Not a handshake command
    }
    s_h.expect_active = true;
    s_h.expect_side = side;
    s_h.expect = expect;
    int rc = s_input (side, &frame);
    CHECK (rc == expect_rc);
    CHECK (!expect || zlist_size (expect) == 0);
    s_h.expect_active = false;
    s_h.expect = NULL;
    s_messages_destroy (&expect);
    //  (a restart resets the count: only a RESET does that, not this)
    CHECK (end->recv_count == expect_count);
}

//  A forged batch of application messages: sequence number, messages
//  and frames from the input, maybe malformed
static void
s_forge_app (int side, int variant, reader_t *reader)
{
    end_t *end = &s_h.end [side];
    buffer_t payload = { NULL, 0 };
    uint8_t sequence [SEQUENCE_BYTES];
    uint64_t next = end->recv_count + 1;
    uint64_t value;
    switch (s_u8 (reader) % 6) {
        case 1:  value = next + s_u8 (reader) % 4; break;
        case 2:  value = next - 1 - s_u8 (reader) % 4; break;
        case 3:  value = s_u64 (reader); break;
        default: value = next; break;
    }
    s_put_uint64 (sequence, value);
    s_append (&payload, sequence, sizeof sequence);
    int messages = 1 + s_u8 (reader) % 4;
    for (int message = 0; message < messages; message++) {
        int frames = 1 + s_u8 (reader) % 3;
        for (int index = 0; index < frames; index++) {
            size_t size = s_u8 (reader);
            if (size == 255)
                size = s_u16 (reader) % 4096;
            uint8_t header [4];
            s_put_uint32 (header, (uint32_t) size
                                  | (index + 1 < frames? FRAME_MORE: 0));
            s_append (&payload, header, 4);
            size_t have;
            const uint8_t *data = s_take (reader, size, &have);
            s_append (&payload, data, have);
            //  Short input: zeros, so that the sizes still add up
            static const uint8_t zeros [64] = { 0 };
            while (have < size) {
                size_t chunk = size - have < sizeof zeros?
                               size - have: sizeof zeros;
                s_append (&payload, zeros, chunk);
                have += chunk;
            }
        }
    }
    switch (s_u8 (reader) % 8) {
        case 1:                     //  Cut short
            payload.size -= (1 + s_u8 (reader) % 4)
                          % (payload.size - SEQUENCE_BYTES + 1);
            break;
        case 2: {                   //  Junk after the last frame
            uint8_t junk [4];
            s_bytes (reader, junk, sizeof junk);
            s_append (&payload, junk, 1 + s_u8 (reader) % 4);
            break;
        }
        case 3: {                   //  A frame that claims too much
            uint8_t header [4];
            s_put_uint32 (header, FRAME_SIZE - s_u8 (reader));
            s_append (&payload, header, 4);
            break;
        }
        case 4:                     //  The last frame says more follow
            for (size_t pos = SEQUENCE_BYTES; pos + 4 <= payload.size; ) {
                size_t part = s_get_uint32 (payload.data + pos) & FRAME_SIZE;
                if (pos + 4 + part >= payload.size) {
                    payload.data [pos] |= 0x80;
                    break;
                }
                pos += 4 + part;
            }
            break;
        default:
            break;
    }
    int flags = (variant & 1)? CURVE_FLAG_MORE: 0;
    s_forged_input (side, payload.data, payload.size, flags);
    free (payload.data);
}

//  A forged MESSAGE whose whole payload and flags come from the input
static void
s_forge_payload (int side, int variant, reader_t *reader)
{
    size_t size;
    const uint8_t *data = s_take (reader, s_u16 (reader) % 2048, &size);
    uint8_t *payload = s_dup (data, size);
    int flags = 0;
    if (variant & 1)
        flags |= CURVE_FLAG_COMMAND;
    if (variant & 2)
        flags |= CURVE_FLAG_MORE;
    s_forged_input (side, payload, size, flags);
    free (payload);
}

//  A forged control message: PING, ACK (any sequence and flags), an ACK
//  of the wrong size, an unknown type, nothing at all
static void
s_forge_control (int side, reader_t *reader)
{
    uint8_t body [16] = { 0 };
    size_t size = 0;
    uint64_t delivered = s_h.end [1 - side].recv_count;
    switch (s_u8 (reader) % 6) {
        case 0:
            body [0] = 0x01;
            size = 1;
            break;
        case 1:
        case 2: {
            body [0] = 0x02;
            uint64_t acked;
            switch (s_u8 (reader) % 4) {
                case 0:  acked = delivered; break;
                case 1:  acked = delivered + 1 + s_u8 (reader) % 4; break;
                case 2:  acked = s_u64 (reader); break;
                default: acked = delivered - s_u8 (reader) % 4; break;
            }
            s_put_uint64 (body + 1, acked);
            body [9] = s_u8 (reader);
            size = 10;
            break;
        }
        case 3:
            body [0] = 0x02;
            s_bytes (reader, body + 1, 10);
            size = (s_u8 (reader) & 1)? 9: 11;
            break;
        case 4:
            s_bytes (reader, body, sizeof body);
            size = s_u8 (reader) % (sizeof body + 1);
            break;
        default:
            size = 0;
            break;
    }
    s_forged_input (side, body, size, CURVE_FLAG_COMMAND);
}

//  A frame from an end's history: index from the input; NULL if none
static zframe_t *
s_history (end_t *end, reader_t *reader)
{
    size_t start = s_u8 (reader);
    for (size_t step = 0; step < HISTORY; step++) {
        zframe_t *frame = end->history [(start + step) % HISTORY];
        if (frame)
            return frame;
    }
    return NULL;
}

//  The newest MESSAGE an end sent, still on the wire or in the history
static zframe_t *
s_newest_message (end_t *end)
{
    zframe_t *found = NULL;
    for (zframe_t *frame = (zframe_t *) zlist_first (end->wire); frame;
         frame = (zframe_t *) zlist_next (end->wire))
        if (s_is_message (frame))
            found = frame;
    for (size_t step = 1; !found && step <= HISTORY; step++) {
        zframe_t *frame = end->history [(end->history_next - step)
                                        % HISTORY];
        if (frame && s_is_message (frame))
            found = frame;
    }
    return found;
}

//  RESET to side: echoing a MESSAGE it sent (so it may believe it), or
//  forged
static void
s_reset (int side, int mode, reader_t *reader)
{
    end_t *end = &s_h.end [side];
    zframe_t *reset = NULL;
    zframe_t *source = NULL;
    switch (mode) {
        case 0:
            source = s_history (end, reader);
            break;
        case 1:
            source = s_newest_message (end);
            break;
        case 2:
            reset = zframe_new (NULL, RESET_BYTES);
            CHECK (reset);
            memcpy (zframe_data (reset), "\x05RESET", 6);
            s_bytes (reader, zframe_data (reset) + 6, RESET_BYTES - 6);
            break;
        default:
            source = s_newest_message (end);
            if (source) {
                reset = curve_session_reset_for (source);
                CHECK (reset);
                size_t pos = 6 + s_u8 (reader) % (RESET_BYTES - 6);
                zframe_data (reset) [pos] ^= (uint8_t) (1 | s_u8 (reader));
            }
            source = NULL;
            break;
    }
    if (source) {
        reset = curve_session_reset_for (source);
        if (!s_is_message (source))
            CHECK (reset == NULL);
    }
    if (!reset || !end->session) {
        zframe_destroy (&reset);
        return;
    }
    s_h.benign = false;
    (void) s_input (side, &reset);
}

//  Any octets, maybe behind a command name
static void
s_raw (int side, int variant, reader_t *reader)
{
    static const char *names [] = {
        "", "\x05HELLO", "\x07WELCOME", "\x08INITIATE", "\x05READY",
        ("\x05" "ERROR"), "\x07MESSAGE", "\x05RESET"
    };
    const char *name = (variant & 1)? names [s_u8 (reader) % 8]: "";
    size_t name_size = *name? 1 + (size_t) (uint8_t) name [0]: 0;
    size_t size;
    const uint8_t *data = s_take (reader, s_u16 (reader) % 1024, &size);
    zframe_t *frame = zframe_new (NULL, name_size + size);
    CHECK (frame);
    if (name_size)
        memcpy (zframe_data (frame), name, name_size);
    if (size)
        memcpy (zframe_data (frame) + name_size, data, size);
    s_h.benign = false;
    s_deliver (side, &frame, (variant & 2) != 0);
}

//  A frame seen on the wire (from either end), changed
static void
s_mutate_frame (int side, int variant, reader_t *reader)
{
    end_t *source = &s_h.end [(variant & 1)? side: 1 - side];
    zframe_t *original = s_history (source, reader);
    if (!original)
        return;
    size_t size = zframe_size (original);
    buffer_t copy = { NULL, 0 };
    s_append (&copy, zframe_data (original), size);
    switch (s_u8 (reader) % 4) {
        case 0:
            if (size) {
                size_t pos = s_u16 (reader) % size;
                copy.data [pos] ^= (uint8_t) (1 | s_u8 (reader));
            }
            break;
        case 1:
            copy.size = size? s_u16 (reader) % size: 0;
            break;
        case 2: {
            size_t extra;
            const uint8_t *data = s_take (reader, s_u8 (reader), &extra);
            s_append (&copy, data, extra);
            break;
        }
        default:
            for (int count = s_u8 (reader) % 4 + 1; count && size; count--) {
                size_t pos = s_u16 (reader) % size;
                copy.data [pos] ^= s_u8 (reader);
            }
            break;
    }
    zframe_t *frame = zframe_new (copy.data, copy.size);
    CHECK (frame);
    free (copy.data);
    s_h.benign = false;
    s_deliver (side, &frame, (variant & 2) != 0);
}

//  A frame seen on the wire, again: a handshake command or any frame
static void
s_replay (int side, int variant, reader_t *reader)
{
    end_t *source = &s_h.end [(variant & 2)? side: 1 - side];
    zframe_t *original = NULL;
    if (variant & 1)
        original = source->command [s_u8 (reader) % CMD_KINDS];
    else
        original = s_history (source, reader);
    if (!original)
        return;
    zframe_t *frame = zframe_dup (original);
    CHECK (frame);
    s_h.benign = false;
    s_deliver (side, &frame, (s_u8 (reader) & 1) != 0);
}

//  Time passes
static void
s_time (int side, int variant, reader_t *reader)
{
    int64_t step;
    switch (variant) {
        case 0:
            step = s_u8 (reader);
            break;
        case 1:
            step = s_u16 (reader);
            break;
        case 2: {
            int settings [4] = {
                s_h.config.retransmit, s_h.config.heartbeat_interval,
                s_h.config.heartbeat_timeout, s_h.config.handshake_timeout
            };
            step = settings [s_u8 (reader) % 4] + (s_u8 (reader) % 3) - 1;
            if (step < 0)
                step = 0;
            break;
        }
        default:
            step = 0;
            break;
    }
    s_h.now += step;
    s_tick (side);
    if (variant == 3)
        s_tick (1 - side);
}

//  The server's verdict
static void
s_verdict (int variant, reader_t *reader)
{
    end_t *end = &s_h.end [SERVER];
    if (!end->session)
        return;
    bool auth = curve_session_phase (end->session) == CURVE_SESSION_AUTH;
    if (variant < 2) {
        int rc = curve_session_allow (end->session, s_h.now);
        CHECK (rc == (auth? 0: -1));
        if (auth)
            CHECK (curve_session_phase (end->session) == CURVE_SESSION_READY);
        s_after ();
        return;
    }
    char reason [300];
    const char *text = NULL;
    if (variant == 2) {
        size_t size = s_u16 (reader) % (sizeof reason);
        s_bytes (reader, (uint8_t *) reason, size);
        reason [size] = 0;
        text = reason;
    }
    size_t sends = end->sends;
    int rc = curve_session_deny (end->session, text);
    CHECK (rc == (auth? 0: -1));
    if (auth) {
        CHECK (curve_session_phase (end->session) == CURVE_SESSION_FAILED);
        CHECK (end->sends == sends + 1);
        //  The reason goes as it is if ERROR can carry it
        const char *expected = text? text: "";
        size_t length = strlen (expected);
        bool valid = length <= CURVE_REASON_MAX;
        for (size_t index = 0; index < length; index++)
            if ((uint8_t) expected [index] < 0x20
            ||  (uint8_t) expected [index] > 0x7E)
                valid = false;
        if (!valid)
            expected = "access denied";
        zframe_t *error = (zframe_t *) zlist_last (end->wire);
        CHECK (error && s_frame_is (error, "\x05" "ERROR"));
        CHECK (zframe_size (error) == CURVE_ERROR_MIN_BYTES
                                      + strlen (expected));
        CHECK (memcmp (zframe_data (error) + CURVE_ERROR_MIN_BYTES, expected,
                       strlen (expected)) == 0);
    }
    s_after ();
}

//  Property look-ups (and, on the server, local properties)
static void
s_property (int side, int variant, reader_t *reader)
{
    end_t *end = &s_h.end [side];
    if (!end->session)
        return;
    char name [257];
    size_t size = s_u8 (reader);
    s_bytes (reader, (uint8_t *) name, size);
    name [size] = 0;
    if (side == SERVER && (variant & 1)) {
        char value [65];
        size_t value_size = s_u8 (reader) % (sizeof value);
        s_bytes (reader, (uint8_t *) value, value_size);
        value [value_size] = 0;
        curve_session_set_property (end->session, name, value);
        s_h.properties_set = true;
        //  Names match without case
        for (char *scan = name; *scan; scan++)
            if (variant & 2)
                *scan = (char) toupper ((unsigned char) *scan);
        char *found = curve_session_property (end->session, name);
        CHECK (found && streq (found, value));
        free (found);
        return;
    }
    char *found = curve_session_property (end->session, name);
    if (found)
        CHECK (strlen (found) < 1024);
    free (found);
    //  The client's metadata, at the server, once INITIATE verified
    curve_session_phase_t phase = curve_session_phase (end->session);
    if (side == SERVER && !end->converted && !s_h.properties_set
    && (phase == CURVE_SESSION_AUTH || phase == CURVE_SESSION_READY)) {
        found = curve_session_property (end->session,
                                        (variant & 2)? "USER-AGENT":
                                                       "user-agent");
        CHECK (found && streq (found, "curve fuzz"));
        free (found);
    }
}

//  Take the messages waiting to be sent; maybe send them again
static void
s_take_pending (int side, int variant)
{
    end_t *end = &s_h.end [side];
    if (!end->session)
        return;
    size_t backlog = curve_session_backlog (end->session);
    zlist_t *pending = curve_session_take_pending (end->session);
    CHECK (pending);
    size_t count = zlist_size (pending);
    CHECK (curve_session_backlog (end->session) == backlog - count);
    end->taken += count;
    zmsg_t *msg;
    while ((msg = (zmsg_t *) zlist_pop (pending))) {
        if ((variant & 1)
        &&  curve_session_send (end->session, &msg, s_h.now) == 0) {
            CHECK (msg == NULL);
            end->accepted++;
        }
        zmsg_destroy (&msg);
    }
    zlist_destroy (&pending);
    s_after ();
    if (variant & 2)
        s_flush (side);
}


//  ERROR and RESET commands built outside any session
static void
s_helpers (int variant, reader_t *reader)
{
    if (variant < 2) {
        char reason [300];
        size_t size = s_u16 (reader) % sizeof reason;
        s_bytes (reader, (uint8_t *) reason, size);
        reason [size] = 0;
        const char *text = variant? NULL: reason;
        zframe_t *frame = curve_session_error_command (text);
        CHECK (frame);
        size_t length = text? strlen (text): 0;
        if (length > CURVE_REASON_MAX)
            length = CURVE_REASON_MAX;
        CHECK (zframe_size (frame) == CURVE_ERROR_MIN_BYTES + length);
        const uint8_t *data = zframe_data (frame);
        CHECK (memcmp (data, "\x05" "ERROR", 6) == 0 && data [6] == length);
        for (size_t index = 0; index < length; index++) {
            uint8_t c = (uint8_t) text [index];
            CHECK (data [7 + index] == ((c >= 0x20 && c < 0x7F)? c: '?'));
        }
        zframe_destroy (&frame);
    }
    else {
        size_t size;
        const uint8_t *data = s_take (reader, s_u16 (reader) % 256, &size);
        zframe_t *frame = zframe_new (NULL, size + (variant == 3? 8: 0));
        CHECK (frame);
        if (variant == 3)
            memcpy (zframe_data (frame), "\x07MESSAGE", 8);
        if (size)
            memcpy (zframe_data (frame) + (variant == 3? 8: 0), data, size);
        zframe_t *reset = curve_session_reset_for (frame);
        CHECK ((reset != NULL) == s_is_message (frame));
        if (reset) {
            CHECK (zframe_size (reset) == RESET_BYTES);
            CHECK (memcmp (zframe_data (reset), "\x05RESET", 6) == 0);
            CHECK (memcmp (zframe_data (reset) + 6, zframe_data (frame) + 8,
                           24) == 0);
        }
        zframe_destroy (&reset);
        zframe_destroy (&frame);
    }
}


//  --------------------------------------------------------------------------
//  One input

static void
s_setup (reader_t *reader)
{
    memset (&s_h, 0, sizeof s_h);
    s_h.inputting = -1;
    s_h.benign = true;
    s_h.now = 1000000;
    s_h.io.send = s_on_send;
    s_h.io.deliver = s_on_deliver;
    s_h.io.event = s_on_event;
    s_h.io.restart = s_on_restart;
    for (int side = 0; side < 2; side++) {
        s_h.end [side].wire = zlist_new ();
        CHECK (s_h.end [side].wire);
        s_h.end [side].next_id = 1;
    }
    int options = s_u8 (reader);
    int phase = options & 3;
    bool wrong_key = (options & 0x10) != 0;
    bool small_limit = (options & 0x20) != 0;
    s_h.keep_failed = (options & 0x08) != 0;

    curve_session_config_t *config = &s_h.config;
    curve_session_config_default (config);
    config->peer_mode = (options & 0x04) != 0;
    config->window = s_u8 (reader) % 40;   //  0 stands for 1
    config->ack_every = 1 + s_u8 (reader) % 8;
    config->queue_limit = 1 + s_u8 (reader) % 16;
    if (options & 0x40) {
        config->window_bytes = 1 + s_u16 (reader);
        config->retransmit = 1 + s_u16 (reader) % 5000;
        config->heartbeat_interval = 1 + s_u16 (reader) % 5000;
        config->heartbeat_timeout = 1 + s_u16 (reader) % 10000;
        config->handshake_timeout = 1 + s_u16 (reader) % 10000;
    }
    if (small_limit)
        config->metadata_max = s_u8 (reader);
    bool normal = !wrong_key && !small_limit;
    memcpy (s_h.server_key, wrong_key? s_client_public: s_server_public,
            KEY_BYTES);

    //  The client sends HELLO at once; a server session waits for it
    end_t *client = &s_h.end [CLIENT];
    client->session = curve_session_new_client (
        s_client_public, s_client_secret, s_h.server_key, s_client_metadata,
        config, &s_h.io, client, s_h.now);
    CHECK (client->session);
    client->restarted = false;
    CHECK (curve_session_phase (client->session) == CURVE_SESSION_HANDSHAKE);
    CHECK (zlist_size (client->wire) == 1);
    s_server_create ();
    if (phase >= 1)
        s_pump (CLIENT);            //  HELLO
    if (phase >= 2) {
        s_pump (SERVER);            //  WELCOME
        s_pump (CLIENT);            //  INITIATE
        if (normal)
            CHECK (s_phase (SERVER) == CURVE_SESSION_AUTH);
    }
    if (phase >= 3 && s_phase (SERVER) == CURVE_SESSION_AUTH) {
        CHECK (curve_session_allow (s_h.end [SERVER].session, s_h.now) == 0);
        s_after ();
        s_pump (SERVER);            //  READY
        CHECK (s_phase (CLIENT) == CURVE_SESSION_READY);
        //  A message each way and their ACKs, so that there is traffic
        //  to replay
        s_send (CLIENT, true, NULL);
        s_send (SERVER, true, NULL);
        s_pump_all ();
        s_tick (CLIENT);
        s_tick (SERVER);
        s_pump_all ();
        CHECK (s_h.end [SERVER].recv_count == 1);
        CHECK (s_h.end [CLIENT].recv_count == 1);
        CHECK (s_backlog (CLIENT) == 0 && s_backlog (SERVER) == 0);
    }
    s_check_ends ();
}

//  Let the pair run with no faults until it is quiet: a READY pair must
//  then hold nothing unacknowledged (unless forgeries confused the count)
static void
s_drain (void)
{
    int64_t step = 30001;
    if (s_h.config.retransmit >= step)
        step = s_h.config.retransmit + 1;
    for (int round = 0; round < DRAIN_ROUNDS; round++) {
        s_pump_all ();
        if (s_phase (SERVER) == CURVE_SESSION_AUTH) {
            CHECK (curve_session_allow (s_h.end [SERVER].session,
                                        s_h.now) == 0);
            s_after ();
            s_pump_all ();
        }
        if (s_phase (CLIENT) == CURVE_SESSION_READY
        &&  s_phase (SERVER) == CURVE_SESSION_READY
        &&  s_backlog (CLIENT) == 0 && s_backlog (SERVER) == 0
        &&  zlist_size (s_h.end [CLIENT].wire) == 0
        &&  zlist_size (s_h.end [SERVER].wire) == 0)
            break;
        s_h.now += step;
        s_tick (SERVER);
        s_tick (CLIENT);
        s_check_ends ();
    }
    s_check_ends ();
    if (s_phase (CLIENT) == CURVE_SESSION_READY
    &&  s_phase (SERVER) == CURVE_SESSION_READY
    &&  !s_h.end [SERVER].converted) {
        for (int side = 0; side < 2; side++)
            if (!s_h.end [side].tainted)
                CHECK (s_backlog (side) == 0);
    }
}

static void
s_teardown (void)
{
    //  Destroying a session reports what it held as LOST
    end_t *client = &s_h.end [CLIENT];
    size_t backlog = s_backlog (CLIENT);
    size_t lost = client->lost;
    curve_session_destroy (&client->session);
    CHECK (client->session == NULL);
    CHECK (client->lost - lost == backlog);
    curve_session_destroy (&client->session);       //  A no-op now
    s_server_destroy ();
    s_check_ends ();
    for (int side = 0; side < 2; side++) {
        end_t *end = &s_h.end [side];
        zframe_t *frame;
        while ((frame = (zframe_t *) zlist_pop (end->wire)))
            zframe_destroy (&frame);
        zlist_destroy (&end->wire);
        for (size_t slot = 0; slot < HISTORY; slot++)
            zframe_destroy (&end->history [slot]);
        for (int kind = 0; kind < CMD_KINDS; kind++)
            zframe_destroy (&end->command [kind]);
        for (size_t id = 0; id <= IDS_MAX; id++)
            zmsg_destroy (&end->sent [id]);
    }
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
    s_strict = getenv ("CURVE_FUZZ_STRICT") != NULL;
    s_seed_keypair (s_server_public, s_server_secret, 'S');
    s_seed_keypair (s_client_public, s_client_secret, 'C');
    uint8_t other_public [KEY_BYTES];
    s_seed_keypair (other_public, s_other_secret, 'O');
    //  Metadata lives as long as the process (sessions borrow it)
    s_client_metadata = zhashx_new ();
    s_server_metadata = zhashx_new ();
    CHECK (s_client_metadata && s_server_metadata);
    zhashx_insert (s_client_metadata, "User-Agent", (void *) "curve fuzz");
    zhashx_insert (s_client_metadata, "Identity", (void *) "client");
    zhashx_insert (s_server_metadata, "Socket-Type", (void *) "ROUTER");
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
    s_setup (&reader);
    for (int count = 0; count < OPS_MAX && reader.size; count++) {
        uint8_t octet = s_u8 (&reader);
        op_t op = (op_t) ((octet & 0x1F) % OP_COUNT);
        int side = (octet >> 5) & 1;
        int variant = octet >> 6;
        if (s_trace)
            fprintf (stderr, "trace: %s %s/%d (now %" PRId64 ")\n",
                     s_op_names [op], s_side_name (side), variant, s_h.now);
        switch (op) {
            case OP_PUMP:
                s_pump (side);
                break;
            case OP_SEND:
                s_send (side, (variant & 1) == 0, &reader);
                break;
            case OP_FORGE_APP:
                s_forge_app (side, variant, &reader);
                break;
            case OP_TICK:
                s_time (side, variant, &reader);
                break;
            case OP_PUMP_ALL:
                s_pump_all ();
                break;
            case OP_FORGE_PAYLOAD:
                s_forge_payload (side, variant, &reader);
                break;
            case OP_FORGE_CONTROL:
                s_forge_control (side, &reader);
                break;
            case OP_RESET:
                //  Mostly to the client; a server heeds it in peer mode
                s_reset (side == SERVER && variant == 3? SERVER: CLIENT,
                         s_u8 (&reader) % 4, &reader);
                break;
            case OP_RAW:
                s_raw (side, variant, &reader);
                break;
            case OP_MUTATE:
                s_mutate_frame (side, variant, &reader);
                break;
            case OP_REPLAY:
                s_replay (side, variant, &reader);
                break;
            case OP_DROP: {
                zframe_t *frame = (zframe_t *) zlist_pop (
                    s_h.end [side].wire);
                zframe_destroy (&frame);
                break;
            }
            case OP_DUP: {
                zframe_t *frame = (zframe_t *) zlist_first (
                    s_h.end [side].wire);
                if (frame) {
                    frame = zframe_dup (frame);
                    CHECK (frame);
                    s_deliver (1 - side, &frame, false);
                }
                break;
            }
            case OP_SWAP: {
                zlist_t *wire = s_h.end [side].wire;
                zframe_t *first = (zframe_t *) zlist_pop (wire);
                zframe_t *second = (zframe_t *) zlist_pop (wire);
                if (first)
                    CHECK (zlist_push (wire, first) == 0);
                if (second)
                    CHECK (zlist_push (wire, second) == 0);
                break;
            }
            case OP_VERDICT:
                s_verdict (variant, &reader);
                break;
            case OP_RESTART:
                //  The server closes the session, or crashes (its last
                //  ACK never goes out)
                s_h.crashing = (variant & 1) != 0;
                s_server_destroy ();
                s_h.crashing = false;
                break;
            case OP_PROPERTY:
                s_property (side, variant, &reader);
                break;
            case OP_TAKE:
                s_take_pending (side, variant);
                break;
            default:
                s_helpers (variant, &reader);
                break;
        }
        s_check_ends ();
    }
    s_drain ();
    s_teardown ();
    return 0;
}
