#!/bin/sh
# ftptrigger-hook.sh USER FILE
#
# The common part of every FTP server integration in contrib/: called once per finished upload
# with the FTP login and the uploaded file's absolute path, it pairs each data file with its MD5
# (or SHA-256) sidecar and, as soon as both are there (whichever arrived second), runs
#
#     ftptrigger -c CONFIG run --md5-file=FILE.md5 -- CID FILE
#
# (`--sha256-file=FILE.sha256` when the sidecar suffix ends in .sha256).
#
# An upload whose partner has not arrived yet, and anything that is neither a data file nor a
# sidecar, ends here quietly: the partner's own upload calls this script again. Names are never
# given to a shell, eval or a format string; every expansion is quoted. Always exits 0, since the
# servers ignore a hook's status anyway: failures go to the log, and ftptrigger itself records
# and notifies every failed run.
#
# It starts with `cd /`: servers run hooks inside the customer's upload directory, and nothing
# found there (a `ftpscanner.cfg`, a program named like one in a relative PATH entry) may be used.
# The config is always passed explicitly, so no lookup order can bring the working directory back.
#
# Settings, from the environment (the server wrappers pass theirs on), or edit the defaults here:
#   FTPTRIGGER_BIN              the ftptrigger binary                  [/usr/local/bin/ftptrigger]
#   FTPTRIGGER_CONFIG           the config, an absolute path; passed as -c  [/etc/ftptrigger/ftpscanner.cfg]
#   FTPTRIGGER_CID_MAP          file of "LOGIN CID" lines (# comments); a login it does not list is
#                               its own CID; a CID of "-" ignores that login's uploads  [login = CID]
#   FTPTRIGGER_SIDECAR_SUFFIX   what a sidecar's name adds to its data file's name      [.md5]
#                               (.sha256: the sidecars are sha256sum listings)
#   FTPTRIGGER_HOOK_LOG         append messages to this file instead of syslog (without either a
#                               file or a syslog socket at /dev/log, they go to stderr)
#   FTPTRIGGER_HOOK_FACILITY    syslog facility                                         [ftp]
#   FTPTRIGGER_HOOK_DEBUG=1     also log the uploads that start nothing, and why
#   FTPTRIGGER_HOOK_BACKGROUND=1  start ftptrigger and return at once, for servers that wait for
#                               their hook (pure-uploadscript runs hooks one at a time; SFTPGo and
#                               ProFTPD kill a hook that runs too long)

set -u
cd / || exit 0
PATH=${PATH:-/usr/local/bin:/usr/bin:/bin}

bin=${FTPTRIGGER_BIN:-/usr/local/bin/ftptrigger}
config=${FTPTRIGGER_CONFIG:-/etc/ftptrigger/ftpscanner.cfg}
suffix=${FTPTRIGGER_SIDECAR_SUFFIX:-.md5}
case $suffix in
    *.[sS][hH][aA]256) digest_flag=--sha256-file sum_tool=sha256sum sum_width=64 ;;
    *) digest_flag=--md5-file sum_tool=md5sum sum_width=32 ;;
esac
map=${FTPTRIGGER_CID_MAP:-}
logfile=${FTPTRIGGER_HOOK_LOG:-}
facility=${FTPTRIGGER_HOOK_FACILITY:-ftp}
debug=${FTPTRIGGER_HOOK_DEBUG:-0}
background=${FTPTRIGGER_HOOK_BACKGROUND:-0}
tag="ftptrigger-hook[$$]"

# log PRIORITY MESSAGE: one log line per line of MESSAGE.
log() {
    prio=$1
    shift
    if [ -n "$logfile" ]; then
        now=$(date '+%Y-%m-%dT%H:%M:%S%z')
        printf '%s\n' "$*" | while IFS= read -r line || [ -n "$line" ]; do
            printf '%s %s %s: %s\n' "$now" "$tag" "$prio" "$line"
        done >>"$logfile"
    elif [ -S /dev/log ] && command -v logger >/dev/null 2>&1; then
        printf '%s\n' "$*" | logger -t "$tag" -p "$facility.$prio" 2>/dev/null
    else
        # No syslog listening (logger would drop the line and still exit 0): stderr, which
        # the server may log (ProFTPD's ExecLog, SFTPGo's log) or drop (pure-uploadscript).
        printf '%s\n' "$*" | while IFS= read -r line || [ -n "$line" ]; do
            printf '%s %s: %s\n' "$tag" "$prio" "$line"
        done >&2
    fi
    return 0
}

debug() {
    if [ "$debug" = 1 ]; then
        log debug "$@"
    fi
}

