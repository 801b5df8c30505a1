#!/bin/sh
# Renders /etc/nginx/templates/*.template into /etc/nginx/conf.d as the official
# image does: only variables that are set are substituted, so nginx's own $vars stay.
set -eu
vars=$(env | cut -d= -f1 | sed 's/^/$/' | tr '\n' ' ')
for t in /etc/nginx/templates/*.template; do
  [ -e "$t" ] || continue
  out="/etc/nginx/conf.d/$(basename "$t" .template)"
  envsubst "$vars" < "$t" > "$out"
  echo "rendered $out"
done
exec "$@"
