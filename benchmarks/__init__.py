"""Benchmarks of the site on this machine: not part of the site (the images do not ship them).

`benchmarks.stack` starts a production-like stack (the serving tests start theirs with it too);
`benchmarks.serve` loads it and reports the serving figures (`manage.py bench_serve`).
"""
