"""The Open Inference Protocol's JSON bodies as pydantic models (KServe's "v2" REST protocol).

One checkpoint is one model: its name is the checkpoint's name and its one version the
checkpoint's hash. Inputs are BYTES tensors of shape [N] (`question`, `context` or `text`: N
inputs answered in one backbone pass); what to answer is a request parameter (`task` or
`target_head`, `heads`, `max_new_tokens`); every head asked gives one output (infer.py).
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

# OIP parameters are scalars
Parameter = StrictBool | StrictInt | StrictFloat | StrictStr


class _Strict(BaseModel):
    # an unknown key is most often a typo ("input" for "inputs"): refused, not ignored
    model_config = ConfigDict(extra="forbid")


# absent, null or {}: no parameters
Parameters = Annotated[dict[str, Parameter], BeforeValidator(lambda value: {} if value is None else value)]


class RequestInput(_Strict):
    name: str
    shape: list[int] = Field(description="[N] (or [N, 1]): one element per input.")
    datatype: str = Field(description="BYTES: UTF-8 text.")
    parameters: Parameters = Field(default_factory=dict, description="binary_data_size: the tensor is in binary after the JSON.")
    data: Any = Field(None, description="The elements, flat or nested by the shape; absent when sent in binary.")

    @field_validator("shape")
    @classmethod
    def _sizes(cls, shape: list[int]) -> list[int]:
        if not shape or any(size < 0 for size in shape):
            raise ValueError(f"shape {shape} must list one or more sizes, none negative")
        return shape


class RequestOutput(_Strict):
    name: str
    parameters: Parameters = Field(default_factory=dict, description="binary_data: send this output in binary.")


class InferRequest(_Strict):
    id: str | None = Field(None, description="Echoed in the response.")
    parameters: Parameters = Field(
        default_factory=dict, description="task or target_head (which head answers), heads (comma-separated; all when absent, the "
                          "target alone when empty), max_new_tokens, binary_data_output.")
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = Field(None, description="The outputs to send; all when absent.")


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    data: list[Any] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ProtocolError(BaseModel):
    """Every error on /v2, as OIP clients read it."""

    error: str
