/*  =========================================================================
    curve_adversarial - attacks on a real curve_server and curve_client

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_adversarial attacks a real curve_server and a real curve_client
    over tcp://127.0.0.1 and checks two things for every attack: that it
    is refused, with the reason visible where the protocol gives one (a
    server monitor event, a client REJECTED or HANDSHAKE-FAILED event, an
    ERROR command back to the attacker) or silence where the protocol says
    nothing is answered; and that an honest curve_client talking to the
    same server at the same time is not affected: after every case its
    message goes to the server and back, and its monitor shows nothing
    alarming.
@discuss
    Attackers are raw DEALER sockets that send hand-made frames: genuine
    commands made with curve_codec (or, where the codec would refuse to
    make them, with libsodium directly: we know every key), then damaged.
    The cases come from libzmq's CURVE and ZAP tests (wrong sizes, names,
    versions, flipped cookie and box octets, bogus and zero keys, large
    metadata, ZAP status codes and absent handlers) and go beyond them:
    replays of HELLO, INITIATE and MESSAGE, cookies from other sessions
    and expired ones, a vouch for another server, metadata whose sizes lie,
    a fake server that answers HELLO with nonsense, the short nonce near
    its end, and 10,000 garbage frames while honest traffic flows.

    "Silence" is checked without sleeping: after the frame that must get
    no answer, the attacker sends a genuine HELLO on the same socket. The
    server reads a connection in order, so if the first answer is that
    HELLO's WELCOME, the frame before it got none. Every other wait is on
    an event or a message, bounded (WAIT ms); no fixed ports.

    Output: one line per case ("case: outcome"), then "N passed, N failed".
    Exit status 1 on any failure. -v traces the sockets to stderr.
    CURVE_ADV_SEED=n repeats the garbage of a given run.
@end
*/

#include "../src/curve_classes.h"

//  Leaks are visible inside a case only to LeakSanitizer (ASan builds) and
//  valgrind's memcheck; a plain build cannot tell
#if defined (__SANITIZE_ADDRESS__)
#   define ADV_LSAN 1
#elif defined (__has_feature)
#   if __has_feature (address_sanitizer)
#       define ADV_LSAN 1
#   endif
#endif
#if defined (ADV_LSAN)
#   include <sanitizer/lsan_interface.h>
#endif
#if defined (__has_include)
#   if __has_include (<valgrind/memcheck.h>)
#       include <valgrind/memcheck.h>
#       define ADV_VALGRIND 1
#   endif
#endif

//  Setup invariants are checked in every build, NDEBUG or not
#undef NDEBUG
#include <assert.h>

#define WAIT            20000       //  ms: the longest any one wait lasts
#define ZAP_ENDPOINT    "inproc://zeromq.zap.01"
#define FLOOD_FRAMES    10000       //  Garbage frames in the flood
#define FLOOD_HONEST    100         //  Honest messages during the flood

static bool s_verbose = false;
static int s_passed = 0;
static int s_failed = 0;


//  --------------------------------------------------------------------------
//  Results: each case fills one; CHECK records the first failure and
//  leaves the case through its "done" label, where it cleans up

typedef struct {
    bool ok;                        //  No check failed
    char outcome [600];             //  What happened, or why it failed
} result_t;

static void
s_fail (result_t *r, int line, const char *format, ...)
{
    if (!r->ok)
        return;                     //  The first failure is the one told
    char why [500];
    va_list args;
    va_start (args, format);
    vsnprintf (why, sizeof why, format, args);
    va_end (args);
    r->ok = false;
    snprintf (r->outcome, sizeof r->outcome, "FAIL: %s (line %d)", why, line);
}

static void
s_outcome (result_t *r, const char *format, ...)
{
    if (!r->ok)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (r->outcome, sizeof r->outcome, format, args);
    va_end (args);
}

#define CHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            s_fail (r, __LINE__, __VA_ARGS__); \
            goto done; \
        } \
    } while (0)


//  --------------------------------------------------------------------------
//  The world the attacks happen in: a server, an honest client connected
//  to it, and what some cases leave for the next

typedef struct {
    zcert_t *server_cert;           //  The server's keys
    zcert_t *honest_cert;           //  The honest client's keys
    zcert_t *attacker_cert;         //  Keys raw attackers use
    curve_server_t *server;         //  Under attack
    char *endpoint;                 //  Where it listens
    curve_client_t *honest;         //  Must not notice anything
    char *honest_routing;           //  Its routing frame on the server
    int honest_count;               //  Honest messages sent
    int stray;                      //  Messages the server app did not
                                    //  expect (from attack sessions)
    //  A raw session completed by hand, for the replay cases
    zcert_t *raw_cert;
    zsock_t *raw_dealer;
    curve_codec_t *raw_codec;
    zframe_t *raw_hello;            //  Its HELLO, as sent
    zframe_t *raw_welcome;          //  The WELCOME it got
    zframe_t *raw_initiate;         //  Its INITIATE, as sent
    zframe_t *raw_ready;            //  The READY it got
    zframe_t *raw_last;             //  Its last MESSAGE, as sent
    char *raw_routing;              //  Its routing frame on the server
    uint64_t raw_sequence;          //  Its last message sequence number
    //  A fake server and the client it lies to
    zcert_t *fake_cert;
    zsock_t *fake;                  //  ROUTER playing server
    char *fake_endpoint;
    zframe_t *fake_rid;             //  Routing id of the attempt served
    zframe_t *fake_hello;           //  A HELLO not answered yet
    curve_client_t *victim;         //  The client lied to
} world_t;


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

//  Receive one message with a time limit (0: only if one is there)
static zmsg_t *
s_recv_within (zsock_t *sock, int timeout)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    zmsg_t *msg = zpoller_wait (poller, timeout)? zmsg_recv (sock): NULL;
    zpoller_destroy (&poller);
    return msg;
}

//  Throw away whatever is waiting on a socket; returns how many messages
static int
s_drain (zsock_t *sock)
{
    int count = 0;
    zmsg_t *msg;
    while ((msg = s_recv_within (sock, 0))) {
        zmsg_destroy (&msg);
        count++;
    }
    return count;
}

static bool
s_is (zframe_t *frame, const char *name)
{
    size_t length = strlen (name);
    return frame && zframe_size (frame) >= length
        && memcmp (zframe_data (frame), name, length) == 0;
}

//  The name of the command in a frame, for reports
static const char *
s_command_name (zframe_t *frame)
{
    if (!frame)
        return "nothing";
    const char *names [] = { "\x05HELLO", "\x07WELCOME", "\x08INITIATE",
                             "\x05READY", "\x07MESSAGE", "\005ERROR",
                             "\x05RESET" };
    for (size_t index = 0; index < sizeof names / sizeof names [0]; index++)
        if (s_is (frame, names [index]))
            return names [index] + 1;
    return "garbage";
}

//  The reason in an ERROR command ("" if it is not a valid ERROR)
static void
s_error_reason (zframe_t *frame, char *reason, size_t size)
{
    reason [0] = 0;
    if (!s_is (frame, "\005ERROR") || zframe_size (frame) < 7)
        return;
    size_t length = zframe_data (frame) [6];
    if (zframe_size (frame) != 7 + length)
        return;
    if (length >= size)
        length = size - 1;
    memcpy (reason, zframe_data (frame) + 7, length);
    reason [length] = 0;
}

//  The next command a raw socket gets (the last frame of its next
//  message), skipping MESSAGEs (ACKs to a ready attacker); NULL if none
//  comes in time
static zframe_t *
s_command_within (zsock_t *dealer, int timeout)
{
    int64_t deadline = zclock_mono () + timeout;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        zmsg_t *msg = s_recv_within (dealer, left > 0? (int) left: 0);
        if (!msg)
            return NULL;
        zframe_t *last = zmsg_last (msg);
        zmsg_remove (msg, last);
        zmsg_destroy (&msg);
        if (!s_is (last, "\x07MESSAGE"))
            return last;
        zframe_destroy (&last);
    }
}

static zsock_t *
s_dealer (const char *endpoint)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert (dealer);
    zsock_set_linger (dealer, 0);
    zsock_set_sndtimeo (dealer, WAIT);
    int rc = zsock_connect (dealer, "%s", endpoint);
    assert (rc == 0);
    (void) rc;
    return dealer;
}

//  Send a copy of a frame as a one-frame message
static int
s_send_copy (zsock_t *sock, zframe_t *frame)
{
    zframe_t *copy = zframe_dup (frame);
    int rc = zframe_send (&copy, sock, 0);
    zframe_destroy (&copy);
    return rc;
}

//  Take the codec's pending command as a frame
static zframe_t *
s_codec_frame (curve_codec_t *codec)
{
    size_t size;
    const uint8_t *data = curve_codec_send_buf (codec, &size);
    if (!data)
        return NULL;
    zframe_t *frame = zframe_new (data, size);
    curve_codec_send_ack (codec);
    return frame;
}

static curve_codec_t *
s_client_codec (zcert_t *cert, zcert_t *server_cert)
{
    curve_codec_t *codec = curve_codec_new_client (
        zcert_public_key (cert), zcert_secret_key (cert),
        zcert_public_key (server_cert));
    assert (codec);
    return codec;
}

//  An application MESSAGE as curve sessions frame it (RFC/framing.md):
//  sequence number, then one frame of text
static zframe_t *
s_app_message (curve_codec_t *codec, uint64_t sequence, const char *text)
{
    size_t length = strlen (text);
    size_t payload_size = 8 + 4 + length;
    size_t size = curve_codec_message_size (payload_size);
    zframe_t *frame = zframe_new (NULL, size);
    uint8_t *payload = zframe_data (frame) + CURVE_MESSAGE_PAYLOAD_OFFSET;
    s_put_uint64 (payload, sequence);
    payload [8] = (uint8_t) (length >> 24);
    payload [9] = (uint8_t) (length >> 16);
    payload [10] = (uint8_t) (length >> 8);
    payload [11] = (uint8_t) length;
    memcpy (payload + 12, text, length);
    if (curve_codec_encode (codec, payload, payload_size, 0,
                            zframe_data (frame), size)) {
        zframe_destroy (&frame);
        return NULL;
    }
    return frame;
}

//  Wait for a server event named in names whose routing frame is match
//  (or match + "/n"), or any if match is NULL. Returns the name, or NULL
//  after timeout ms.
static char *
s_server_event (curve_server_t *server, const char *names, const char *match,
                int timeout, char **routing_p, char **detail_p)
{
    int64_t deadline = zclock_mono () + timeout;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left < 0)
            return NULL;
        char *routing = NULL, *detail = NULL;
        char *name = curve_monitor_wait (curve_server_monitor (server), names,
                                         (int) left, true, &routing, &detail);
        if (!name)
            return NULL;
        size_t length = match? strlen (match): 0;
        bool matches = !match
            || (routing && strncmp (routing, match, length) == 0
                && (routing [length] == 0 || routing [length] == '/'));
        if (matches) {
            if (routing_p)
                *routing_p = routing;
            else
                zstr_free (&routing);
            if (detail_p)
                *detail_p = detail;
            else
                zstr_free (&detail);
            return name;
        }
        zstr_free (&name);
        zstr_free (&routing);
        zstr_free (&detail);
    }
}

//  Wait for a client event: CONNECTED or REJECTED (others are skipped)
static char *
s_client_outcome (curve_client_t *client, const char *names, char **detail_p)
{
    return curve_client_wait (client, names, WAIT, detail_p);
}

static curve_client_t *
s_client_new (zcert_t *cert, const char *endpoint, const char *server_key,
              int handshake_timeout)
{
    curve_client_t *client = curve_client_new (cert);
    if (!client)
        return NULL;
    curve_client_set_verbose (client, s_verbose);
    curve_client_set_handshake_timeout (client, handshake_timeout);
    curve_client_set_heartbeat (client, 1000, 60000);
    if (curve_client_connect (client, endpoint, server_key))
        curve_client_destroy (&client);
    return client;
}

//  The next application message the server hands over; its routing frame
//  and first frame's text are returned (caller frees), NULL on time-out
static char *
s_server_take (world_t *w, int timeout, char **text_p)
{
    zmsg_t *msg = s_recv_within (curve_server_sock (w->server), timeout);
    if (!msg)
        return NULL;
    char *routing = zmsg_popstr (msg);
    *text_p = zmsg_popstr (msg);
    zmsg_destroy (&msg);
    return routing;
}

//  The next message from a given client session; others are counted as
//  strays. Returns its text (caller frees) or NULL.
static char *
s_server_take_from (world_t *w, const char *routing, int timeout)
{
    int64_t deadline = zclock_mono () + timeout;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left < 0)
            return NULL;
        char *text = NULL;
        char *from = s_server_take (w, (int) left, &text);
        if (!from)
            return NULL;
        bool ours = streq (from, routing);
        zstr_free (&from);
        if (ours)
            return text;
        w->stray++;
        zstr_free (&text);
    }
}


//  --------------------------------------------------------------------------
//  The honest client: one message to the server and back, after every case

