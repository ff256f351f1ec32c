# gitchaos toxiproxy image: the multi-call gitchaos binary running its
# `toxiproxy-server` command — toxiproxy's own server (the main of
# github.com/Shopify/toxiproxy/v2/cmd/server at the pinned v2.12.0,
# reproduced in cmd/internal/toxiproxycmd with the same flags) plus
# gitchaos's extra toxics (the "stall" toxic of harness/faults/stalltoxic)
# — on an empty base.
#
# Embedded in package harness/dockerimg, which builds the image on first use
# (or `gitchaos testbed images`); the build context holds only this file and
# the static gitchaos binary (see gitserver.Dockerfile). The image tag is a
# content hash of this file and the binary. Nothing is pulled.
#
# Flags as upstream: -host, -port (API, 8474), -config FILE (proxies to
# create at start, JSON list of {name, listen, upstream, enabled}).
FROM scratch
COPY gitchaos /gitchaos
WORKDIR /tmp
ENV HOME=/tmp TMPDIR=/tmp
EXPOSE 8474
ENTRYPOINT ["/gitchaos", "toxiproxy-server", "-host", "0.0.0.0"]
CMD ["-port", "8474"]
