"""The OpenAPI schema of the edge server (``/v1/openapi.json``), with the upload's JSON part described.

FastAPI describes ``POST /v1/generate``'s multipart body from its ``Form``/``File`` parameters, but
the ``meta`` part is a JSON document: ``install_openapi`` points that property at the
``GenerateMeta`` schema (with ``encoding: {meta: {contentType: application/json}}`` on the route,
OpenAPI 3.1's way to say a part is JSON), so a schema-driven client or fuzzer sees every field and
bound of the metadata.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mobigen.serving.schemas import GenerateMeta

_REF = "#/components/schemas/{model}"


def _describe_meta_part(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    meta_schema = GenerateMeta.model_json_schema(ref_template=_REF)
    components.update(meta_schema.pop("$defs", {}))
    components["GenerateMeta"] = meta_schema
    body = schema["paths"]["/v1/generate"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    name = body["$ref"].rsplit("/", 1)[-1] if "$ref" in body else None
    form = components[name] if name else body
    description = form["properties"]["meta"].get("description", "")
    form["properties"]["meta"] = {"$ref": _REF.format(model="GenerateMeta"), "description": description}


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` by a cached generator that adds the ``meta`` part's schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            _describe_meta_part(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["install_openapi"]
