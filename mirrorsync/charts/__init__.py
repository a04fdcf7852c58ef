"""Helm charts: a manifest section of their own, not OpenShift-specific (see :mod:`.section`)."""
