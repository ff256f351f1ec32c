# gitchaos git server image: the multi-call gitchaos binary running its
# `gitserver` command (package cmd/internal/gitservercmd: smart-HTTP
# upload-pack, go-git engine, admin API under /_admin/) on an empty base.
#
# Embedded in package harness/dockerimg, which builds the image on first use
# (or `gitchaos testbed images`); the build context holds only this file and
# the static gitchaos binary: the running executable when it is a static
# linux build for the engine's architecture, else one built with
# `CGO_ENABLED=0 go build -trimpath ./cmd/gitchaos` from the gitchaos module.
# The image tag is a content hash of this file and the binary. Nothing is
# pulled: FROM scratch needs no registry.
FROM scratch
COPY gitchaos /gitchaos
# WORKDIR creates the directories a scratch image lacks: a temp dir for
# go-git and the repo root (repos are generated at start or mounted here).
WORKDIR /tmp
WORKDIR /repos
ENV HOME=/tmp TMPDIR=/tmp
EXPOSE 8080
ENTRYPOINT ["/gitchaos", "gitserver", "--engine", "go-git", "--listen", ":8080", "--root", "/repos"]
