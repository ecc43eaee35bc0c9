"""Regenerate nnwidgets/_colormap_data.py from Fabio Crameri's scientific colour maps.

Run with the dev extra installed (`pip install -e .[dev]`): `python scripts/make_colormaps.py`.
"""

from pathlib import Path

import numpy as np
from cmcrameri import cm

NAMES = ["vik", "batlow"]
OUT = Path(__file__).resolve().parents[1] / "nnwidgets" / "_colormap_data.py"


def main() -> None:
    lines = [
        '"""256-entry RGB lookup tables of Crameri\'s scientific colour maps (generated).',
        "",
        "Made by scripts/make_colormaps.py from the cmcrameri package; do not edit by hand.",
        '"""',
        "",
        "LUTS_HEX = {",
    ]
    for name in NAMES:
        rgb = np.round(np.asarray(getattr(cm, name)(np.linspace(0, 1, 256)))[:, :3] * 255)
        hexstr = rgb.astype(np.uint8).tobytes().hex()
        chunks = [hexstr[i : i + 88] for i in range(0, len(hexstr), 88)]
        lines.append(f'    "{name}": (')
        lines += [f'        "{c}"' for c in chunks]
        lines.append("    ),")
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
