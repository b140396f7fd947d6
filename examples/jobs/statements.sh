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
# Read the file through the descriptor ftptrigger verified it through: if the path is swapped
# while this job runs, this still reads the verified file; "$file" names it in messages.
lines=$(($(wc -l <&"${FTPTRIGGER_FILE_FD:?run me from ftptrigger}") - 1))
echo "statements: CID $FTPTRIGGER_CID, cycle $cycle, queue ${QUEUE:-none}"
echo "statements: $lines statement(s) in ${file##*/} ($FTPTRIGGER_SIZE bytes, md5 $FTPTRIGGER_MD5)"
echo "statements: done"
