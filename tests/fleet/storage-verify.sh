#!/bin/sh
# What the storage role is for, checked from inside a storage host: Git over HTTP (clone,
# commit, push, clone again), Subversion over WebDAV (checkout, commit), the data volume
# mounted by UUID and in fstab, and the backup script. Usage: storage-verify.sh [PORT]
set -eu
port=${1:-80}
export HOME=/root
rm -rf /tmp/storage-wc && mkdir -p /tmp/storage-wc && cd /tmp/storage-wc

git clone -q http://localhost:"$port"/git/main.git g 2>/dev/null
cd g
stamp=$(date +%s%N)
printf '%s\n' "$stamp" >README
git add README
git -c user.name=t -c user.email=t@example.com commit -q -m one
git push -q origin HEAD:refs/heads/master
cd ..
git clone -q http://localhost:"$port"/git/main.git g2
test "$(cat g2/README)" = "$stamp"
echo "git: clone, push, clone again: ok"

svn checkout -q --non-interactive http://localhost:"$port"/svn/main s
cd s
printf '%s\n' "$stamp" >"file-$stamp.txt"
svn add -q "file-$stamp.txt"
svn commit -q --non-interactive -m "commit $stamp"
cd ..
svn log --non-interactive http://localhost:"$port"/svn/main | grep -q "^commit $stamp\$"
echo "svn: checkout, commit: ok"

dev=$(findmnt -n -o SOURCE /srv/data)
uuid=$(blkid -c /dev/null -s UUID -o value "$dev")
grep -qE "^UUID=$uuid /srv/data ext4 defaults,noatime,nofail 0 0$" /etc/fstab
echo "volume: $dev mounted at /srv/data, fstab by UUID=$uuid: ok"

/usr/local/sbin/storage-backup
b=/srv/data/backup/$(date +%Y%m%d)
gzip -dc "$b"/svn-main.dump.gz | grep -q '^SVN-fs-dump-format-version'
head -n 1 "$b"/git-main.bundle | grep -q '^# v2 git bundle'
echo "backup: svn dump and git bundle: ok"
