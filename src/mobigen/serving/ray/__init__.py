"""The edge server as a Ray Serve application (issue 14 point 3): ``mobigen serve --engine ray``.

The same ``/v1`` API, the same ``EdgeService`` parts (admission, capacity, slot decision, completion
tracking, metrics); only the transport to the denoise workers differs:

| module | holds |
|---|---|
| ``deployments`` | ``EdgeIngress`` (the FastAPI app via ``serve.ingress``; it holds this edge's slot scheduler) and ``DenoiseReplica`` (one worker replica: a ``SplitRunner`` on one GPU, or CPU) |
| ``pool`` | ``RayWorkerPool``: ``serving.pool.WorkerPool`` over a deployment handle (re-runs a job whose replica died) |
| ``app`` | ``build_app(args)``: the application builder a Serve config file names (``serve run``/``serve deploy``, KubeRay); ``config_yaml``; ``LocalRayServe`` (start a local Ray + Serve, run the app, stop) |

Nothing here is imported unless the ray engine is chosen: ``ray`` is imported lazily.
"""
