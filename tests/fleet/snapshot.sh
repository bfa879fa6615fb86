#!/bin/sh
# The state a converge of the fleet roles leaves on a host, as text that can be compared
# between two hosts (the agent's and Ansible's): run it on each and diff the outputs.
#
#   sh snapshot.sh [SECTION...]     sections: files secrets packages units users (default: all)
#
# files     owner, group, mode and sha256 (link target for symlinks) of every file under the
#           managed directories and of the single managed files
# secrets   the same without the sha256, for files whose content differs per host by design
#           (the self-signed TLS key and certificate)
# packages  installed packages with versions (dpkg)
# units     enabled unit files, active services
# users     passwd/group entries of the managed users and groups, their authorized_keys
set -u
export LC_ALL=C

DIRS="/etc/nginx /etc/redis /etc/app /opt/app /etc/sudoers.d /etc/systemd/journald.conf.d"
FILES="/etc/chrony/chrony.conf /etc/default/chrony /etc/sysctl.d/60-fleet.conf /etc/logrotate.conf
/etc/systemd/system/app.service"
SECRETS="/etc/ssl/certs/fleet-web.crt /etc/ssl/private/fleet-web.key"
USERS="alice bob carol app redis www-data _chrony"
GROUPS_="fleetadmin app redis www-data _chrony"

describe() { # path, with_hash
    if [ -L "$1" ]; then
        printf '%s link -> %s\n' "$1" "$(readlink "$1")"
    elif [ -d "$1" ]; then
        printf '%s dir %s\n' "$1" "$(stat -c '%U:%G %a' "$1")"
    elif [ -f "$1" ]; then
        if [ "$2" = 1 ]; then
            printf '%s file %s %s\n' "$1" "$(stat -c '%U:%G %a' "$1")" \
                "$(sha256sum <"$1" | cut -d' ' -f1)"
        else
            printf '%s file %s\n' "$1" "$(stat -c '%U:%G %a' "$1")"
        fi
    elif [ -e "$1" ]; then
        printf '%s other\n' "$1"
    else
        printf '%s absent\n' "$1"
    fi
}

files() {
    echo "## files"
    for d in $DIRS; do
        if [ -e "$d" ]; then
            find "$d" | sort | while read -r p; do describe "$p" 1; done
        else
            echo "$d absent"
        fi
    done
    for f in $FILES; do describe "$f" 1; done
}

secrets() {
    echo "## secrets"
    for f in $SECRETS; do describe "$f" 0; done
}

packages() {
    echo "## packages"
    dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' | sort
}

units() {
    echo "## enabled unit files"
    systemctl list-unit-files --state=enabled --no-legend --no-pager | awk '{print $1}' | sort
    echo "## active services"
    systemctl list-units --type=service --state=active --no-legend --no-pager --plain |
        awk '{print $1}' | sort
}

users() {
    echo "## users"
    for u in $USERS; do getent passwd "$u" || echo "$u absent"; done
    for g in $GROUPS_; do getent group "$g" || echo "group $g absent"; done
    for u in $USERS; do
        home=$(getent passwd "$u" | cut -d: -f6)
        [ -n "$home" ] && [ -e "$home/.ssh" ] || continue
        describe "$home/.ssh" 1
        describe "$home/.ssh/authorized_keys" 1
    done
}

[ $# -eq 0 ] && set -- files secrets packages units users
for s in "$@"; do
    case $s in
    files | secrets | packages | units | users) "$s" ;;
    *)
        echo "snapshot.sh: unknown section $s" >&2
        exit 2
        ;;
    esac
done
