# The release artifacts (static binaries, .deb and .rpm packages,
# SHA256SUMS) in dist/: see docs/operations.md, "The package".
.PHONY: release
release:
	go run ./tools/release -out dist
