"""One request's path through the stages, without Ray or HTTP: plan a request against the
checkpoint (catalog.py), call the backbone once and every head on its output through an Engine
(engine.py), retry a lost replica once (retry.py), assemble target, non-target outputs, errors and
explanation (predict.py, explanations.py). calls.py holds the messages between stages."""
