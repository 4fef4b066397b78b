#!/bin/sh
# pgchaos lab: patronictl pointed at the node's Patroni configuration (unless -c is given).
for a in "$@"; do
    case "$a" in -c|--config-file|--config-file=*) exec '@PATRONICTL_BIN@' "$@" ;; esac
done
exec '@PATRONICTL_BIN@' -c /etc/patroni/config.yml "$@"
