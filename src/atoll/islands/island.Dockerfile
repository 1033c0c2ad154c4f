# atoll island image (docs/islands.md, "Image"). Built by `atoll image build`.
# The same image, with no registry at all, comes from `atoll image build --bootstrap`
# (debootstrap root filesystem); keep the two recipes in step (PACKAGES in bootstrap.py).
ARG BASE=debian:bookworm-slim
FROM ${BASE}
USER root
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      tmux git bash procps ca-certificates python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
RUN (getent passwd 1000 >/dev/null || useradd -m -u 1000 -U -s /bin/bash -d /home/agent agent) \
 && mkdir -p /workspace && chown 1000:1000 /workspace
ENV HOME=/home/agent \
    LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL atoll.image=island
USER 1000:1000
WORKDIR /workspace
CMD ["sleep", "infinity"]
