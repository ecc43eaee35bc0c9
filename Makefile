# The two commands of the README: `make demo` and `make test`.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Extra flags for the server, e.g. `make serve LAB_ARGS="--no-browser --port=8899"`
LAB_ARGS ?=
DEMO_SETUP = bash scripts/setup.sh
SERVE = .venv/bin/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT) $(LAB_ARGS)

.PHONY: demo demo-setup serve test build

# `make demo` is `make demo-setup` then `make serve` (scripts/check_demo.sh runs the two in CI)
demo:  ## JupyterLab on the demo notebooks (shipped demo models, no network)
	$(DEMO_SETUP)
	$(SERVE)

demo-setup:  ## what `make demo` installs: .venv (CPU torch, JupyterLab, Notebook 7), the front-end
	$(DEMO_SETUP)

serve:  ## JupyterLab on notebooks/ once the demo is set up: open the URL it prints
	$(SERVE)

test:  ## everything: JS unit tests, compute, widgets, notebooks, real-browser tests
	bash scripts/setup.sh --test
	npm test
	.venv/bin/python -m pytest

build:  ## the front-end bundle only
	npm run build
