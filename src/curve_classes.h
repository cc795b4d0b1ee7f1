/*  =========================================================================
    curve_classes - private header shared by the library's sources

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef CURVE_CLASSES_H_INCLUDED
#define CURVE_CLASSES_H_INCLUDED

#ifndef CURVE_BUILDING
#   define CURVE_BUILDING
#endif
#include "../include/curve.h"

//  Sources that must stay free of ZeroMQ (the codec) define CURVE_CODEC_ONLY
//  before including this header.
#if !defined (CURVE_CODEC_ONLY)
#   include <czmq.h>
#   include <inttypes.h>
#   include <sodium.h>
#   include "curve_session.h"
#endif

//  True if name is a valid metadata property name (RFC 26: 1-255 of
//  ALPHA, DIGIT, "-", "_", ".", "+"), the codec's own rule, so the sockets
//  can refuse a bad name at once rather than when the codec meets it.
bool
    curve_codec_name_valid (const char *name);

//  Internal hooks for the self tests and fuzzers only. They are not exported
//  from the shared library; programs that use them link the static one.

//  A random source: fill buf with size octets.
typedef void (curve_random_fn) (void *buf, size_t size, void *arg);

//  Replace the codec's random source for the whole process (NULL restores
//  libsodium's randombytes_buf). Not thread safe; tests only, so that
//  known-answer vectors are reproducible.
void
    curve_codec_test_set_random (curve_random_fn *fn, void *arg);

//  Set the next short nonce this codec will send, to test counter wrap.
void
    curve_codec_test_set_send_nonce (curve_codec_t *self, uint64_t nonce);

#endif
