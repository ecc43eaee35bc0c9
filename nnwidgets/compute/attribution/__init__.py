"""Attribution maps: how much each input element matters to a score, by several methods.

>>> import nnwidgets as nw
>>> demo = nw.zoo.digits()
>>> maps = nw.compute.attribution(demo.model, demo.images[:2], "guided_backprop")

Every method gives Captum's numbers with Captum's default arguments (see each entry of
:data:`METHODS`), batched, with the model borrowed and handed back untouched.
:func:`sanity_check` asks whether a method's maps depend on the model at all (Adebayo
et al.'s cascading randomization).
"""

from nnwidgets.compute.attribution._methods import METHODS, Method, attribution
from nnwidgets.compute.attribution.sanity import (
    SanityStep,
    randomizable_layers,
    rank_correlation,
    sanity_check,
    sanity_steps,
)

__all__ = [
    "METHODS",
    "Method",
    "SanityStep",
    "attribution",
    "randomizable_layers",
    "rank_correlation",
    "sanity_check",
    "sanity_steps",
]
