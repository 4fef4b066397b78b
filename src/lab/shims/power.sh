#!/bin/sh
# pgchaos lab: reboot, poweroff, halt and shutdown for a lab node.
#
# The request is written where the node's keeper (outside the node) reads it, then PID 1
# of the node is asked to exit: the kernel then kills every process of the node at once,
# like a power cycle. The keeper flushes the node's iptables rules and boots it again
# (reboot) or leaves it down until `pgchaos lab power-on` (poweroff).
LAB_DIR='@LAB_DIR@'
NODE=$(uname -n)
case "${0##*/}" in
    reboot) what=reboot ;;
    poweroff|halt) what=poweroff ;;
    shutdown)
        what=poweroff
        for a in "$@"; do
            case "$a" in
                -r|--reboot) what=reboot ;;
                -c) echo "shutdown (pgchaos lab): nothing to cancel" >&2; exit 1 ;;
            esac
        done ;;
    *) echo "unknown power command ${0##*/}" >&2; exit 1 ;;
esac
echo "$what" > "$LAB_DIR/nodes/$NODE/power-request" || exit 1
# Set before the node dies, so a `lab power-on` racing with the keeper is never lost.
[ "$what" = poweroff ] && : > "$LAB_DIR/nodes/$NODE/powered-off"
# PID 1 only accepts signals it has a handler for; `pgchaos lab init` exits on SIGTERM.
kill -TERM 1
# Like a real reboot, the caller does not get a success before the node goes away.
sleep 60
