#!/bin/sh
# ftptrigger-proftpd.sh LOGIN FILE: ProFTPD's upload hook for ftptrigger, run by mod_exec:
#
#     ExecOnCommand STOR,STOU,APPE /usr/local/lib/ftptrigger/ftptrigger-proftpd.sh %u %f
#
# %u is the login (the CID, or mapped to one by FTPTRIGGER_CID_MAP) and %f the uploaded file's
# full path; ftptrigger-hook.sh pairs the file with its `.md5` sidecar and runs ftptrigger when
# the second of the two arrives. See contrib/README.md, "ProFTPD", and contrib/proftpd/ftptrigger.conf.
#
# mod_exec starts this with only the ExecEnviron variables (FTPTRIGGER_*, PATH), as the logged-in
# user, and (unless told otherwise) keeps the client waiting until it exits.

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
    echo "ftptrigger-proftpd: ftptrigger-hook.sh not found beside $0; set FTPTRIGGER_HOOK" >&2
    exit 0
fi

exec /bin/sh "$hook" "${1-}" "${2-}"
