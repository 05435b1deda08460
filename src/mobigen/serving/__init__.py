"""mobigen.serving: the live system of Fig. 5 — an edge server and mobile clients over real sockets.

Layout (one concept per module):

| module | holds |
|---|---|
| ``settings`` | ``ServerSettings`` (pydantic; ``MOBIGEN_SERVE_*`` environment variables) |
| ``schemas`` | the ``/v1`` API messages (``GenerateMeta``, ``ResultMeta``, ``RequestState`` …) |
| ``admission`` | every check of an upload before it joins a slot (content type, parts, meta bounds, condition) |
| ``protocol`` | framing of a reply: JSON metadata + ``generation.wire`` payload |
| ``limits`` | ASGI body-size limit enforced before parsing |
| ``batcher`` | ``SlotBatcher``: a slot closes at K requests or when its window ends |
| ``slotting`` | ``build_slot``: live requests → ``system.Slot`` |
| ``capacity`` | backpressure: bounded queues, 503 + Retry-After, "cannot be served in time" (before a request joins a slot) |
| ``decision`` | ``SlotDecider``: slot → controller → guard (11)-(13) → evaluation, off the event loop; a breaking request fails alone |
| ``jobs`` | the edge's denoising work as plain data (``EdgeJob``, ``TakeOverJob``): the same job runs in a thread or on a Ray replica |
| ``pool`` | ``WorkerPool``: N denoise-worker replicas (accounting, re-run of a dead replica's jobs, shutdown); ``EmbeddedWorkerPool`` (threads) |
| ``worker`` | ``DenoiseWorker``: one replica's denoising queue (continuous batching: ``batched_worker``), off the event loop |
| ``completion`` | ``CompletionTracker``: budget ledgers (12), completion deadlines, take-overs, final statuses |
| ``ray`` | the same app as a Ray Serve application: FastAPI ingress + N ``DenoiseReplica`` s (``mobigen serve --engine ray``) |
| ``batched_worker`` | ``EdgeStepJob`` and ``BatchedEdgeRunner``: a worker's continuous batching of edge shares |
| ``splitrun`` | ``SplitRunner``: edge / device halves of the split denoising (eqs. 4-5) |
| ``records`` | request statuses (nothing is dropped silently) |
| ``edge`` | ``EdgeService``: one request's life, assembling the parts above (the embedded and Ray engines share it) |
| ``service_error`` | ``ServiceError``: an HTTP status + the one error shape, raised by any part |
| ``metrics`` | Prometheus metrics on a per-app registry |
| ``shaping`` | token-bucket pacing at B↑ / B↓ (eqs. 2, 6, 7 transfer terms) |
| ``errors`` | the one error shape ``{error, detail}`` and the handlers that give it to every failure |
| ``routes`` | one router per resource: ``ops`` (health, metrics), ``generate``, ``requests`` |
| ``openapi`` | the schema at ``/v1/openapi.json``, with the ``meta`` part's JSON described |
| ``app`` | ``create_app(settings)`` (FastAPI): assembles the above |
| ``server`` | ``ServerThread`` (uvicorn in a thread) and ``GracefulServer`` |
| ``client`` | ``MobileClient``: VCE, extraction, compression, upload, local steps, report |
| ``demo`` / ``loadtest`` | ``mobigen demo`` and ``mobigen loadtest`` |

Protocol: ``POST /v1/generate`` takes ``multipart/form-data`` with a JSON part ``meta``
(``schemas.GenerateMeta``) and a file part ``condition`` (the codec's bytes, not base64, so the
uplink size is the real D(I_k(ν_k))). The reply (``application/vnd.mobigen.result``) is
``b"MGR1" | uint32 n | n bytes JSON (schemas.ResultMeta) | wire payload`` — a latent (o_k < 1) or
the image (o_k = 1). Errors are JSON ``{"error", "detail"}`` with a 4xx/5xx status.
"""
