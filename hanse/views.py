"""One shape from another: a table row (or an answer) into an answer or an event payload, field by name."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

Shape = TypeVar("Shape", bound=BaseModel)


def from_row(shape: type[Shape], row: BaseModel, **values: Any) -> Shape:
    """`shape` filled from the row's fields of the same name, then from `values` (which win).

    So an answer or a payload never copies a shape field by field: only the fields whose name or
    form differs (an id under another name, money as Money) are written out.
    """
    fields = set(shape.model_fields) - set(values)
    return shape.model_validate({**row.model_dump(include=fields), **values})
