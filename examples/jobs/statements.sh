#!/bin/sh
# A harmless example job: it reads the statement file and says what it would do.
# Usage: statements.sh --cycle CYCLE -- FILE
set -eu
cycle=""
while [ $# -gt 0 ]; do
    case "$1" in
        --cycle) cycle="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "statements.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
file="$1"
lines=$(($(wc -l < "$file") - 1))
echo "statements: CID $FTPTRIGGER_CID, cycle $cycle, queue ${QUEUE:-none}"
echo "statements: $lines statement(s) in $FTPTRIGGER_FILENAME ($FTPTRIGGER_SIZE bytes, md5 $FTPTRIGGER_MD5)"
echo "statements: done"
