#!/bin/sh
# Installs what the PostgreSQL journal tests need. Called by .ci/run before `cargo test`.
#
# The tests (tests/integration/pg_support.rs) start a throwaway cluster of their own, in a temp
# dir, on 127.0.0.1 and a free port, with `initdb` and `pg_ctl` (Debian keeps them in
# /usr/lib/postgresql/VERSION/bin) run as the `postgres` user, and create databases with `psql`.
# They never use a system cluster; with FTPTRIGGER_TEST_PG_URL they use that server instead.
#
# - initdb, pg_ctl and psql there (and the postgres user): does nothing;
# - missing, and we are root with apt-get: installs the distribution's server package
#   (`postgresql`) without letting it create or start the system's `main` cluster;
# - missing otherwise: says so and exits 0, and the tests skip themselves with the same reason.
# An install that was attempted and failed is an error (exit 1): CI must not quietly skip.

set -eu

# The newest Debian server bin dir, else whatever is on PATH.
find_bin() {
    # /usr/lib/postgresql/VERSION/bin, the highest VERSION first
    for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t / -k 5 -n -r); do
        if [ -x "$dir/$1" ]; then
            echo "$dir/$1"
            return 0
        fi
    done
    command -v "$1" 2>/dev/null
}

missing_tools() {
    missing=""
    for tool in initdb pg_ctl psql; do
        find_bin "$tool" >/dev/null || missing="$missing $tool"
    done
    getent passwd postgres >/dev/null 2>&1 || missing="$missing postgres-user"
    echo "${missing# }"
}

missing=$(missing_tools)
if [ -z "$missing" ]; then
    echo "setup-postgres: $(find_bin initdb) and $(find_bin pg_ctl) are installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup-postgres: missing $missing and not root: the PostgreSQL tests will be skipped (or set FTPTRIGGER_TEST_PG_URL)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-postgres: missing $missing and no apt-get here: the PostgreSQL tests will be skipped (or set FTPTRIGGER_TEST_PG_URL)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Debian's server package creates a `main` cluster when it is first installed and starts it.
# Neither is wanted (the tests start their own): a createcluster.d drop-in says
# create_main_cluster = false (read by the postinst through createcluster.conf's include_dir; a
# drop-in, so the ucf-managed createcluster.conf stays untouched), and a policy-rc.d that says no
# keeps maintainer scripts from starting any daemon. Each only if not there already, and both
# removed afterwards.
policy=/usr/sbin/policy-rc.d
dropin_dir=/etc/postgresql-common/createcluster.d
dropin=$dropin_dir/zz-ftptrigger-tests-no-main-cluster.conf
made_policy=0
made_dropin=0
cleanup() {
    if [ "$made_policy" = 1 ]; then
        rm -f "$policy"
    fi
    if [ "$made_dropin" = 1 ]; then
        rm -f "$dropin"
        rmdir "$dropin_dir" 2>/dev/null || true
    fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
fi
if [ ! -e "$dropin" ]; then
    mkdir -p "$dropin_dir"
    printf '# tests/pg/setup-postgres.sh (ftptrigger): no system cluster\ncreate_main_cluster = false\n' >"$dropin"
    made_dropin=1
fi

# retry WHAT COMMAND...: a mirror can hiccup; three tries, a few seconds apart.
retry() {
    what=$1
    shift
    tries=0
    until "$@"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 3 ]; then
            echo "setup-postgres: could not $what" >&2
            exit 1
        fi
        sleep 5
    done
}

# Clusters there before (a removed but not purged server can leave some), to tell new ones.
clusters_before=$(pg_lsclusters -h 2>/dev/null || true)

retry "update the package lists" apt-get update -qq
echo "setup-postgres: missing $missing; installing postgresql"
retry "install postgresql" apt-get install -y -qq --no-install-recommends postgresql >/dev/null

missing=$(missing_tools)
if [ -n "$missing" ]; then
    echo "setup-postgres: $missing still missing after installing postgresql" >&2
    exit 1
fi
# No system cluster may have come with it, let alone be running.
clusters_after=$(pg_lsclusters -h 2>/dev/null || true)
if [ "$clusters_after" != "$clusters_before" ]; then
    echo "setup-postgres: installing postgresql created or started a system cluster:" >&2
    pg_lsclusters >&2 || true
    exit 1
fi
echo "setup-postgres: installed postgresql ($(find_bin initdb)); no system cluster"
