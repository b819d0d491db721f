"""JLN benchmarks: ``python benchmarks/run.py`` runs every suite and writes one JSON report.

Each suite is a module with a ``run(context) -> list[Result]`` function, registered in
``run.py``; the broker suite is ``broker.py``.
"""
