"""`python -m service.demo` (the README's `make demo`): the service on its own local Ray cluster,
with one sample answer per setting of the paper. __main__.py is the command, cluster.py the
cluster it owns, samples.py the requests and how their answers are printed."""
