#!/usr/bin/env bash
# Build the archcolor CPU image without a container registry, then run archcolor inside it.
#
#   deploy/build-local-image.sh            # as root; needs debootstrap, podman and buildah
#
# No base image is pulled: debootstrap builds a Debian bookworm root file system (Python 3.11,
# tini), `podman import` turns it into the local base image $ARCHCOLOR_BASE_IMAGE (built once,
# reused while it exists), and `buildah bud --isolation chroot --layers` builds
# deploy/docker/Dockerfile on it (cached layers are reused on the next run). pip inside the build
# uses this machine's pip configuration (pip.conf files and PIP_* variables, merged into one
# pip.conf, with the local folders and files it names mounted read-only), so the build reaches
# the same package indexes as `pip install` here. Then, in a container of the image, through its
# entrypoint (the weights check) and as its non-root user: `archcolor --version`,
# `archcolor db upgrade` (SQLite), `archcolor models` and a one-page `archcolor colorize`.
# (`buildah run --isolation chroot` runs them: `podman run` needs to set rlimits, which some
# sandboxes forbid.)
#
# Environment:
#   ARCHCOLOR_BASE_IMAGE  local base image tag            (localhost/archcolor-base:bookworm)
#   ARCHCOLOR_IMAGE       tag of the image built          (localhost/archcolor:cpu; its builder
#                         stage is kept as localhost/archcolor:cpu-builder, the layer cache)
#   ARCHCOLOR_DEBIAN_MIRROR  Debian mirror for debootstrap (default: the host's apt source)
#   TORCH_SPEC            torch to install                (torch==2.13.0+cpu, the CPU build)
#   ARCHCOLOR_BUILD_LOG   where the full build log goes   (a temporary file)
#   ARCHCOLOR_REBUILD_BASE=1  rebuild the base image even if it exists
# Exit status: 0 when the image builds and all four commands succeed inside it; otherwise 1,
# after a line naming the step that failed and where its log is.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${ARCHCOLOR_BASE_IMAGE:-localhost/archcolor-base:bookworm}
IMAGE=${ARCHCOLOR_IMAGE:-localhost/archcolor:cpu}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0+cpu}
BUILD_LOG=${ARCHCOLOR_BUILD_LOG:-$(mktemp --tmpdir archcolor-build.XXXXXX.log)}
SUITE=bookworm
HOST_PYTHON=${HOST_PYTHON:-python3}

say() { printf '%s\n' "build-local-image: $*" >&2; }
fail() { say "$*"; exit 1; }

for tool in podman buildah; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (Debian: apt-get install $tool)"
done
[ "$(id -u)" = 0 ] || fail "run this as root (debootstrap and chroot isolation need it)"

