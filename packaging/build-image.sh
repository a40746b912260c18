#!/usr/bin/env bash
# Build the binauthz-attest container images from a prebuilt static musl binary, then prove they
# start. No Docker engine, no base image pulled: `FROM scratch` + COPY, built with buildah.
#
#   packaging/build-image.sh            builds localhost/binauthz-attest:v<version>{,-debug}
#   TAG=dev packaging/build-image.sh    builds localhost/binauthz-attest:dev{,-debug}
#
# Environment: IMAGE (default localhost/binauthz-attest), TAG (default v<Cargo.toml version>),
# MAX_IMAGE_BYTES (release image budget, default 12000000), MAX_BINARY_BYTES (default 10000000),
# KEEP_CONTEXT=1 (print and keep the staged build context).
#
# Installs nothing; checks for what it needs and says how to get it. Quiet: each step's output
# goes to a log that is shown only when the step fails. Idempotent: the same sources give the
# same image IDs (files and the created date are stamped with the last commit's time), and a
# rebuild removes the image it replaces when nothing else uses it.
set -euo pipefail
umask 022

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

target=x86_64-unknown-linux-musl
binary="target/$target/release/binauthz-attest"
image="${IMAGE:-localhost/binauthz-attest}"
max_image_bytes="${MAX_IMAGE_BYTES:-12000000}"
max_binary_bytes="${MAX_BINARY_BYTES:-10000000}"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
busybox=/bin/busybox
podman_run=(podman --runtime runc --cgroup-manager=cgroupfs run --rm --pull=never --network=none
            --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

die() { printf 'build-image: %s\n' "$*" >&2; exit 1; }

# --- what we need ------------------------------------------------------------------------------
missing=()
need() { # need CHECK-COMMAND... -- HOW-TO-INSTALL
    local how="${!#}" cmd=("${@:1:$#-2}")
    "${cmd[@]}" >/dev/null 2>&1 || missing+=("$how")
}
need command -v cargo -- "cargo: install Rust with rustup (https://rustup.rs)"
if command -v rustup >/dev/null 2>&1; then
    need sh -c "rustup target list --installed | grep -qx $target" -- \
        "Rust target $target: rustup target add $target"
else
    need sh -c "test -d \"\$(rustc --print sysroot)/lib/rustlib/$target\"" -- \
        "Rust target $target: rustup target add $target"
fi
need command -v musl-gcc -- "musl-tools (musl-gcc, for aws-lc-sys): apt-get install musl-tools"
need command -v buildah -- "buildah: apt-get install buildah"
need command -v podman -- "podman: apt-get install podman"
need command -v runc -- "runc (podman's runtime here; crun fails on these machines): apt-get install runc"
need command -v skopeo -- "skopeo: apt-get install skopeo"
need sh -c "dpkg-query -W -f='\${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' && test -x $busybox" -- \
    "busybox-static (a static $busybox for the debug image): apt-get install busybox-static"
need test -r "$ca_bundle" -- "CA bundle $ca_bundle: apt-get install ca-certificates"
if ((${#missing[@]})); then
    printf 'build-image: missing:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi

version="$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)"
[[ -n "$version" ]] || die "no [package] version in Cargo.toml"
tag="${TAG:-v$version}"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# Reproducible: every file in the layers, and the image's created date, get this time.
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/binauthz-attest-image.XXXXXX")"
if [[ "${KEEP_CONTEXT:-}" == 1 ]]; then
    trap 'echo "build-image: context kept in $work/context" >&2' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi
log="$work/log"

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }
step() { # step NAME COMMAND...: run quietly, show the log on failure
    local name="$1"; shift
    if ! "$@" >"$log" 2>&1; then
        printf 'build-image: %s failed:\n' "$name" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
}
t_all="$(now)"

# --- 1. the static binary ----------------------------------------------------------------------
t="$(now)"
step "cargo build" cargo build --release --locked --target "$target" -p binauthz-attest
t_cargo="$(since "$t")"
[[ -x "$binary" ]] || die "$binary was not built"
binary_bytes="$(stat -c %s "$binary")"
# Refuse a dynamically linked binary: scratch has no loader.
if readelf -l "$binary" 2>/dev/null | grep -q 'Requesting program interpreter'; then
    die "$binary is dynamically linked"
fi

# --- 2. the build context ----------------------------------------------------------------------
ctx="$work/context"
mkdir -p "$ctx"/rootfs/etc "$ctx"/rootfs/tmp "$ctx"/rootfs/home "$ctx"/home/nonroot "$ctx"/busybox \
         "$ctx"/bin "$ctx"/usr/local/bin
install -m 0755 "$binary" "$ctx/binauthz-attest"
install -m 0644 "$ca_bundle" "$ctx/ca-certificates.crt"   # follows the symlink
chmod 1777 "$ctx/rootfs/tmp"
cat >"$ctx/rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$ctx/rootfs/etc/group" <<'EOF'
root:x:0:
nonroot:x:65532:
EOF
chmod 0644 "$ctx/rootfs/etc/passwd" "$ctx/rootfs/etc/group"
install -m 0755 "$busybox" "$ctx/busybox/busybox"
for applet in $("$busybox" --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$ctx/busybox/$applet"
done
ln -s /busybox/busybox "$ctx/bin/sh"
ln -s /binauthz-attest "$ctx/usr/local/bin/binauthz-attest"

# --- 3. the images -----------------------------------------------------------------------------
release="$image:$tag"
debug="$image:$tag-debug"
image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
build() { # build TARGET REF PREVIOUS-ID
    step "buildah build --target $1" buildah build --quiet --isolation chroot --format oci \
        --timestamp "$epoch" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
        --target "$1" -t "$2" -f "$repo/Dockerfile" "$ctx"
    # Drop the image this build replaced, unless something else still holds it.
    if [[ -n "$3" && "$3" != "$(image_id "$2")" ]]; then
        podman rmi "$3" >/dev/null 2>&1 || true
    fi
}
t="$(now)"
old_release="$(image_id "$release")"
old_debug="$(image_id "$debug")"
# Release is untagged first and built last. Building the debug target commits the release stage
# as an intermediate image and removes it afterwards; with a fixed timestamp that image has the
# release image's ID, so buildah 1.28 would delete a tagged release image, and it would record
# that tag as the debug image's base name (a different digest than from a clean store).
[[ -z "$old_release" ]] || podman untag "$release" >/dev/null 2>&1 || true
build debug "$debug" "$old_debug"
build release "$release" "$old_release"
t_images="$(since "$t")"

# --- 4. sizes ----------------------------------------------------------------------------------
sum() { awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s + 0 }'; }
skopeo() { # containers/storage logs "[graphdriver] using prior storage driver" on stderr
    command skopeo "$@" 2>"$work/skopeo.err" || { cat "$work/skopeo.err" >&2; return 1; }
}
manifest_layer_bytes() { # the sizes of the layers in an image's manifest, summed
    skopeo inspect --raw "$1" | tr -d ' \n' | sed 's/.*"layers":\[\([^]]*\)\].*/\1/' |
        grep -o '"size":[0-9]*' | cut -d: -f2 | sum
}
layers_bytes() { # uncompressed, as stored locally
    manifest_layer_bytes "containers-storage:$1"
}
gzip_bytes() { # what a registry stores and a runner pulls (gzip layers, as buildah push sends)
    local dir="$work/oci-$2"
    step "skopeo copy $1" skopeo copy --quiet --dest-compress --dest-compress-format gzip \
        "containers-storage:$1" "oci:$dir"
    manifest_layer_bytes "oci:$dir"
}
release_bytes="$(layers_bytes "$release")"
debug_bytes="$(layers_bytes "$debug")"
release_gz="$(gzip_bytes "$release" release)"
debug_gz="$(gzip_bytes "$debug" debug)"

# --- 5. the images start -----------------------------------------------------------------------
t="$(now)"
check() { # check NAME EXPECTED-REGEX COMMAND...
    local name="$1" want="$2"; shift 2
    step "$name" "$@"
    grep -Eq "$want" "$log" || { printf 'build-image: %s: no /%s/ in:\n' "$name" "$want" >&2; cat "$log" >&2; exit 1; }
}
config="$(buildah inspect --type image \
    --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Env}}' "$release")"
[[ "$config" =~ ^' [/binauthz-attest] ['.*'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' ]] ||
    die "unexpected release config (user, entrypoint, env): $config"
check "release --version" "^binauthz-attest $version\$" \
    "${podman_run[@]}" "$release" --version
check "release sign --help" "^Usage: binauthz-attest sign" \
    "${podman_run[@]}" "$release" sign --help
check "debug sh -c" "^binauthz-attest $version\$" \
    "${podman_run[@]}" --entrypoint '' "$debug" sh -c 'binauthz-attest --version'
check "debug environment as nonroot" "^ok 65532$" \
    "${podman_run[@]}" --user 65532:65532 --entrypoint '' "$debug" sh -c \
    'test -s "$SSL_CERT_FILE" && test -w /tmp && mktemp -d >/dev/null && echo ok "$(id -u)"'
t_checks="$(since "$t")"

# --- 6. budget and summary ---------------------------------------------------------------------
mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1000000 }'; }
id12() { image_id "$1" | cut -c1-12; }
printf '%-58s %9s %9s  %s\n' "" "size" "gzip" "image id"
printf '%-58s %9s %9s  %s\n' "$binary" "$(mb "$binary_bytes")" "" ""
printf '%-58s %9s %9s  %s\n' "$release" "$(mb "$release_bytes")" "$(mb "$release_gz")" "$(id12 "$release")"
printf '%-58s %9s %9s  %s\n' "$debug" "$(mb "$debug_bytes")" "$(mb "$debug_gz")" "$(id12 "$debug")"
printf 'time: cargo %s, images %s, checks %s, total %s; checks: --version, sign --help, sh -c: ok\n' \
    "$t_cargo" "$t_images" "$t_checks" "$(since "$t_all")"

((binary_bytes < max_binary_bytes)) || die "binary is $(mb "$binary_bytes"), budget $(mb "$max_binary_bytes")"
((release_bytes < max_image_bytes)) || die "release image is $(mb "$release_bytes"), budget $(mb "$max_image_bytes")"
