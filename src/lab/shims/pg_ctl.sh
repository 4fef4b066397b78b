#!/bin/sh
# pgchaos lab: pg_ctl of PostgreSQL 15 on PATH; as root it runs as postgres, since
# pg_ctl refuses to run as root.
if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=postgres --regid=postgres --init-groups \
        env HOME=/var/lib/postgresql USER=postgres LOGNAME=postgres \
        /usr/lib/postgresql/15/bin/pg_ctl "$@"
fi
exec /usr/lib/postgresql/15/bin/pg_ctl "$@"
