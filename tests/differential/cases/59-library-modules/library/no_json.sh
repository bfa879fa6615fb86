#!/bin/sh
echo "this is not JSON"
echo "an error" >&2
exit 3
