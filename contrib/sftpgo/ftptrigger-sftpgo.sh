#!/bin/sh
# ftptrigger-sftpgo.sh: SFTPGo's upload hook for ftptrigger, run by an Event Manager command
# action on `upload` events (contrib/sftpgo/ftptrigger-event-rule.json), which passes:
#
#   FTPTRIGGER_SFTPGO_USER           {{Name}}         the login (the CID, or mapped to one)
#   FTPTRIGGER_SFTPGO_PATH           {{FsPath}}       the uploaded file's absolute path on disk
#                                                     (not {{VirtualPath}}: that is relative to the
#                                                     user's home, and ftptrigger needs the real file)
#   FTPTRIGGER_SFTPGO_STATUS         {{Status}}       1 = upload OK; 2 = error; 3 = quota exceeded
#
# (or, by hand: ftptrigger-sftpgo.sh LOGIN FILE). A failed or partial upload starts nothing.
# ftptrigger-hook.sh then pairs the file with its `.md5` sidecar and runs ftptrigger when the
# second of the two arrives. Local filesystem storage only: ftptrigger needs the file on disk.
# See contrib/README.md, "SFTPGo".

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

user=${FTPTRIGGER_SFTPGO_USER:-${1-}}
file=${FTPTRIGGER_SFTPGO_PATH:-${2-}}
status=${FTPTRIGGER_SFTPGO_STATUS:-1}

if [ "$status" != 1 ]; then
    # SFTPGo reports failed uploads too; what they left behind is not to be processed.
    exit 0
fi

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
    echo "ftptrigger-sftpgo: ftptrigger-hook.sh not found beside $0; set FTPTRIGGER_HOOK" >&2
    exit 0
fi

exec /bin/sh "$hook" "$user" "$file"