static bool
s_honest_check (world_t *w, char *note, size_t note_size)
{
    char text [64];
    snprintf (text, sizeof text, "honest %d", ++w->honest_count);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, text);
    if (curve_client_send (w->honest, &msg)) {
        zmsg_destroy (&msg);
        snprintf (note, note_size, "the honest client cannot send");
        return false;
    }
    char *got = s_server_take_from (w, w->honest_routing, WAIT);
    bool same = got && streq (got, text);
    zstr_free (&got);
    if (!same) {
        snprintf (note, note_size, "the server did not get '%s' in %d ms",
                  text, WAIT);
        return false;
    }
    msg = zmsg_new ();
    zmsg_addstr (msg, w->honest_routing);
    zmsg_addstr (msg, text);
    if (curve_server_send (w->server, &msg)) {
        zmsg_destroy (&msg);
        snprintf (note, note_size, "the server cannot send to it");
        return false;
    }
    msg = s_recv_within (curve_client_sock (w->honest), WAIT);
    same = msg && zframe_streq (zmsg_first (msg), text);
    zmsg_destroy (&msg);
    if (!same) {
        snprintf (note, note_size, "'%s' did not come back in %d ms", text,
                  WAIT);
        return false;
    }
    //  Nothing alarming on its monitor either
    while ((msg = s_recv_within (curve_client_monitor (w->honest), 0))) {
        char *name = zmsg_popstr (msg);
        char *detail = zmsg_popstr (msg);
        bool bad = name && (streq (name, "REJECTED")
                        ||  streq (name, "HANDSHAKE-FAILED")
                        ||  streq (name, "LOST") || streq (name, "REFUSED")
                        ||  streq (name, "DISCONNECTED"));
        if (bad)
            snprintf (note, note_size, "honest client reported %s %s", name,
                      detail? detail: "");
        zstr_free (&name);
        zstr_free (&detail);
        zmsg_destroy (&msg);
        if (bad)
            return false;
    }
    return true;
}


//  --------------------------------------------------------------------------
//  Worlds

static void
s_world_destroy (world_t **w_p)
{
    world_t *w = *w_p;
    if (!w)
        return;
    curve_client_destroy (&w->honest);
    curve_client_destroy (&w->victim);
    curve_server_destroy (&w->server);
    zsock_destroy (&w->raw_dealer);
    zsock_destroy (&w->fake);
    curve_codec_destroy (&w->raw_codec);
    zframe_destroy (&w->raw_hello);
    zframe_destroy (&w->raw_welcome);
    zframe_destroy (&w->raw_initiate);
    zframe_destroy (&w->raw_ready);
    zframe_destroy (&w->raw_last);
    zframe_destroy (&w->fake_rid);
    zframe_destroy (&w->fake_hello);
    zcert_destroy (&w->attacker_cert);
    zcert_destroy (&w->raw_cert);
    zcert_destroy (&w->fake_cert);
    zstr_free (&w->endpoint);
    zstr_free (&w->honest_routing);
    zstr_free (&w->raw_routing);
    zstr_free (&w->fake_endpoint);
    free (w);
    *w_p = NULL;
}

//  A server on an ephemeral port and an honest client connected to it.
//  Returns NULL (and says why) if that cannot be done.
static world_t *
s_world_new (zcert_t *server_cert, zcert_t *honest_cert, int zap_timeout)
{
    world_t *w = (world_t *) zmalloc (sizeof (world_t));
    assert (w);
    w->server_cert = server_cert;
    w->honest_cert = honest_cert;
    w->attacker_cert = zcert_new ();
    w->server = curve_server_new (server_cert);
    assert (w->server);
    curve_server_set_verbose (w->server, s_verbose);
    //  Attack sessions may linger; the honest one pings every second
    curve_server_set_client_ttl (w->server, 120000);
    if (zap_timeout)
        curve_server_set_zap_timeout (w->server, zap_timeout);
    if (curve_server_bind (w->server, "tcp://127.0.0.1:*") <= 0) {
        fprintf (stderr, "cannot bind the server\n");
        s_world_destroy (&w);
        return NULL;
    }
    w->endpoint = curve_server_endpoint (w->server);
    w->honest = s_client_new (honest_cert, w->endpoint,
                              zcert_public_txt (server_cert), 60000);
    char *detail = NULL;
    char *name = w->honest? s_client_outcome (w->honest, "CONNECTED|REJECTED",
                                              &detail): NULL;
    bool connected = name && streq (name, "CONNECTED");
    if (!connected)
        fprintf (stderr, "the honest client did not connect: %s %s\n",
                 name? name: "(no event)", detail? detail: "");
    zstr_free (&name);
    zstr_free (&detail);
    if (connected) {
        name = s_server_event (w->server, "CONNECTED",
                               zcert_public_txt (honest_cert), WAIT,
                               &w->honest_routing, NULL);
        connected = name != NULL;
        zstr_free (&name);
    }
    if (!connected) {
        s_world_destroy (&w);
        return NULL;
    }
    return w;
}


//  --------------------------------------------------------------------------
//  Running a case: its outcome, then the honest client's round trip

typedef void (case_fn) (world_t *w, result_t *r, const void *arg);

static void
s_run (world_t *w, const char *name, case_fn *fn, const void *arg)
{
    result_t result = { true, "done" };
    if (w && w->server)
        s_drain (curve_server_monitor (w->server));
    fn (w, &result, arg);
    char honest [300] = "";
    if (w && w->honest) {
        char note [240] = "";
        if (s_honest_check (w, note, sizeof note))
            snprintf (honest, sizeof honest, "; honest client unaffected");
        else {
            snprintf (honest, sizeof honest, "; FAIL: honest client: %s",
                      note);
            result.ok = false;
        }
    }
    printf ("%s: %s%s\n", name, result.outcome, honest);
    fflush (stdout);
    if (result.ok)
        s_passed++;
    else
        s_failed++;
}


//  --------------------------------------------------------------------------
//  A CurveZMQ client made by hand with libsodium, for what the codec will
//  not make: a vouch for another server, metadata whose sizes lie

typedef struct {
    uint8_t public_key [32];        //  C
    uint8_t secret_key [32];        //  c
    uint8_t transient_public [32];  //  C'
    uint8_t transient_secret [32];  //  c'
    uint8_t server_key [32];        //  S
    uint8_t server_transient [32];  //  S', from WELCOME
    uint8_t cookie [96];            //  From WELCOME
} hand_t;

static void
s_short_nonce (uint8_t *nonce, const char *prefix, uint64_t value)
{
    memcpy (nonce, prefix, 16);
    s_put_uint64 (nonce + 16, value);
}

static void
s_long_nonce (uint8_t *nonce, const char *prefix, const uint8_t *random)
{
    memcpy (nonce, prefix, 8);
    memcpy (nonce + 8, random, 16);
}

static void
s_hand_init (hand_t *hand, const uint8_t *server_key)
{
    memset (hand, 0, sizeof *hand);
    crypto_box_keypair (hand->public_key, hand->secret_key);
    crypto_box_keypair (hand->transient_public, hand->transient_secret);
    memcpy (hand->server_key, server_key, 32);
}

//  HELLO: name, version 1.0, 72 zeros, C', short nonce 1, Box [64 zeros]
static zframe_t *
s_hand_hello (hand_t *hand)
{
    zframe_t *frame = zframe_new (NULL, CURVE_HELLO_BYTES);
    uint8_t *out = zframe_data (frame);
    memset (out, 0, CURVE_HELLO_BYTES);
    memcpy (out, "\x05HELLO", 6);
    out [6] = 1;
    memcpy (out + 80, hand->transient_public, 32);
    s_put_uint64 (out + 112, 1);
    uint8_t nonce [24];
    s_short_nonce (nonce, "CurveZMQHELLO---", 1);
    uint8_t zeros [64] = { 0 };
    int rc = crypto_box_easy (out + 120, zeros, sizeof zeros, nonce,
                              hand->server_key, hand->transient_secret);
    assert (rc == 0);
    (void) rc;
    return frame;
}

//  Open WELCOME: S' and the cookie. Returns 0 or -1.
static int
s_hand_welcome (hand_t *hand, zframe_t *welcome)
{
    if (zframe_size (welcome) != CURVE_WELCOME_BYTES
    ||  !s_is (welcome, "\x07WELCOME"))
        return -1;
    const uint8_t *data = zframe_data (welcome);
    uint8_t nonce [24];
    s_long_nonce (nonce, "WELCOME-", data + 8);
    uint8_t plain [128];
    if (crypto_box_open_easy (plain, data + 24, 144, nonce, hand->server_key,
                              hand->transient_secret))
        return -1;
    memcpy (hand->server_transient, plain, 32);
    memcpy (hand->cookie, plain + 32, 96);
    return 0;
}

//  INITIATE: name, cookie, short nonce 2, Box [C + vouch + metadata](C'->S')
//  where the vouch vouches C' for vouch_key (the server's key, or not)
static zframe_t *
s_hand_initiate (hand_t *hand, const uint8_t *vouch_key,
                 const uint8_t *metadata, size_t metadata_size)
{
    size_t plain_size = 128 + metadata_size;
    uint8_t *plain = (uint8_t *) malloc (plain_size);
    assert (plain);
    memcpy (plain, hand->public_key, 32);
    uint8_t *vouch = plain + 32;
    randombytes_buf (vouch, 16);
    uint8_t vouch_plain [64];
    memcpy (vouch_plain, hand->transient_public, 32);
    memcpy (vouch_plain + 32, vouch_key, 32);
    uint8_t nonce [24];
    s_long_nonce (nonce, "VOUCH---", vouch);
    int rc = crypto_box_easy (vouch + 16, vouch_plain, sizeof vouch_plain,
                              nonce, hand->server_transient, hand->secret_key);
    assert (rc == 0);
    if (metadata_size)
        memcpy (plain + 128, metadata, metadata_size);
    zframe_t *frame = zframe_new (NULL, CURVE_INITIATE_MIN_BYTES
                                        + metadata_size);
    uint8_t *out = zframe_data (frame);
    memcpy (out, "\x08INITIATE", 9);
    memcpy (out + 9, hand->cookie, 96);
    s_put_uint64 (out + 105, 2);
    s_short_nonce (nonce, "CurveZMQINITIATE", 2);
    rc = crypto_box_easy (out + 113, plain, plain_size, nonce,
                          hand->server_transient, hand->transient_secret);
    assert (rc == 0);
    (void) rc;
    free (plain);
    return frame;
}


//  --------------------------------------------------------------------------
//  Silence, checked without sleeping: a genuine HELLO on the same socket
//  must get the first answer, its WELCOME. Returns the name of what came
//  first ("WELCOME" if all is well).

static const char *
s_first_answer_after (world_t *w, zsock_t *dealer)
{
    curve_codec_t *codec = s_client_codec (w->attacker_cert, w->server_cert);
    zframe_t *hello = s_codec_frame (codec);
    zframe_send (&hello, dealer, 0);
    zframe_destroy (&hello);
    curve_codec_destroy (&codec);
    zframe_t *reply = s_command_within (dealer, WAIT);
    const char *name = s_command_name (reply);
    if (reply && s_is (reply, "\x07WELCOME")
    &&  zframe_size (reply) != CURVE_WELCOME_BYTES)
        name = "WELCOME of the wrong size";
    zframe_destroy (&reply);
    return name;
}


//  --------------------------------------------------------------------------
//  Damaged HELLO and INITIATE (libzmq test_security_curve and more)

typedef enum {
    CUT,                            //  One octet short
    GROW,                           //  One octet more
    RENAME,                         //  Last letter of the name changed
    VERSION,                        //  HELLO version 2.0
    PADDING,                        //  HELLO padding not zero
    ZERO_KEY,                       //  HELLO C' all zero (low order)
    HIGH_BIT,                       //  HELLO C' not canonical
    FLIP_BOX,                       //  One octet of the box flipped
    FLIP_COOKIE                     //  One octet of the cookie flipped
} damage_t;

typedef struct {
    bool initiate;                  //  Damage INITIATE, else HELLO
    damage_t damage;
    const char *expect;             //  ERROR reason contains this, or
                                    //  NULL: no answer at all
} attack_t;

static void
s_damage (zframe_t **frame_p, bool initiate, damage_t damage)
{
    zframe_t *frame = *frame_p;
    uint8_t *data = zframe_data (frame);
    size_t size = zframe_size (frame);
    switch (damage) {
        case CUT:
            *frame_p = zframe_new (data, size - 1);
            zframe_destroy (&frame);
            break;
        case GROW: {
            zframe_t *grown = zframe_new (NULL, size + 1);
            memcpy (zframe_data (grown), data, size);
            zframe_data (grown) [size] = 0;
            *frame_p = grown;
            zframe_destroy (&frame);
            break;
        }
        case RENAME:
            data [initiate? 8: 5] = 'X';
            break;
        case VERSION:
            data [6] = 2;
            break;
        case PADDING:
            data [8 + 40] = 1;
            break;
        case ZERO_KEY:
            memset (data + 80, 0, 32);
            break;
        case HIGH_BIT:
            data [80 + 31] |= 0x80;
            break;
        case FLIP_BOX:
            //  HELLO: inside the signature box; INITIATE: inside its box
            data [initiate? 9 + 96 + 8 + 40: 120 + 40] ^= 0x01;
            break;
        case FLIP_COOKIE:
            data [9 + 16 + 20] ^= 0x01;
            break;
    }
}