# --- 1. the base image: Debian bookworm from debootstrap --------------------------------------
host_mirror() {
    # the first Debian archive the host's apt uses (deb822 .sources or one-line sources.list)
    local uri
    uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources \
        2>/dev/null | grep -v -- '-security' | head -n 1 || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /-security/ {for (i = 2; i <= NF; i++) \
            if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
    fi
    printf '%s' "$uri"
}

if [ "${ARCHCOLOR_REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
    command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
    mirror=${ARCHCOLOR_DEBIAN_MIRROR:-$(host_mirror)}
    rootfs=$(mktemp -d --tmpdir archcolor-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    say "debootstrap $SUITE into $rootfs ${mirror:+(mirror $mirror)}"
    started=$SECONDS
    # shellcheck disable=SC2086  # an empty mirror means debootstrap's default
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tini \
        "$SUITE" "$rootfs" $mirror >>"$BUILD_LOG" 2>&1 \
        || fail "debootstrap failed (exit $?): see $BUILD_LOG"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner -C "$rootfs" -c . | podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
        - "$BASE_IMAGE" >>"$BUILD_LOG" 2>&1 || fail "podman import failed: see $BUILD_LOG"
    rm -rf "$rootfs"
    trap - EXIT
    say "base image $BASE_IMAGE built in $((SECONDS - started)) s"
else
    say "reusing the base image $BASE_IMAGE (ARCHCOLOR_REBUILD_BASE=1 rebuilds it)"
fi

# --- 2. this machine's pip configuration, for the RUN steps -----------------------------------
workdir=$(mktemp -d --tmpdir archcolor-pip.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
# prints one path per line: the local files and folders the merged configuration names
"$HOST_PYTHON" - "$workdir/pip.conf" >"$workdir/mounts" <<'PY'
import configparser, os, sys
from pathlib import Path
from urllib.parse import urlparse

home = Path.home()
files = [Path(d) / "pip" / "pip.conf" for d in os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")]
files += [Path("/etc/pip.conf"), home / ".pip" / "pip.conf", home / ".config" / "pip" / "pip.conf"]
if os.environ.get("PIP_CONFIG_FILE") and os.environ["PIP_CONFIG_FILE"] != os.devnull:
    files.append(Path(os.environ["PIP_CONFIG_FILE"]))
merged: dict[str, str] = {}
for path in files:  # pip's order: later files win, then the environment
    parser = configparser.RawConfigParser()
    if path.is_file():
        parser.read(path)
        for section in ("global", "install"):
            if parser.has_section(section):
                merged.update(parser.items(section))
for name, value in os.environ.items():
    if name.startswith("PIP_") and name != "PIP_CONFIG_FILE":
        merged[name[4:].lower().replace("_", "-")] = value
with open(sys.argv[1], "w", encoding="utf-8") as out:
    out.write("[global]\n")
    for key, value in sorted(merged.items()):
        out.write(f"{key} = {' '.join(value.split())}\n")
for value in merged.values():
    for word in value.split():
        path = word
        if word.startswith("file://"):  # a local index: its pages link to files beside it
            path = os.path.dirname(urlparse(word).path.rstrip("/"))
        if path.startswith("/") and os.path.exists(path):
            print(os.path.realpath(path))
PY
volumes=(--volume "$workdir/pip.conf:/etc/pip.conf:ro")
while read -r path; do
    volumes+=(--volume "$path:$path:ro")
done < <(sort -u "$workdir/mounts")

# --- 3. the image ------------------------------------------------------------------------------
# The builder stage is tagged too ($IMAGE-builder), so that its cached layers stay referenced;
# the images a rebuild supersedes (untagged then) are removed, not left to fill the disk.
BUILDER_IMAGE="$IMAGE-builder"
image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
previous=("$(image_id "$IMAGE")" "$(image_id "$BUILDER_IMAGE")")
build() {
    buildah bud --isolation chroot --layers --force-rm \
        -f deploy/docker/Dockerfile --ignorefile deploy/docker/Dockerfile.dockerignore \
        --build-arg PYTHON_IMAGE="$BASE_IMAGE" --build-arg PYTHON=python3 \
        --build-arg VARIANT=cpu --build-arg TORCH_SPEC="$TORCH_SPEC" \
        "${volumes[@]}" "$@" . >>"$BUILD_LOG" 2>&1
}
say "building $IMAGE (log: $BUILD_LOG)"
started=$SECONDS
status=0
build --target builder -t "$BUILDER_IMAGE" && build -t "$IMAGE" || status=$?
echo "--- build log tail ($BUILD_LOG)"
tail -n 15 "$BUILD_LOG"
[ "$status" = 0 ] || fail "buildah bud failed (exit $status): see $BUILD_LOG"
say "image $IMAGE built in $((SECONDS - started)) s"
for old in "${previous[@]}"; do
    if [ -n "$old" ] && [ "$old" != "$(image_id "$IMAGE")" ] \
        && [ "$old" != "$(image_id "$BUILDER_IMAGE")" ]; then
        podman rmi "$old" >>"$BUILD_LOG" 2>&1 || true  # still used by a container: kept
    fi
done

# --- 4. archcolor inside the image -------------------------------------------------------------
container=$(buildah from --pull-never "$IMAGE")
trap 'buildah rm "$container" >/dev/null 2>&1; rm -rf "$workdir"' EXIT
in_image() {
    echo "--- in $IMAGE: archcolor $*"
    # through the image's entrypoint (tini, the weights check) as the image's user
    # (tini is not PID 1 under buildah run: TINI_SUBREAPER lets it reap children all the same)
    buildah run --isolation chroot --env TINI_SUBREAPER=1 "$container" -- \
        /usr/bin/tini -- archcolor-entrypoint "$@" \
        || fail "archcolor $* failed in the image (exit $?)"
}
in_image --version
in_image --db sqlite:////home/archcolor/catalog.sqlite3 db upgrade
in_image models
buildah run --isolation chroot "$container" -- archcolor demo-volume /home/archcolor/demo \
    >"$workdir/pages" || fail "archcolor demo-volume failed in the image"
in_image colorize "$(head -n 1 "$workdir/pages")" -o /home/archcolor/colour.tif --device cpu --json
say "all four commands ran in $IMAGE"
