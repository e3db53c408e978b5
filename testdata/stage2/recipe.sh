#!/usr/bin/env bash
# recipe.sh PKI_DIR OUT_DIR builds the quick start's small signed stage2 from this
# directory's root/ (a placeholder root: passwd, shadow, hostname, motd): the image
# (scripts/stage2-image.sh), a CI signer issued by the CA in PKI_DIR (podboot ca issue;
# DATA_DIR/pki of a podboot serve) and the image's detached signature (podboot image
# sign). podboot must be on PATH. Push the result with a ci token:
#
#   podboot --token "$(cat ci.token)" image push os:1 OUT_DIR/os.img --sig OUT_DIR/os.img.p7s --kind stage2
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: recipe.sh PKI_DIR OUT_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
pki=$1 out=$2
mkdir -p "$out"
"$here/../../scripts/stage2-image.sh" --root "$here/root" "$out/os.img"
podboot ca issue --code-signing ci --dir "$pki" --out "$out/signer"
podboot image sign --cert "$out/signer/ci.pem" --key "$out/signer/ci.key" "$out/os.img"