static void
s_case_damaged (world_t *w, result_t *r, const void *arg)
{
    const attack_t *attack = (const attack_t *) arg;
    zsock_t *dealer = s_dealer (w->endpoint);
    curve_codec_t *codec = s_client_codec (w->attacker_cert, w->server_cert);
    zframe_t *frame = s_codec_frame (codec);
    zframe_t *reply = NULL;
    if (attack->initiate) {
        //  A genuine HELLO first; the codec makes INITIATE from WELCOME
        CHECK (zframe_send (&frame, dealer, 0) == 0, "cannot send HELLO");
        reply = s_command_within (dealer, WAIT);
        CHECK (reply && s_is (reply, "\x07WELCOME"),
               "HELLO got %s, not WELCOME", s_command_name (reply));
        CHECK (curve_codec_recv (codec, zframe_data (reply),
                                 zframe_size (reply)) == 0,
               "the codec refused the server's WELCOME: %s",
               curve_codec_reason (codec));
        zframe_destroy (&reply);
        frame = s_codec_frame (codec);
        CHECK (frame, "the codec made no INITIATE");
    }
    s_damage (&frame, attack->initiate, attack->damage);
    size_t size = zframe_size (frame);
    CHECK (zframe_send (&frame, dealer, 0) == 0, "cannot send");
    if (attack->expect) {
        reply = s_command_within (dealer, WAIT);
        char reason [256];
        s_error_reason (reply, reason, sizeof reason);
        CHECK (reply && s_is (reply, "\005ERROR"),
               "%zu octets got %s, not ERROR", size, s_command_name (reply));
        CHECK (strstr (reason, attack->expect),
               "ERROR reason '%s' lacks '%s'", reason, attack->expect);
        s_outcome (r, "refused: %zu octets answered with ERROR \"%s\"",
                   size, reason);
    }
    else {
        const char *first = s_first_answer_after (w, dealer);
        CHECK (streq (first, "WELCOME"),
               "the next HELLO's first answer was %s: the %zu octets were "
               "answered", first, size);
        s_outcome (r, "ignored: %zu octets got no answer (a HELLO after it "
                   "got the first answer, WELCOME)", size);
    }
done:
    zframe_destroy (&frame);
    zframe_destroy (&reply);
    curve_codec_destroy (&codec);
    zsock_destroy (&dealer);
}


//  --------------------------------------------------------------------------
//  Leaks so far: definitely lost octets (valgrind, which prints the new
//  ones with their stacks), or 1 if LeakSanitizer finds any (it prints
//  them, with their stacks); -1 if this build cannot tell

static long
s_leaks (void)
{
#if defined (ADV_VALGRIND)
    if (RUNNING_ON_VALGRIND) {
        unsigned long leaked = 0, dubious = 0, reachable = 0, suppressed = 0;
        VALGRIND_DO_ADDED_LEAK_CHECK;
        VALGRIND_COUNT_LEAKS (leaked, dubious, reachable, suppressed);
        (void) dubious;
        (void) reachable;
        (void) suppressed;
        return (long) leaked;
    }
#endif
#if defined (ADV_LSAN)
    return __lsan_do_recoverable_leak_check ()? 1: 0;
#else
    return -1;
#endif
}


//  --------------------------------------------------------------------------
//  Keys (libzmq test_security_curve)

static void
s_case_zero_server_key (world_t *w, result_t *r, const void *arg)
{
    long leaks_before = s_leaks ();
    long leaks_after = -1;
    curve_client_t *client = curve_client_new (w->attacker_cert);
    uint8_t zeros [32] = { 0 };
    char zeros_z85 [41];
    zmq_z85_encode (zeros_z85, zeros, 32);
    CHECK (client, "cannot create a client");
    CHECK (curve_client_connect (client, w->endpoint, zeros_z85) == -1,
           "curve_client_connect accepted the all-zero server key %s",
           zeros_z85);
    CHECK (curve_client_connect_key (client, w->endpoint, zeros) == -1,
           "curve_client_connect_key accepted the all-zero server key");
    CHECK (curve_codec_new_client (zcert_public_key (w->attacker_cert),
                                   zcert_secret_key (w->attacker_cert),
                                   zeros) == NULL,
           "curve_codec_new_client accepted the all-zero server key");
    //  Refused connects must leave nothing behind once the client goes
    curve_client_destroy (&client);
    leaks_after = s_leaks ();
    CHECK (leaks_before != 0 || leaks_after <= 0, "memory leaked by two "
           "refused connects on one client (%s; the stack is in the leak "
           "report on stderr)", leaks_after == 1? "LeakSanitizer":
           "valgrind: definitely lost");
    CHECK (leaks_after <= leaks_before, "%ld octets definitely lost by two "
           "refused connects on one client (valgrind)",
           leaks_after - leaks_before);
    s_outcome (r, "refused: curve_client_connect (Z85 and binary) returns "
               "-1; %s", leaks_before < 0? "leaks not checked (needs ASan "
               "or valgrind)": "nothing leaked");
done:
    curve_client_destroy (&client);
}

static void
s_case_key_length (world_t *w, result_t *r, const void *arg)
{
    curve_client_t *client = curve_client_new (w->attacker_cert);
    char key [48];
    CHECK (client, "cannot create a client");
    const char *good = zcert_public_txt (w->server_cert);
    //  39 characters
    snprintf (key, sizeof key, "%.39s", good);
    CHECK (curve_client_connect (client, w->endpoint, key) == -1,
           "a 39-character key was accepted");
    //  41 characters
    snprintf (key, sizeof key, "%s0", good);
    CHECK (curve_client_connect (client, w->endpoint, key) == -1,
           "a 41-character key was accepted");
    //  40 characters, one not in the Z85 alphabet
    snprintf (key, sizeof key, "%s", good);
    key [17] = '~';
    CHECK (curve_client_connect (client, w->endpoint, key) == -1,
           "a 40-character key with '~' (not Z85) was accepted");
    //  The right key still works on the same client afterwards
    CHECK (curve_client_connect (client, w->endpoint, good) == 0,
           "the right key was refused after the wrong ones");
    char *detail = NULL;
    char *name = s_client_outcome (client, "CONNECTED|REJECTED", &detail);
    bool connected = name && streq (name, "CONNECTED");
    zstr_free (&name);
    zstr_free (&detail);
    CHECK (connected, "the client did not connect with the right key");
    s_outcome (r, "refused: 39, 41 and non-Z85 40 characters return -1; the "
               "right key then connects");
done:
    curve_client_destroy (&client);
}

//  A client whose certificate is made from these keys: refused when made,
//  or by the server (the client hears REJECTED with the reason)
static void
s_refused_cert (world_t *w, result_t *r, const uint8_t *public_key,
                const uint8_t *secret_key, const char *expect)
{
    zcert_t *cert = zcert_new_from (public_key, secret_key);
    curve_client_t *client = NULL;
    char *name = NULL, *detail = NULL;
    CHECK (cert, "zcert_new_from failed");
    client = s_client_new (cert, w->endpoint,
                           zcert_public_txt (w->server_cert), WAIT);
    if (!client) {
        s_outcome (r, "refused: curve_client_new/connect gives NULL/-1");
        goto done;
    }
    name = s_client_outcome (client, "CONNECTED|REJECTED", &detail);
    CHECK (name, "neither CONNECTED nor REJECTED in %d ms", WAIT);
    CHECK (streq (name, "REJECTED"), "the server let it in (%s)", name);
    CHECK (strstr (detail, expect), "REJECTED '%s' lacks '%s'", detail,
           expect);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "after rejection");
    int rc = curve_client_send (client, &msg);
    zmsg_destroy (&msg);
    CHECK (rc == -1, "a rejected client can still send");
    s_outcome (r, "refused by the server: client REJECTED \"%s\"", detail);
done:
    zstr_free (&name);
    zstr_free (&detail);
    curve_client_destroy (&client);
    zcert_destroy (&cert);
}

static void
s_case_zero_secret (world_t *w, result_t *r, const void *arg)
{
    uint8_t zeros [32] = { 0 };
    zcert_t *cert = zcert_new_from (zcert_public_key (w->attacker_cert),
                                    zeros);
    curve_client_t *client = curve_client_new (cert);
    curve_server_t *server = curve_server_new (cert);
    CHECK (client == NULL, "curve_client_new accepted an all-zero secret key");
    CHECK (server == NULL, "curve_server_new accepted an all-zero secret key");
    s_outcome (r, "refused: curve_client_new and curve_server_new give NULL");
done:
    curve_client_destroy (&client);
    curve_server_destroy (&server);
    zcert_destroy (&cert);
}

static void
s_case_zero_public (world_t *w, result_t *r, const void *arg)
{
    uint8_t zeros [32] = { 0 };
    s_refused_cert (w, r, zeros, zcert_secret_key (w->attacker_cert),
                    "vouch");
}

static void
s_case_bogus_keypair (world_t *w, result_t *r, const void *arg)
{
    //  A real public key, and a secret key that is not its own
    zcert_t *other = zcert_new ();
    s_refused_cert (w, r, zcert_public_key (w->attacker_cert),
                    zcert_secret_key (other), "vouch");
    zcert_destroy (&other);
}

static void
s_case_garbage_server_key (world_t *w, result_t *r, const void *arg)
{
    //  Valid Z85, but not this server's key
    const char *garbage = "0000111122223333444455556666777788889999";
    curve_client_t *client = curve_client_new (w->attacker_cert);
    char *name = NULL, *detail = NULL;
    CHECK (client, "cannot create a client");
    curve_client_set_handshake_timeout (client, WAIT);
    if (curve_client_connect (client, w->endpoint, garbage) == -1) {
        s_outcome (r, "refused: curve_client_connect returns -1");
        goto done;
    }
    name = s_client_outcome (client, "CONNECTED|REJECTED", &detail);
    CHECK (name && streq (name, "REJECTED"), "got %s, not REJECTED",
           name? name: "no event");
    CHECK (strstr (detail, "wrong server key"), "REJECTED '%s' does not "
           "say 'wrong server key'", detail);
    s_outcome (r, "refused: client REJECTED \"%s\"", detail);
done:
    zstr_free (&name);
    zstr_free (&detail);
    curve_client_destroy (&client);
}


//  --------------------------------------------------------------------------
//  Metadata (libzmq: large metadata), and metadata whose sizes lie

static void
s_case_large_metadata (world_t *w, result_t *r, const void *arg)
{
    size_t size = 500 * 1024;
    char *value = (char *) malloc (size + 1);
    assert (value);
    for (size_t index = 0; index < size; index++)
        value [index] = 'a' + (char) (index % 26);
    value [size] = 0;
    zcert_t *cert = zcert_new ();
    curve_client_t *client = curve_client_new (cert);
    char *name = NULL, *detail = NULL, *routing = NULL, *seen = NULL;
    CHECK (client, "cannot create a client");
    curve_client_set_handshake_timeout (client, WAIT);
    curve_client_set_heartbeat (client, 1000, 60000);
    CHECK (curve_client_set_metadata (client, "Big", value) == 0,
           "curve_client_set_metadata refused 500 KiB");
    CHECK (curve_client_connect (client, w->endpoint,
                                 zcert_public_txt (w->server_cert)) == 0,
           "cannot connect");
    name = s_client_outcome (client, "CONNECTED|REJECTED", &detail);
    CHECK (name && streq (name, "CONNECTED"), "the client got %s %s",
           name? name: "no event", detail? detail: "");
    zstr_free (&name);
    name = s_server_event (w->server, "CONNECTED", zcert_public_txt (cert),
                           WAIT, &routing, NULL);
    CHECK (name, "no CONNECTED event on the server");
    seen = curve_server_property (w->server, routing, "big");
    CHECK (seen, "curve_server_property found no 'big'");
    CHECK (strlen (seen) == size && memcmp (seen, value, size) == 0,
           "the property came back as %zu octets, not the %zu sent",
           strlen (seen), size);
    s_outcome (r, "accepted: %zu-octet property read back whole with "
               "curve_server_property", size);
done:
    zstr_free (&name);
    zstr_free (&detail);
    zstr_free (&routing);
    zstr_free (&seen);
    curve_client_destroy (&client);
    zcert_destroy (&cert);
    free (value);
}

static void
s_case_metadata_over_limit (world_t *w, result_t *r, const void *arg)
{
    size_t size = CURVE_METADATA_MAX_DEFAULT + 1;
    char *value = (char *) malloc (size + 1);
    assert (value);
    memset (value, 'x', size);
    value [size] = 0;
    zcert_t *cert = zcert_new ();
    curve_client_t *client = curve_client_new (cert);
    char *name = NULL, *detail = NULL;
    CHECK (client, "cannot create a client");
    curve_client_set_handshake_timeout (client, WAIT);
    CHECK (curve_client_set_metadata (client, "Big", value) == 0,
           "curve_client_set_metadata refused 1 MiB");
    CHECK (curve_client_connect (client, w->endpoint,
                                 zcert_public_txt (w->server_cert)) == 0,
           "cannot connect");
    name = s_client_outcome (client, "CONNECTED|REJECTED", &detail);
    CHECK (name && streq (name, "REJECTED"), "the client got %s %s",
           name? name: "no event", detail? detail: "");
    CHECK (strstr (detail, "over the limit"), "REJECTED '%s' lacks "
           "'over the limit'", detail);
    s_outcome (r, "refused: client REJECTED \"%s\"", detail);
done:
    zstr_free (&name);
    zstr_free (&detail);
    curve_client_destroy (&client);
    zcert_destroy (&cert);
    free (value);
}

