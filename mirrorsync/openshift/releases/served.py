"""The update graph a dark site's update service (OSUS) serves over the mirrored releases, as ``plan`` shows it.

The OSUS's graph-builder scrapes its ``releases`` repository (here ``<mirror>/openshift/release-images``): every
release image it finds there is a node, and each one's ``release-metadata`` names the versions it upgrades from
(``previous``); a version it names that is not in the repository stays an abstract node, which the graph-builder
prunes with its edges before it serves the graph (cincinnati's ``Graph::prune_abstract``). So the nodes are the
mirrored releases, and the edges those of their metadata between two mirrored releases of one architecture; the
graph data's channels and blocked edges then narrow what each cluster is offered.
"""

from __future__ import annotations

from .select import ReleasePlan, version_key

KEY = "updateGraph"  # its place in ``plan --output json``


def served_graph(rplan: ReleasePlan) -> dict:
    """``{"releases": [{version, architecture, digest}], "edges": [[from, to, architecture]], "leftOut": [...]}``:
    the nodes, the edges among them, and the edges the metadata names to a release that is not mirrored (the OSUS
    does not offer them), lowest version first."""
    mirrored = {(p.release.version, p.arch) for p in rplan.releases}
    releases = sorted(rplan.releases, key=lambda p: (p.arch, version_key(p.release.version)))
    edges, left_out = [], []
    for p in releases:
        for prev in sorted(set(p.release.previous), key=version_key):
            ((edges if (prev, p.arch) in mirrored else left_out)).append([prev, p.release.version, p.arch])
    return {"releases": [{"version": p.release.version, "architecture": p.arch, "digest": p.release.digest}
                         for p in releases],
            "edges": sorted(edges, key=lambda e: (e[2], version_key(e[0]), version_key(e[1]))),
            "leftOut": sorted(left_out, key=lambda e: (e[2], version_key(e[0]), version_key(e[1])))}


def text_lines(graph: dict) -> list[str]:
    """``plan``'s text for :func:`served_graph`: one line per mirrored release with the updates offered from it."""
    nodes, edges = len(graph["releases"]), len(graph["edges"])
    lines = [f"update graph over the mirrored releases (as an update service serves it): "
             f"{nodes} release{'' if nodes == 1 else 's'}, {edges} update{'' if edges == 1 else 's'} among them"]
    for r in graph["releases"]:
        to = [e[1] for e in graph["edges"] if e[0] == r["version"] and e[2] == r["architecture"]]
        lines.append(f"  {r['version']} ({r['architecture']}) -> {', '.join(to)}" if to else
                     f"  {r['version']} ({r['architecture']}): no update to a mirrored release")
    for e in graph["leftOut"]:
        lines.append(f"  not offered: {e[0]} -> {e[1]} ({e[2]}): {e[0]} is not mirrored")
    return lines
