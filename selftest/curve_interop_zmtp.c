/*  =========================================================================
    curve_interop_zmtp - byte compatibility with libzmq's own ZMTP-CURVE

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_interop_zmtp proves that curve_codec speaks the same bytes as the
    CURVE mechanism built into libzmq. One side is a real libzmq socket with
    CURVE enabled; the other is a plain POSIX TCP socket on which this test
    speaks ZMTP 3.0 (RFC 23) by hand, and whose command bodies come from, and
    go to, curve_codec alone. If libzmq accepts our HELLO, INITIATE and
    MESSAGEs and we accept its WELCOME, READY and MESSAGEs, the codec is
    byte compatible with ZMTP-CURVE (RFC 25).
@discuss
    Framing, as checked here against libzmq 4.3 (and RFC 23/37 section
    "Framing"): every frame is a flags octet, a size (1 octet, or 8 octets
    in network order when the LONG bit 0x02 is set), and a body.

    - Handshake commands (HELLO, WELCOME, INITIATE, READY, ERROR) travel in
      ZMTP command frames: flags 0x04 for a body of 0-255 octets, 0x06 for
      a longer one. INITIATE is always at least 257 octets, so always 0x06.
      libzmq marks them so in zmtp_engine_t::next_handshake_command, which
      sets msg_t::command on every mechanism handshake message.

    - After the handshake every frame libzmq sends, data or command, is one
      CurveZMQ MESSAGE command carried in an ordinary DATA frame: flags 0x00
      (or 0x02 when long), never MORE (0x01) and never COMMAND (0x04). The
      frame's real MORE and COMMAND bits travel encrypted, in the flags
      octet at the start of the MESSAGE plaintext: 0x01 MORE (RFC 26
      "MESSAGE") and 0x02 COMMAND, which RFC 26 still lists as reserved
      but libzmq uses to carry ZMTP 3.1 commands such as PING and PONG
      (RFC 37 "Connection Heartbeating") through the box.
      Source: the MESSAGE encoder in libzmq src/curve_mechanism_base.cpp
      copies msg_->flags () & (more | command) into the plaintext flags
      octet, then builds the MESSAGE in a fresh msg_t (init_size, flags 0)
      and moves it over the original, so the v2 encoder writes 0x00/0x02.
      In decode, the frame flags come back from the plaintext through
      msg_->set_flags (flags & flag_mask). We frame our MESSAGEs the same
      way and check the flags octet and size of every frame libzmq sends.

    - Metadata: libzmq matches property names case-sensitively (it looks
      for exactly "Socket-Type" and "Identity", src/mechanism.cpp
      parse_metadata), though RFC 26 says case is not significant. So our
      INITIATE and READY use that exact spelling; on receipt the codec's
      lookup ignores case.

    Tests: (1) libzmq ROUTER as CURVE server, codec client: handshake,
    metadata both ways, multi-frame, empty, long and 100000-octet frames,
    300 MESSAGEs each way, boxed PING/PONG; (2) codec client with a wrong
    server key: libzmq drops it and reports a cryptographic error; (3) the
    same as (1) with the codec as server behind our own listening socket
    and a libzmq DEALER as client; (4) libzmq client with a wrong server
    key: the codec refuses its HELLO; (5) the codec denies the client with
    ERROR "400", which libzmq must parse as ZAP status 400.

    - Short nonces are 8 octets in network byte order (RFC 26); libzmq
      rejects any MESSAGE whose nonce is not above the last one. Sending
      300+ MESSAGEs each way crosses nonce 256, where a little-endian
      encoding would go backwards and be refused.

    Every read has a deadline (poll) and every libzmq socket a receive
    timeout, so a broken peer fails the test instead of hanging it. No
    fixed ports: libzmq binds tcp://127.0.0.1:* and we bind port 0.
@end
*/

#include "curve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

//  Longest we wait for anything, in milliseconds
#define TIMEOUT_MSEC        5000

//  Messages sent each way to carry the short nonce past 256
#define FLOOD_COUNT         300

//  Largest frame body we accept from libzmq
#define FRAME_MAX           (4 * 1024 * 1024)

//  ZMTP 3.0 (RFC 23) framing
#define ZMTP_GREETING_SIZE  64
#define ZMTP_FLAG_MORE      0x01
#define ZMTP_FLAG_LONG      0x02
#define ZMTP_FLAG_COMMAND   0x04

static bool s_verbose = false;
static int s_checks = 0;            //  Checks that passed, all tests

//  A failed check prints where and why, then leaves the test through its
//  cleanup label
#define CHECK(cond, ...) \
    do { \
        if (cond) \
            s_checks++; \
        else { \
            fprintf (stderr, "FAIL (%s:%d) ", __FILE__, __LINE__); \
            fprintf (stderr, __VA_ARGS__); \
            fprintf (stderr, "\n"); \
            goto cleanup; \
        } \
    } while (0)

static void
s_trace (const char *format, ...)
{
    if (!s_verbose)
        return;
    va_list args;
    va_start (args, format);
    printf ("    ");
    vprintf (format, args);
    printf ("\n");
    va_end (args);
}


//  --------------------------------------------------------------------------
//  Plain TCP with deadlines

