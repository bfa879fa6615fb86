# Real Ansible's deb822_repository needs python3-debian (not in the image); the agent
# does not. Install it on the Ansible host only.
if [ -d /opt/ans ] && ! python3 -c 'import debian' 2>/dev/null; then
    { apt-get install -y -qq python3-debian || { apt-get update -qq && apt-get install -y -qq python3-debian; }; } >/dev/null 2>&1
fi
true
