"""The edge server's HTTP routes, one router per resource (``create_app`` includes them all).

| module | router | paths |
|---|---|---|
| ``ops`` | ``router`` | ``GET /health``, ``GET /metrics`` (Prometheus text) |
| ``generate`` | ``router`` | ``POST /v1/generate`` (multipart upload → framed reply) |
| ``requests`` | ``router`` | ``GET /v1/requests/{id}``, ``POST .../complete``, ``GET .../image`` |

Routes reach the ``EdgeService`` and ``ServerSettings`` of their app through the dependencies in
``routes.deps``.
"""
