# mirrorsync with skopeo, for scheduled syncs (see README "Running on a schedule").
#   docker build -t mirrorsync .
#   docker run --rm -v "$PWD/manifest.yaml:/config/manifest.yaml:ro" -v "$PWD/auth.json:/auth/auth.json:ro" \
#     -v "$PWD/out:/out" mirrorsync run /config/manifest.yaml --authfile /auth/auth.json --output-dir /out
# BASE is any Debian bookworm with python3 and python3-venv: python:3.11-slim-bookworm by default, or one made
# locally where no base image can be pulled (scripts/image bootstraps it with mmdebstrap and builds with buildah).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mirrorsync ./mirrorsync
# A virtualenv of its own, so the final stage takes the package and its dependencies, not pip's caches, and the
# same lines work over the python image and over Debian's own python3 (which will not pip-install system-wide).
RUN python3 -m venv /opt/mirrorsync \
 && /opt/mirrorsync/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM ${BASE}
# skopeo for the skopeo engine (it brings containers-common: /etc/containers/policy.json, registries.conf).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends skopeo ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/mirrorsync /opt/mirrorsync
# A fixed numeric UID, so that Kubernetes' runAsNonRoot can check it without looking up names.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/mirrorsync --shell /usr/sbin/nologin mirrorsync \
 && mkdir -p /out \
 && chown 10001:10001 /out
ENV HOME=/home/mirrorsync \
    PATH=/opt/mirrorsync/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/mirrorsync
ENTRYPOINT ["mirrorsync"]
CMD ["--help"]
