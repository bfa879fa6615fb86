# dnf and rpm from Debian, and a local rpm repository with agenttest 1.0 and 1.1 and
# agenttool 1.0; agenttest 1.0 is installed so that state=latest has an update to make.
set -e
DEBIAN_FRONTEND=noninteractive apt-get install -y -q dnf rpm createrepo-c >/dev/null
top=/var/tmp/agent-rpmbuild
mkdir -p $top /srv/agent-rpm-repo /etc/yum.repos.d
for spec in agenttest:1.0 agenttest:1.1 agenttool:1.0; do
  name=${spec%%:*}; v=${spec#*:}
  cat > $top/$name-$v.spec <<EOF
Name: $name
Version: $v
Release: 1
Summary: agent dnf test package
License: MIT
BuildArch: noarch
%description
A test package for the agent's dnf module.
%install
mkdir -p %{buildroot}/usr/share/$name
echo $v > %{buildroot}/usr/share/$name/version
%files
/usr/share/$name/version
EOF
  rpmbuild -bb --define "_topdir $top" $top/$name-$v.spec >/dev/null 2>&1
done
cp $top/RPMS/noarch/*.rpm /srv/agent-rpm-repo/
createrepo_c -q /srv/agent-rpm-repo
cat > /etc/yum.repos.d/agent-local.repo <<EOF
[agent-local]
name=agent local
baseurl=file:///srv/agent-rpm-repo
gpgcheck=0
enabled=1
EOF
rpm -i --nodeps $top/RPMS/noarch/agenttest-1.0-1.noarch.rpm
