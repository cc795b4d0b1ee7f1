/*  =========================================================================
    curve_cert - key pairs on disk: safe loading, saving, client stores

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef CURVE_CERT_H_INCLUDED
#define CURVE_CERT_H_INCLUDED

#include <czmq.h>

#include "curve.h"

#ifdef __cplusplus
extern "C" {
#endif

//  @header
//  curve_cert reads and writes key pairs as czmq certificates (zcert_t):
//  two ZPL files, NAME.key with the public key and NAME.key_secret with
//  both keys, the format czmq's zcert_load and pyzmq's
//  zmq.auth.load_certificate read. On top of czmq it adds what a tool that
//  handles secrets needs:
//      - a secret file that group or others can read is refused, with a
//        message that names the file and the chmod that fixes it (as ssh
//        does);
//      - a malformed file is refused with the reason (no curve section, a
//        key missing, the wrong length, not Z85, an all-zero key, a secret
//        key that does not belong to the public key);
//      - files are written without a window in which the secret is
//        readable, and existing keys are not replaced unless asked;
//      - an authorised-clients directory is checked for the mistakes that
//        make czmq's zcertstore misbehave (see curve_cert_store_check).
//
//  Threads: every function may be called from any thread; errors go to a
//  buffer the caller passes (error, error_size; NULL/0 to ignore them).
//  A buffer of CURVE_CERT_ERROR_MAX octets holds any message in full
//  unless a path is very long, in which case it is truncated.
//  @discuss
//  Secret keys are never printed or put in error messages. Buffers that
//  held one are wiped with sodium_memzero; czmq's own temporaries (inside
//  zconfig while parsing or formatting) cannot be reached and are not.
//  @end

//  File names and default locations
#define CURVE_CERT_SUFFIX        ".key"     //  Public certificate file
#define CURVE_CERT_SECRET_SUFFIX "_secret"  //  Added for the secret file
#define CURVE_CERT_DIR           ".curve"   //  Under the home directory
#define CURVE_CERT_CLIENTS_DIR   "authorized_clients"   //  Under that

//  Limits
#define CURVE_CERT_ERROR_MAX     512        //  Suggested error buffer size
#define CURVE_CERT_FILE_MAX      65536      //  Largest file we will read
#define CURVE_CERT_META_VALUE_MAX 512       //  Longest metadata value

//  Load a secret certificate (both keys and the metadata). filename is the
//  public file "x.key" or the secret file "x.key_secret"; either way the
//  secret file is read. It must be a regular file that neither group nor
//  others can read or write, and the secret key must match the public key.
//  Returns a new certificate (caller owns it; destroy it with
//  curve_cert_destroy to wipe the secret key), or NULL with the reason in
//  error.
CURVE_EXPORT zcert_t * CURVE_CHECK
    curve_cert_load_secret (const char *filename,
                            char *error, size_t error_size);

//  Load the public key and metadata of a certificate file (public or
//  secret; a secret key in the file is ignored and its copy wiped). No
//  permission rule applies. The returned certificate's secret key is all
//  zeros. Returns a new certificate (caller owns it), or NULL with the
//  reason in error.
CURVE_EXPORT zcert_t * CURVE_CHECK
    curve_cert_load_public (const char *filename,
                            char *error, size_t error_size);

//  Save a certificate as DIR/NAME.key (public, mode 0644) and
//  DIR/NAME.key_secret (mode 0600 from its creation). dir NULL means the
//  default directory (curve_cert_default_dir); missing directories are
//  created with mode 0700. NAME is 1-200 characters of letters, digits,
//  "-", "_", "." and "+", not starting with "." (czmq skips hidden files)
//  and not ending in "_secret". The certificate must hold a secret key
//  that matches its public key; metadata names follow RFC 26 (as the
//  codec's) and must not start with "public-key" or "secret-key" (pyzmq
//  would take them for keys); values are at most CURVE_CERT_META_VALUE_MAX
//  characters with no '"' and no control characters, so that czmq and
//  pyzmq read them back. If either file exists, nothing is written unless
//  force is true, in which case both are replaced atomically (rename).
//  Does not take ownership of cert. Returns 0, or -1 with the reason in
//  error; then no file was created or replaced, except if renaming the
//  public file fails after the secret one was replaced (the reason says
//  so).
CURVE_EXPORT int CURVE_CHECK
    curve_cert_save (zcert_t *cert, const char *dir, const char *name,
                     bool force, char *error, size_t error_size);

//  Destroy a certificate after wiping its secret key (czmq's zcert_destroy
//  frees it as it is). Nulls the caller's pointer; NULL is a no-op.
CURVE_EXPORT void
    curve_cert_destroy (zcert_t **cert_p);

//  Return the default key directory, "$HOME/.curve" (or the password
//  database's home directory when HOME is unset or empty). Caller owns the
//  string and frees it with free (). Returns NULL if there is no home
//  directory or memory runs out.
CURVE_EXPORT char *
    curve_cert_default_dir (void);

//  Return the default authorised-clients directory,
//  "$HOME/.curve/authorized_clients". Caller owns the string and frees it
//  with free (). Returns NULL as curve_cert_default_dir does.
CURVE_EXPORT char *
    curve_cert_default_clients_dir (void);

//  Check an authorised-clients directory the way czmq's zcertstore (and so
//  zauth's "CURVE" directory) will read it: every regular file, in
//  subdirectories too, except hidden files and files ending in "_secret".
//  dir NULL means curve_cert_default_clients_dir (). Returns the number of
//  client certificates czmq will load (0 if the directory does not exist
//  yet, which czmq accepts), or -1 with the reason in error when:
//      - the directory is writable by group or others (they could add
//        keys), or is not a directory;
//      - it holds a secret file ("*_secret"): czmq would read a client's
//        secret key in place of its public file; copy only the .key file;
//      - a file czmq would load has a bad key (czmq would load it anyway,
//        under a wrong key): the reason is curve_cert_load_public's;
//      - two files hold the same public key: czmq's zcertstore aborts the
//        whole process when it loads such a directory.
//  Files that are not certificates at all are ignored, as czmq ignores
//  them. The check holds at the time it runs; zcertstore reloads the
//  directory whenever it changes, so keep the directory to public .key
//  files.
CURVE_EXPORT int CURVE_CHECK
    curve_cert_store_check (const char *dir, char *error, size_t error_size);

//  Create a czmq certificate store for an authorised-clients directory
//  (NULL: the default one), after curve_cert_store_check found it safe.
//  The store reloads itself whenever the directory changes. Caller owns
//  the store and destroys it with zcertstore_destroy. Returns NULL with
//  the reason in error if the check fails or memory runs out.
CURVE_EXPORT zcertstore_t * CURVE_CHECK
    curve_cert_store_new (const char *dir, char *error, size_t error_size);

//  Self test of this class
CURVE_EXPORT void
    curve_cert_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
