"""Several API instances behind a real load balancer, on one machine: the rehearsal of a multi-pod deployment.

``fleet`` starts a private PostgreSQL (migrated as the owner, served to the API as the non-owner app role),
a private Redis (shared rate limits), N ``foundation serve`` processes on their own ports and HAProxy in
front (``haproxy``); ``load`` drives bounded HTTP load and records every answer. ``foundation rehearse``,
``make rehearse`` (tests/rehearsal) and ``bench/rehearsal_throughput.py`` all use it.
"""
