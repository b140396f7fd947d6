#!/bin/sh
# Installs what the pure-ftpd end-to-end test (tests/integration/ftp.rs) needs: pure-ftpd
# (pure-ftpd, pure-pw, pure-uploadscript) and curl. Called by .ci/run before `cargo test`.
#
# - everything already there: does nothing;
# - missing, and we are root with apt-get: `apt-get update` and installs the packages, without
#   letting the package start the system's FTP daemon (the test starts its own, on 127.0.0.1);
# - missing otherwise: says so and exits 0, and the test skips itself with the same reason.
# An install that was attempted and failed is an error (exit 1): CI must not quietly skip.

set -eu

have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing=""
have pure-ftpd || missing="$missing pure-ftpd"
have pure-pw || missing="$missing pure-ftpd"
have pure-uploadscript || missing="$missing pure-ftpd"
have curl || missing="$missing curl"
# one name per package
# shellcheck disable=SC2086 # split on purpose
packages=$(printf '%s\n' $missing | sort -u | tr '\n' ' ' | sed 's/ $//')

if [ -z "$missing" ]; then
    echo "setup-pure-ftpd: pure-ftpd and curl are installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup-pure-ftpd: missing $packages and not root: the pure-ftpd test will be skipped"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-pure-ftpd: missing $packages and no apt-get here: the pure-ftpd test will be skipped"
    exit 0
fi

echo "setup-pure-ftpd: installing $packages"
export DEBIAN_FRONTEND=noninteractive
# Keep maintainer scripts from starting daemons (pure-ftpd on port 21, inetd), the usual way: a
# policy-rc.d that says no, only if there is none already, removed afterwards.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() {
    if [ "$made_policy" = 1 ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT

# A mirror can hiccup: three tries, a few seconds apart.
tries=0
# shellcheck disable=SC2086 # one word per package
until apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 3 ]; then
        echo "setup-pure-ftpd: could not install $packages" >&2
        exit 1
    fi
    sleep 5
done

for tool in pure-ftpd pure-pw pure-uploadscript curl; do
    if ! have "$tool"; then
        echo "setup-pure-ftpd: $tool is still missing after installing $packages" >&2
        exit 1
    fi
done
echo "setup-pure-ftpd: installed $packages"
