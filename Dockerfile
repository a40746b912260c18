# binauthz-attest container images: one Dockerfile, two targets.
#
#   release  ghcr.io/binauthz-attest/binauthz-attest:v1        (action.yml, Tekton, Cloud Build)
#   debug    ghcr.io/binauthz-attest/binauthz-attest:v1-debug  (GitLab: a job needs a shell)
#
# `debug` is built FROM `release`, so the two images share every release layer byte for byte
# (the same binary, CA bundle and users; a registry stores them once) and the debug image only
# adds a static busybox layer on top.
#
# Nothing is pulled and nothing runs: both stages start from `scratch` and COPY files that
# packaging/build-image.sh stages into a build context (see that script; it is the only supported
# way to build these images):
#
#   binauthz-attest         static-pie musl binary, cargo build --release --target x86_64-unknown-linux-musl
#   ca-certificates.crt     Debian's /etc/ssl/certs/ca-certificates.crt (the binary's TLS roots)
#   rootfs/                 etc/passwd, etc/group (root and nonroot 65532), tmp/ (mode 1777), home/
#   home/nonroot/           empty home directory of the nonroot user
#   busybox/                Debian busybox-static: busybox plus one symlink per applet (debug only)
#
#   buildah build --isolation chroot --format oci --target release -t localhost/binauthz-attest:TAG -f Dockerfile CONTEXT
#   buildah build --isolation chroot --format oci --target debug   -t localhost/binauthz-attest:TAG-debug -f Dockerfile CONTEXT

FROM scratch AS release

ARG VERSION=unknown
ARG REVISION=unknown

LABEL org.opencontainers.image.title="binauthz-attest" \
      org.opencontainers.image.description="Sign container images for Google Binary Authorization from any CI, in one static binary" \
      org.opencontainers.image.source="https://github.com/binauthz-attest/binauthz-attest" \
      org.opencontainers.image.url="https://github.com/binauthz-attest/binauthz-attest" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# /etc/passwd and /etc/group name the numeric user below (for `id`, and so runtimes derive HOME);
# /tmp exists, world-writable and sticky, as programs expect.
COPY rootfs/ /
COPY --chown=65532:65532 home/nonroot/ /home/nonroot/
# rustls reads its trust roots from here (the binary bundles none). To trust a corporate CA, mount
# a bundle holding the public roots plus that CA and point SSL_CERT_FILE at it.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY binauthz-attest /binauthz-attest

ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# No USER: GitHub's Docker actions and Cloud Build steps run as the image's default user and
# must write runner-owned files ($GITHUB_OUTPUT, /workspace), which only root can. Where a
# cluster can choose (Tekton, Kubernetes), run as the `nonroot` user 65532 named in /etc/passwd;
# the Tekton Task does.
ENTRYPOINT ["/binauthz-attest"]
CMD ["--help"]

FROM release AS debug

LABEL org.opencontainers.image.description="binauthz-attest with a static busybox shell, for CI jobs that run a script (GitLab)"

# busybox and its applets live in /busybox (kaniko's :debug layout, which GitLab's shell detection
# knows); /bin/sh is there too for `#!/bin/sh` scripts; binauthz-attest is on PATH by name.
COPY busybox/ /busybox/
COPY bin/ /bin/
COPY usr/ /usr/
ENV PATH=/usr/local/bin:/busybox:/bin
