"""HTTP functions: validation with pydantic (a compiled core), numbers with numpy."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field, ValidationError

import fpack


class Resize(BaseModel):
    width: int = Field(gt=0, le=4096)
    height: int = Field(gt=0, le=4096)
    keep_ratio: bool = True


def hello(request: fpack.Request) -> fpack.Response:
    """GET ?name=… greets; POST a Resize JSON body gets back the scaled size."""
    if request.method == "POST":
        try:
            spec = Resize.model_validate_json(request.body)
        except ValidationError as e:
            return fpack.Response.json({"error": e.errors(include_url=False)}, status=422)
        scale = float(np.min(np.array([128 / spec.width, 128 / spec.height])))
        size = [round(spec.width * scale), round(spec.height * scale)]
        return fpack.Response.json({"thumbnail": size, "keep_ratio": spec.keep_ratio})
    name = request.query.get("name", "world")
    return fpack.Response.json(
        {"hello": name, "path": request.path, "agent": request.headers.get("user-agent")}
    )
