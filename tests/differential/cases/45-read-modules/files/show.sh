#!/bin/sh
echo "args: $1|$2"
echo "to stderr" >&2
