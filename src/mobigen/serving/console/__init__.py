"""The edge's web console at ``/ui``: a live view of the slots and a "Try it" form with a simulated device.

| module | holds |
|---|---|
| ``router`` | ``console_router(service, settings)``: the page, its JSON/SSE API and try-it |
| ``views`` | recent slots as JSON (each user's measurements merged in), SSE framing |
| ``device`` | ``SimulatedDevice``: a ``MobileClient`` run for the browser against the edge over loopback |
| ``static/`` | the page: ``index.html``, ``console.js`` (vanilla JS, canvas charts), ``console.css`` |

The events come from ``serving.events.EventBus`` (``EdgeService.events``).
"""

from mobigen.serving.console.router import UI_PREFIX, console_router, console_url

__all__ = ["UI_PREFIX", "console_router", "console_url"]
