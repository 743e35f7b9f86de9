set -eu
want="$1"; tag="$2"
for c in "/opt/python/$tag-$tag/bin/python3" "/var/lang/bin/python$want" "python$want" python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys; v = '%d.%d' % sys.version_info[:2]; sys.exit(v != '$want')" 2>/dev/null; then
    mkdir -p /out; rc=0
    PYTHONPYCACHEPREFIX=/out "$c" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s /tree /tree || rc=$?
    exit "$rc"
  fi
done
echo "no Python $want in this image" >&2; exit 97
