# ftpsd container image: a static binary on an empty (scratch) base, run as
# an unprivileged user.
#
#   docker build -t ftpsd .
#
# A release image, stamped and tagged with the version tools/release uses:
#
#   v=$(go run ./tools/release -print-version)
#   docker build --build-arg VERSION=$v --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(git log -1 --format=%cI) -t ftpsd:$v .
#   docker run -d --name ftpsd \
#     -p 21:21 -p 990:990 -p 50000-50099:50000-50099 \
#     -v /path/to/ftpsd.toml:/etc/ftpsd/ftpsd.toml:ro \
#     -v ftpdata:/srv/ftp ftpsd
#
# See "Running in a container" in docs/operations.md. docker/docker_test.go builds
# and drives this image (FTPSD_CONTAINER_TEST=1 go test ./docker/).

# The Go image of the build stage; a build argument so that a local or
# mirrored image can stand in for it (--build-arg GO_IMAGE=...).
ARG GO_IMAGE=golang:1.26

FROM ${GO_IMAGE} AS build
# Pure Go, so the binary is static and runs on scratch. No VCS stamping: the
# .git directory is not part of the build context (the build arguments
# below stamp the release instead).
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build
# The storage root, empty; handed to the unprivileged user below. Made by a
# RUN, whose layer keeps it with every builder and cache setting (a directory
# made only by WORKDIR is missing from podman's cached layer).
RUN ["mkdir", "-p", "/out/srv/ftp"]
WORKDIR /src
# Modules first, so that this layer is reused while only the code changes.
# (A module cache mounted at /go/pkg/mod, e.g. "podman build -v
# $(go env GOMODCACHE):/go/pkg/mod", makes this step need no network; one
# mounted at /root/.cache/go-build keeps compiled packages between builds.)
# The protocol engine is a patched copy in the repository (go.mod replaces
# the module with it): its go.mod is part of the module graph.
COPY go.mod go.sum ./
COPY third_party/ftpserverlib/go.mod third_party/ftpserverlib/go.sum third_party/ftpserverlib/
RUN ["go", "mod", "download"]
COPY . .
# The release's version, commit and date, stamped into the binary as
# tools/release stamps them (tools/stamp reads these build arguments from
# its environment; this stage has no shell to expand them). Without them
# the binary says "(devel)".
ARG VERSION=""
ARG COMMIT=""
ARG DATE=""
RUN ["go", "run", "./tools/stamp", "-o", "/out/ftpsd"]

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY docker/passwd /etc/passwd
COPY docker/group /etc/group
COPY --from=build /out/ftpsd /ftpsd
COPY docker/ftpsd.toml /etc/ftpsd/ftpsd.toml
COPY --from=build --chown=10001:10001 /out/srv /srv
# Unprivileged (the "ftpsd" entry of /etc/passwd), numeric so that runtimes
# can verify it is not root. Binding ports 21 and 990 needs either the
# runtime's net.ipv4.ip_unprivileged_port_start=0 (Docker's default on its
# own networks) or CAP_NET_BIND_SERVICE: see docs/operations.md.
USER 10001:10001
# Users' files. A named volume starts out owned by the ftpsd user; a host
# directory mounted here must be writable by uid 10001.
VOLUME /srv/ftp
# Explicit FTPS, implicit FTPS, and the passive range of docker/ftpsd.toml.
EXPOSE 21/tcp 990/tcp 50000-50099/tcp
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
  CMD ["/ftpsd", "health", "-config", "/etc/ftpsd/ftpsd.toml"]
ENTRYPOINT ["/ftpsd"]
CMD ["serve", "-config", "/etc/ftpsd/ftpsd.toml"]
