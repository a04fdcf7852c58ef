"""OpenShift release payloads: the manifest's ``platform`` section, the update-service graph, what a release image
names (``release-manifests/``), the copy jobs that mirror a release and its components, and what a cluster needs
beside the mirror sets (the signature ConfigMaps, the install-config ``imageDigestSources`` block).

The modules: spec.py (the manifest section), graph.py (channels to releases), payload.py (a release image's
components), select.py (releases to copy jobs and report records), signatures.py, install_config.py.
"""
