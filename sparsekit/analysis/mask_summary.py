"""What `analysis.summarize` returns: still the plain dict every run record stores under
"analysis" (it goes into JSON as is), but shown as a small table in a notebook (`_repr_html_`)
and as a few readable lines by `print`, rather than one long dict."""
from html import escape
from typing import List, Tuple


# `analysis.paths.path_from_input`'s answers, as a summary (and `sparsekit mask`) shows them
PATH_WORDS = {True: "yes", False: "none: the mask cuts the network",
              None: "not judged (the input's shape or a module could not be read)"}


class MaskSummary(dict):
    """{"dead_units": {layer: count}, "dead_units_total", "units_total", "collapsed_layers"}."""

    def _rows(self) -> List[Tuple[str, str]]:
        dead = {name: count for name, count in self.get("dead_units", {}).items() if count}
        collapsed = self.get("collapsed_layers", [])
        rows = [("dead units", f"{self.get('dead_units_total', 0)} of {self.get('units_total', 0)}"),
                ("collapsed layers", ", ".join(collapsed) if collapsed else "none")]
        if "path_from_input_at_start" in self:
            rows.append(("path from input to output", PATH_WORDS[self["path_from_input_at_start"]]))
        if self.get("effective_density_at_start") is not None:
            rows.append(("effective density (kept weights on a path)", f"{self['effective_density_at_start']:.4f}"))
        rows += [(f"dead in {name}", str(count)) for name, count in dead.items()]
        return rows

    def __str__(self) -> str:
        rows = self._rows()
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><th style='text-align:left'>{escape(label)}</th><td style='text-align:left'>"
                       f"{escape(value)}</td></tr>" for label, value in self._rows())
        return f"<table>{body}</table>"
