# An image file holding a 64 MiB ext4 that then grew to 128 MiB (as a grown EBS volume).
rm -f /var/tmp/agent-resize.img
truncate -s 64M /var/tmp/agent-resize.img
mkfs.ext4 -q -F /var/tmp/agent-resize.img
truncate -s 128M /var/tmp/agent-resize.img
