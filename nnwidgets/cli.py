"""The ``nnwidgets`` command: ``nnwidgets export NOTEBOOK ... -o SITE``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="nnwidgets", description="nnwidgets tools")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "export",
        help="write notebooks as offline web pages whose widgets still respond",
        description="Execute each notebook (unless --no-execute) and write it as an HTML page, "
        "with the widget manager and front-ends beside it: the folder works offline, from a "
        'web server or from file://. Needs the export extra: pip install "nnwidgets[export]".',
    )
    export.add_argument("notebooks", nargs="+", help="notebooks to export")
    export.add_argument("-o", "--output", default="site", help="output folder (default: site)")
    export.add_argument(
        "--no-execute", action="store_true", help="use the widget state saved in the notebook"
    )
    export.add_argument("--timeout", type=float, default=600, help="seconds a cell may run")
    export.add_argument(
        "--max-state-mb", type=float, default=None, help="fail if a page's widget state is larger"
    )
    args = parser.parse_args(argv)

    from nnwidgets.export import export_notebook

    status = 0
    for notebook in args.notebooks:
        try:
            report = export_notebook(
                notebook,
                args.output,
                execute=not args.no_execute,
                timeout=args.timeout,
                max_state_mb=args.max_state_mb,
            )
        except ImportError as error:  # the export extra is missing: no notebook can be exported
            print(f"nnwidgets export: {error}", file=sys.stderr)
            return 1
        except (OSError, ValueError, RuntimeError) as error:
            print(f"nnwidgets export: {notebook}: {error}", file=sys.stderr)
            status = 1
            continue
        print(report.format())
    return status


if __name__ == "__main__":
    sys.exit(main())
