"""Widget classes; each lives in its own module and shares :mod:`nnwidgets.widgets._base`."""
