#!/bin/sh
# Installs what the FTP end-to-end tests need. Called by .ci/run before `cargo test`.
#
# - pure-ftpd (tests/integration/ftp.rs): the pure-ftpd and curl packages, installed as usual.
# - ProFTPD (ftp_proftpd.rs) and vsftpd (ftp_vsftpd.rs): Debian's FTP server packages conflict
#   with each other (each Provides and Conflicts ftp-server), so these two are not installed:
#   `apt-get download` fetches proftpd-core and vsftpd and `dpkg-deb -x` unpacks each into its
#   own tree under $FTPTRIGGER_TEST_SERVERS (/opt/ftptrigger-test), where the tests run them
#   from. Only their shared libraries are installed, which conflict with nothing.
#
# - everything already there (and the unpacked binaries find their libraries): does nothing;
# - missing, and we are root with apt-get: installs or unpacks what is missing, without letting
#   a package start the system's FTP daemon (the tests start their own, on 127.0.0.1);
# - missing otherwise: says so and exits 0, and the tests skip themselves with the same reason.
# An install that was attempted and failed is an error (exit 1): CI must not quietly skip.

set -eu

servers=${FTPTRIGGER_TEST_SERVERS:-/opt/ftptrigger-test}

have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

# unpacked PACKAGE BINARY: the package is unpacked and its binary finds every library it links.
unpacked() {
    [ -x "$servers/$1/$2" ] && ! ldd "$servers/$1/$2" 2>/dev/null | grep -q 'not found'
}

missing=""
have pure-ftpd || missing="$missing pure-ftpd"
have pure-pw || missing="$missing pure-ftpd"
have pure-uploadscript || missing="$missing pure-ftpd"
have curl || missing="$missing curl"
# one name per package
# shellcheck disable=SC2086 # split on purpose
packages=$(printf '%s\n' $missing | sort -u | tr '\n' ' ' | sed 's/ $//')

# The servers to unpack, each with the binary that shows it is there.
unpack=""
unpacked proftpd-core usr/sbin/proftpd || unpack="$unpack proftpd-core"
unpacked vsftpd usr/sbin/vsftpd || unpack="$unpack vsftpd"
unpack=${unpack# }

if [ -z "$packages" ] && [ -z "$unpack" ]; then
    echo "setup-servers: pure-ftpd and curl are installed; proftpd-core and vsftpd are unpacked in $servers"
    exit 0
fi
wanted=$(printf '%s' "$packages${packages:+${unpack:+ }}$unpack")
if [ "$(id -u)" -ne 0 ]; then
    echo "setup-servers: missing $wanted and not root: the FTP server tests that need them will be skipped"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-servers: missing $wanted and no apt-get here: the FTP server tests that need them will be skipped"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Keep maintainer scripts from starting daemons (pure-ftpd on port 21, inetd), the usual way: a
# policy-rc.d that says no, only if there is none already, removed afterwards.
policy=/usr/sbin/policy-rc.d
made_policy=0
work=""
cleanup() {
    if [ "$made_policy" = 1 ]; then
        rm -f "$policy"
    fi
    if [ -n "$work" ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi

# retry WHAT COMMAND...: a mirror can hiccup; three tries, a few seconds apart.
retry() {
    what=$1
    shift
    tries=0
    until "$@"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 3 ]; then
            echo "setup-servers: could not $what" >&2
            exit 1
        fi
        sleep 5
    done
}

retry "update the package lists" apt-get update -qq

if [ -n "$packages" ]; then
    echo "setup-servers: installing $packages"
    # shellcheck disable=SC2086 # one word per package
    retry "install $packages" apt-get install -y -qq --no-install-recommends $packages >/dev/null
    for tool in pure-ftpd pure-pw pure-uploadscript curl; do
        if ! have "$tool"; then
            echo "setup-servers: $tool is still missing after installing $packages" >&2
            exit 1
        fi
    done
    echo "setup-servers: installed $packages"
fi

if [ -n "$unpack" ]; then
    work=$(mktemp -d)
    # `apt-get download` writes into the working directory, as the unprivileged _apt user when
    # it can: a directory that user may write.
    chmod 755 "$work"
    if getent passwd _apt >/dev/null 2>&1; then
        chown _apt "$work"
    fi
    for package in $unpack; do
        echo "setup-servers: downloading $package"
        (cd "$work" && retry "download $package" apt-get download -qq "$package")
        deb=$(find "$work" -maxdepth 1 -name "${package}_*.deb" | head -n 1)
        if [ -z "$deb" ]; then
            echo "setup-servers: apt-get download $package left no .deb" >&2
            exit 1
        fi
        # Its shared libraries, and nothing else it depends on (no ftp-server, no daemon): the
        # first alternative of every lib* dependency, versions dropped, those not yet installed
        # (naming an installed one would upgrade it).
        libs=""
        for lib in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/ //g' |
            grep '^lib' | sort -u); do
            if ! dpkg-query -W -f '${Status}\n' "$lib" 2>/dev/null | grep -q ' installed$'; then
                libs="$libs $lib"
            fi
        done
        if [ -n "$libs" ]; then
            echo "setup-servers: installing $package's libraries:$libs"
            # shellcheck disable=SC2086 # one word per package
            retry "install$libs" apt-get install -y -qq --no-install-recommends $libs >/dev/null
        fi
        rm -rf "$servers/$package.new"
        mkdir -p "$servers/$package.new"
        dpkg-deb -x "$deb" "$servers/$package.new"
        rm -rf "$servers/$package"
        mv "$servers/$package.new" "$servers/$package"
    done
    for pair in proftpd-core:usr/sbin/proftpd vsftpd:usr/sbin/vsftpd; do
        if ! unpacked "${pair%%:*}" "${pair#*:}"; then
            echo "setup-servers: $servers/${pair%%:*}/${pair#*:} is missing or lacks a library after unpacking:" >&2
            ldd "$servers/${pair%%:*}/${pair#*:}" >&2 || true
            exit 1
        fi
    done
    echo "setup-servers: unpacked $unpack in $servers"
fi
