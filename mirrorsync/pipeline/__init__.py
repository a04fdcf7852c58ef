"""The wiring of a run: the sections of a manifest listed once (:mod:`.sections`), planned, copied through an
engine into the stores of a route (registries, or an OCI layout on either side of an air gap), finished and
reported (:mod:`.runner`), and the cluster resources written from reports (:mod:`.outputs`); ``verify`` and
``prune`` plan the same way. Above the engine (:mod:`mirrorsync.sync`) and every section; below the air gap and
the command line."""
