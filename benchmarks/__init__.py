"""JLN benchmarks: ``python benchmarks/run.py`` runs every suite and writes one JSON report.

Each suite is a module with a ``run(context) -> list[Result]`` function, registered in
``run.py``: ``broker.py`` (jln_broker against Redis) and ``server.py`` (a real Jupyter
server and its WebSocket clients).
"""
