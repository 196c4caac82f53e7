"""The inspector: a page that shows what every head of the checkpoint says about one input, with
spans marked in the text, and how the non-target heads move when the question is edited.

    GET /inspect        the page (static HTML, CSS and JS shipped in this package; no build step)
    GET /v1/examples    a few held-out examples per task, stored in the checkpoint at training time

The page talks to the same API as every other client (/v1/heads, /v1/predict, /v1/predict/batch).
routes.inspector_routes() builds the APIRouter the service's app includes.
"""
