# mirrorsync with skopeo, for scheduled syncs (see README "Running on a schedule").
#   docker build -t mirrorsync .
#   docker run --rm -v "$PWD/manifest.yaml:/config/manifest.yaml:ro" -v "$PWD/auth.json:/auth/auth.json:ro" \
#     -v "$PWD/out:/out" mirrorsync run /config/manifest.yaml --authfile /auth/auth.json --output-dir /out

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mirrorsync ./mirrorsync
# Installed into a prefix of its own so the final stage takes the package and its dependencies, not pip's caches.
RUN pip install --no-cache-dir --disable-pip-version-check --prefix=/install .

FROM python:3.11-slim-bookworm
# skopeo for the skopeo engine (it brings containers-common: /etc/containers/policy.json, registries.conf).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends skopeo ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /install /usr/local
# A fixed numeric UID, so that Kubernetes' runAsNonRoot can check it without looking up names.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/mirrorsync --shell /usr/sbin/nologin mirrorsync \
 && mkdir -p /out \
 && chown 10001:10001 /out
ENV HOME=/home/mirrorsync \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/mirrorsync
ENTRYPOINT ["mirrorsync"]
CMD ["--help"]
