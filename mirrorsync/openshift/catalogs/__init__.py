"""OLM operator catalogs (file-based catalogs): read, filter, rebuild, mirror their bundles and related images."""