//  A hand-made handshake: HELLO, WELCOME, then an INITIATE with this vouch
//  and metadata. Returns the first answer to INITIATE (caller destroys).
static zframe_t *
s_hand_attempt (world_t *w, result_t *r, zsock_t *dealer, hand_t *hand,
                const uint8_t *vouch_key, const uint8_t *metadata,
                size_t metadata_size)
{
    zframe_t *reply = NULL;
    zframe_t *frame = s_hand_hello (hand);
    CHECK (zframe_send (&frame, dealer, 0) == 0, "cannot send HELLO");
    reply = s_command_within (dealer, WAIT);
    CHECK (reply && s_hand_welcome (hand, reply) == 0,
           "the hand-made HELLO got %s, not a WELCOME that opens",
           s_command_name (reply));
    zframe_destroy (&reply);
    frame = s_hand_initiate (hand, vouch_key, metadata, metadata_size);
    CHECK (zframe_send (&frame, dealer, 0) == 0, "cannot send INITIATE");
    reply = s_command_within (dealer, WAIT);
done:
    zframe_destroy (&frame);
    return reply;
}

static void
s_case_hand_control (world_t *w, result_t *r, const void *arg)
{
    //  Proves the hand-made commands are right, so that the cases built
    //  on them fail for the reason they say
    hand_t hand;
    s_hand_init (&hand, zcert_public_key (w->server_cert));
    zsock_t *dealer = s_dealer (w->endpoint);
    const uint8_t metadata [] = "\x0bSocket-Type\x00\x00\x00\x06" "DEALER";
    zframe_t *reply = s_hand_attempt (w, r, dealer, &hand,
                                      hand.server_key, metadata,
                                      sizeof metadata - 1);
    char *name = NULL;
    char key [41];
    zmq_z85_encode (key, hand.public_key, 32);
    CHECK (r->ok, "%s", r->outcome);
    CHECK (reply && s_is (reply, "\x05READY"), "INITIATE got %s, not READY",
           s_command_name (reply));
    name = s_server_event (w->server, "CONNECTED", key, WAIT, NULL, NULL);
    CHECK (name, "no CONNECTED event for the hand-made client");
    s_outcome (r, "accepted: READY and a CONNECTED event (the hand-made "
               "commands are right)");
done:
    zstr_free (&name);
    zframe_destroy (&reply);
    zsock_destroy (&dealer);
}

static void
s_case_vouch_other_server (world_t *w, result_t *r, const void *arg)
{
    hand_t hand;
    s_hand_init (&hand, zcert_public_key (w->server_cert));
    zcert_t *other = zcert_new ();
    zsock_t *dealer = s_dealer (w->endpoint);
    zframe_t *reply = s_hand_attempt (w, r, dealer, &hand,
                                      zcert_public_key (other), NULL, 0);
    char reason [256];
    s_error_reason (reply, reason, sizeof reason);
    CHECK (r->ok, "%s", r->outcome);
    CHECK (reply && s_is (reply, "\005ERROR"), "INITIATE got %s, not "
           "ERROR", s_command_name (reply));
    CHECK (strstr (reason, "vouch"), "ERROR '%s' lacks 'vouch'", reason);
    s_outcome (r, "refused: ERROR \"%s\"", reason);
done:
    zframe_destroy (&reply);
    zsock_destroy (&dealer);
    zcert_destroy (&other);
}

typedef struct {
    const char *bytes;              //  Metadata on the wire
    size_t size;
} metadata_t;

static void
s_case_lying_metadata (world_t *w, result_t *r, const void *arg)
{
    //  Each is shorter than what its own size fields announce
    metadata_t lies [] = {
        //  Value size 4096, 4 octets of value
        { "\x04Name\x00\x00\x10\x00" "abcd", 13 },
        //  Name length 200, 10 octets of name
        { "\xc8Socket-Typ", 11 },
        //  Value size 2^32-16 (over 2^31), 1 octet of value
        { "\x04Name\xff\xff\xff\xf0" "x", 10 },
        //  A good property, then a value size cut short
        { "\x04Name\x00\x00\x00\x01" "x\x04Next\x00\x00", 17 },
        //  Name length 0
        { "\x00\x00\x00\x00\x00", 5 }
    };
    size_t count = sizeof lies / sizeof lies [0];
    zsock_t *dealer = NULL;
    zframe_t *reply = NULL;
    for (size_t index = 0; index < count; index++) {
        hand_t hand;
        s_hand_init (&hand, zcert_public_key (w->server_cert));
        dealer = s_dealer (w->endpoint);
        reply = s_hand_attempt (w, r, dealer, &hand, hand.server_key,
                                (const uint8_t *) lies [index].bytes,
                                lies [index].size);
        char reason [256];
        s_error_reason (reply, reason, sizeof reason);
        CHECK (r->ok, "%s", r->outcome);
        CHECK (reply && s_is (reply, "\005ERROR"),
               "lie %zu: INITIATE got %s, not ERROR", index + 1,
               s_command_name (reply));
        CHECK (strstr (reason, "metadata"),
               "lie %zu: ERROR '%s' lacks 'metadata'", index + 1, reason);
        zframe_destroy (&reply);
        zsock_destroy (&dealer);
        s_outcome (r, "refused: %zu kinds of lying sizes, each answered "
                   "ERROR \"%s\"", count, reason);
    }
done:
    zframe_destroy (&reply);
    zsock_destroy (&dealer);
}


//  --------------------------------------------------------------------------
//  Cookies: expired, replayed, from another session

static void
s_case_expired_cookie (world_t *w, result_t *r, const void *arg)
{
    //  Runs first, when no other handshake is pending on the server, so
    //  the EXPIRED event is this one's
    curve_server_set_pending_ttl (w->server, 1000);
    zsock_t *dealer = s_dealer (w->endpoint);
    curve_codec_t *codec = s_client_codec (w->attacker_cert, w->server_cert);
    zframe_t *frame = s_codec_frame (codec);
    zframe_t *reply = NULL;
    char *name = NULL, *detail = NULL;
    const char *first = NULL;
    CHECK (zframe_send (&frame, dealer, 0) == 0, "cannot send HELLO");
    reply = s_command_within (dealer, WAIT);
    CHECK (reply && s_is (reply, "\x07WELCOME"), "HELLO got %s",
           s_command_name (reply));
    CHECK (curve_codec_recv (codec, zframe_data (reply),
                             zframe_size (reply)) == 0, "bad WELCOME");
    frame = s_codec_frame (codec);
    name = s_server_event (w->server, "EXPIRED", NULL, WAIT, NULL, &detail);
    CHECK (name, "no EXPIRED event in %d ms with a pending TTL of 1 s",
           WAIT);
    //  The cookie's key is gone with the session: INITIATE finds nothing
    CHECK (zframe_send (&frame, dealer, 0) == 0, "cannot send INITIATE");
    first = s_first_answer_after (w, dealer);
    CHECK (!streq (first, "READY"), "INITIATE with an expired cookie was "
           "accepted (READY)");
    CHECK (streq (first, "WELCOME") || streq (first, "ERROR"),
           "after the expired INITIATE the first answer was %s", first);
    s_outcome (r, "%s: server EXPIRED \"%s\", then the INITIATE %s",
               streq (first, "ERROR")? "refused": "ignored", detail,
               streq (first, "ERROR")? "got ERROR": "got no answer");
done:
    curve_server_set_pending_ttl (w->server, 60000);
    zstr_free (&name);
    zstr_free (&detail);
    zframe_destroy (&frame);
    zframe_destroy (&reply);
    curve_codec_destroy (&codec);
    zsock_destroy (&dealer);
}

static void
s_case_cookie_other_session (world_t *w, result_t *r, const void *arg)
{
    //  Two handshakes at once; A sends B's INITIATE (B's cookie)
    zsock_t *dealer_a = s_dealer (w->endpoint);
    zsock_t *dealer_b = s_dealer (w->endpoint);
    curve_codec_t *codec_a = s_client_codec (w->attacker_cert, w->server_cert);
    curve_codec_t *codec_b = s_client_codec (w->attacker_cert, w->server_cert);
    zframe_t *frame = NULL, *reply = NULL, *initiate_b = NULL;
    char reason [256] = "";
    frame = s_codec_frame (codec_a);
    CHECK (zframe_send (&frame, dealer_a, 0) == 0, "cannot send");
    frame = s_codec_frame (codec_b);
    CHECK (zframe_send (&frame, dealer_b, 0) == 0, "cannot send");
    reply = s_command_within (dealer_a, WAIT);
    CHECK (reply && s_is (reply, "\x07WELCOME"), "A got %s",
           s_command_name (reply));
    zframe_destroy (&reply);
    reply = s_command_within (dealer_b, WAIT);
    CHECK (reply && s_is (reply, "\x07WELCOME"), "B got %s",
           s_command_name (reply));
    CHECK (curve_codec_recv (codec_b, zframe_data (reply),
                             zframe_size (reply)) == 0, "bad WELCOME");
    zframe_destroy (&reply);
    initiate_b = s_codec_frame (codec_b);
    CHECK (s_send_copy (dealer_a, initiate_b) == 0, "cannot send");
    reply = s_command_within (dealer_a, WAIT);
    s_error_reason (reply, reason, sizeof reason);
    CHECK (reply && s_is (reply, "\005ERROR"), "B's INITIATE on A got %s",
           s_command_name (reply));
    CHECK (strstr (reason, "cookie"), "ERROR '%s' lacks 'cookie'", reason);
    zframe_destroy (&reply);
    //  B's own session did not suffer
    CHECK (s_send_copy (dealer_b, initiate_b) == 0, "cannot send");
    reply = s_command_within (dealer_b, WAIT);
    CHECK (reply && s_is (reply, "\x05READY"), "B's INITIATE on B got %s",
           s_command_name (reply));
    s_outcome (r, "refused: ERROR \"%s\"; the other session still completes "
               "(READY)", reason);
done:
    zframe_destroy (&frame);
    zframe_destroy (&reply);
    zframe_destroy (&initiate_b);
    curve_codec_destroy (&codec_a);
    curve_codec_destroy (&codec_b);
    zsock_destroy (&dealer_a);
    zsock_destroy (&dealer_b);
}


//  --------------------------------------------------------------------------
//  Replays on one session made by hand: HELLO twice, INITIATE again after
//  READY, a MESSAGE twice, a forged MESSAGE with the highest nonce, and
//  the short nonce run to its end

static void
s_case_replayed_hello (world_t *w, result_t *r, const void *arg)
{
    w->raw_cert = zcert_new ();
    w->raw_dealer = s_dealer (w->endpoint);
    w->raw_codec = s_client_codec (w->raw_cert, w->server_cert);
    w->raw_hello = s_codec_frame (w->raw_codec);
    zframe_t *again = NULL, *frame = NULL;
    char *name = NULL, *text = NULL;
    int connected = 0;
    CHECK (s_send_copy (w->raw_dealer, w->raw_hello) == 0, "cannot send");
    w->raw_welcome = s_command_within (w->raw_dealer, WAIT);
    CHECK (w->raw_welcome && s_is (w->raw_welcome, "\x07WELCOME"),
           "HELLO got %s", s_command_name (w->raw_welcome));
    //  The same bytes again
    CHECK (s_send_copy (w->raw_dealer, w->raw_hello) == 0, "cannot send");
    again = s_command_within (w->raw_dealer, WAIT);
    CHECK (again && s_is (again, "\x07WELCOME"), "the repeated HELLO got %s",
           s_command_name (again));
    CHECK (zframe_eq (again, w->raw_welcome), "the repeated HELLO got a "
           "different WELCOME: a new session was made");
    //  The handshake completes, once
    CHECK (curve_codec_recv (w->raw_codec, zframe_data (w->raw_welcome),
                             zframe_size (w->raw_welcome)) == 0,
           "bad WELCOME");
    w->raw_initiate = s_codec_frame (w->raw_codec);
    CHECK (s_send_copy (w->raw_dealer, w->raw_initiate) == 0, "cannot send");
    w->raw_ready = s_command_within (w->raw_dealer, WAIT);
    CHECK (w->raw_ready && s_is (w->raw_ready, "\x05READY"),
           "INITIATE got %s", s_command_name (w->raw_ready));
    CHECK (curve_codec_recv (w->raw_codec, zframe_data (w->raw_ready),
                             zframe_size (w->raw_ready)) == 0, "bad READY");
    name = s_server_event (w->server, "CONNECTED",
                           zcert_public_txt (w->raw_cert), WAIT,
                           &w->raw_routing, NULL);
    CHECK (name, "no CONNECTED event");
    zstr_free (&name);
    //  One message through it; by the time it arrives any second
    //  CONNECTED would be on the monitor already
    frame = s_app_message (w->raw_codec, ++w->raw_sequence, "first");
    CHECK (frame && s_send_copy (w->raw_dealer, frame) == 0, "cannot send");
    zframe_destroy (&w->raw_last);
    w->raw_last = frame;
    frame = NULL;
    text = s_server_take_from (w, w->raw_routing, WAIT);
    CHECK (text && streq (text, "first"), "the server app got %s",
           text? text: "nothing");
    while ((name = s_server_event (w->server, "CONNECTED",
                                   zcert_public_txt (w->raw_cert), 0,
                                   NULL, NULL))) {
        connected++;
        zstr_free (&name);
    }
    CHECK (connected == 0, "%d more CONNECTED events for this client",
           connected);
    s_outcome (r, "answered with the same WELCOME, no second session (one "
               "CONNECTED, messages flow)");
done:
    zstr_free (&name);
    zstr_free (&text);
    zframe_destroy (&again);
    zframe_destroy (&frame);
}

