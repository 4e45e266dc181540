"""Mask-method options written as text, for the command line and `TrainConfig.mask_options`:
"rounds=10, float64=true" -> {"rounds": 10, "float64": True}.

Values are read as booleans (true/false), integers, floats, comma-separated tuples of numbers
("input_shape=3,32,32"), or else kept as text. `compute` then checks the names against the
method's accepted options.
"""
import re
from typing import Any, Dict

from ..core.errors import SparsekitError

# name=value, where a value runs until the next ", name=" (so tuples may contain commas).
_PAIR = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(.*?)\s*(?:,(?=\s*[A-Za-z_]\w*\s*=)|$)")


def parse_options(text: str) -> Dict[str, Any]:
    text = (text or "").strip()
    options, position = {}, 0
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            raise SparsekitError(f"mask options must look like 'name=value, name=value', got {text!r}")
        options[match.group(1)] = _value(match.group(2))
        position = match.end()
    return options


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "," in text:
        return tuple(_value(part.strip()) for part in text.split(","))
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
