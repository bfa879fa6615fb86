set -e
command -v git >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null; }
rm -rf /srv/agent-git66-src /srv/agent-git66.git
mkdir -p /srv/agent-git66-src
cd /srv/agent-git66-src
git init -q -b main
printf 'hello\n' > README
git add README
git -c user.name=t -c user.email=t@example.com commit -q -m one
git -c user.name=t -c user.email=t@example.com tag -a v1 -m v1
printf 'two\n' >> README
git -c user.name=t -c user.email=t@example.com commit -q -am two
git clone -q --bare /srv/agent-git66-src /srv/agent-git66.git
