"""The HTTP surface: the FastAPI app (router.py), its request and response models (schemas.py), one
error policy (errors.py), API keys, body limit and request ids (middleware), the OpenAPI document
and log redaction. Knows nothing of Ray: it calls a pipeline.predict.Predictor."""
