"""The Ray Serve application that serves a checkpoint. By role: http/ (the API), pipeline/ (one
request's path, no Ray), deploy/ (the Ray layer), replica/ (model work inside a replica), demo/,
inspector/. The module map and a request's path through them: docs/service.md."""
