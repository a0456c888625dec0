import http.server
import re
import threading

from workshop import diff, load


def test_a_stage_compared_with_itself_changed_nothing():
    assert diff.summary("00", "00").endswith("- nothing\n")


def test_a_folder_that_exists_in_both_stages_is_never_called_new():
    """01 -> 02 adds files to `monolith/`: the folder is not new (it said "new: `monolith`")."""
    text = diff.summary("01", "02")
    assert "new: `monolith`" not in text and "- `monolith`:" in text
    assert "new: `protos`" in text, "a folder only the newer stage has is new"


def test_the_diff_is_grouped_by_deployable_biggest_first_and_lists_every_change():
    changes = diff.compare("01", "02")
    text = diff.summary("01", "02")
    for change in changes:
        assert f"`{change.rel}`" in text, change
    groups = re.findall(r"^- (?:new: )?`([^`]+)`", text, re.M)
    assert groups[:3] == ["services/orders", "monolith", "facade"], groups
    assert [c for c in changes if c.rel == "stage.toml"][0].status == "changed"


def test_generated_files_are_listed_apart_with_what_wrote_them():
    changes = {c.rel: c for c in diff.compare("01", "02")}
    assert changes["monolith/shopapi/orders/v1/orders_pb2.py"].generated == "gRPC stub"
    assert changes["monolith/shopapi/orders/__init__.py"].generated == "gRPC stub"
    assert changes["pacts/storefront-orders.json"].generated == "pact"
    assert changes["services/orders/orders/migrations/0001_initial.py"].generated == "migration"
    assert changes["monolith/rpc/__init__.py"].generated is None, "a hand-written package"
    assert changes["services/orders/orders/services.py"].generated is None
    short = diff.summary("01", "02", short=True)
    assert "_pb2" not in short and "written by tools, not for reading" in short
    assert "gRPC stubs" in short and "pact" in short and "migration" in short
    full = diff.summary("01", "02")
    hand_written = full.split("written by tools")[0]
    assert "_pb2" not in hand_written and "0001_initial" not in hand_written


def test_the_message_schema_lock_is_listed_apart_too():
    changes = {c.rel: c for c in diff.compare("02", "03")}
    assert changes["contracts/events-lock.json"].generated == "schema lock"
    assert changes["contracts/compat.py"].generated is None
    assert changes["pacts/order-history-orders.json"].generated == "pact"


def test_the_readme_block_is_short():
    assert len(diff.summary("01", "02", short=True).splitlines()) <= 12


def test_the_full_diff_of_one_file_is_a_unified_diff():
    out = diff.unified("00", "01", "stage.toml")
    assert out.startswith("--- 00-monolith/stage.toml\n+++ 01-strangler/stage.toml\n")


def test_the_diff_of_a_folder_shows_the_files_inside(run_workshop):
    result = run_workshop("diff", "01-strangler", "02-extract-orders", "monolith")
    assert result.returncode == 0, result.stderr  # it used to crash with IsADirectoryError
    assert "+++ 02-extract-orders/monolith/inventory/services.py" in result.stdout
    assert "+++ 02-extract-orders/monolith/rpc/servicers.py" in result.stdout
    assert "--- 01-strangler/monolith/orders/services.py" in result.stdout  # removed there
    assert "+++ 02-extract-orders/monolith/shopapi/" not in result.stdout
    assert "written by tools, not shown" in result.stdout and "orders_pb2.py" in result.stdout


def test_a_misspelt_path_is_an_error_that_says_so(run_workshop):
    result = run_workshop("diff", "01", "02", "monolit/shop")
    assert result.returncode == 2, result.stdout  # it used to print nothing and exit 0
    assert "no `monolit/shop` in 01-strangler or 02-extract-orders" in result.stderr
    assert "did you mean `monolith/shop`" in result.stderr


class _Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        side = "orders" if self.headers["Authorization"].endswith(("0", "2", "4")) else "monolith"
        self.send_response(200)
        self.send_header("X-Served-By", side)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_load_counts_who_answered(capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        totals = load.run(
            f"http://127.0.0.1:{server.server_port}", "/x", customers=10, seconds=0.5, per_second=10
        )
    finally:
        server.shutdown()
    assert totals == {"orders 200": 3, "monolith 200": 7}
    assert "monolith 200:   7  orders 200:   3" in capsys.readouterr().out
