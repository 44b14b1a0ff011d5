#!/bin/sh
# Make a Debian base image from Debian's own packages, without Docker Hub:
#
#   docker/make-base-image.sh [TAG]          # default TAG: pairsearch-base:local
#
# debootstrap (minbase) into a temporary folder, python3 and a venv in /opt/venv (first on
# PATH, so `pip install` and the console scripts it installs behave as in python:3.11-slim),
# then `docker import`. Needs root, debootstrap and a running Docker engine; the mirror is
# $DEBIAN_MIRROR (default http://deb.debian.org/debian), the release $DEBIAN_SUITE (bookworm:
# Python 3.11, as in python:3.11-slim). About 100 MB of packages; a minute or two.
set -eu
tag=${1:-pairsearch-base:local}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

root=$(mktemp -d /var/tmp/pairsearch-base.XXXXXX)
cleanup() {
    # debootstrap mounts /proc and /sys in the target while it installs; never leave them behind.
    for mounted in "$root/proc" "$root/sys"; do
        mountpoint -q "$mounted" 2>/dev/null && umount -l "$mounted"
    done
    rm -rf "$root"
}
trap cleanup EXIT INT TERM

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$root" "$mirror"
chroot "$root" python3 -m venv /opt/venv
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/* "$root"/tmp/*

tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase $suite + python3 venv" \
    - "$tag"
