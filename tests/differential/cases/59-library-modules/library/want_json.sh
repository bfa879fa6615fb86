#!/bin/sh
# WANT_JSON: the arguments come as a JSON object in the file named by $1.
args=$(cat "$1")
case "$args" in
  *'"_ansible_check_mode": true'*) check=true ;;
  *) check=false ;;
esac
case "$args" in
  *'"fail": true'*) printf '{"failed": true, "msg": "asked to fail"}\n'; exit 1 ;;
esac
printf 'a line before the JSON\n{"changed": %s, "check": %s, "style": "want_json"}\ntrailing words\n' "$([ $check = true ] && echo false || echo true)" "$check"
