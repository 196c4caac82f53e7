"""An Open Inference Protocol request read as the core's queries, and the core's answers written
as its outputs.

Request: BYTES inputs `question` (optional), `context` or `text`, each of shape [N] (or [N, 1]);
N inputs answered together, one backbone pass. Parameters: `task` or `target_head`, `heads`
(comma-separated; every head when absent, the target alone when ""), `max_new_tokens`, and
Triton's `binary_data_output`.

Outputs, all of shape [N] unless said:
- one per head run, named by the head: BYTES, each element the JSON of
  {"role": "target" | "non_target", "output": {...}} or {"role": ..., "error": {"kind", "message"}};
- `result`: BYTES, each element the whole answer to that input as /v1/predict gives it (route,
  explanation, errors, degraded);
- `<head>.probabilities`: FP32 [N, C] for a head whose kind answers with class probabilities,
  its labels in the output's `labels` parameter (comma-separated); a row is NaN (null in JSON)
  where that head did not answer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from model.heads import HEAD_KINDS
from service.http.errors import ApiError
from service.http.schemas import Inputs
from service.http.v2.schemas import InferRequest, RequestInput
from service.http.v2.tensors import TensorError, element_count, flatten, read_bytes_elements
from service.pipeline.catalog import Catalog
from service.pipeline.predict import Query
from service.pipeline.results import ItemResult

INPUT_NAMES = ("question", "context", "text")
PARAMETERS = ("task", "target_head", "heads", "max_new_tokens", "binary_data_output")
RESULT = "result"
PROBABILITIES = "probabilities"


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def has_probabilities(kind: str) -> bool:
    """Whether a head kind answers with a probability per label (a classification)."""
    head_class = HEAD_KINDS.get(kind)
    return head_class is not None and PROBABILITIES in head_class.output_model.model_fields


@dataclass(frozen=True)
class Output:
    name: str
    datatype: str
    head: str | None  # the head it comes from; None for `result`


def outputs_of(catalog: Catalog, heads: list[str]) -> list[Output]:
    """Every output a request that runs `heads` can ask for, in catalog order."""
    outputs = [Output(RESULT, "BYTES", None)]
    for head in (h for h in catalog.heads if h in heads):
        outputs.append(Output(head, "BYTES", head))
        if has_probabilities(catalog.kind(head)):
            outputs.append(Output(f"{head}.{PROBABILITIES}", "FP32", head))
    return outputs


def _string(parameters: dict[str, Any], name: str) -> str | None:
    value = parameters.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid(f"parameters.{name} must be a string, got {json.dumps(value)}")
    return value


def read_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """task, target_head, heads and max_new_tokens as a Query takes them."""
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        raise invalid(f"parameters {unknown} are not known here; valid parameters: {list(PARAMETERS)}")
    task, target_head = _string(parameters, "task"), _string(parameters, "target_head")
    if (task is None) == (target_head is None):
        raise invalid("parameters: give exactly one of `task` or `target_head` (GET /v1/heads lists both)")
    heads = _string(parameters, "heads")
    max_new = parameters.get("max_new_tokens")
    if max_new is not None and (isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1):
        raise invalid(f"parameters.max_new_tokens must be a whole number of at least 1, got {json.dumps(max_new)}")
    binary = parameters.get("binary_data_output", False)
    if not isinstance(binary, bool):
        raise invalid(f"parameters.binary_data_output must be true or false, got {json.dumps(binary)}")
    return {"task": task, "target_head": target_head, "max_new_tokens": max_new,
            "heads": None if heads is None else [h.strip() for h in heads.split(",") if h.strip()]}


def read_texts(tensor: RequestInput, binary: bytes, at: int) -> tuple[list[str], int]:
    """(the tensor's N texts, where the next tensor's binary data starts)."""
    name = tensor.name
    if tensor.datatype != "BYTES":
        raise invalid(f"input {name!r} has datatype {tensor.datatype}; send it as BYTES (UTF-8 text)")
    if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
        raise invalid(f"input {name!r} has shape {tensor.shape}; send [N] (or [N, 1]): one text per input")
    count = element_count(tensor.shape)
    size = tensor.parameters.get("binary_data_size")
    if size is not None:
        if tensor.data is not None:
            raise invalid(f"input {name!r} has both `data` and parameters.binary_data_size; send one")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or at + size > len(binary):
            raise invalid(f"input {name!r}: parameters.binary_data_size is {json.dumps(size)}, but "
                          f"{len(binary) - at} bytes of binary data remain for it")
        try:
            raw = read_bytes_elements(name, binary[at:at + size], count)
            texts = [element.decode("utf-8") for element in raw]
        except TensorError as err:
            raise invalid(str(err)) from None
        except UnicodeDecodeError as err:
            raise invalid(f"input {name!r} is not valid UTF-8 (byte 0x{err.object[err.start]:02x}); send UTF-8 text") from None
        return texts, at + size
    if tensor.data is None:
        raise invalid(f"input {name!r} has no `data` (and no parameters.binary_data_size); send its texts")
    texts = flatten(tensor.data)
    if len(texts) != count:
        raise invalid(f"input {name!r} has shape {tensor.shape} ({count} elements) but {len(texts)} in `data`")
    wrong = next((t for t in texts if not isinstance(t, str)), None)
    if wrong is not None:
        raise invalid(f"input {name!r} holds {json.dumps(wrong)[:40]}; every element of a BYTES input is a string")
    return texts, at


def read_queries(request: InferRequest, binary: bytes, max_items: int) -> list[Query]:
    """One Query per input; raises ApiError (400, 413 over the batch limit) naming the input,
    the element and the fix."""
    options = read_parameters(request.parameters)
    names = [t.name for t in request.inputs]
    unknown = [n for n in names if n not in INPUT_NAMES]
    if unknown or len(set(names)) != len(names):
        raise invalid(f"inputs are named {names}; send each of {list(INPUT_NAMES)} at most once, "
                      "`context` or `text` required")
    passages = [n for n in names if n in ("context", "text")]
    if len(passages) != 1:
        raise invalid(f"inputs are named {names}; send one passage input, `context` (a passage to read) or `text` "
                      "(a document to summarise)")
    columns: dict[str, list[str]] = {}
    at = 0
    for tensor in request.inputs:
        columns[tensor.name], at = read_texts(tensor, binary, at)
    if at != len(binary):
        raise invalid(f"{len(binary) - at} bytes of binary data follow the JSON that no input's binary_data_size "
                      "accounts for")
    sizes = {name: len(texts) for name, texts in columns.items()}
    if len(set(sizes.values())) != 1:
        raise invalid(f"the inputs hold different numbers of elements {sizes}; each holds one per input")
    n = next(iter(sizes.values()))
    if n == 0:
        raise invalid("the inputs hold no element; send at least one input")
    if n > max_items:
        raise ApiError(413, "batch_too_large", f"the request holds {n} inputs; the limit is {max_items}: split it "
                       f"into requests of at most {max_items}")
    queries = []
    for i in range(n):
        try:
            inputs = Inputs(**{name: texts[i] for name, texts in columns.items()})
        except ValidationError as err:
            problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
            raise invalid(f"element {i}: {problems}") from None
        queries.append(Query(passage=inputs.passage, passage_field=inputs.passage_field, question=inputs.question,
                             **options))
    return queries


def answer_of(result: ItemResult, head: str) -> dict[str, Any] | None:
    """What `head` answered for one input; None where it did not answer (or was not asked)."""
    if result.target.head == head:
        return result.target.output
    return next((o.output for o in result.non_target if o.head == head), None)


def head_element(result: ItemResult, head: str) -> str:
    """What `head` said about one input, as the JSON of a BYTES element."""
    role = "target" if result.target.head == head else "non_target"
    answer = answer_of(result, head)
    if answer is not None:
        return json.dumps({"role": role, "output": answer}, ensure_ascii=False)
    error = next((e for e in result.errors if e.head == head), None)
    if error is not None:
        return json.dumps({"role": role, "error": {"kind": error.kind, "message": error.message}}, ensure_ascii=False)
    return "null"


def probabilities(results: list[ItemResult], head: str) -> tuple[list[str], list[float | None]]:
    """(the labels, each input's probabilities in their order, flat; None where the head did not answer)."""
    answers = [answer_of(r, head) for r in results]
    labels = next((list(a[PROBABILITIES]) for a in answers if a is not None), [])
    return labels, [a[PROBABILITIES][k] if a is not None else None for a in answers for k in labels]


def write_outputs(results: list[ItemResult], catalog: Catalog, wanted: list[Output]) -> list[tuple[dict[str, Any], list[Any]]]:
    """(tensor description, flat values) for each wanted output."""
    n = len(results)
    written = []
    for output in wanted:
        tensor: dict[str, Any] = {"name": output.name, "datatype": output.datatype, "shape": [n]}
        if output.head is None:
            values: list[Any] = [r.model_dump_json() for r in results]
        elif output.datatype == "BYTES":
            values = [head_element(r, output.head) for r in results]
        else:
            labels, values = probabilities(results, output.head)
            tensor["shape"] = [n, len(labels)]
            tensor["parameters"] = {"labels": ",".join(labels)}
        written.append((tensor, values))
    return written
