#!/bin/sh
# The policy hook of Debian's service starters (invoke-rc.d, deb-systemd-invoke; man invoke-rc.d,
# "POLICY-RC.D INTERFACE") that tools/hold-services installs as /usr/sbin/policy-rc.d while
# tools/deps.sh installs packages. Their maintainer scripts would start (or restart, or stop) the
# system PostgreSQL, Redis, RabbitMQ, nginx, dbus...: the tests use none of them (each starts
# throwaway servers of its own), a start that fails (a chroot, a taken port) fails the whole
# installation, and one already running is the machine owner's business. So every action is
# refused (101) except `status`, which changes nothing.
#
# Called as: policy-rc.d [--quiet] SERVICE "ACTION [FALLBACK...]" [RUNLEVEL]; invoke-rc.d may
# write the action in parentheses, "(start)", when the runlevel would not run the service.
while [ $# -gt 0 ]; do
  case $1 in
    --quiet) shift ;;
    --*) exit 101 ;;  # --list and whatever a later interface adds: refuse rather than guess.
    *) break ;;
  esac
done
[ $# -ge 2 ] || exit 101
for action in $2; do
  [ "$action" = status ] || exit 101
done
exit 0
