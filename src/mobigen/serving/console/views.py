"""JSON views of the edge's recent events for the console: slots with each user's measurements merged in."""

from __future__ import annotations

import math
from typing import Any

from mobigen.serving.events import EventBus, event_dict


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def recent_slots(bus: EventBus, limit: int) -> list[dict]:
    """The last ``limit`` slots (oldest first); each user carries ``measured`` (the edge's timings and reply
    bytes, once its reply was built) and ``device`` (a device's own measurements, when one reported them)."""
    events = bus.recent()
    requests: dict[str, dict] = {}
    devices: dict[str, dict] = {}
    for _, ev in events:
        kind = getattr(ev, "kind", None)
        if kind == "request":
            requests[ev.request_id] = event_dict(ev)
        elif kind == "device":
            devices[ev.request_id] = event_dict(ev)
    out = []
    for seq, ev in [it for it in events if getattr(it[1], "kind", None) == "slot"][-limit:]:
        d = event_dict(ev)
        d["seq"] = seq
        for u in d["users"]:
            u["measured"] = requests.get(u["request_id"])
            u["device"] = devices.get(u["request_id"])
        out.append(json_safe(d))
    return out


def sse_frame(seq: int | None, kind: str, data: Any) -> str:
    """One server-sent-events frame (``id``, ``event``, one ``data`` line of JSON)."""
    import json

    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(json_safe(data), separators=(',', ':'))}\n\n"


__all__ = ["json_safe", "recent_slots", "sse_frame"]
