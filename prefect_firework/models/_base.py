"""Base classes: strict request models and tolerant response models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A body we send. Unknown fields are errors, so a typo (``captoin=``) fails loudly."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_api(self) -> dict[str, Any]:
        """The JSON body: only the fields that were set, so "omitted" and "null" stay distinct."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


class ResponseModel(BaseModel):
    """A body we receive. Unknown fields are ignored, so the API may grow without breaking us."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