//  Read what the server sends the raw session until an ACK that covers
//  sequence (decoded with the raw codec). Commands other than MESSAGE seen
//  before it were sent before that message was processed: the first is
//  kept in *answer_p, and their number returned; -1 if no such ACK came.
static int
s_raw_until_ack (world_t *w, uint64_t sequence, zframe_t **answer_p)
{
    int answers = 0;
    int64_t deadline = zclock_mono () + WAIT;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        zmsg_t *msg = left > 0? s_recv_within (w->raw_dealer, (int) left):
                                NULL;
        if (!msg)
            return -1;
        zframe_t *frame = zmsg_pop (msg);
        zmsg_destroy (&msg);
        if (!s_is (frame, "\x07MESSAGE")) {
            if (answers++ == 0 && answer_p)
                *answer_p = frame;
            else
                zframe_destroy (&frame);
            continue;
        }
        uint8_t *data;
        size_t size;
        int flags;
        bool acked = curve_codec_decode (w->raw_codec, zframe_data (frame),
                                         zframe_size (frame), &data, &size,
                                         &flags) == 0
                  && (flags & CURVE_FLAG_COMMAND) && size == 10
                  && data [0] == 0x02;
        uint64_t covered = 0;
        for (int index = 0; acked && index < 8; index++)
            covered = (covered << 8) | data [1 + index];
        zframe_destroy (&frame);
        if (acked && covered >= sequence)
            return answers;
    }
}

static void
s_case_replayed_initiate_ready (world_t *w, result_t *r, const void *arg)
{
    //  A repeat must not make a new session. RFC/framing.md says a repeat
    //  gets the same answer again; once the peer sends MESSAGEs the server
    //  forgets that answer (it evidently arrived), so nothing is also right
    zframe_t *answer = NULL, *frame = NULL;
    char *name = NULL, *text = NULL;
    int answers;
    CHECK (w->raw_routing, "no session (an earlier case failed)");
    CHECK (s_send_copy (w->raw_dealer, w->raw_initiate) == 0, "cannot send");
    //  A message behind it: what the server answers to the INITIATE comes
    //  before the ACK for this message
    frame = s_app_message (w->raw_codec, ++w->raw_sequence, "second");
    CHECK (frame && s_send_copy (w->raw_dealer, frame) == 0, "cannot send");
    zframe_destroy (&w->raw_last);
    w->raw_last = frame;
    frame = NULL;
    text = s_server_take_from (w, w->raw_routing, WAIT);
    CHECK (text && streq (text, "second"), "the server app got %s",
           text? text: "nothing");
    answers = s_raw_until_ack (w, w->raw_sequence, &answer);
    CHECK (answers >= 0, "no ACK for the message after the INITIATE");
    CHECK (answers == 0 || (answers == 1 && zframe_eq (answer, w->raw_ready)),
           "the repeated INITIATE got %d answers, the first %s (not the same "
           "READY)", answers, s_command_name (answer));
    name = s_server_event (w->server, "CONNECTED",
                           zcert_public_txt (w->raw_cert), 0, NULL, NULL);
    CHECK (!name, "a second CONNECTED event");
    s_outcome (r, "recognised as a repeat: no new session, the session goes "
               "on; answered with %s", answers? "the same READY":
               "nothing (the peer already sends MESSAGEs, so the server "
               "forgot READY; RFC/framing.md says it answers READY again)");
done:
    zstr_free (&name);
    zstr_free (&text);
    zframe_destroy (&answer);
    zframe_destroy (&frame);
}

static void
s_case_replayed_message (world_t *w, result_t *r, const void *arg)
{
    char *name = NULL, *detail = NULL, *text = NULL;
    zframe_t *frame = NULL;
    CHECK (w->raw_routing, "no session (an earlier case failed)");
    CHECK (s_send_copy (w->raw_dealer, w->raw_last) == 0, "cannot send");
    name = s_server_event (w->server, "REFUSED", w->raw_routing, WAIT, NULL,
                           &detail);
    CHECK (name, "no REFUSED event for the replayed MESSAGE");
    CHECK (strstr (detail, "replayed"), "REFUSED '%s' lacks 'replayed'",
           detail);
    //  Not delivered: the next message the app gets is the next one sent
    frame = s_app_message (w->raw_codec, ++w->raw_sequence, "third");
    CHECK (frame && s_send_copy (w->raw_dealer, frame) == 0, "cannot send");
    text = s_server_take_from (w, w->raw_routing, WAIT);
    CHECK (text && streq (text, "third"), "the server app got %s after the "
           "replay", text? text: "nothing");
    s_outcome (r, "refused: REFUSED \"%s\"; not delivered, the session goes "
               "on", detail);
done:
    zstr_free (&name);
    zstr_free (&detail);
    zstr_free (&text);
    zframe_destroy (&frame);
}

static void
s_case_forged_top_nonce (world_t *w, result_t *r, const void *arg)
{
    //  A forgery with nonce 2^64-1 must not move the replay window: a
    //  genuine MESSAGE with a smaller nonce still gets through after it
    char *name = NULL, *detail = NULL, *text = NULL;
    zframe_t *frame = NULL;
    CHECK (w->raw_routing, "no session (an earlier case failed)");
    frame = zframe_new (NULL, CURVE_MESSAGE_MIN_BYTES + 20);
    memcpy (zframe_data (frame), "\x07MESSAGE", 8);
    s_put_uint64 (zframe_data (frame) + 8, UINT64_MAX);
    randombytes_buf (zframe_data (frame) + 16, zframe_size (frame) - 16);
    CHECK (zframe_send (&frame, w->raw_dealer, 0) == 0, "cannot send");
    name = s_server_event (w->server, "REFUSED", w->raw_routing, WAIT, NULL,
                           &detail);
    CHECK (name, "no REFUSED event for the forged MESSAGE");
    CHECK (strstr (detail, "did not open"), "REFUSED '%s' lacks 'did not "
           "open'", detail);
    frame = s_app_message (w->raw_codec, ++w->raw_sequence, "fourth");
    CHECK (frame && s_send_copy (w->raw_dealer, frame) == 0, "cannot send");
    text = s_server_take_from (w, w->raw_routing, WAIT);
    CHECK (text && streq (text, "fourth"), "the server app got %s after the "
           "forgery", text? text: "nothing");
    s_outcome (r, "refused: REFUSED \"%s\"; the window did not move, the "
               "next genuine MESSAGE arrives", detail);
done:
    zstr_free (&name);
    zstr_free (&detail);
    zstr_free (&text);
    zframe_destroy (&frame);
}

static void
s_case_nonce_wrap (world_t *w, result_t *r, const void *arg)
{
    zframe_t *frame = NULL;
    char *text = NULL;
    uint8_t *out = NULL;
    CHECK (w->raw_routing, "no session (an earlier case failed)");
    curve_codec_test_set_send_nonce (w->raw_codec, UINT64_MAX - 1);
    frame = s_app_message (w->raw_codec, ++w->raw_sequence, "last");
    CHECK (frame, "the codec would not send nonce 2^64-2: %s",
           curve_codec_reason (w->raw_codec));
    uint8_t *wire = zframe_data (frame);
    uint64_t nonce = 0;
    for (int index = 0; index < 8; index++)
        nonce = (nonce << 8) | wire [8 + index];
    CHECK (nonce == UINT64_MAX - 1, "the MESSAGE carries nonce %" PRIu64,
           nonce);
    CHECK (s_send_copy (w->raw_dealer, frame) == 0, "cannot send");
    text = s_server_take_from (w, w->raw_routing, WAIT);
    CHECK (text && streq (text, "last"), "the server did not accept nonce "
           "2^64-2 (got %s)", text? text: "nothing");
    //  No more: 2^64-1 is never sent, the counter never wraps
    size_t size = curve_codec_message_size (1);
    out = (uint8_t *) malloc (size);
    assert (out);
    CHECK (curve_codec_encode (w->raw_codec, "x", 1, 0, out, size) == -1,
           "the codec encoded after nonce 2^64-2");
    CHECK (curve_codec_last_error (w->raw_codec) == CURVE_ERR_NONCE_EXHAUSTED,
           "encode failed with %s, not CURVE_ERR_NONCE_EXHAUSTED",
           curve_codec_error_name (curve_codec_last_error (w->raw_codec)));
    s_outcome (r, "nonce 2^64-2 accepted by the server, then encode refuses "
               "(CURVE_ERR_NONCE_EXHAUSTED)");
done:
    free (out);
    zstr_free (&text);
    zframe_destroy (&frame);
}

static void
s_case_replayed_initiate_old (world_t *w, result_t *r, const void *arg)
{
    //  The INITIATE of the completed session above, on a new connection:
    //  with no session it gets nothing; after a new HELLO, its cookie
    //  (another session's) does not open
    zsock_t *dealer = NULL;
    zframe_t *reply = NULL;
    char reason [256] = "";
    const char *first;
    CHECK (w->raw_initiate, "no INITIATE (an earlier case failed)");
    dealer = s_dealer (w->endpoint);
    CHECK (s_send_copy (dealer, w->raw_initiate) == 0, "cannot send");
    first = s_first_answer_after (w, dealer);
    CHECK (streq (first, "WELCOME"), "the old INITIATE was answered: the "
           "next HELLO's first answer was %s", first);
    //  Now a handshake is pending on this connection: the old INITIATE
    CHECK (s_send_copy (dealer, w->raw_initiate) == 0, "cannot send");
    reply = s_command_within (dealer, WAIT);
    s_error_reason (reply, reason, sizeof reason);
    CHECK (reply && s_is (reply, "\005ERROR"),
           "the old INITIATE after HELLO got %s", s_command_name (reply));
    CHECK (strstr (reason, "cookie"), "ERROR '%s' lacks 'cookie'", reason);
    s_outcome (r, "refused: ignored on a fresh connection; after a new "
               "HELLO, ERROR \"%s\"", reason);
done:
    zframe_destroy (&reply);
    zsock_destroy (&dealer);
}

static void
s_case_hello_after_ready (world_t *w, result_t *r, const void *arg)
{
    //  RFC/framing.md: a new HELLO on a connection replaces its session
    //  (the client started again). The session's own HELLO, replayed after
    //  READY, is not a repeat any more (the last command processed was
    //  INITIATE), so it starts a new handshake: a fresh WELCOME, and the
    //  old session's next MESSAGE is not delivered. Only the connection's
    //  own peer (or a broker on its path) can do this.
    zsock_t *dealer = s_dealer (w->endpoint);
    curve_codec_t *codec = s_client_codec (w->attacker_cert, w->server_cert);
    zframe_t *hello = s_codec_frame (codec);
    zframe_t *reply = NULL, *welcome = NULL, *frame = NULL;
    char *routing = NULL, *text = NULL, *name = NULL;
    const char *first;
    CHECK (s_send_copy (dealer, hello) == 0, "cannot send");
    welcome = s_command_within (dealer, WAIT);
    CHECK (welcome && s_is (welcome, "\x07WELCOME")
           && curve_codec_recv (codec, zframe_data (welcome),
                                zframe_size (welcome)) == 0,
           "HELLO got %s", s_command_name (welcome));
    frame = s_codec_frame (codec);
    CHECK (zframe_send (&frame, dealer, 0) == 0, "cannot send");
    reply = s_command_within (dealer, WAIT);
    CHECK (reply && s_is (reply, "\x05READY")
           && curve_codec_recv (codec, zframe_data (reply),
                                zframe_size (reply)) == 0,
           "INITIATE got %s", s_command_name (reply));
    zframe_destroy (&reply);
    name = s_server_event (w->server, "CONNECTED",
                           zcert_public_txt (w->attacker_cert), WAIT,
                           &routing, NULL);
    CHECK (name, "no CONNECTED event");
    CHECK (s_send_copy (dealer, hello) == 0, "cannot send");
    reply = s_command_within (dealer, WAIT);
    CHECK (reply && s_is (reply, "\x07WELCOME"), "the replayed HELLO got %s",
           s_command_name (reply));
    CHECK (!zframe_eq (reply, welcome), "the same WELCOME as before");
    zframe_destroy (&reply);
    frame = s_app_message (codec, 1, "orphan");
    CHECK (frame && zframe_send (&frame, dealer, 0) == 0, "cannot send");
    first = s_first_answer_after (w, dealer);
    CHECK (streq (first, "WELCOME"), "after the old session's MESSAGE the "
           "first answer was %s", first);
    //  Had it been delivered, it would be in the app's pipe by now
    char *from;
    while ((from = s_server_take (w, 0, &text))) {
        bool orphan = text && streq (text, "orphan");
        zstr_free (&from);
        zstr_free (&text);
        w->stray++;
        CHECK (!orphan, "the old session's MESSAGE was delivered");
    }
    s_outcome (r, "session replaced as documented (a fresh WELCOME); the old "
               "session's MESSAGE is not delivered");
done:
    zstr_free (&name);
    zstr_free (&routing);
    zstr_free (&text);
    zframe_destroy (&hello);
    zframe_destroy (&welcome);
    zframe_destroy (&reply);
    zframe_destroy (&frame);
    curve_codec_destroy (&codec);
    zsock_destroy (&dealer);
}


//  --------------------------------------------------------------------------
//  A fake server: answers a curve_client's HELLO with what it should not

