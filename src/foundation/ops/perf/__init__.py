"""Performance smoke of the Foundation API (`foundation perf smoke`).

Nothing here imports locust at module level: importing locust monkey-patches the standard library through
gevent, so only :mod:`foundation.ops.perf.runner` (and the user class built by
:mod:`foundation.ops.perf.scenario`) import it, inside the functions that run the load.
"""