# show TEXT: TEXT for a log line, control characters (a newline in an upload's name) as `?`.
show() {
    printf '%s' "$1" | LC_ALL=C tr '[:cntrl:]' '?'
}

user=${1-}
file=${2-}

u=$(show "$user")
f=$(show "$file")

case $file in
    /*) ;;
    *)
        debug "${u:-?}: ignored: no absolute path given (${f:-nothing})"
        exit 0
        ;;
esac
if [ -z "$user" ]; then
    log warning "$f: uploaded by no known login; nothing ran (the server passed no user name)"
    exit 0
fi

name=${file##*/}
case $name in
    '' | .pureftpd-* | .ftpquota)
        # pure-ftpd's own temporary and quota files
        debug "$u: $f: ignored: a server's own file"
        exit 0
        ;;
esac

case $name in
    *"$suffix")
        data=${file%"$suffix"}
        sidecar=$file
        ;;
    *)
        data=$file
        sidecar=$file$suffix
        ;;
esac
if [ -z "${data##*/}" ]; then
    debug "$u: $f: ignored: a sidecar with no data file name"
    exit 0
fi

d=$(show "$data")

# Both must be plain files; whichever arrived first waits for the other.
if [ ! -f "$data" ] || [ -L "$data" ]; then
    debug "$u: $f: waiting for the data file $d"
    exit 0
fi
if [ ! -f "$sidecar" ] || [ -L "$sidecar" ]; then
    debug "$u: $f: waiting for the sidecar $(show "$sidecar")"
    exit 0
fi

cid=$user
if [ -n "$map" ]; then
    if [ ! -r "$map" ]; then
        log err "$u: $d: cannot read the CID map $map; nothing ran"
        exit 0
    fi
    while read -r login mapped _rest; do
        case $login in '' | '#'*) continue ;; esac
        if [ "$login" = "$user" ] && [ -n "$mapped" ]; then
            cid=$mapped
            break
        fi
    done <"$map"
fi
if [ "$cid" = "-" ]; then
    debug "$u: $d: ignored: the CID map says to ignore this login"
    exit 0
fi

case $bin in
    */*) ;;
    *) bin=$(command -v "$bin" || printf '%s' "$bin") ;;
esac
if [ ! -x "$bin" ]; then
    log err "$(show "$cid"): $d: $bin is not an executable file; nothing ran (set FTPTRIGGER_BIN)"
    exit 0
fi
case $config in
    /*) ;;
    *)
        log err "$(show "$cid"): $d: FTPTRIGGER_CONFIG must be an absolute path, not $(show "$config"); nothing ran"
        exit 0
        ;;
esac

# A sidecar that arrives before its data file finds the previous upload's data file, already
# processed under that name: that pair is stale, not a mismatch. Wait for the new data file
# (its own hook runs the pair) instead of reporting one. A sidecar that claims the digest of
# the file there is that file's own (sent just after it, and maybe run already by the data
# file's hook): it goes on to ftptrigger, which finds the duplicate.
if [ "$file" = "$sidecar" ] && [ "$data" -ot "$sidecar" ] && command -v "$sum_tool" >/dev/null 2>&1; then
    sum=$("$sum_tool" <"$data" | cut -c1-"$sum_width")
    if ! grep -qi "$sum" "$sidecar" 2>/dev/null &&
        "$bin" --config="$config" history --json --count 100 --cid "$cid" --file "${data##*/}" 2>/dev/null </dev/null |
        grep '"outcome":"success"' | grep -q "\"actual\":\"$sum\""; then
        debug "$u: $f: waiting for the data file $d (the one there already succeeded)"
        exit 0
    fi
fi

trigger() {
    out=$("$bin" --config="$config" run "$digest_flag=$sidecar" -- "$cid" "$data" 2>&1 </dev/null)
    rc=$?
    # ftptrigger's own line for a skipped duplicate names the run that processed the file.
    earlier=$(printf '%s\n' "$out" | sed -n 's/^ftptrigger: .* already succeeded in run \([0-9][0-9]*\) at .*/\1/p' | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$earlier" ]; then
        log info "$(show "$cid"): $d: skipped, duplicate of run $earlier (ftptrigger exit 0)"
    elif [ "$rc" -eq 0 ]; then
        log info "$(show "$cid"): $d: done (ftptrigger exit 0)"
    else
        log err "$(show "$cid"): $d: ftptrigger exit $rc
$(printf '%s\n' "$out" | tail -n 40)"
    fi
}

if [ "$background" = 1 ]; then
    trigger </dev/null >/dev/null 2>&1 &
else
    trigger
fi
exit 0
