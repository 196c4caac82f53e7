"""The Open Inference Protocol (v2, KServe's and Triton's HTTP protocol) beside the service's own
API, over the same plan and engine: routes.py, what an inference request reads as (infer.py), its
schemas and tensors."""
