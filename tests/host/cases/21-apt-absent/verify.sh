# hello is gone, and purged (dpkg keeps no config-files entry for it).
if dpkg-query -W -f='${Status}\n' hello 2>/dev/null | grep -q 'install ok installed'; then exit 1; fi
if dpkg-query -W -f='${Status}\n' hello 2>/dev/null | grep -q 'config-files'; then exit 1; fi
exit 0
