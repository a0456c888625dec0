import http.server
import threading

from workshop import diff, load, stages


def test_a_stage_compared_with_itself_changed_nothing():
    assert diff.summary("00", "00").endswith("- nothing\n")


def test_the_diff_names_new_and_changed_files_with_line_counts():
    names = stages.names()
    if len(names) < 2:
        return
    added, removed, changed = diff.compare(names[0], names[1])
    text = diff.summary(names[0], names[1])
    for rel, plus, minus in changed:
        assert f"- changed: `{rel}` (+{plus} −{minus})" in text
    assert all(not part.endswith(".pyc") for part in added)
    assert "stage.toml" in {rel for rel, _, _ in changed}


def test_the_full_diff_of_one_file_is_a_unified_diff():
    names = stages.names()
    out = diff.unified(names[0], names[-1], "stage.toml")
    if names[0] == names[-1]:
        assert out == ""
        return
    assert out.startswith(f"--- {names[0]}/stage.toml\n+++ {names[-1]}/stage.toml\n")


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
