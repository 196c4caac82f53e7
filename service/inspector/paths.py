"""The page's own files. They describe nothing and answer nothing, so they stay open when API keys
are configured (service/http/auth.py): the page then asks the person for a key and sends it with every
API call."""

PAGE_PATHS = frozenset({"/inspect", "/inspect/inspector.js", "/inspect/inspector.css"})
