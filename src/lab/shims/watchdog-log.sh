#!/bin/sh
# pgchaos lab: prints every reset this node's watchdog caused, one per line:
#   <RFC 3339 UTC time, ms> reset no keepalive for <S> s (timeout <T> s)
# (the inventory's `watchdog_log` operation). The full log, with arming, timeouts and
# magic closes, is @WATCHDOG_LOG@.
[ -r '@WATCHDOG_LOG@' ] || exit 0
exec awk '$2 == "reset"' '@WATCHDOG_LOG@'
