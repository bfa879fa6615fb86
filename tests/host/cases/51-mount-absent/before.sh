# A tmpfs mounted and listed in fstab, to be removed.
mkdir -p /srv/agent-gone
grep -q ' /srv/agent-gone ' /etc/fstab || echo 'tmpfs /srv/agent-gone tmpfs size=8m 0 0' >> /etc/fstab
mountpoint -q /srv/agent-gone || mount /srv/agent-gone
