"""The sync pipeline: manifest -> plan (copy jobs, tag selection) -> engine (the copy algorithm, or skopeo) ->
report; plus the runner that drives it, verify, metrics, progress and ``convert`` (other tools' configs to a
manifest)."""