typedef enum {
    FAKE_GARBAGE_WELCOME,           //  WELCOME that does not open
    FAKE_READY,                     //  READY in place of WELCOME
    FAKE_MESSAGE,                   //  MESSAGE in place of WELCOME
    FAKE_SHORT,                     //  Three octets of nothing
    FAKE_BAD_ERROR,                 //  ERROR whose length octet lies
    FAKE_ZERO_TRANSIENT,            //  WELCOME that opens, S' all zero
    FAKE_HIGH_TRANSIENT,            //  WELCOME that opens, S' not canonical
    FAKE_LYING_READY,               //  READY whose metadata sizes lie
    FAKE_HUGE_READY                 //  READY over the 1 MiB metadata limit
} fake_t;

typedef struct {
    fake_t kind;
    const char *expect;             //  In HANDSHAKE-FAILED's detail
} fake_attack_t;

//  The next HELLO from a handshake attempt not served yet (a new DEALER:
//  a new routing id); resends and other traffic are skipped
static zframe_t *
s_fake_next_hello (world_t *w)
{
    if (w->fake_hello) {
        zframe_t *hello = w->fake_hello;
        w->fake_hello = NULL;
        return hello;
    }
    int64_t deadline = zclock_mono () + WAIT;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left < 0)
            return NULL;
        zmsg_t *msg = s_recv_within (w->fake, (int) left);
        if (!msg)
            return NULL;
        zframe_t *rid = zmsg_pop (msg);
        zframe_t *command = zmsg_pop (msg);
        zmsg_destroy (&msg);
        bool fresh = command && zframe_size (command) == CURVE_HELLO_BYTES
                  && s_is (command, "\x05HELLO")
                  && !(w->fake_rid && zframe_eq (rid, w->fake_rid));
        if (fresh) {
            zframe_destroy (&w->fake_rid);
            w->fake_rid = rid;
            return command;
        }
        zframe_destroy (&rid);
        zframe_destroy (&command);
    }
}

//  The next command from the attempt being served, skipping resends of
//  skip
static zframe_t *
s_fake_next_from_attempt (world_t *w, zframe_t *skip)
{
    int64_t deadline = zclock_mono () + WAIT;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left < 0)
            return NULL;
        zmsg_t *msg = s_recv_within (w->fake, (int) left);
        if (!msg)
            return NULL;
        zframe_t *rid = zmsg_pop (msg);
        zframe_t *command = zmsg_pop (msg);
        zmsg_destroy (&msg);
        bool wanted = command && zframe_eq (rid, w->fake_rid)
                   && !(skip && zframe_eq (command, skip));
        zframe_destroy (&rid);
        if (wanted)
            return command;
        zframe_destroy (&command);
    }
}

static void
s_fake_send (world_t *w, const void *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (w->fake_rid) });
    zmsg_addmem (msg, data, size);
    zmsg_send (&msg, w->fake);
}

//  A new client to lie to, with this handshake time-out
static void
s_fake_victim (world_t *w, int handshake_timeout)
{
    curve_client_destroy (&w->victim);
    zframe_destroy (&w->fake_hello);
    zframe_destroy (&w->fake_rid);
    w->victim = s_client_new (w->attacker_cert, w->fake_endpoint,
                              zcert_public_txt (w->fake_cert),
                              handshake_timeout);
    assert (w->victim);
}

static void
s_fake_start (world_t *w)
{
    if (w->fake)
        return;
    w->fake_cert = zcert_new ();
    w->fake = zsock_new (ZMQ_ROUTER);
    assert (w->fake);
    zsock_set_linger (w->fake, 0);
    int port = zsock_bind (w->fake, "tcp://127.0.0.1:*");
    assert (port > 0);
    (void) port;
    w->fake_endpoint = zsock_last_endpoint (w->fake);
    //  Short attempts, since each lie costs the victim one: the next
    //  attempt comes when this one's time is up
    s_fake_victim (w, 3000);
}

//  A WELCOME made by hand with the S' given; it opens (the fake server
//  has the key the client expects), so the client must look at S'
static void
s_fake_welcome (world_t *w, zframe_t *hello, const uint8_t *transient)
{
    uint8_t plain [128];
    memcpy (plain, transient, 32);
    randombytes_buf (plain + 32, 96);       //  The cookie: anything
    uint8_t out [CURVE_WELCOME_BYTES];
    memcpy (out, "\x07WELCOME", 8);
    randombytes_buf (out + 8, 16);
    uint8_t nonce [24];
    s_long_nonce (nonce, "WELCOME-", out + 8);
    int rc = crypto_box_easy (out + 24, plain, sizeof plain, nonce,
                              zframe_data (hello) + 80,
                              zcert_secret_key (w->fake_cert));
    assert (rc == 0);
    (void) rc;
    s_fake_send (w, out, sizeof out);
}

//  A READY made by hand after a hand-made WELCOME: its box opens, its
//  metadata is as given. Returns 0, or -1 if no INITIATE came.
static int
s_fake_ready (world_t *w, zframe_t *hello, const uint8_t *metadata,
              size_t metadata_size, bool boxed)
{
    uint8_t transient_public [32], transient_secret [32];
    crypto_box_keypair (transient_public, transient_secret);
    s_fake_welcome (w, hello, transient_public);
    zframe_t *initiate = s_fake_next_from_attempt (w, hello);
    if (!initiate)
        return -1;
    zframe_destroy (&initiate);
    size_t size = CURVE_READY_MIN_BYTES + metadata_size;
    uint8_t *out = (uint8_t *) malloc (size);
    assert (out);
    memcpy (out, "\x05READY", 6);
    s_put_uint64 (out + 6, 1);
    if (boxed) {
        uint8_t nonce [24];
        s_short_nonce (nonce, "CurveZMQREADY---", 1);
        int rc = crypto_box_easy (out + 14, metadata, metadata_size, nonce,
                                  zframe_data (hello) + 80, transient_secret);
        assert (rc == 0);
        (void) rc;
    }
    else
        randombytes_buf (out + 14, size - 14);
    s_fake_send (w, out, size);
    free (out);
    return 0;
}

static void
s_case_fake_server (world_t *w, result_t *r, const void *arg)
{
    const fake_attack_t *attack = (const fake_attack_t *) arg;
    s_fake_start (w);
    //  A lie told after more than one step needs time to tell: a victim
    //  of its own with a long handshake time-out
    bool long_lie = attack->kind == FAKE_LYING_READY
                 || attack->kind == FAKE_HUGE_READY;
    if (long_lie)
        s_fake_victim (w, WAIT);
    zframe_t *hello = s_fake_next_hello (w);
    char *name = NULL, *detail = NULL;
    uint8_t lie [200];
    size_t size = 0;
    CHECK (hello, "no (new) HELLO from the client in %d ms: it did not "
           "retry", WAIT);
    randombytes_buf (lie, sizeof lie);
    switch (attack->kind) {
        case FAKE_GARBAGE_WELCOME:
            memcpy (lie, "\x07WELCOME", 8);
            size = CURVE_WELCOME_BYTES;
            break;
        case FAKE_READY:
            memcpy (lie, "\x05READY", 6);
            s_put_uint64 (lie + 6, 1);
            size = CURVE_READY_MIN_BYTES + 10;
            break;
        case FAKE_MESSAGE:
            memcpy (lie, "\x07MESSAGE", 8);
            s_put_uint64 (lie + 8, 2);
            size = CURVE_MESSAGE_MIN_BYTES + 20;
            break;
        case FAKE_SHORT:
            size = 3;
            break;
        case FAKE_BAD_ERROR:
            //  The length octet says 9, two octets follow
            memcpy (lie, "\005ERROR\011go", 9);
            size = 9;
            break;
        default:
            break;
    }
    if (attack->kind == FAKE_ZERO_TRANSIENT) {
        uint8_t zeros [32] = { 0 };
        s_fake_welcome (w, hello, zeros);
    }
    else
    if (attack->kind == FAKE_HIGH_TRANSIENT) {
        uint8_t high [32];
        randombytes_buf (high, sizeof high);
        high [31] |= 0x80;
        s_fake_welcome (w, hello, high);
    }
    else
    if (attack->kind == FAKE_LYING_READY) {
        //  Value size 4096, 4 octets of value
        const uint8_t lying [] = "\x04Name\x00\x00\x10\x00" "abcd";
        CHECK (s_fake_ready (w, hello, lying, sizeof lying - 1, true) == 0,
               "no INITIATE from the client");
    }
    else
    if (attack->kind == FAKE_HUGE_READY) {
        //  The size alone must stop it, before any cryptography
        CHECK (s_fake_ready (w, hello, NULL, CURVE_METADATA_MAX_DEFAULT + 1,
                             false) == 0, "no INITIATE from the client");
    }
    else
        s_fake_send (w, lie, size);
    name = curve_client_wait (w->victim, "HANDSHAKE-FAILED|REJECTED|"
                              "CONNECTED", WAIT, &detail);
    CHECK (name, "the client reported nothing in %d ms", WAIT);
    CHECK (streq (name, "HANDSHAKE-FAILED"), "the client reported %s %s",
           name, detail);
    CHECK (strstr (detail, attack->expect), "HANDSHAKE-FAILED '%s' lacks "
           "'%s'", detail, attack->expect);
    if (long_lie)
        s_outcome (r, "client HANDSHAKE-FAILED \"%s\"", detail);
    else {
        //  And it tries again, from a new socket (kept for the next case)
        w->fake_hello = s_fake_next_hello (w);
        CHECK (w->fake_hello, "the client did not try again in %d ms", WAIT);
        s_outcome (r, "client HANDSHAKE-FAILED \"%s\", then tries again (a "
                   "new HELLO from a new socket)", detail);
    }
done:
    zstr_free (&name);
    zstr_free (&detail);
    zframe_destroy (&hello);
}

static void
s_case_fake_server_messages (world_t *w, result_t *r, const void *arg)
{
    //  The fake server does a genuine handshake, then forges and replays
    //  MESSAGEs to the now ready client
    s_fake_start (w);
    s_fake_victim (w, WAIT);
    zframe_t *hello = s_fake_next_hello (w);
    curve_codec_t *codec = curve_codec_new_server (
        zcert_public_key (w->fake_cert), zcert_secret_key (w->fake_cert));
    zframe_t *frame = NULL, *initiate = NULL, *m1 = NULL;
    char *name = NULL, *detail = NULL, *forged_detail = NULL;
    zmsg_t *msg = NULL;
    CHECK (hello, "no new HELLO from the client: it did not retry");
    CHECK (curve_codec_recv (codec, zframe_data (hello),
                             zframe_size (hello)) == 0, "bad HELLO: %s",
           curve_codec_reason (codec));
    frame = s_codec_frame (codec);
    s_fake_send (w, zframe_data (frame), zframe_size (frame));
    zframe_destroy (&frame);
    initiate = s_fake_next_from_attempt (w, hello);
    CHECK (initiate, "no INITIATE from the client");
    CHECK (curve_codec_recv (codec, zframe_data (initiate),
                             zframe_size (initiate)) == 0
           && curve_codec_allow (codec) == 0, "bad INITIATE: %s",
           curve_codec_reason (codec));
    frame = s_codec_frame (codec);
    s_fake_send (w, zframe_data (frame), zframe_size (frame));
    zframe_destroy (&frame);
    name = curve_client_wait (w->victim, "CONNECTED|HANDSHAKE-FAILED|"
                              "REJECTED", WAIT, &detail);
    CHECK (name && streq (name, "CONNECTED"), "the client reported %s %s",
           name? name: "nothing", detail? detail: "");
    zstr_free (&name);
    zstr_free (&detail);
    //  A forgery
    uint8_t forged [CURVE_MESSAGE_MIN_BYTES + 20];
    randombytes_buf (forged, sizeof forged);
    memcpy (forged, "\x07MESSAGE", 8);
    s_put_uint64 (forged + 8, 100);
    s_fake_send (w, forged, sizeof forged);
    name = curve_client_wait (w->victim, "REFUSED", WAIT, &forged_detail);
    CHECK (name, "no REFUSED event for a forged MESSAGE");
    CHECK (strstr (forged_detail, "did not open"), "REFUSED '%s'",
           forged_detail);
    zstr_free (&name);
    //  A genuine one, delivered
    m1 = s_app_message (codec, 1, "fake-1");
    CHECK (m1, "cannot encode");
    s_fake_send (w, zframe_data (m1), zframe_size (m1));
    msg = s_recv_within (curve_client_sock (w->victim), WAIT);
    CHECK (msg && zframe_streq (zmsg_first (msg), "fake-1"),
           "the genuine MESSAGE was not delivered");
    zmsg_destroy (&msg);
    //  The same again: refused, not delivered
    s_fake_send (w, zframe_data (m1), zframe_size (m1));
    name = curve_client_wait (w->victim, "REFUSED", WAIT, &detail);
    CHECK (name, "no REFUSED event for the replayed MESSAGE");
    CHECK (strstr (detail, "replayed"), "REFUSED '%s' lacks 'replayed'",
           detail);
    frame = s_app_message (codec, 2, "fake-2");
    CHECK (frame, "cannot encode");
    s_fake_send (w, zframe_data (frame), zframe_size (frame));
    msg = s_recv_within (curve_client_sock (w->victim), WAIT);
    CHECK (msg && zframe_streq (zmsg_first (msg), "fake-2"),
           "after the replay the client delivered something else");
    s_outcome (r, "forged MESSAGE REFUSED \"%s\", replayed MESSAGE REFUSED "
               "\"%s\"; genuine ones delivered once", forged_detail, detail);
done:
    zmsg_destroy (&msg);
    zstr_free (&name);
    zstr_free (&detail);
    zstr_free (&forged_detail);
    zframe_destroy (&hello);
    zframe_destroy (&initiate);
    zframe_destroy (&m1);
    zframe_destroy (&frame);
    curve_codec_destroy (&codec);
}

