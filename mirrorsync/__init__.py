"""mirrorsync: keep container image mirrors in sync and write the OpenShift mirror sets that use them."""

__version__ = "0.1.0"
