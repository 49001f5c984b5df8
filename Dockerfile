# osupgrade itself, FROM scratch: nothing but the static binary.
#
# No multi-stage build: there is no registry here to pull a Go image from, so
# the image copies a binary built beforehand with CGO_ENABLED=0 (a cgo build
# needs a libc that scratch has not). `make image` does both:
#
#   CGO_ENABLED=0 go build -trimpath -o bin/osupgrade ./cmd/osupgrade
#   docker build --label osupgrade.owner=osupgrade -t osupgrade .
#
# Run it on the simulator with scenarios from the host:
#
#   docker run --rm -v "$PWD/scenarios:/scenarios:ro" osupgrade run --fleet sim /scenarios
#
# and on the Docker fleet (README.md, "Install"): the engine's socket, the
# host's network (the containers reach the fleet's blob endpoint and are
# probed from the host side of their bridges), the host's PID namespace and
# NET_ADMIN + SYS_ADMIN (the network faults open /proc/<pid>/ns/net of a
# container, enter it and change its links, qdiscs and nftables):
#
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \
#     --network host --pid host --cap-add NET_ADMIN --cap-add SYS_ADMIN \
#     -v "$PWD/scenarios:/scenarios:ro" osupgrade run --fleet docker /scenarios
#
# The OS images of the Docker fleet are built from this same binary
# (`osupgrade agent`), so the image needs nothing else.
FROM scratch
COPY bin/osupgrade /osupgrade
# scratch has no directories: WORKDIR makes /tmp (temporary files) and
# /work (the working directory, where --out paths land).
WORKDIR /tmp
WORKDIR /work
ENTRYPOINT ["/osupgrade"]
CMD ["help"]