static void
s_case_fake_server_error (world_t *w, result_t *r, const void *arg)
{
    //  ERROR carries no authentication (RFC 26): anybody on the path can
    //  make a client give up, as they could by dropping its traffic. This
    //  checks the documented outcome: REJECTED with the text, no crash.
    s_fake_start (w);
    curve_client_destroy (&w->victim);
    zframe_destroy (&w->fake_hello);
    curve_client_t *client = s_client_new (w->attacker_cert, w->fake_endpoint,
                                           zcert_public_txt (w->fake_cert),
                                           WAIT);
    zframe_t *hello = s_fake_next_hello (w);
    char *name = NULL, *detail = NULL;
    zmsg_t *msg = NULL;
    CHECK (client && hello, "no HELLO from the client");
    s_fake_send (w, "\005ERROR\007go away", 14);
    name = s_client_outcome (client, "REJECTED|CONNECTED", &detail);
    CHECK (name && streq (name, "REJECTED"), "the client reported %s",
           name? name: "nothing");
    CHECK (streq (detail, "go away"), "REJECTED '%s'", detail);
    msg = zmsg_new ();
    zmsg_addstr (msg, "x");
    CHECK (curve_client_send (client, &msg) == -1, "it can still send");
    s_outcome (r, "client gives up as documented (ERROR is not "
               "authenticated): REJECTED \"%s\"", detail);
done:
    zmsg_destroy (&msg);
    zstr_free (&name);
    zstr_free (&detail);
    zframe_destroy (&hello);
    curve_client_destroy (&client);
}


//  --------------------------------------------------------------------------
//  10,000 garbage frames while the honest client keeps talking

static uint64_t
s_rng (uint64_t *state)
{
    //  xorshift64*: repeatable from the seed printed
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

static void
s_rng_fill (uint64_t *state, uint8_t *data, size_t size)
{
    for (size_t index = 0; index < size; index++)
        data [index] = (uint8_t) (s_rng (state) >> 32);
}

static zmsg_t *
s_garbage (uint64_t *rng, world_t *w)
{
    static const char *names [] = {
        "\x05HELLO", "\x07WELCOME", "\x08INITIATE", "\x05READY",
        "\x07MESSAGE", "\005ERROR", "\x05RESET"
    };
    zmsg_t *msg = zmsg_new ();
    uint64_t kind = s_rng (rng) % 100;
    if (kind == 0) {
        //  A genuine HELLO: what follows meets a handshake in progress
        curve_codec_t *codec = s_client_codec (w->attacker_cert,
                                               w->server_cert);
        zmsg_append (msg, &(zframe_t *) { s_codec_frame (codec) });
        curve_codec_destroy (&codec);
        return msg;
    }
    if (kind < 5) {
        //  Envelope frames in front: the server sees other connections
        uint64_t parts = 1 + s_rng (rng) % 2;
        for (uint64_t part = 0; part < parts; part++) {
            uint8_t bytes [8];
            size_t size = (size_t) (s_rng (rng) % 9);
            s_rng_fill (rng, bytes, size);
            zmsg_addmem (msg, bytes, size);
        }
    }
    size_t size = (size_t) (s_rng (rng) % 601);
    if (kind >= 5 && kind < 20)
        size = CURVE_HELLO_BYTES;
    zframe_t *frame = zframe_new (NULL, size);
    uint8_t *data = zframe_data (frame);
    s_rng_fill (rng, data, size);
    if (kind >= 5 && kind < 20) {
        //  HELLO-shaped: right size, name, version, padding; random key
        //  and box, so the server gets as far as the cryptography
        memcpy (data, "\x05HELLO\x01\x00", 8);
        memset (data + 8, 0, 72);
    }
    else
    if (kind >= 20 && kind < 60) {
        const char *name = names [s_rng (rng) % 7];
        size_t length = 1 + (size_t) (uint8_t) name [0];
        if (size >= length)
            memcpy (data, name, length);
    }
    zmsg_append (msg, &frame);
    return msg;
}

typedef struct {
    int echoed;                     //  Honest messages echoed
    int received;                   //  And back at the honest client
    bool in_order;                  //  Each as expected
    int replies [4];                //  ERROR, RESET, WELCOME, other
} flood_t;

//  Everything that is ready: echo the honest client, count what comes back
static void
s_flood_pump (world_t *w, zpoller_t *poller, zsock_t *flood, flood_t *state,
              int timeout)
{
    zsock_t *which;
    while ((which = (zsock_t *) zpoller_wait (poller, timeout))) {
        timeout = 0;
        zmsg_t *msg = zmsg_recv (which);
        if (!msg)
            break;
        if (which == curve_server_sock (w->server)) {
            char *routing = zmsg_popstr (msg);
            if (routing && streq (routing, w->honest_routing)) {
                zmsg_pushstr (msg, routing);
                if (curve_server_send (w->server, &msg) == 0)
                    state->echoed++;
            }
            else
                w->stray++;
            zstr_free (&routing);
        }
        else
        if (which == curve_client_sock (w->honest)) {
            char expect [32];
            snprintf (expect, sizeof expect, "flood %d", state->received);
            if (!zframe_streq (zmsg_first (msg), expect))
                state->in_order = false;
            state->received++;
        }
        else {
            zframe_t *last = zmsg_last (msg);
            state->replies [s_is (last, "\005ERROR")? 0:
                            s_is (last, "\x05RESET")? 1:
                            s_is (last, "\x07WELCOME")? 2: 3]++;
        }
        zmsg_destroy (&msg);
    }
}

static void
s_case_flood (world_t *w, result_t *r, const void *arg)
{
    const uint64_t *seed = (const uint64_t *) arg;
    uint64_t rng = *seed;
    zsock_t *flood = s_dealer (w->endpoint);
    zpoller_t *poller = zpoller_new (curve_server_sock (w->server),
                                     curve_client_sock (w->honest), flood,
                                     NULL);
    flood_t state = { 0, 0, true, { 0 } };
    zsock_t *probe = NULL;
    int sent = 0;
    const char *first;
    for (int index = 0; index < FLOOD_FRAMES; index++) {
        zmsg_t *msg = s_garbage (&rng, w);
        int rc = zmsg_send (&msg, flood);
        zmsg_destroy (&msg);
        CHECK (rc == 0, "could not send garbage frame %d in %d ms", index,
               WAIT);
        if (index % (FLOOD_FRAMES / FLOOD_HONEST) == 0) {
            msg = zmsg_new ();
            zmsg_addstrf (msg, "flood %d", sent++);
            CHECK (curve_client_send (w->honest, &msg) == 0,
                   "the honest client cannot send");
        }
        s_flood_pump (w, poller, flood, &state, 0);
    }
    int64_t deadline = zclock_mono () + 2 * WAIT;
    while (state.received < sent && zclock_mono () < deadline)
        s_flood_pump (w, poller, flood, &state,
                      (int) (deadline - zclock_mono ()));
    CHECK (state.received == sent, "%d of %d honest messages came back "
           "(%d reached the server)", state.received, sent, state.echoed);
    CHECK (state.in_order, "honest messages came back out of order or "
           "changed");
    //  And the server still takes new connections
    probe = s_dealer (w->endpoint);
    first = s_first_answer_after (w, probe);
    CHECK (streq (first, "WELCOME"), "a new HELLO got %s after the flood",
           first);
    s_outcome (r, "server up: %d frames (seed %" PRIu64 ") drew %d ERROR, "
               "%d RESET, %d WELCOME, %d other; %d/%d honest messages "
               "round-tripped in order; a new HELLO gets WELCOME",
               FLOOD_FRAMES, *seed, state.replies [0], state.replies [1],
               state.replies [2], state.replies [3], state.received, sent);
done:
    zpoller_destroy (&poller);
    zsock_destroy (&flood);
    zsock_destroy (&probe);
}


//  --------------------------------------------------------------------------
//  ZAP (libzmq test_security_zap): a fake handler at inproc://zeromq.zap.01
//  admits the honest client and answers the others as told

typedef enum {
    ZAP_SERVE,                      //  Answer with the status given
    ZAP_MUTE,                       //  Stop reading requests
    ZAP_DROP                        //  On the next request, unbind and
                                    //  close the socket without answering
} zap_mode_t;

static void
s_zap_handler (zsock_t *pipe, void *args)
{
    uint8_t honest [32];
    memcpy (honest, args, 32);
    zsock_t *handler = zsock_new (ZMQ_ROUTER);
    assert (handler);
    zsock_set_linger (handler, 0);
    bool bound = zsock_bind (handler, ZAP_ENDPOINT) == 0;
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    if (bound)
        zpoller_add (poller, handler);
    char *status = strdup ("400");
    char *text = strdup ("No access");
    zap_mode_t mode = ZAP_SERVE;
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv (pipe);
            char *command = msg? zmsg_popstr (msg): NULL;
            bool stop = !command || streq (command, "$TERM");
            if (!stop && streq (command, "BOUND"))
                zsock_signal (pipe, bound? 0: 1);
            else
            if (!stop && streq (command, "SERVE")) {
                zstr_free (&status);
                zstr_free (&text);
                status = zmsg_popstr (msg);
                text = zmsg_popstr (msg);
                mode = ZAP_SERVE;
                zsock_signal (pipe, 0);
            }
            else
            if (!stop && streq (command, "MUTE")) {
                mode = ZAP_MUTE;
                if (handler)
                    zpoller_remove (poller, handler);
                zsock_signal (pipe, 0);
            }
            else
            if (!stop && streq (command, "DROP")) {
                mode = ZAP_DROP;
                zsock_signal (pipe, 0);
            }
            zstr_free (&command);
            zmsg_destroy (&msg);
            if (stop)
                break;
        }
        else
        if (which && which == handler) {
            zmsg_t *request = zmsg_recv (handler);
            if (!request)
                continue;
            //  [routing]["" "1.0" id domain address identity "CURVE" key]
            zframe_t *routing = zmsg_pop (request);
            zframe_t *delimiter = zmsg_pop (request);
            char *version = zmsg_popstr (request);
            char *id = zmsg_popstr (request);
            zframe_t *key = zmsg_last (request);
            bool is_honest = key && zframe_size (key) == 32
                          && memcmp (zframe_data (key), honest, 32) == 0;
            if (!is_honest && mode == ZAP_DROP) {
                zpoller_remove (poller, handler);
                //  Unbinding frees the endpoint at once; closing alone
                //  frees it later
                zsock_unbind (handler, ZAP_ENDPOINT);
                zsock_destroy (&handler);
                zstr_send (pipe, "DROPPED");
            }
            else {
                zmsg_t *reply = zmsg_new ();
                zmsg_append (reply, &routing);
                zmsg_append (reply, &delimiter);
                zmsg_addstr (reply, "1.0");
                zmsg_addstr (reply, id? id: "");
                zmsg_addstr (reply, is_honest? "200": status);
                zmsg_addstr (reply, is_honest? "OK": text);
                zmsg_addstr (reply, is_honest? "honest": "");
                zmsg_addmem (reply, "", 0);
                zmsg_send (&reply, handler);
            }
            zframe_destroy (&routing);
            zframe_destroy (&delimiter);
            zstr_free (&version);
            zstr_free (&id);
            zmsg_destroy (&request);
        }
        else
            break;                  //  Interrupted
    }
    if (handler) {
        if (bound)
            zsock_unbind (handler, ZAP_ENDPOINT);
        zsock_destroy (&handler);
    }
    zpoller_destroy (&poller);
    zstr_free (&status);
    zstr_free (&text);
}

typedef struct {
    zap_mode_t mode;
    const char *status;             //  SERVE: the status and text
    const char *text;
    const char *zap_event;          //  Server ZAP event contains this
    const char *reason;             //  Client REJECTED / server DENIED
} zap_attack_t;

//  The handler actor of the current ZAP world
static zactor_t *s_zap = NULL;

