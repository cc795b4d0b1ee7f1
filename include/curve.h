/*  =========================================================================
    curve - CurveZMQ (ZeroMQ RFC 26) security inside message payloads

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef CURVE_H_INCLUDED
#define CURVE_H_INCLUDED

//  Library version
#define CURVE_VERSION_MAJOR 0
#define CURVE_VERSION_MINOR 1
#define CURVE_VERSION_PATCH 0

#define CURVE_MAKE_VERSION(major, minor, patch) \
    ((major) * 10000 + (minor) * 100 + (patch))
#define CURVE_VERSION \
    CURVE_MAKE_VERSION (CURVE_VERSION_MAJOR, CURVE_VERSION_MINOR, \
                        CURVE_VERSION_PATCH)

//  Symbol visibility for the shared library
#if defined (_WIN32)
#   if defined (CURVE_STATIC)
#       define CURVE_EXPORT
#   elif defined (CURVE_BUILDING)
#       define CURVE_EXPORT __declspec(dllexport)
#   else
#       define CURVE_EXPORT __declspec(dllimport)
#   endif
#else
#   if defined (CURVE_BUILDING)
#       define CURVE_EXPORT __attribute__ ((visibility ("default")))
#   else
#       define CURVE_EXPORT
#   endif
#endif

//  Functions whose result must be checked
#if defined (__GNUC__) || defined (__clang__)
#   define CURVE_CHECK __attribute__ ((warn_unused_result))
#else
#   define CURVE_CHECK
#endif

//  The codec needs libsodium only; the virtual sockets need czmq. Define
//  CURVE_CODEC_ONLY to get the codec alone (the codec-only build's
//  pkg-config file does this for you).
#include "curve_codec.h"
#if !defined (CURVE_CODEC_ONLY)
#   include "curve_cert.h"
#   include "curve_client.h"
#   include "curve_server.h"
#   include "curve_peer.h"
#endif

#endif
