#!/bin/sh
# The converged state of a storage host, printed in a form that can be compared between
# hosts (tests/fleet_storage.rs compares the agent's host with Ansible's).
# Usage: storage-state.sh PORT — the port (each test host has its own, as they share the
# network) is written as @PORT@ in the hashed files.
set -u
data=/srv/data
port=$1

echo "## fstab"
grep -E "[[:space:]]$data[[:space:]]" /etc/fstab | sed -E 's/^UUID=[0-9a-f-]+/UUID=<uuid>/'
stat -c '%U:%G %a /etc/fstab' /etc/fstab
uuid=$(blkid -c /dev/null -s UUID -o value "$(findmnt -n -o SOURCE "$data")")
if grep -qE "^UUID=$uuid[[:space:]]+$data[[:space:]]" /etc/fstab; then
    echo "fstab UUID is the mounted volume's"
else
    echo "fstab UUID is NOT the mounted volume's ($uuid)"
fi

echo "## mount"
findmnt -n -o FSTYPE,OPTIONS "$data"

echo "## files"
for f in /etc/apache2/ports.conf /etc/apache2/sites-available/storage.conf \
    /usr/local/sbin/storage-backup "$data"/git/*.git/config; do
    sum=$(sed "s/\b$port\b/@PORT@/g" "$f" | sha256sum | cut -d' ' -f1)
    printf '%s %s\n' "$sum" "$(stat -c '%U:%G %a %n' "$f")"
done

echo "## apache2 modules and sites"
ls /etc/apache2/mods-enabled
for l in /etc/apache2/sites-enabled/*; do echo "$l -> $(readlink "$l")"; done
apache2ctl -M 2>/dev/null | sort

echo "## units"
for u in apache2 cron; do echo "$u $(systemctl is-enabled $u) $(systemctl is-active $u)"; done

echo "## packages"
dpkg-query -W -f '${Package} ${Status}\n' apache2 libapache2-mod-svn subversion git cron

echo "## crontab"
crontab -l -u root

echo "## data volume"
find "$data" -path "$data/lost+found" -prune -o -printf '%y %u:%g %m %P\n' | sort
