# The two commands of the README: `make demo` and `make test`.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: demo test setup build

demo:  ## JupyterLab on the demo notebooks (shipped demo models, no network)
	bash scripts/setup.sh
	.venv/bin/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT)

test:  ## everything: JS unit tests, compute, widgets, notebooks, real-browser tests
	bash scripts/setup.sh --test
	npm test
	.venv/bin/python -m pytest

build:  ## the front-end bundle only
	npm run build
