#!/bin/sh
# ftptrigger-upload.sh: pure-ftpd's upload script for ftptrigger.
#
#     pure-ftpd ... -o                      # (or CallUploadScript yes) writes each finished upload to a pipe
#     pure-uploadscript -B -r /usr/local/lib/ftptrigger/ftptrigger-upload.sh
#
# pure-uploadscript runs this once per finished upload, with the file's absolute path as $1 and
# the login in UPLOAD_VUSER (the virtual user for PureDB/MySQL/LDAP users, else the system login).
# The login is the CID (or is mapped to one by FTPTRIGGER_CID_MAP); the file and its `.md5`
# sidecar are paired by ftptrigger-hook.sh, which runs ftptrigger when the second one arrives.
# See contrib/README.md, "pure-ftpd". Settings: the FTPTRIGGER_* variables in ftptrigger-hook.sh,
# set in pure-uploadscript's environment (its hooks inherit it) or edited there.
#
# pure-uploadscript gives hooks no stdout/stderr (they go to /dev/null): messages go to syslog,
# or to FTPTRIGGER_HOOK_LOG.

set -u

# Where this script lives, found without running anything (the working directory is the
# customer's upload directory until the `cd /`, and PATH may have a relative entry). Started by
# a bare name, it was found in PATH, which cannot say where: the installed layout is assumed.
case $0 in
    */*) here=${0%/*} ;;
    *) here=/usr/local/lib/ftptrigger ;;
esac
case $here in
    /*) ;;
    *) here=$(pwd -P)/$here ;;
esac
cd / || exit 0

# ftptrigger-hook.sh: FTPTRIGGER_HOOK, else beside this script (installed layout), else one
# directory up (this repository's contrib/ layout).
hook=${FTPTRIGGER_HOOK:-}
if [ -z "$hook" ]; then
    for candidate in "$here/ftptrigger-hook.sh" "$here/../ftptrigger-hook.sh"; do
        if [ -f "$candidate" ]; then
            hook=$candidate
            break
        fi
    done
fi
if [ -z "$hook" ]; then
    logger -t ftptrigger-upload -p ftp.err "ftptrigger-hook.sh not found beside $0; set FTPTRIGGER_HOOK" 2>/dev/null
    exit 0
fi

# UPLOAD_VUSER, not UPLOAD_USER: the latter is the name of the uid that owns the file, the same
# for every virtual user.
exec /bin/sh "$hook" "${UPLOAD_VUSER-}" "${1-}"
