set -e
n=$(echo "$TEST_DEVICE" | tr -cd 0-9)
uuid=$(printf '5e0c2a1e-5f1b-4c1d-9a9e-%012d' "$n")
findmnt -n -o SOURCE,FSTYPE /srv/data | grep -qx "$TEST_DEVICE *ext4"
findmnt -n -o OPTIONS /srv/data | grep -q noatime
grep -qx "UUID=$uuid /srv/data ext4 defaults,noatime 0 0" /etc/fstab
test "$(grep -c ' /srv/data ' /etc/fstab)" = 1
