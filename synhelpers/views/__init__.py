"""Views beside the figures: predictions in Neuroglancer and as navis connector tables.

Needs the optional ``view`` extra (``pip install -e ".[view]"``).

- :mod:`.neuroglancer`   ``write_view``: local annotation layers, a viewer state and URLs
- :mod:`.neuroglancer_browser`, :mod:`.neuroglancer_screenshot`: serve a view, screenshot it
- :mod:`.navis_export`   connector tables with predictions, in navis's column names
- :mod:`.neuron_sites`   where neurons and their synapses are
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "write_view": ".neuroglancer", "serve": ".neuroglancer_browser",
    "find_chromium": ".neuroglancer_browser",
    "load_view": ".neuroglancer_screenshot", "screenshot_view": ".neuroglancer_screenshot",
    "neuron_points": ".neuron_sites", "synapse_sites": ".neuron_sites",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
