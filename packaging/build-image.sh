#!/usr/bin/env bash
# Builds trustkeep's container image with buildah, without a daemon, and prints the image
# reference as its last line (and nothing else on standard output; progress goes to stderr).
#
#   packaging/build-image.sh                      # upstream bases: packaging/Containerfile
#                                                 # (rust builder + distroless/cc, nonroot)
#   packaging/build-image.sh --base local         # no registry: a base assembled here from
#                                                 # the binary, its libraries (none for the
#                                                 # static `cargo dist` build), CA certificates
#   packaging/build-image.sh --base local --binary target/debug/trustkeep --tag localhost/trustkeep:dev
#
# Options:
#   --base upstream|local  upstream (default) pulls the Containerfile's images: needs their
#                          registries. local needs none: it copies into an empty image what
#                          distroless/cc holds for trustkeep (the binary, the shared libraries
#                          `ldd` names, /etc/ssl/certs/ca-certificates.crt, /etc/passwd and
#                          /etc/group with the non-root user 65532 `nonroot`, /tmp); no shell.
#   --binary PATH          local base: the binary to ship (default: `cargo dist`, the dist
#                          profile statically linked (.cargo/config.toml), then
#                          $CARGO_TARGET_DIR/<host triple>/dist/trustkeep). Debug
#                          information is stripped from the copy (the code is unchanged);
#                          --keep-debug-info keeps it.
#   --tag REF              the image reference (default: localhost/trustkeep:<version>).
#   --build-arg NAME=VALUE upstream base: passed to the Containerfile (RUST_IMAGE, BASE_IMAGE:
#                          e.g. mirrors of the upstream images in a registry you can reach).
#
# Storage and isolation: buildah's own variables, defaulting to what works wherever buildah
# does (CI machines, containers, VMs without overlayfs): STORAGE_DRIVER=vfs and
# BUILDAH_ISOLATION=chroot; set them for others (e.g. STORAGE_DRIVER=overlay). Run it as root;
# rootless buildah needs `buildah unshare packaging/build-image.sh …` (not tested here). The
# image lands in buildah's local storage (/var/lib/containers/storage, shared with podman);
# push it to your registry with
#   buildah push --storage-driver vfs localhost/trustkeep:0.1.0 docker://registry.example/trustkeep:0.1.0
#
# Idempotent: running it again rebuilds the image under the same reference and removes the
# image that reference named before, unless a container still uses it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | sed -n 1p)"

base=upstream
binary=""
tag="localhost/trustkeep:${version}"
strip_debug=1
build_args=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; }
die() { echo "build-image.sh: $*" >&2; exit 2; }

while (($#)); do
  case "$1" in
    --base) base="${2:?--base needs upstream or local}"; shift 2 ;;
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --tag) tag="${2:?--tag needs an image reference}"; shift 2 ;;
    --build-arg) build_args+=(--build-arg "${2:?--build-arg needs NAME=VALUE}"); shift 2 ;;
    --keep-debug-info) strip_debug=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
done
case "$base" in upstream | local) ;; *) die "--base $base: expected upstream or local" ;; esac
if [ "$base" = upstream ] && [ -n "$binary" ]; then
  die "--binary is for --base local; the upstream build compiles its own binary"
fi
if [ "$base" = local ] && ((${#build_args[@]})); then
  die "--build-arg is for the upstream base (the Containerfile)"
fi
command -v buildah >/dev/null || die "buildah is not installed (Debian: apt-get install buildah)"

export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
# buildah 1.28 reads STORAGE_DRIVER only for some commands: name it on every call.
bah() { buildah --storage-driver "$STORAGE_DRIVER" "$@"; }

previous="$(bah images --noheading --quiet --no-trunc "$tag" 2>/dev/null | sed -n 1p || true)"

if [ "$base" = upstream ]; then
  echo "building $tag from packaging/Containerfile (pulls its base images)" >&2
  bah build --isolation "$BUILDAH_ISOLATION" --layers=false "${build_args[@]}" \
    -f "$repo/packaging/Containerfile" -t "$tag" "$repo" >&2
else
  if [ -z "$binary" ]; then
    echo "building the binary (cargo dist: the dist profile, statically linked, as the Containerfile does)" >&2
    (cd "$repo" && cargo dist >&2)
    binary="$("$repo/packaging/static-binary.sh" dist)"
  fi
  [ -f "$binary" ] && [ -x "$binary" ] || die "--binary $binary: not an executable file"
  certs=/etc/ssl/certs/ca-certificates.crt
  [ -f "$certs" ] || die "$certs is missing (Debian: apt-get install ca-certificates)"
  # Every shared library the binary loads, and the dynamic loader, at the paths ldd names.
  if ! libs="$(ldd "$binary" 2>&1)"; then
    case "$libs" in
      *"not a dynamic executable"*) libs="" ;;
      *) die "ldd $binary: $libs" ;;
    esac
  fi
  case "$libs" in *"not found"*) die "ldd $binary: a library is missing: $libs" ;; esac
  libs="$(printf '%s\n' "$libs" | awk '/=> \//{print $3; next} /^[[:space:]]*\//{print $1}')"

  ctr=""
  cleanup() { if [ -n "$ctr" ]; then bah rm "$ctr" >/dev/null 2>&1 || true; fi; }
  trap cleanup EXIT
  ctr="$(bah from --pull-never scratch)"
  root="$(bah mount "$ctr")"
  echo "assembling $tag from $binary (working container $ctr)" >&2
  install -d -m 0755 "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/home"
  install -d -m 0700 -o 65532 -g 65532 "$root/home/nonroot"
  install -d -m 1777 "$root/tmp"
  install -m 0755 "$binary" "$root/usr/local/bin/trustkeep"
  if [ "$strip_debug" = 1 ]; then
    if command -v strip >/dev/null; then
      strip --strip-debug "$root/usr/local/bin/trustkeep"
    else
      echo "strip not found (Debian: binutils): the binary keeps its debug information" >&2
    fi
  fi
  for lib in $libs; do
    install -d -m 0755 "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  install -m 0644 "$certs" "$root/etc/ssl/certs/ca-certificates.crt"
  # The users and groups of distroless: root, nobody and nonroot (65532); no login shell.
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"
  bah umount "$ctr" >/dev/null
  bah config \
    --user 65532:65532 \
    --workingdir /home/nonroot \
    --entrypoint '["/usr/local/bin/trustkeep"]' \
    --cmd '' \
    --env PATH=/usr/local/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --label org.opencontainers.image.title=trustkeep \
    --label "org.opencontainers.image.version=$version" \
    --label org.opencontainers.image.licenses=Apache-2.0 \
    --label org.opencontainers.image.base.name=scratch \
    "$ctr"
  bah commit --quiet --rm "$ctr" "$tag" >&2
  ctr=""
fi

current="$(bah images --noheading --quiet --no-trunc "$tag" | sed -n 1p)"
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  # The image this reference named before is now untagged: remove it unless still in use.
  bah rmi "$previous" >/dev/null 2>&1 || echo "kept the previous image $previous (in use)" >&2
fi
echo "$tag"
