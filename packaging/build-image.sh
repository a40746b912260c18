#!/usr/bin/env bash
# Build the binauthz-attest container images from a prebuilt static musl binary, then prove they
# start. No Docker engine, no base image pulled: `FROM scratch` + COPY, built with buildah.
#
#   packaging/build-image.sh            builds, for v<version> (TAG=dev: for dev):
#     localhost/binauthz-attest:TAG{,-debug}                amd64, the images the tests run
#     localhost/binauthz-attest:TAG{,-debug}-arm64          arm64 (cargo-zigbuild, not run here)
#     localhost/binauthz-attest:TAG{,-debug}-multiarch      image indexes of both, what a release pushes
#   ARCHS=amd64 packaging/build-image.sh    amd64 only (no index)
#
# Environment: IMAGE (default localhost/binauthz-attest), TAG (default v<Cargo.toml version>),
# ARCHS (default "amd64 arm64"), BUSYBOX_ARM64 (a static arm64 busybox for the arm64 debug image,
# default /usr/local/lib/binauthz-attest/arm64/busybox), MAX_IMAGE_BYTES (release image budget,
# default 13500000), MAX_BINARY_BYTES (default 13250000: the image budget less
# the CA bundle), KEEP_CONTEXT=1 (keep the build contexts),
# CARGO_TARGET_DIR (cargo's, honoured).
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
arm64_target=aarch64-unknown-linux-musl
# Cargo's target directory: CARGO_TARGET_DIR when set (a shared build cache), else ./target.
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
binary="$target_dir/$target/release/binauthz-attest"
arm64_binary="$target_dir/$arm64_target/release/binauthz-attest"
read -r -a archs <<<"${ARCHS:-amd64 arm64}"
arm64=false
for a in "${archs[@]}"; do
    case "$a" in amd64) ;; arm64) arm64=true ;; *) printf 'build-image: unknown arch %s (amd64, arm64)\n' "$a" >&2; exit 1 ;; esac
done
busybox_arm64="${BUSYBOX_ARM64:-/usr/local/lib/binauthz-attest/arm64/busybox}"
image="${IMAGE:-localhost/binauthz-attest}"
max_image_bytes="${MAX_IMAGE_BYTES:-13500000}"
max_binary_bytes="${MAX_BINARY_BYTES:-13250000}"
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
if $arm64; then
    need sh -c "rustup target list --installed | grep -qx $arm64_target" -- \
        "Rust target $arm64_target: rustup target add $arm64_target"
    need command -v cargo-zigbuild -- "cargo-zigbuild and zig: pip install cargo-zigbuild ziglang"
    need command -v qemu-aarch64-static -- "qemu-user-static (runs the arm64 binary once): apt-get install qemu-user-static"
    need sh -c "readelf -h $busybox_arm64 | grep -q AArch64" -- \
        "a static arm64 busybox at $busybox_arm64 (BUSYBOX_ARM64): dpkg --add-architecture arm64 && apt-get update && apt-get download busybox-static:arm64, then dpkg-deb -x it and copy its bin/busybox there"