static int64_t
s_now_msec (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  Wait until fd has the events, or the deadline passes. Returns 1 when
//  ready, 0 on timeout, -1 on error.
static int
s_wait_fd (int fd, short events, int64_t deadline)
{
    while (true) {
        int64_t left = deadline - s_now_msec ();
        if (left <= 0)
            return 0;
        struct pollfd item = { fd, events, 0 };
        int rc = poll (&item, 1, (int) left);
        if (rc > 0)
            return 1;
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

//  Read exactly size octets. Returns 1 on success, 0 if the peer closed
//  the connection (or reset it), -1 on timeout or error (with reason).
static int
s_read_full (int fd, void *buffer, size_t size, int64_t deadline,
             const char **reason)
{
    uint8_t *target = (uint8_t *) buffer;
    size_t done = 0;
    while (done < size) {
        int rc = s_wait_fd (fd, POLLIN, deadline);
        if (rc == 0) {
            *reason = "timed out waiting for the peer";
            return -1;
        }
        if (rc < 0) {
            *reason = "poll failed";
            return -1;
        }
        ssize_t got = recv (fd, target + done, size - done, 0);
        if (got == 0
        || (got < 0 && (errno == ECONNRESET || errno == EPIPE))) {
            *reason = "peer closed the connection";
            return 0;
        }
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            *reason = "recv failed";
            return -1;
        }
        done += (size_t) got;
    }
    return 1;
}

//  Write exactly size octets, or fail after the deadline
static int
s_write_full (int fd, const void *buffer, size_t size, int64_t deadline)
{
    const uint8_t *source = (const uint8_t *) buffer;
    size_t done = 0;
    while (done < size) {
        if (s_wait_fd (fd, POLLOUT, deadline) != 1)
            return -1;
        ssize_t sent = send (fd, source + done, size - done,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        done += (size_t) sent;
    }
    return 0;
}

//  Connect to 127.0.0.1:port without blocking past the deadline
static int
s_tcp_connect (uint16_t port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval timeout = { TIMEOUT_MSEC / 1000, 0 };
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in address;
    memset (&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons (port);
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *) &address, sizeof address)) {
        close (fd);
        return -1;
    }
    return fd;
}

//  Listen on 127.0.0.1 with an ephemeral port; returns the socket and
//  stores the port the kernel chose
static int
s_tcp_listen (uint16_t *port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in address;
    memset (&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = 0;
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind (fd, (struct sockaddr *) &address, sizeof address)
    ||  listen (fd, 8)
    ||  getsockname (fd, (struct sockaddr *) &address, &length)) {
        close (fd);
        return -1;
    }
    *port = ntohs (address.sin_port);
    return fd;
}

//  Accept one connection, waiting at most TIMEOUT_MSEC
static int
s_tcp_accept (int listener)
{
    if (s_wait_fd (listener, POLLIN, s_now_msec () + TIMEOUT_MSEC) != 1)
        return -1;
    int fd = accept (listener, NULL, NULL);
    if (fd >= 0) {
        int one = 1;
        setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}


//  --------------------------------------------------------------------------
//  ZMTP 3.0 by hand: greeting and frames

//  greeting = signature version mechanism as-server filler (RFC 23):
//  %xFF 8*%x00 %x7F, %x03 %x00, "CURVE" and 15 zeros, %x00 or %x01, 31 zeros
static int
s_send_greeting (int fd, bool as_server)
{
    uint8_t greeting [ZMTP_GREETING_SIZE];
    memset (greeting, 0, sizeof greeting);
    greeting [0] = 0xFF;
    greeting [9] = 0x7F;
    greeting [10] = 3;              //  Version major
    greeting [11] = 0;              //  Version minor: we speak 3.0
    memcpy (greeting + 12, "CURVE", 5);
    greeting [32] = as_server? 1: 0;
    return s_write_full (fd, greeting, sizeof greeting,
                         s_now_msec () + TIMEOUT_MSEC);
}

//  Read the peer's greeting and check it announces ZMTP 3.x with CURVE and
//  the expected role. Returns 0, or -1 with a reason.
static int
s_recv_greeting (int fd, bool peer_as_server, const char **reason)
{
    uint8_t greeting [ZMTP_GREETING_SIZE];
    int rc = s_read_full (fd, greeting, sizeof greeting,
                          s_now_msec () + TIMEOUT_MSEC, reason);
    if (rc != 1)
        return -1;
    static const uint8_t mechanism [20] = { 'C', 'U', 'R', 'V', 'E' };
    if (greeting [0] != 0xFF || greeting [9] != 0x7F)
        *reason = "peer greeting has a bad signature";
    else
    if (greeting [10] < 3)
        *reason = "peer greeting is not ZMTP 3.x";
    else
    if (memcmp (greeting + 12, mechanism, sizeof mechanism))
        *reason = "peer greeting mechanism is not CURVE";
    else
    if (greeting [32] > 1)
        *reason = "peer greeting as-server is neither 0 nor 1";
    else {
        //  libzmq 4.3 always sends as-server 0 (it zeroes the 32 octets
        //  after the mechanism, src/zmtp_engine.cpp
        //  receive_greeting_versioned) and
        //  takes its role from ZMQ_CURVE_SERVER alone, so the value cannot
        //  be required to match the role
        s_trace ("peer greeting: ZMTP %d.%d, CURVE, as-server %d%s",
                 greeting [10], greeting [11], greeting [32],
                 greeting [32] == (peer_as_server? 1: 0)? "":
                 " (not its role; libzmq ignores this field)");
        return 0;
    }
    return -1;
}

//  Send one frame: flags (MORE or COMMAND) and the LONG bit when the body
//  is over 255 octets, then the size, then the body
static int
s_send_frame (int fd, uint8_t flags, const uint8_t *body, size_t size)
{
    uint8_t header [9];
    size_t header_size;
    if (size > 255) {
        header [0] = flags | ZMTP_FLAG_LONG;
        uint64_t value = size;
        for (int index = 8; index >= 1; index--) {
            header [index] = (uint8_t) (value & 0xFF);
            value >>= 8;
        }
        header_size = 9;
    }
    else {
        header [0] = flags;
        header [1] = (uint8_t) size;
        header_size = 2;
    }
    int64_t deadline = s_now_msec () + TIMEOUT_MSEC;
    if (s_write_full (fd, header, header_size, deadline))
        return -1;
    if (size && s_write_full (fd, body, size, deadline))
        return -1;
    return 0;
}

//  One end of a hand-made ZMTP connection and its last received frame
typedef struct {
    int fd;                         //  TCP socket
    uint8_t flags;                  //  Last frame's flags octet
    uint8_t *body;                  //  Last frame's body
    size_t size;                    //  Its size
    size_t alloc;                   //  Allocated size of body
    const char *reason;             //  Why the last call failed
} peer_t;

//  Read one frame into peer->body. Returns 1 on success, 0 if the peer
//  closed the connection, -1 on timeout or a framing error.
static int
s_recv_frame (peer_t *peer)
{
    int64_t deadline = s_now_msec () + TIMEOUT_MSEC;
    uint8_t flags;
    int rc = s_read_full (peer->fd, &flags, 1, deadline, &peer->reason);
    if (rc != 1)
        return rc;
    if (flags & ~(ZMTP_FLAG_MORE | ZMTP_FLAG_LONG | ZMTP_FLAG_COMMAND)) {
        peer->reason = "frame flags have reserved bits set";
        return -1;
    }
    uint64_t size = 0;
    uint8_t octets [8];
    size_t octet_count = (flags & ZMTP_FLAG_LONG)? 8: 1;
    rc = s_read_full (peer->fd, octets, octet_count, deadline, &peer->reason);
    if (rc != 1)
        return rc;
    for (size_t index = 0; index < octet_count; index++)
        size = (size << 8) | octets [index];
    if (size > FRAME_MAX) {
        peer->reason = "frame is larger than this test accepts";
        return -1;
    }
    if (size > peer->alloc || !peer->body) {
        uint8_t *body = (uint8_t *) realloc (peer->body, size? size: 1);
        if (!body) {
            peer->reason = "out of memory";
            return -1;
        }
        peer->body = body;
        peer->alloc = size? size: 1;
    }
    if (size) {
        rc = s_read_full (peer->fd, peer->body, size, deadline,
                          &peer->reason);
        if (rc != 1)
            return rc;
    }
    peer->flags = flags;
    peer->size = size;
    return 1;
}

static void
s_peer_close (peer_t *peer)
{
    if (peer->fd >= 0)
        close (peer->fd);
    peer->fd = -1;
    free (peer->body);
    peer->body = NULL;
    peer->size = peer->alloc = 0;
}

//  The command name at the start of a CurveZMQ body, for traces
static const char *
s_command_name (const uint8_t *body, size_t size, char *name)
{
    size_t length = size? body [0]: 0;
    if (length > size - 1 || length > 15)
        length = 0;
    if (length)
        memcpy (name, body + 1, length);
    name [length] = 0;
    return length? name: "(garbage)";
}

//  Drive the codec's handshake over ZMTP command frames until the codec is
//  READY, FAILED or (server) AUTH, or the connection fails. Every command
//  we send goes in a command frame; every frame libzmq sends must be a
//  command frame with the LONG bit set exactly when the body is over 255
//  octets. Returns the codec state, or -1 with peer->reason.
static int
s_drive (peer_t *peer, curve_codec_t *codec)
{
    while (true) {
        int state = curve_codec_state (codec);
        char name [16];
        if (state & CURVE_CODEC_SEND) {
            size_t size;
            const uint8_t *command = curve_codec_send_buf (codec, &size);
            s_trace ("send %s, %zu octets, frame flags 0x%02x",
                     s_command_name (command, size, name), size,
                     ZMTP_FLAG_COMMAND | (size > 255? ZMTP_FLAG_LONG: 0));
            if (s_send_frame (peer->fd, ZMTP_FLAG_COMMAND, command, size)) {
                peer->reason = "cannot send a command frame";
                return -1;
            }
            curve_codec_send_ack (codec);
            continue;
        }
        if (!(state & CURVE_CODEC_RECV))
            return state;           //  READY, FAILED or AUTH
        int rc = s_recv_frame (peer);
        if (rc != 1)
            return -1;
        s_trace ("recv %s, %zu octets, frame flags 0x%02x",
                 s_command_name (peer->body, peer->size, name), peer->size,
                 peer->flags);
        uint8_t expected = ZMTP_FLAG_COMMAND
                         | (peer->size > 255? ZMTP_FLAG_LONG: 0);
        if (peer->flags != expected) {
            peer->reason = "handshake frame flags are not 0x04/0x06";
            return -1;
        }
        if (curve_codec_recv (codec, peer->body, peer->size))
            s_trace ("codec refused it: %s (%s)",
                     curve_codec_error_name (curve_codec_last_error (codec)),
                     curve_codec_reason (codec));
    }
}


//  --------------------------------------------------------------------------
//  MESSAGE traffic over ZMTP data frames

static uint64_t
s_get_uint64 (const uint8_t *source)
{
    uint64_t value = 0;
    for (int index = 0; index < 8; index++)
        value = (value << 8) | source [index];
    return value;
}

//  Encrypt one frame and send it as a ZMTP data frame with flags 0x00 (or
//  0x02 when long): MORE rides inside the box, as libzmq does
static int
s_send_message (peer_t *peer, curve_codec_t *codec, const void *data,
                size_t size, int flags)
{
    size_t message_size = curve_codec_message_size (size);
    uint8_t *message = (uint8_t *) malloc (message_size);
    if (!message)
        return -1;
    int rc = curve_codec_encode (codec, data, size, flags, message,
                                 message_size);
    if (rc == 0)
        rc = s_send_frame (peer->fd, 0, message, message_size);
    free (message);
    return rc;
}

//  Receive and decrypt one MESSAGE. Skips MESSAGEs carrying a ZMTP command
//  (PING/PONG, inner COMMAND flag). Stores the payload (inside peer->body),
//  its size and inner flags, the ZMTP frame flags it came in, and the short
//  nonce as read from the wire. Returns 0, or -1 with peer->reason.
static int
s_recv_message (peer_t *peer, curve_codec_t *codec, uint8_t **data,
                size_t *size, int *flags, uint8_t *frame_flags,
                uint64_t *nonce)
{
    while (true) {
        int rc = s_recv_frame (peer);
        if (rc != 1)
            return -1;
        if (peer->size >= 16)
            *nonce = s_get_uint64 (peer->body + 8);
        *frame_flags = peer->flags;
        if (curve_codec_decode (codec, peer->body, peer->size, data, size,
                                flags)) {
            peer->reason = curve_codec_reason (codec);
            return -1;
        }
        if (!(*flags & CURVE_FLAG_COMMAND))
            return 0;
        s_trace ("skipped a ZMTP command in a MESSAGE (%zu octets)", *size);
    }
}


//  --------------------------------------------------------------------------
//  libzmq helpers

//  Receive one frame from a libzmq socket into a malloc'd buffer of the
//  right size. Returns the size, or -1 on timeout or error.
static int
s_zmq_recv (void *socket, uint8_t **data, bool *more)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int size = zmq_msg_recv (&msg, socket, 0);
    if (size < 0) {
        zmq_msg_close (&msg);
        return -1;
    }
    *data = (uint8_t *) malloc (size? (size_t) size: 1);
    if (*data)
        memcpy (*data, zmq_msg_data (&msg), (size_t) size);
    *more = zmq_msg_more (&msg) != 0;
    zmq_msg_close (&msg);
    return *data? size: -1;
}

//  Receive one frame from a libzmq socket and compare it
static bool
s_zmq_expect (void *socket, const void *data, size_t size, bool more)
{
    uint8_t *got = NULL;
    bool got_more = false;
    int got_size = s_zmq_recv (socket, &got, &got_more);
    bool match = got_size >= 0
              && (size_t) got_size == size
              && (size == 0 || memcmp (got, data, size) == 0)
              && got_more == more;
    if (!match) {
        if (got_size < 0)
            fprintf (stderr, "libzmq recv: %s\n", zmq_strerror (zmq_errno ()));
        else
            fprintf (stderr, "libzmq frame: %d octets, more=%d; expected "
                     "%zu octets, more=%d\n", got_size, got_more, size, more);
    }
    free (got);
    return match;
}

//  A socket with timeouts so that nothing blocks past TIMEOUT_MSEC
static void *
s_zmq_socket (void *ctx, int type)
{
    void *socket = zmq_socket (ctx, type);
    if (socket) {
        int linger = 0, timeout = TIMEOUT_MSEC;
        zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt (socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        zmq_setsockopt (socket, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    }
    return socket;
}

//  Start a monitor for handshake events on socket; returns the PAIR socket
//  that receives them
static void *
s_monitor (void *ctx, void *socket, const char *endpoint)
{
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED
               | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
               | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
               | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (zmq_socket_monitor (socket, endpoint, events))
        return NULL;
    void *monitor = s_zmq_socket (ctx, ZMQ_PAIR);
    if (monitor && zmq_connect (monitor, endpoint)) {
        zmq_close (monitor);
        monitor = NULL;
    }
    return monitor;
}

//  Wait for the next monitor event: a 6-octet frame (16-bit event, 32-bit
//  value, host order) then the endpoint. Returns the event, or -1 on
//  timeout; stores the value.
static int
s_monitor_event (void *monitor, uint32_t *value)
{
    uint8_t *data = NULL;
    bool more = false;
    int size = s_zmq_recv (monitor, &data, &more);
    if (size < 0)
        return -1;
    int event = -1;
    if (size == 6) {
        uint16_t event_id;
        memcpy (&event_id, data, 2);
        memcpy (value, data + 2, 4);
        event = event_id;
    }
    free (data);
    //  Skip the endpoint frame
    while (more) {
        data = NULL;
        if (s_zmq_recv (monitor, &data, &more) < 0)
            return -1;
        free (data);
    }
    return event;
}

//  Find the port in "tcp://127.0.0.1:port"
static uint16_t
s_endpoint_port (void *socket)
{
    char endpoint [256];
    size_t size = sizeof endpoint;
    if (zmq_getsockopt (socket, ZMQ_LAST_ENDPOINT, endpoint, &size))
        return 0;
    const char *colon = strrchr (endpoint, ':');
    return colon? (uint16_t) atoi (colon + 1): 0;
}

//  A frame of the given size filled with a pattern
static uint8_t *
s_pattern (size_t size, uint8_t seed)
{
    uint8_t *data = (uint8_t *) malloc (size? size: 1);
    if (data)
        for (size_t index = 0; index < size; index++)
            data [index] = (uint8_t) (seed + index * 7);
    return data;
}

//  Metadata value comparison: exact size and octets
static bool
s_metadata_is (curve_codec_t *codec, const char *name, const char *value)
{
    size_t size = 0;
    const uint8_t *got = curve_codec_metadata (codec, name, &size);
    return got && size == strlen (value) && memcmp (got, value, size) == 0;
}


//  --------------------------------------------------------------------------
//  Traffic tests, shared by both directions. 'routing_id' is the frame a
//  libzmq ROUTER puts before each message (NULL for a DEALER).

static bool
s_traffic_to_libzmq (peer_t *peer, curve_codec_t *codec, void *socket,
                     const char *routing_id)
{
    bool success = false;
    uint8_t *big = s_pattern (1000, 1);
    CHECK (big, "out of memory");
    size_t id_size = routing_id? strlen (routing_id): 0;

    //  One single-frame message
    CHECK (s_send_message (peer, codec, "hello", 5, 0) == 0,
           "cannot send MESSAGE: %s", curve_codec_reason (codec));
    if (routing_id)
        CHECK (s_zmq_expect (socket, routing_id, id_size, true),
               "libzmq ROUTER did not report our Identity as routing id");
    CHECK (s_zmq_expect (socket, "hello", 5, false),
           "libzmq did not deliver \"hello\"");

    //  One multi-frame message: MORE, an empty frame, a long frame
    CHECK (s_send_message (peer, codec, "part-1", 6, CURVE_FLAG_MORE) == 0,
           "cannot send MESSAGE");
    CHECK (s_send_message (peer, codec, "", 0, CURVE_FLAG_MORE) == 0,
           "cannot send MESSAGE");
    CHECK (s_send_message (peer, codec, big, 1000, 0) == 0,
           "cannot send MESSAGE");
    if (routing_id)
        CHECK (s_zmq_expect (socket, routing_id, id_size, true),
               "libzmq lost the routing id");
    CHECK (s_zmq_expect (socket, "part-1", 6, true),
           "libzmq frame 1 of 3 wrong (MORE must be set)");
    CHECK (s_zmq_expect (socket, "", 0, true),
           "libzmq frame 2 of 3 wrong (empty, MORE must be set)");
    CHECK (s_zmq_expect (socket, big, 1000, false),
           "libzmq frame 3 of 3 wrong (1000 octets, last)");

    //  Past short nonce 256: libzmq refuses a nonce that does not grow
    for (int count = 0; count < FLOOD_COUNT; count++) {
        char text [32];
        int length = snprintf (text, sizeof text, "flood-%d", count);
        CHECK (s_send_message (peer, codec, text, (size_t) length, 0) == 0,
               "cannot send MESSAGE %d", count);
    }
    for (int count = 0; count < FLOOD_COUNT; count++) {
        char text [32];
        int length = snprintf (text, sizeof text, "flood-%d", count);
        if (routing_id)
            CHECK (s_zmq_expect (socket, routing_id, id_size, true),
                   "libzmq lost the routing id at message %d", count);
        CHECK (s_zmq_expect (socket, text, (size_t) length, false),
               "libzmq did not deliver message %d of %d", count,
               FLOOD_COUNT);
    }
    s_trace ("libzmq accepted %d MESSAGEs from the codec", FLOOD_COUNT + 4);
    success = true;
cleanup:
    free (big);
    return success;
}

static bool
s_traffic_from_libzmq (peer_t *peer, curve_codec_t *codec, void *socket,
                       const char *routing_id, const char *echo_prefix)
{
    bool success = false;
    uint8_t *long_frame = s_pattern (300, 3);
    uint8_t *huge_frame = s_pattern (100000, 5);
    CHECK (long_frame && huge_frame, "out of memory");
    int id_flags = ZMQ_SNDMORE;
    size_t id_size = routing_id? strlen (routing_id): 0;
    uint8_t *data;
    size_t size;
    int flags;
    uint8_t frame_flags;
    uint64_t nonce = 0, last_nonce = 0;

    //  One single-frame message
    if (routing_id)
        CHECK (zmq_send (socket, routing_id, id_size, id_flags) >= 0,
               "libzmq send failed");
    CHECK (zmq_send (socket, "world", 5, 0) == 5, "libzmq send failed");
    CHECK (s_recv_message (peer, codec, &data, &size, &flags, &frame_flags,
                           &nonce) == 0,
           "no MESSAGE from libzmq: %s", peer->reason);
    CHECK (frame_flags == 0x00,
           "libzmq MESSAGE frame flags are 0x%02x, not 0x00", frame_flags);
    CHECK (flags == 0 && size == 5 && memcmp (data, "world", 5) == 0,
           "MESSAGE from libzmq decoded wrong");
    last_nonce = nonce;

    //  Multi-frame: MORE, an empty frame, then a long (300) frame
    if (routing_id)
        CHECK (zmq_send (socket, routing_id, id_size, id_flags) >= 0,
               "libzmq send failed");
    CHECK (zmq_send (socket, "a", 1, ZMQ_SNDMORE) == 1, "libzmq send failed");
    CHECK (zmq_send (socket, "", 0, ZMQ_SNDMORE) == 0, "libzmq send failed");
    CHECK (zmq_send (socket, long_frame, 300, 0) == 300,
           "libzmq send failed");
    CHECK (s_recv_message (peer, codec, &data, &size, &flags, &frame_flags,
                           &nonce) == 0,
           "no MESSAGE from libzmq: %s", peer->reason);
    CHECK (frame_flags == 0x00, "frame 1: ZMTP flags 0x%02x, not 0x00 (the "
           "MORE bit must travel only inside the box)", frame_flags);
    CHECK (flags == CURVE_FLAG_MORE && size == 1 && data [0] == 'a',
           "frame 1: wrong payload or inner flags 0x%02x", flags);
    CHECK (s_recv_message (peer, codec, &data, &size, &flags, &frame_flags,
                           &nonce) == 0,
           "no MESSAGE from libzmq: %s", peer->reason);
    CHECK (frame_flags == 0x00, "frame 2: ZMTP flags 0x%02x", frame_flags);
    CHECK (flags == CURVE_FLAG_MORE && size == 0,
           "frame 2: not an empty frame with MORE");
    CHECK (s_recv_message (peer, codec, &data, &size, &flags, &frame_flags,
                           &nonce) == 0,
           "no MESSAGE from libzmq: %s", peer->reason);
    CHECK (frame_flags == ZMTP_FLAG_LONG,
           "frame 3: ZMTP flags 0x%02x, not 0x02 (long)", frame_flags);
    CHECK (flags == 0 && size == 300 && memcmp (data, long_frame, 300) == 0,
           "frame 3: wrong payload or flags");

    //  A frame whose MESSAGE needs more than 16 bits of size
    if (routing_id)
        CHECK (zmq_send (socket, routing_id, id_size, id_flags) >= 0,
               "libzmq send failed");
    CHECK (zmq_send (socket, huge_frame, 100000, 0) == 100000,
           "libzmq send failed");
    CHECK (s_recv_message (peer, codec, &data, &size, &flags, &frame_flags,
                           &nonce) == 0,
           "no MESSAGE from libzmq: %s", peer->reason);
    CHECK (frame_flags == ZMTP_FLAG_LONG && peer->size == 100033,
           "100000-octet frame: ZMTP flags 0x%02x, size %zu", frame_flags,
           peer->size);
    CHECK (flags == 0 && size == 100000
           && memcmp (data, huge_frame, 100000) == 0,
           "100000-octet frame decoded wrong");

    //  Past nonce 256; the wire nonce must grow by one each time
    last_nonce = nonce;
    for (int count = 0; count < FLOOD_COUNT; count++) {
        char text [32];
        int length = snprintf (text, sizeof text, "%s-%d", echo_prefix, count);
        if (routing_id)
            CHECK (zmq_send (socket, routing_id, id_size, id_flags) >= 0,
                   "libzmq send failed");
        CHECK (zmq_send (socket, text, (size_t) length, 0) == length,
               "libzmq send failed at %d", count);
    }
    for (int count = 0; count < FLOOD_COUNT; count++) {
        char text [32];
        int length = snprintf (text, sizeof text, "%s-%d", echo_prefix, count);
        CHECK (s_recv_message (peer, codec, &data, &size, &flags,
                               &frame_flags, &nonce) == 0,
               "MESSAGE %d from libzmq: %s", count, peer->reason);
        CHECK (nonce == last_nonce + 1,
               "libzmq short nonce went from %llu to %llu (not big-endian "
               "+1?)", (unsigned long long) last_nonce,
               (unsigned long long) nonce);
        CHECK (frame_flags == 0 && flags == 0 && size == (size_t) length
               && memcmp (data, text, size) == 0,
               "MESSAGE %d from libzmq decoded wrong", count);
        last_nonce = nonce;
    }
    CHECK (last_nonce > 256, "short nonce never passed 256 (%llu)",
           (unsigned long long) last_nonce);
    s_trace ("codec decoded libzmq MESSAGEs up to short nonce %llu",
             (unsigned long long) last_nonce);
    success = true;
cleanup:
    free (long_frame);
    free (huge_frame);
    return success;
}


//  ZMTP 3.1 heartbeat through the box: we send PING (TTL 0, a context) as
//  a MESSAGE whose inner flags say COMMAND; libzmq must answer PONG with the
//  same context, also as a MESSAGE in a plain data frame with the inner
//  COMMAND flag (libzmq src/zmtp_engine.cpp process_heartbeat_message and
//  produce_pong_message, which encodes the PONG through the mechanism).

static bool
s_ping_pong (peer_t *peer, curve_codec_t *codec)
{
    bool success = false;
    const uint8_t ping [] = { 4, 'P', 'I', 'N', 'G', 0, 0,
                              'i', 'n', 't', 'e', 'r', 'o', 'p' };
    const uint8_t pong [] = { 4, 'P', 'O', 'N', 'G',
                              'i', 'n', 't', 'e', 'r', 'o', 'p' };
    CHECK (s_send_message (peer, codec, ping, sizeof ping,
                           CURVE_FLAG_COMMAND) == 0, "cannot send PING");
    CHECK (s_recv_frame (peer) == 1, "no PONG from libzmq: %s", peer->reason);
    CHECK (peer->flags == 0x00,
           "PONG frame flags are 0x%02x, not 0x00", peer->flags);
    uint8_t *data;
    size_t size;
    int flags;
    CHECK (curve_codec_decode (codec, peer->body, peer->size, &data, &size,
                               &flags) == 0,
           "PONG did not decode: %s", curve_codec_reason (codec));
    CHECK (flags == CURVE_FLAG_COMMAND,
           "PONG inner flags are 0x%02x, not COMMAND", flags);
    CHECK (size == sizeof pong && memcmp (data, pong, size) == 0,
           "PONG body is not \\x04PONG + our context");
    s_trace ("libzmq answered our boxed PING with a boxed PONG");
    success = true;
cleanup:
    return success;
}


//  --------------------------------------------------------------------------
//  Test 1: libzmq ROUTER is the CURVE server, curve_codec the client

static bool
s_test_codec_client (void)
{
    bool success = false;
    void *ctx = NULL, *router = NULL, *monitor = NULL;
    curve_codec_t *codec = NULL;
    peer_t peer = { -1, 0, NULL, 0, 0, "" };
    uint8_t server_public [32], server_secret [32];
    uint8_t client_public [32], client_secret [32];
    crypto_box_keypair (server_public, server_secret);
    crypto_box_keypair (client_public, client_secret);

    ctx = zmq_ctx_new ();
    CHECK (ctx, "zmq_ctx_new failed");
    router = s_zmq_socket (ctx, ZMQ_ROUTER);
    CHECK (router, "zmq_socket failed");
    int as_server = 1;
    CHECK (zmq_setsockopt (router, ZMQ_CURVE_SERVER, &as_server,
                           sizeof as_server) == 0,
           "this libzmq has no CURVE (ZMQ_CURVE_SERVER failed)");
    CHECK (zmq_setsockopt (router, ZMQ_CURVE_SECRETKEY, server_secret,
                           32) == 0,
           "ZMQ_CURVE_SECRETKEY failed");
    monitor = s_monitor (ctx, router, "inproc://interop-router-monitor");
    CHECK (monitor, "cannot monitor the ROUTER");
    CHECK (zmq_bind (router, "tcp://127.0.0.1:*") == 0, "zmq_bind failed");
    uint16_t port = s_endpoint_port (router);
    CHECK (port, "no ZMQ_LAST_ENDPOINT port");
    s_trace ("libzmq ROUTER (CURVE server) on 127.0.0.1:%u", port);

    peer.fd = s_tcp_connect (port);
    CHECK (peer.fd >= 0, "cannot connect to libzmq");
    CHECK (s_send_greeting (peer.fd, false) == 0, "cannot send greeting");
    CHECK (s_recv_greeting (peer.fd, true, &peer.reason) == 0,
           "libzmq greeting: %s", peer.reason);

    codec = curve_codec_new_client (client_public, client_secret,
                                    server_public);
    CHECK (codec, "curve_codec_new_client failed");
    //  libzmq checks Socket-Type against its own type (case sensitive,
    //  src/mechanism.cpp check_socket_type) and a ROUTER takes Identity as
    //  the peer's routing id
    CHECK (curve_codec_set_metadata (codec, "Socket-Type", "DEALER", 6) == 0,
           "set_metadata failed");
    CHECK (curve_codec_set_metadata (codec, "Identity", "codec-client",
                                     12) == 0,
           "set_metadata failed");
    int state = s_drive (&peer, codec);
    CHECK (state >= 0, "handshake with libzmq failed: %s", peer.reason);
    CHECK (state == CURVE_CODEC_READY, "codec did not reach READY: %s (%s)",
           curve_codec_error_name (curve_codec_error (codec)),
           curve_codec_reason (codec));
    uint32_t value = 0;
    CHECK (s_monitor_event (monitor, &value) == ZMQ_EVENT_HANDSHAKE_SUCCEEDED,
           "libzmq did not report ZMQ_EVENT_HANDSHAKE_SUCCEEDED");

    //  libzmq's READY metadata, looked up ignoring case
    CHECK (s_metadata_is (codec, "socket-type", "ROUTER"),
           "READY metadata socket-type is not \"ROUTER\"");
    CHECK (s_metadata_is (codec, "SOCKET-TYPE", "ROUTER"),
           "metadata lookup is not case-insensitive");
    for (size_t index = 0; index < curve_codec_metadata_count (codec);
         index++) {
        const char *name;
        size_t name_size, value_size;
        const uint8_t *property;
        CHECK (curve_codec_metadata_at (codec, index, &name, &name_size,
                                        &property, &value_size) == 0,
               "metadata_at failed");
        s_trace ("libzmq READY property %.*s = \"%.*s\"", (int) name_size,
                 name, (int) value_size, (const char *) property);
    }

    CHECK (s_traffic_to_libzmq (&peer, codec, router, "codec-client"),
           "codec -> libzmq traffic");
    CHECK (s_traffic_from_libzmq (&peer, codec, router, "codec-client",
                                  "router"),
           "libzmq -> codec traffic");
    CHECK (s_ping_pong (&peer, codec), "PING/PONG with libzmq");
    success = true;
cleanup:
    curve_codec_destroy (&codec);
    s_peer_close (&peer);
    if (monitor)
        zmq_close (monitor);
    if (router)
        zmq_close (router);
    if (ctx)
        zmq_ctx_term (ctx);
    sodium_memzero (server_secret, sizeof server_secret);
    sodium_memzero (client_secret, sizeof client_secret);
    return success;
}


//  --------------------------------------------------------------------------
//  Test 2: a codec client with the wrong server key must fail against
//  libzmq: libzmq cannot open HELLO and drops the connection

static bool
s_test_codec_client_wrong_key (void)
{
    bool success = false;
    void *ctx = NULL, *router = NULL, *monitor = NULL;
    curve_codec_t *codec = NULL;
    peer_t peer = { -1, 0, NULL, 0, 0, "" };
    uint8_t server_public [32], server_secret [32];
    uint8_t wrong_public [32], wrong_secret [32];
    uint8_t client_public [32], client_secret [32];
    crypto_box_keypair (server_public, server_secret);
    crypto_box_keypair (wrong_public, wrong_secret);
    crypto_box_keypair (client_public, client_secret);

    ctx = zmq_ctx_new ();
    CHECK (ctx, "zmq_ctx_new failed");
    router = s_zmq_socket (ctx, ZMQ_ROUTER);
    CHECK (router, "zmq_socket failed");
    int as_server = 1;
    CHECK (zmq_setsockopt (router, ZMQ_CURVE_SERVER, &as_server,
                           sizeof as_server) == 0, "ZMQ_CURVE_SERVER failed");
    CHECK (zmq_setsockopt (router, ZMQ_CURVE_SECRETKEY, server_secret,
                           32) == 0,
           "ZMQ_CURVE_SECRETKEY failed");
    monitor = s_monitor (ctx, router, "inproc://interop-wrong-key-monitor");
    CHECK (monitor, "cannot monitor the ROUTER");
    CHECK (zmq_bind (router, "tcp://127.0.0.1:*") == 0, "zmq_bind failed");
    uint16_t port = s_endpoint_port (router);
    CHECK (port, "no ZMQ_LAST_ENDPOINT port");

    peer.fd = s_tcp_connect (port);
    CHECK (peer.fd >= 0, "cannot connect to libzmq");
    CHECK (s_send_greeting (peer.fd, false) == 0, "cannot send greeting");
    CHECK (s_recv_greeting (peer.fd, true, &peer.reason) == 0,
           "libzmq greeting: %s", peer.reason);
    codec = curve_codec_new_client (client_public, client_secret,
                                    wrong_public);
    CHECK (codec, "curve_codec_new_client failed");
    CHECK (curve_codec_set_metadata (codec, "Socket-Type", "DEALER", 6) == 0,
           "set_metadata failed");

    int64_t started = s_now_msec ();
    int state = s_drive (&peer, codec);
    CHECK (state != CURVE_CODEC_READY, "handshake SUCCEEDED with a wrong "
           "server key");
    CHECK (state < 0 || (state & CURVE_CODEC_FAILED),
           "codec in an unexpected state 0x%02x", state);
    if (state < 0)
        CHECK (strcmp (peer.reason, "peer closed the connection") == 0,
               "libzmq did not close the connection: %s", peer.reason);
    s_trace ("wrong server key: %s after %lld ms",
             state < 0? peer.reason: curve_codec_reason (codec),
             (long long) (s_now_msec () - started));
    uint32_t value = 0;
    int event = s_monitor_event (monitor, &value);
    CHECK (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
           && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
           "libzmq event 0x%x value 0x%x; expected HANDSHAKE_FAILED_PROTOCOL"
           " / ZMTP_CRYPTOGRAPHIC", (unsigned) event, (unsigned) value);
    success = true;
cleanup:
    curve_codec_destroy (&codec);
    s_peer_close (&peer);
    if (monitor)
        zmq_close (monitor);
    if (router)
        zmq_close (router);
    if (ctx)
        zmq_ctx_term (ctx);
    sodium_memzero (server_secret, sizeof server_secret);
    sodium_memzero (wrong_secret, sizeof wrong_secret);
    sodium_memzero (client_secret, sizeof client_secret);
    return success;
}


//  --------------------------------------------------------------------------
//  Tests 3-5: curve_codec is the CURVE server on our own listening socket,
//  a libzmq DEALER (ZMQ_CURVE_SERVERKEY) the client.
//  mode 0: normal session; 1: libzmq has the wrong server key; 2: we deny
//  the client with the ZAP status "400".

#define SERVER_NORMAL       0
#define SERVER_WRONG_KEY    1
#define SERVER_DENY         2

static bool
s_test_codec_server (int mode)
{
    bool success = false;
    void *ctx = NULL, *dealer = NULL, *monitor = NULL;
    curve_codec_t *codec = NULL;
    peer_t peer = { -1, 0, NULL, 0, 0, "" };
    int listener = -1;
    uint8_t server_public [32], server_secret [32];
    uint8_t wrong_public [32], wrong_secret [32];
    uint8_t client_public [32], client_secret [32];
    crypto_box_keypair (server_public, server_secret);
    crypto_box_keypair (wrong_public, wrong_secret);
    crypto_box_keypair (client_public, client_secret);

    uint16_t port = 0;
    listener = s_tcp_listen (&port);
    CHECK (listener >= 0, "cannot listen on 127.0.0.1");
    s_trace ("codec server on 127.0.0.1:%u", port);

    ctx = zmq_ctx_new ();
    CHECK (ctx, "zmq_ctx_new failed");
    dealer = s_zmq_socket (ctx, ZMQ_DEALER);
    CHECK (dealer, "zmq_socket failed");
    CHECK (zmq_setsockopt (dealer, ZMQ_ROUTING_ID, "libzmq-dealer", 13) == 0,
           "ZMQ_ROUTING_ID failed");
    CHECK (zmq_setsockopt (dealer, ZMQ_CURVE_SERVERKEY,
                           mode == SERVER_WRONG_KEY? wrong_public:
                                                     server_public, 32) == 0,
           "ZMQ_CURVE_SERVERKEY failed");
    CHECK (zmq_setsockopt (dealer, ZMQ_CURVE_PUBLICKEY, client_public,
                           32) == 0, "ZMQ_CURVE_PUBLICKEY failed");
    CHECK (zmq_setsockopt (dealer, ZMQ_CURVE_SECRETKEY, client_secret,
                           32) == 0, "ZMQ_CURVE_SECRETKEY failed");
    char monitor_endpoint [64];
    snprintf (monitor_endpoint, sizeof monitor_endpoint,
              "inproc://interop-dealer-monitor-%d", mode);
    monitor = s_monitor (ctx, dealer, monitor_endpoint);
    CHECK (monitor, "cannot monitor the DEALER");
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%u", port);
    CHECK (zmq_connect (dealer, endpoint) == 0, "zmq_connect failed");

    peer.fd = s_tcp_accept (listener);
    CHECK (peer.fd >= 0, "libzmq did not connect within %d ms",
           TIMEOUT_MSEC);
    CHECK (s_send_greeting (peer.fd, true) == 0, "cannot send greeting");
    CHECK (s_recv_greeting (peer.fd, false, &peer.reason) == 0,
           "libzmq greeting: %s", peer.reason);

    codec = curve_codec_new_server (server_public, server_secret);
    CHECK (codec, "curve_codec_new_server failed");
    CHECK (curve_codec_set_metadata (codec, "Socket-Type", "ROUTER", 6) == 0,
           "set_metadata failed");
    int state = s_drive (&peer, codec);
    CHECK (state >= 0, "handshake with libzmq failed: %s", peer.reason);

    if (mode == SERVER_WRONG_KEY) {
        CHECK (state == CURVE_CODEC_FAILED
               && curve_codec_error (codec) == CURVE_ERR_BOX,
               "HELLO for another server key: state 0x%02x, %s (%s)", state,
               curve_codec_error_name (curve_codec_error (codec)),
               curve_codec_reason (codec));
        s_trace ("codec refused libzmq's HELLO: %s",
                 curve_codec_reason (codec));
        success = true;
        goto cleanup;
    }
    CHECK (state == CURVE_CODEC_AUTH, "codec did not reach AUTH: %s (%s)",
           curve_codec_error_name (curve_codec_error (codec)),
           curve_codec_reason (codec));
    const uint8_t *peer_key = curve_codec_peer_key (codec);
    CHECK (peer_key && memcmp (peer_key, client_public, 32) == 0,
           "client permanent key from INITIATE is not libzmq's");
    CHECK (s_metadata_is (codec, "socket-type", "DEALER"),
           "INITIATE metadata socket-type is not \"DEALER\"");
    CHECK (s_metadata_is (codec, "identity", "libzmq-dealer"),
           "INITIATE metadata identity is not \"libzmq-dealer\"");
    uint32_t value = 0;
    if (mode == SERVER_DENY) {
        //  libzmq reads a 3-digit reason 300/400/500 as a ZAP status code
        //  and reports it (src/mechanism_base.cpp handle_error_reason)
        CHECK (curve_codec_deny (codec, "400") == 0, "deny failed");
        state = s_drive (&peer, codec);
        CHECK (state == CURVE_CODEC_FAILED, "deny did not fail the codec");
        int event = s_monitor_event (monitor, &value);
        CHECK (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 400,
               "libzmq event 0x%x value %u; expected HANDSHAKE_FAILED_AUTH "
               "400 from our ERROR", (unsigned) event, (unsigned) value);
        s_trace ("libzmq read our ERROR \"400\" as ZAP status %u",
                 (unsigned) value);
        success = true;
        goto cleanup;
    }
    CHECK (curve_codec_allow (codec) == 0, "allow failed");
    state = s_drive (&peer, codec);
    CHECK (state == CURVE_CODEC_READY, "codec not READY after allow");
    CHECK (s_monitor_event (monitor, &value) == ZMQ_EVENT_HANDSHAKE_SUCCEEDED,
           "libzmq did not accept our READY");

    CHECK (s_traffic_from_libzmq (&peer, codec, dealer, NULL, "dealer"),
           "libzmq -> codec traffic");
    CHECK (s_traffic_to_libzmq (&peer, codec, dealer, NULL),
           "codec -> libzmq traffic");
    CHECK (s_ping_pong (&peer, codec), "PING/PONG with libzmq");
    success = true;
cleanup:
    curve_codec_destroy (&codec);
    s_peer_close (&peer);
    if (listener >= 0)
        close (listener);
    if (monitor)
        zmq_close (monitor);
    if (dealer)
        zmq_close (dealer);
    if (ctx)
        zmq_ctx_term (ctx);
    sodium_memzero (server_secret, sizeof server_secret);
    sodium_memzero (wrong_secret, sizeof wrong_secret);
    sodium_memzero (client_secret, sizeof client_secret);
    return success;
}

static bool
s_test_codec_server_normal (void)
{
    return s_test_codec_server (SERVER_NORMAL);
}

static bool
s_test_codec_server_wrong_key (void)
{
    return s_test_codec_server (SERVER_WRONG_KEY);
}

static bool
s_test_codec_server_deny (void)
{
    return s_test_codec_server (SERVER_DENY);
}


//  --------------------------------------------------------------------------

typedef struct {
    const char *name;
    bool (*test) (void);
} interop_test_t;

int
main (int argc, char **argv)
{
    for (int argn = 1; argn < argc; argn++)
        if (!strcmp (argv [argn], "-v") || !strcmp (argv [argn], "--verbose"))
            s_verbose = true;
    if (sodium_init () < 0) {
        fprintf (stderr, "FAIL: libsodium cannot start\n");
        return 1;
    }
    if (!zmq_has ("curve")) {
        fprintf (stderr, "FAIL: this libzmq was built without CURVE\n");
        return 1;
    }
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    printf ("curve_interop_zmtp: curve_codec against libzmq %d.%d.%d "
            "ZMTP-CURVE\n", major, minor, patch);

    interop_test_t tests [] = {
        { "libzmq ROUTER server, codec client", s_test_codec_client },
        { "libzmq server, codec client with wrong server key",
          s_test_codec_client_wrong_key },
        { "codec server, libzmq DEALER client", s_test_codec_server_normal },
        { "codec server, libzmq client with wrong server key",
          s_test_codec_server_wrong_key },
        { "codec server denies libzmq client (ERROR \"400\")",
          s_test_codec_server_deny },
    };
    int passed = 0, failed = 0;
    for (size_t index = 0; index < sizeof tests / sizeof tests [0]; index++) {
        bool ok = tests [index].test ();
        printf (" * %s: %s\n", tests [index].name, ok? "OK": "FAILED");
        if (ok)
            passed++;
        else
            failed++;
    }
    printf ("%d passed, %d failed (%d checks)\n", passed, failed, s_checks);
    return failed? 1: 0;
}