static void
s_case_zap (world_t *w, result_t *r, const void *arg)
{
    const zap_attack_t *attack = (const zap_attack_t *) arg;
    zcert_t *cert = zcert_new ();
    curve_client_t *client = NULL;
    char *name = NULL, *detail = NULL, *zap_detail = NULL;
    char *denied = NULL, *denied_key = NULL;
    zmsg_t *notice = NULL;
    CHECK (s_zap, "no ZAP handler");
    if (attack->mode == ZAP_SERVE)
        zstr_sendx (s_zap, "SERVE", attack->status, attack->text, NULL);
    else
        zstr_sendx (s_zap, attack->mode == ZAP_MUTE? "MUTE": "DROP", NULL);
    zsock_wait (s_zap);
    client = s_client_new (cert, w->endpoint,
                           zcert_public_txt (w->server_cert), WAIT);
    CHECK (client, "cannot create the client");
    if (attack->mode == ZAP_DROP) {
        notice = s_recv_within (zactor_sock (s_zap), WAIT);
        CHECK (notice && zframe_streq (zmsg_first (notice), "DROPPED"),
               "the handler got no request to drop on");
    }
    if (attack->zap_event) {
        name = s_server_event (w->server, "ZAP", NULL, WAIT, NULL,
                               &zap_detail);
        CHECK (name, "no ZAP event on the server");
        CHECK (strstr (zap_detail, attack->zap_event), "ZAP event '%s' lacks "
               "'%s'", zap_detail, attack->zap_event);
        zstr_free (&name);
    }
    name = s_server_event (w->server, "DENIED", zcert_public_txt (cert), WAIT,
                           &denied_key, &denied);
    CHECK (name, "no DENIED event on the server");
    CHECK (streq (denied, attack->reason), "DENIED '%s', not '%s'", denied,
           attack->reason);
    zstr_free (&name);
    name = s_client_outcome (client, "CONNECTED|REJECTED", &detail);
    CHECK (name && streq (name, "REJECTED"), "the client got %s",
           name? name: "nothing");
    CHECK (streq (detail, attack->reason), "REJECTED '%s', not '%s'", detail,
           attack->reason);
    if (attack->zap_event)
        s_outcome (r, "denied: server ZAP \"%s\", DENIED; client REJECTED "
                   "\"%s\"", zap_detail, detail);
    else
        s_outcome (r, "denied: server DENIED, client REJECTED \"%s\"",
                   detail);
done:
    zmsg_destroy (&notice);
    zstr_free (&name);
    zstr_free (&detail);
    zstr_free (&zap_detail);
    zstr_free (&denied);
    zstr_free (&denied_key);
    curve_client_destroy (&client);
    zcert_destroy (&cert);
}

//  A world of its own behind a fresh fake handler, for one ZAP case
static void
s_run_zap (zcert_t *server_cert, zcert_t *honest_cert, const char *name,
           const zap_attack_t *attack)
{
    s_zap = zactor_new (s_zap_handler,
                        (void *) zcert_public_key (honest_cert));
    assert (s_zap);
    zstr_send (s_zap, "BOUND");
    if (zsock_wait (s_zap) != 0) {
        printf ("%s: FAIL: cannot bind %s\n", name, ZAP_ENDPOINT);
        s_failed++;
        zactor_destroy (&s_zap);
        return;
    }
    world_t *w = s_world_new (server_cert, honest_cert, 5000);
    if (w)
        s_run (w, name, s_case_zap, attack);
    else {
        printf ("%s: FAIL: the honest client could not connect\n", name);
        s_failed++;
    }
    s_world_destroy (&w);
    zactor_destroy (&s_zap);
}

//  Ironhouse with czmq's zauth: a client whose key is not in the directory
static void
s_case_ironhouse (world_t *w, result_t *r, const void *arg)
{
    zcert_t *cert = zcert_new ();
    curve_client_t *client = s_client_new (cert, w->endpoint,
                                           zcert_public_txt (w->server_cert),
                                           WAIT);
    char *name = NULL, *detail = NULL, *denied = NULL;
    CHECK (client, "cannot create the client");
    name = s_client_outcome (client, "CONNECTED|REJECTED", &detail);
    CHECK (name && streq (name, "REJECTED"), "the client got %s",
           name? name: "nothing");
    CHECK (strlen (detail) > 0, "REJECTED with no reason");
    zstr_free (&name);
    name = s_server_event (w->server, "DENIED", zcert_public_txt (cert), WAIT,
                           NULL, &denied);
    CHECK (name, "no DENIED event on the server");
    CHECK (streq (denied, detail), "server DENIED '%s', client heard '%s'",
           denied, detail);
    s_outcome (r, "denied by zauth: server DENIED, client REJECTED \"%s\"",
               detail);
done:
    zstr_free (&name);
    zstr_free (&detail);
    zstr_free (&denied);
    curve_client_destroy (&client);
    zcert_destroy (&cert);
}


//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    for (int argn = 1; argn < argc; argn++)
        if (streq (argv [argn], "-v") || streq (argv [argn], "--verbose"))
            s_verbose = true;
    if (sodium_init () < 0) {
        fprintf (stderr, "FAIL: libsodium cannot start\n");
        return 1;
    }
    uint64_t seed = 0;
    const char *seed_text = getenv ("CURVE_ADV_SEED");
    if (seed_text)
        seed = strtoull (seed_text, NULL, 10);
    while (seed == 0)
        randombytes_buf (&seed, sizeof seed);

    zcert_t *server_cert = zcert_new ();
    zcert_t *honest_cert = zcert_new ();
    printf ("curve_adversarial: attacks on curve_server and curve_client\n");

    //  No ZAP handler: every client that proves a key gets in
    world_t *w = s_world_new (server_cert, honest_cert, 0);
    if (!w) {
        printf ("setup: FAIL: the honest client cannot connect\n");
        printf ("0 passed, 1 failed\n");
        zcert_destroy (&server_cert);
        zcert_destroy (&honest_cert);
        return 1;
    }
    //  First, while no other handshake is pending
    s_run (w, "expired cookie", s_case_expired_cookie, NULL);

    s_run (w, "all-zero server key", s_case_zero_server_key, NULL);
    s_run (w, "server key of 39, 41, non-Z85 40 characters",
           s_case_key_length, NULL);
    s_run (w, "client cert with all-zero secret key", s_case_zero_secret,
           NULL);
    s_run (w, "client cert with all-zero public key", s_case_zero_public,
           NULL);
    s_run (w, "bogus client keypair (secret not the public's)",
           s_case_bogus_keypair, NULL);
    s_run (w, "garbage server key", s_case_garbage_server_key, NULL);

    static const attack_t hello_199 = { false, CUT, NULL };
    static const attack_t hello_201 = { false, GROW, NULL };
    static const attack_t hello_name = { false, RENAME, NULL };
    static const attack_t hello_version = { false, VERSION, "version" };
    static const attack_t hello_padding = { false, PADDING, "padding" };
    static const attack_t hello_zero = { false, ZERO_KEY, "not usable" };
    static const attack_t hello_high = { false, HIGH_BIT, "not canonical" };
    static const attack_t hello_box = { false, FLIP_BOX, "did not open" };
    static const attack_t initiate_256 = { true, CUT, "too short" };
    static const attack_t initiate_name = { true, RENAME,
                                            "not a CurveZMQ command" };
    static const attack_t initiate_cookie = { true, FLIP_COOKIE, "cookie" };
    static const attack_t initiate_box = { true, FLIP_BOX,
                                           "box did not open" };
    s_run (w, "HELLO of 199 octets", s_case_damaged, &hello_199);
    s_run (w, "HELLO of 201 octets", s_case_damaged, &hello_201);
    s_run (w, "misspelled HELLO (\\x05HELLX)", s_case_damaged, &hello_name);
    s_run (w, "HELLO version 2.0", s_case_damaged, &hello_version);
    s_run (w, "HELLO padding not zero", s_case_damaged, &hello_padding);
    s_run (w, "HELLO with an all-zero C'", s_case_damaged, &hello_zero);
    s_run (w, "HELLO with a non-canonical C'", s_case_damaged, &hello_high);
    s_run (w, "HELLO with a flipped signature octet", s_case_damaged,
           &hello_box);
    s_run (w, "INITIATE of 256 octets", s_case_damaged, &initiate_256);
    s_run (w, "misspelled INITIATE (\\x08INITIATX)", s_case_damaged,
           &initiate_name);
    s_run (w, "INITIATE with one flipped cookie octet", s_case_damaged,
           &initiate_cookie);
    s_run (w, "INITIATE with one flipped box octet", s_case_damaged,
           &initiate_box);
    s_run (w, "INITIATE with a cookie from another session",
           s_case_cookie_other_session, NULL);

    s_run (w, "replayed HELLO", s_case_replayed_hello, NULL);
    s_run (w, "replayed INITIATE on its ready connection",
           s_case_replayed_initiate_ready, NULL);
    s_run (w, "replayed MESSAGE", s_case_replayed_message, NULL);
    s_run (w, "forged MESSAGE with nonce 2^64-1", s_case_forged_top_nonce,
           NULL);
    s_run (w, "short nonce near wrap", s_case_nonce_wrap, NULL);
    s_run (w, "replayed INITIATE of a completed session",
           s_case_replayed_initiate_old, NULL);
    s_run (w, "HELLO again on a ready connection", s_case_hello_after_ready,
           NULL);

    s_run (w, "hand-made INITIATE (control)", s_case_hand_control, NULL);
    s_run (w, "vouch for another server key", s_case_vouch_other_server,
           NULL);
    s_run (w, "metadata sizes larger than the command",
           s_case_lying_metadata, NULL);
    s_run (w, "metadata of 500 KiB", s_case_large_metadata, NULL);
    s_run (w, "metadata over 1 MiB", s_case_metadata_over_limit, NULL);

    static const fake_attack_t fake_welcome = {
        FAKE_GARBAGE_WELCOME, "WELCOME box did not open" };
    static const fake_attack_t fake_ready = {
        FAKE_READY, "READY is not expected" };
    static const fake_attack_t fake_message = {
        FAKE_MESSAGE, "MESSAGE is not expected" };
    static const fake_attack_t fake_short = {
        FAKE_SHORT, "not a CurveZMQ command" };
    s_run (w, "fake server: garbage WELCOME", s_case_fake_server,
           &fake_welcome);
    s_run (w, "fake server: READY before WELCOME", s_case_fake_server,
           &fake_ready);
    s_run (w, "fake server: MESSAGE before WELCOME", s_case_fake_server,
           &fake_message);
    s_run (w, "fake server: 3 octets of garbage", s_case_fake_server,
           &fake_short);
    static const fake_attack_t fake_bad_error = {
        FAKE_BAD_ERROR, "ERROR reason length does not match" };
    static const fake_attack_t fake_zero_transient = {
        FAKE_ZERO_TRANSIENT, "server transient key is not usable" };
    static const fake_attack_t fake_high_transient = {
        FAKE_HIGH_TRANSIENT, "server transient key is not canonical" };
    static const fake_attack_t fake_lying_ready = {
        FAKE_LYING_READY, "READY metadata breaks the RFC 26 grammar" };
    static const fake_attack_t fake_huge_ready = {
        FAKE_HUGE_READY, "READY metadata is over the limit" };
    s_run (w, "fake server: ERROR whose length octet lies",
           s_case_fake_server, &fake_bad_error);
    s_run (w, "fake server: WELCOME with an all-zero S'",
           s_case_fake_server, &fake_zero_transient);
    s_run (w, "fake server: WELCOME with a non-canonical S'",
           s_case_fake_server, &fake_high_transient);
    s_run (w, "fake server: READY whose metadata sizes lie",
           s_case_fake_server, &fake_lying_ready);
    s_run (w, "fake server: READY over the 1 MiB metadata limit",
           s_case_fake_server, &fake_huge_ready);
    s_run (w, "fake server: forged and replayed MESSAGE to a ready client",
           s_case_fake_server_messages, NULL);
    s_run (w, "fake server: forged ERROR", s_case_fake_server_error, NULL);

    s_run (w, "10,000 garbage frames", s_case_flood, &seed);
    if (w->stray)
        printf ("(the server application got %d messages from attack "
                "sessions it did not expect)\n", w->stray);
    s_world_destroy (&w);

    //  Fake ZAP handlers, each with a server and honest client of its own
    static const zap_attack_t zap_300 = {
        ZAP_SERVE, "300", "Try again later", NULL, "Try again later" };
    static const zap_attack_t zap_500 = {
        ZAP_SERVE, "500", "Internal error", NULL, "Internal error" };
    static const zap_attack_t zap_mute = {
        ZAP_MUTE, NULL, NULL, "no ZAP reply", "authentication timed out" };
    static const zap_attack_t zap_drop = {
        ZAP_DROP, NULL, NULL, "no ZAP reply", "authentication timed out" };
    s_run_zap (server_cert, honest_cert, "ZAP status 300", &zap_300);
    s_run_zap (server_cert, honest_cert, "ZAP status 500", &zap_500);
    s_run_zap (server_cert, honest_cert, "ZAP handler that never reads",
               &zap_mute);
    s_run_zap (server_cert, honest_cert, "ZAP handler that disconnects",
               &zap_drop);

    //  zauth last: it cannot unbind its endpoint, so nothing binds it after
    char *dir = zsys_sprintf ("/tmp/curve-adversarial-%d", getpid ());
    char *path = zsys_sprintf ("%s/honest.key", dir);
    zsys_dir_create (dir);
    zcert_save_public (honest_cert, path);
    zactor_t *auth = zactor_new (zauth, NULL);
    if (s_verbose) {
        zstr_send (auth, "VERBOSE");
        zsock_wait (auth);
    }
    zstr_sendx (auth, "CURVE", dir, NULL);
    zsock_wait (auth);
    w = s_world_new (server_cert, honest_cert, 0);
    if (w)
        s_run (w, "Ironhouse (zauth): client key not in the directory",
               s_case_ironhouse, NULL);
    else {
        printf ("Ironhouse (zauth): FAIL: the honest client could not "
                "connect\n");
        s_failed++;
    }
    s_world_destroy (&w);
    zactor_destroy (&auth);
    zsys_file_delete (path);
    zsys_dir_delete (dir);
    zstr_free (&path);
    zstr_free (&dir);

    zcert_destroy (&server_cert);
    zcert_destroy (&honest_cert);
    printf ("%d passed, %d failed\n", s_passed, s_failed);
    //  LeakSanitizer ends the process without flushing stdio
    fflush (stdout);
    return s_failed? 1: 0;
}
