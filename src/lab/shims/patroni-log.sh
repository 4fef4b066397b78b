#!/bin/sh
# pgchaos lab: prints Patroni's log entries whose timestamp lies between SINCE and UNTIL
# (both "YYYY-MM-DD HH:MM:SS", inclusive), keeping the continuation lines (tracebacks) of
# an entry in the window.
# usage: pgchaos-patroni-log SINCE UNTIL [FILE]
[ $# -ge 2 ] || { echo "usage: pgchaos-patroni-log SINCE UNTIL [FILE]" >&2; exit 2; }
file=${3:-/var/log/patroni/patroni.log}
[ -r "$file" ] || exit 0
exec awk -v since="$1" -v until="$2" '
    /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]/ {
        ts = substr($0, 1, 19)
        inwin = (ts >= since && ts <= until)
    }
    inwin { print }
' "$file"
