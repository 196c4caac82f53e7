"""Words as the lexical parts of the model and the analysis read them: a word is a run of word
characters; stop words say nothing about which fact a sentence states."""
from __future__ import annotations

import re

WORD = re.compile(r"\w+")
STOP_WORDS = frozenset(
    "the a an and or of in on at to for from by with as is was were are be been did does do had has have how "
    "many much what which who whom whose when where why than then that this these those it its his her their "
    "there more most less least first last after before during between into over under".split()
)
