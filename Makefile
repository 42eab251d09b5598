# scnn-surgery developer tasks. Everything runs from a project-local .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: install install-test install-dev demo test lint typecheck bench proto picture zoo-table \
	report report-picture clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(BIN)/activate
	$(PY) -m pip install --quiet -e .

install-test: $(BIN)/activate
	$(PY) -m pip install --quiet -e '.[test]'

install-dev: $(BIN)/activate
	$(PY) -m pip install --quiet -e '.[dev]'

demo: install
	$(BIN)/scnn-surgery insert examples/scnn_lane_vgg16.prototxt \
		-o examples/scnn_lane_vgg16_SCNN.prototxt
	@echo "wrote examples/scnn_lane_vgg16_SCNN.prototxt"

test: install-test
	$(PY) -m pytest -q

lint: install-dev
	$(BIN)/ruff check scnn_surgery tests bench scripts
	$(BIN)/mypy scnn_surgery

bench: install
	$(PY) bench/run.py
	$(PY) bench/batch.py

proto: install-dev
	$(PY) scripts/gen_proto.py

# Writes under build/; copy it over docs/example_before_after.png to update the README's.
picture: install
	@mkdir -p build
	$(PY) scripts/make_picture.py build/example_before_after.png

# The zoo the targets below run over: ../shared/zoo beside the clone, else the nets the
# repository ships (ZOO=DIR chooses).
ZOO ?= $(if $(wildcard ../shared/zoo),../shared/zoo,tests/data/zoo)

# The README's zoo table (scripts/zoo_table.py also runs without an active venv).
zoo-table: install
	$(PY) scripts/zoo_table.py $(ZOO)

# The zoo converted, as one HTML page; batch exits 1 because some models are refused.
report: install
	@echo "zoo: $(ZOO)"
	rm -rf build/zoo
	$(BIN)/scnn-surgery batch $(ZOO) -o build/zoo --report build/zoo_report.html || [ $$? -eq 1 ]
	@ls -l build/zoo_report.html

# The README's screenshot of that page (needs Chromium, and Graphviz's dot for the pictures).
report-picture: report
	$(PY) scripts/report_screenshot.py build/zoo_report.html docs/zoo_report.png

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
