"""Looking at masks: what a pruning method actually chose.

- `masks`: densities, overlaps, dead units and collapsed layers (`summarize` goes into every
  run record under "analysis");
- `mask_history`: how a mask moved during training (`mask_change`, `plot_mask_history`);
- `spectral`: each layer's mask as a bipartite graph, its Ramanujan and weighted spectral
  gaps, and the network's full-spectrum coordinate (`spectral.analyze(model, mask)`);
- `paths`: whether a mask leaves any path of kept weights from the input to the output
  (`path_from_input(model, mask, (C, H, W))`; a training run warns when it does not), and which
  kept weights lie on one (`effective_mask`: its density is the effective density); `connectivity`
  gives both from one pass;
- `patterns`: whether a mask keeps exactly N of every M weights (`pattern_check(mask, "2:4")`).
"""
from . import spectral  # noqa: F401  (sk.analysis.spectral.analyze)
from .masks import collapsed_layers, dead_units, jaccard, layer_density_table, plot_layer_densities, summarize, warn_collapsed_layers
from .paths import connectivity, effective_mask, path_from_input  # noqa: F401
from .structural_network import unreadable_modules  # noqa: F401
from .patterns import pattern_check  # noqa: F401
from .mask_history import mask_change, plot_mask_history  # noqa: E402,F401