fi
if ((${#missing[@]})); then
    printf 'build-image: missing:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi

version="$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)"
[[ -n "$version" ]] || die "no [package] version in Cargo.toml"
tag="${TAG:-v$version}"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# What the binary is built from, as a label: tests/runners.rs refuses an image built from other
# sources (a stale image would test old code), whatever the commit.
source_digest() {
    find src Cargo.toml Cargo.lock -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
source_sha256="$(source_digest)"
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

# --- 1. the static binaries --------------------------------------------------------------------
static_elf() { # static_elf BINARY MACHINE: built, statically linked (scratch has no loader), for MACHINE
    [[ -x "$1" ]] || die "$1 was not built"
    if readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'; then
        die "$1 is dynamically linked"
    fi
    readelf -h "$1" | grep -q "Machine: *$2" || die "$1 is not a $2 binary"
}
t="$(now)"
step "cargo build" cargo build --release --locked --target "$target" -p binauthz-attest
t_cargo="$(since "$t")"
static_elf "$binary" "Advanced Micro Devices X86-64"
binary_bytes="$(stat -c %s "$binary")"
if $arm64; then
    # zig as the C compiler and linker (aws-lc-sys compiles C): no cross toolchain needed.
    t="$(now)"
    step "cargo zigbuild" cargo zigbuild --release --locked --target "$arm64_target" -p binauthz-attest
    t_cargo_arm64="$(since "$t")"
    static_elf "$arm64_binary" AArch64
    arm64_binary_bytes="$(stat -c %s "$arm64_binary")"
fi

# --- 2. the build contexts ---------------------------------------------------------------------
stage() { # stage DIR BINARY BUSYBOX: the files the Dockerfile COPYs, for one architecture
    local ctx="$1"
    mkdir -p "$ctx"/rootfs/etc "$ctx"/rootfs/tmp "$ctx"/rootfs/home "$ctx"/home/nonroot "$ctx"/busybox \
             "$ctx"/bin "$ctx"/usr/local/bin
    install -m 0755 "$2" "$ctx/binauthz-attest"
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
    install -m 0755 "$3" "$ctx/busybox/busybox"
    # The applet list of the host's busybox (the same Debian version for both architectures).
    for applet in $("$busybox" --list); do
        [[ "$applet" == busybox ]] || ln -s busybox "$ctx/busybox/$applet"
    done
    ln -s /busybox/busybox "$ctx/bin/sh"
    ln -s /binauthz-attest "$ctx/usr/local/bin/binauthz-attest"
}
ctx="$work/context"
stage "$ctx" "$binary" "$busybox"
if $arm64; then
    stage "$work/context-arm64" "$arm64_binary" "$busybox_arm64"
fi

# --- 3. the images -----------------------------------------------------------------------------
release="$image:$tag"
debug="$image:$tag-debug"
image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
build() { # build TARGET REF PREVIOUS-ID CONTEXT PLATFORM
    step "buildah build --target $1 ($5)" buildah build --quiet --isolation chroot --format oci \
        --platform "$5" --timestamp "$epoch" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
        --label "dev.binauthz-attest.source-sha256=$source_sha256" \
        --target "$1" -t "$2" -f "$repo/Dockerfile" "$4"
    # Drop the image this build replaced, unless something else still holds it.
    if [[ -n "$3" && "$3" != "$(image_id "$2")" ]]; then
        podman rmi "$3" >/dev/null 2>&1 || true
    fi
}
build_pair() { # build_pair RELEASE-REF DEBUG-REF CONTEXT PLATFORM
    local old_release old_debug
    old_release="$(image_id "$1")"
    old_debug="$(image_id "$2")"
    # Release is untagged first and built last. Building the debug target commits the release
    # stage as an intermediate image and removes it afterwards; with a fixed timestamp that image
    # has the release image's ID, so buildah 1.28 would delete a tagged release image, and it
    # would record that tag as the debug image's base name (a different digest than from a clean
    # store).
    [[ -z "$old_release" ]] || podman untag "$1" >/dev/null 2>&1 || true
    build debug "$2" "$old_debug" "$3" "$4"
    build release "$1" "$old_release" "$3" "$4"
}
index() { # index NAME IMAGE...: an image index (manifest list) of the images, replaced if there
    buildah manifest rm "$1" >/dev/null 2>&1 || true
    step "buildah manifest create $1" buildah manifest create "$1"
    local member
    for member in "${@:2}"; do
        step "buildah manifest add $1 $member" buildah manifest add "$1" "containers-storage:$member"
    done
}
t="$(now)"
build_pair "$release" "$debug" "$ctx" linux/amd64
if $arm64; then
    release_arm64="$release-arm64"
    debug_arm64="$debug-arm64"
    build_pair "$release_arm64" "$debug_arm64" "$work/context-arm64" linux/arm64
    index "$release-multiarch" "$release" "$release_arm64"
    index "$debug-multiarch" "$debug" "$debug_arm64"
fi
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
if $arm64; then
    release_arm64_bytes="$(layers_bytes "$release_arm64")"
    debug_arm64_bytes="$(layers_bytes "$debug_arm64")"
    release_arm64_gz="$(gzip_bytes "$release_arm64" release-arm64)"
    debug_arm64_gz="$(gzip_bytes "$debug_arm64" debug-arm64)"
fi

# --- 5. the images start -----------------------------------------------------------------------
t="$(now)"
check() { # check NAME EXPECTED-REGEX COMMAND...
    local name="$1" want="$2"; shift 2
    step "$name" "$@"
    grep -Eq "$want" "$log" || { printf 'build-image: %s: no /%s/ in:\n' "$name" "$want" >&2; cat "$log" >&2; exit 1; }
}
config_of() {
    buildah inspect --type image \
        --format '{{.OCIv1.Architecture}} {{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Env}}' "$1"
}
config="$(config_of "$release")"
[[ "$config" =~ ^'amd64  [/binauthz-attest] ['.*'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' ]] ||
    die "unexpected release config (arch, user, entrypoint, env): $config"
check "release --version" "^binauthz-attest $version\$" \
    "${podman_run[@]}" "$release" --version
check "release sign --help" "^Usage: binauthz-attest sign" \
    "${podman_run[@]}" "$release" sign --help
check "debug sh -c" "^binauthz-attest $version\$" \
    "${podman_run[@]}" --entrypoint '' "$debug" sh -c 'binauthz-attest --version'
check "debug environment as nonroot" "^ok 65532$" \
    "${podman_run[@]}" --user 65532:65532 --entrypoint '' "$debug" sh -c \
    'test -s "$SSL_CERT_FILE" && test -w /tmp && mktemp -d >/dev/null && echo ok "$(id -u)"'
checked="--version, sign --help, sh -c"
if $arm64; then
    # arm64 containers cannot start here (no binfmt_misc); the binaries and configs are checked.
    config="$(config_of "$release_arm64")"
    [[ "$config" =~ ^'arm64  [/binauthz-attest] ['.*'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' ]] ||
        die "unexpected arm64 release config (arch, user, entrypoint, env): $config"
    [[ "$(config_of "$debug_arm64")" == arm64* ]] || die "the arm64 debug image is not arm64"
    check "arm64 binary --version (qemu)" "^binauthz-attest $version\$" qemu-aarch64-static "$arm64_binary" --version
    check "arm64 busybox (qemu)" "^ok$" qemu-aarch64-static "$busybox_arm64" sh -c 'echo ok'
    for list in "$release-multiarch" "$debug-multiarch"; do
        platforms="$(buildah manifest inspect "$list" | tr -d ' \n' | grep -o '"architecture":"[a-z0-9]*"' | sort | tr '\n' ' ')"
        [[ "$platforms" == '"architecture":"amd64" "architecture":"arm64" ' ]] ||
            die "$list lists $platforms, not amd64 and arm64"
    done
    checked+="; arm64: config, --version and busybox under qemu, both indexes list amd64 + arm64"
fi
t_checks="$(since "$t")"

# --- 6. budget and summary ---------------------------------------------------------------------
mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1000000 }'; }
id12() { image_id "$1" | cut -c1-12; }
row() { printf '%-64s %9s %9s  %s\n' "$@"; }
row "" "size" "gzip" "image id"
row "$binary" "$(mb "$binary_bytes")" "" ""
row "$release" "$(mb "$release_bytes")" "$(mb "$release_gz")" "$(id12 "$release")"
row "$debug" "$(mb "$debug_bytes")" "$(mb "$debug_gz")" "$(id12 "$debug")"
cargo_times="cargo $t_cargo"
if $arm64; then
    row "$arm64_binary" "$(mb "$arm64_binary_bytes")" "" ""
    row "$release_arm64" "$(mb "$release_arm64_bytes")" "$(mb "$release_arm64_gz")" "$(id12 "$release_arm64")"
    row "$debug_arm64" "$(mb "$debug_arm64_bytes")" "$(mb "$debug_arm64_gz")" "$(id12 "$debug_arm64")"
    row "$release-multiarch, $tag-debug-multiarch" "" "" "indexes: amd64 + arm64"
    cargo_times+=", cargo zigbuild $t_cargo_arm64"
fi
printf 'time: %s, images %s, checks %s, total %s; checks: %s: ok\n' \
    "$cargo_times" "$t_images" "$t_checks" "$(since "$t_all")" "$checked"

((binary_bytes < max_binary_bytes)) || die "binary is $(mb "$binary_bytes"), budget $(mb "$max_binary_bytes")"
((release_bytes < max_image_bytes)) || die "release image is $(mb "$release_bytes"), budget $(mb "$max_image_bytes")"
if $arm64; then
    ((arm64_binary_bytes < max_binary_bytes)) || die "arm64 binary is $(mb "$arm64_binary_bytes"), budget $(mb "$max_binary_bytes")"
    ((release_arm64_bytes < max_image_bytes)) || die "arm64 release image is $(mb "$release_arm64_bytes"), budget $(mb "$max_image_bytes")"
fi
