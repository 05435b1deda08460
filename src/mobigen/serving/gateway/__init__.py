"""The live multi-edge gateway (issue 11): M edge sites behind one ``/v1`` entry point.

The gateway collects uploads over a slot window, associates them with edges by the fast multi-edge
controller (``control.multiedge.fast``) and forwards each upload to its edge's own ``/v1/generate``;
each edge then runs its own slot decision and workers. It talks HTTP to edge URLs only, so it works
with any engine behind them (the embedded server of ``serving.app`` or the Ray Serve deployment).
"""

from mobigen.serving.gateway.app import create_gateway_app
from mobigen.serving.gateway.association import GatewaySettings, edge_site_scenario

__all__ = ["GatewaySettings", "create_gateway_app", "edge_site_scenario"]
